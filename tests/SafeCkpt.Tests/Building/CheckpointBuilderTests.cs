using SafeCkpt.Building;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Building;

public class CheckpointBuilderTests
{
    [Fact]
    public void Typed_arrays_map_to_their_dtypes_and_keep_their_values()
    {
        using var dir = new TempDir();
        string path = dir.File("t.safetensors");
        new CheckpointBuilder()
            .Add("f32", new[] { 1.5f, -2f }, 2)
            .Add("f16", new[] { (Half)0.5 })
            .Add("f64", new[] { Math.PI })
            .Add("i64", new[] { long.MinValue, 3L })
            .Add("i32", new[] { 7 })
            .Add("i16", new short[] { -3 })
            .Add("i8", new sbyte[] { -1 })
            .Add("u8", new byte[] { 255 })
            .Add("u16", new ushort[] { 65535 })
            .Add("u32", new uint[] { 1u << 31 })
            .Add("u64", new ulong[] { ulong.MaxValue })
            .Add("bool", new[] { true, false })
            .SaveSafetensors(path);

        using TensorStore s = SafetensorsReader.Open(path);
        Assert.Equal(DType.Float32, s["f32"].DType);
        Assert.Equal([1.5f, -2f], s.ReadTensorAs<float>("f32"));
        Assert.Equal(DType.Float16, s["f16"].DType);
        Assert.Equal((Half)0.5, s.ReadTensorAs<Half>("f16")[0]);
        Assert.Equal(Math.PI, s.ReadTensorAs<double>("f64")[0]);
        Assert.Equal([long.MinValue, 3L], s.ReadTensorAs<long>("i64"));
        Assert.Equal(DType.Int32, s["i32"].DType);
        Assert.Equal(DType.Int16, s["i16"].DType);
        Assert.Equal(DType.Int8, s["i8"].DType);
        Assert.Equal(DType.UInt8, s["u8"].DType);
        Assert.Equal(DType.UInt16, s["u16"].DType);
        Assert.Equal(DType.UInt32, s["u32"].DType);
        Assert.Equal(ulong.MaxValue, s.ReadTensorAs<ulong>("u64")[0]);
        Assert.Equal(DType.Bool, s["bool"].DType);
        Assert.Equal(new byte[] { 1, 0 }, s.ReadTensor("bool"));
    }

    [Fact]
    public void A_shape_given_explicitly_is_kept()
    {
        TensorStore s = new CheckpointBuilder().Add("w", new float[6], 2, 3).Build().Tensors;
        Assert.Equal([2L, 3L], s["w"].Shape);
    }

    [Fact]
    public void A_scalar_has_rank_zero()
    {
        TensorStore s = new CheckpointBuilder().AddScalar("decay", 0.9999f).Build().Tensors;
        Assert.Empty(s["decay"].Shape);
        Assert.Equal(0.9999f, s.ReadTensorAs<float>("decay")[0]);
    }

    [Fact]
    public void Zero_tensors_cost_no_memory_until_written_and_read_back_as_zeros()
    {
        using var dir = new TempDir();
        string path = dir.File("z.safetensors");
        new CheckpointBuilder().AddZeros("big", DType.BFloat16, 1024, 1024).SaveSafetensors(path);
        using TensorStore s = SafetensorsReader.Open(path);
        Assert.Equal(2L * 1024 * 1024, s["big"].ByteLength);
        Assert.All(s.ReadTensor("big"), b => Assert.Equal(0, b));
    }

    [Fact]
    public void A_name_added_twice_is_refused() =>
        Assert.Throws<ArgumentException>(() => new CheckpointBuilder().Add("w", new float[1]).Add("w", new float[1]));

    [Fact]
    public void The_metadata_key_cannot_name_a_tensor() =>
        Assert.Throws<ArgumentException>(() => new CheckpointBuilder().Add("__metadata__", new float[1]));

    [Fact]
    public void Raw_bytes_must_match_the_shape() =>
        Assert.Contains("needs 8 bytes", Assert.Throws<ArgumentException>(() => new CheckpointBuilder().Add("w", DType.Float32, [2], new byte[7])).Message, StringComparison.Ordinal);

    [Fact]
    public void Types_without_a_dtype_are_refused() =>
        Assert.Throws<ArgumentException>(() => new CheckpointBuilder().Add("w", new decimal[1]));

    [Fact]
    public void Later_metadata_for_the_same_key_replaces_the_earlier() =>
        Assert.Equal("2", new CheckpointBuilder().WithMetadata("k", "1").WithMetadata("k", "2").Build().Tensors.Metadata["k"]);

    [Fact]
    public void ReadTensorAs_converts_half_precision_to_float_and_refuses_a_mismatched_type()
    {
        using SafeCkpt.Tensors.TensorStore s = new CheckpointBuilder()
            .Add("h", new[] { (Half)1.5f, (Half)(-2f), Half.NaN }, 3)
            .Add("i", new[] { 1, 2 }, 2)
            .Build().Tensors;
        float[] f = s.ReadTensorAs<float>("h");
        Assert.Equal(1.5f, f[0]);
        Assert.Equal(-2f, f[1]);
        Assert.True(float.IsNaN(f[2]));
        Assert.Equal([1.5, -2.0], s.ReadTensorAs<double>("h")[..2]);
        Assert.Equal((ushort)0x3E00, s.ReadTensorAs<ushort>("h")[0]);
        Assert.Equal(SafeCkptErrorCode.UnsupportedDType, Assert.Throws<ConversionException>(() => s.ReadTensorAs<float>("i")).Code);
    }
}
