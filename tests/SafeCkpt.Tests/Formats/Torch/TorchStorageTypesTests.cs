using SafeCkpt.Formats.Torch;
using SafeCkpt.Safety;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Torch;

public class TorchStorageTypesTests
{
    [Fact]
    public void The_legacy_magic_pickles_as_torch_save_writes_it()
    {
        // PROTO 2, LONG1 10 bytes, 0x1950a86a20f9469cfc6c little-endian: the first bytes of every legacy file.
        byte[] expected = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
        Assert.Equal(expected, TorchStorageTypes.LegacyMagicPickle);
        byte[] head = File.ReadAllBytes(Fixtures.Path_("ckpt", "legacy.ckpt"))[..expected.Length];
        Assert.Equal(expected, head);
    }

    [Fact]
    public void Element_sizes_agree_with_the_safetensors_types()
    {
        foreach (TorchDType d in TorchStorageTypes.ByName.Values.Where(d => d.SafeType is not null))
        {
            Assert.Equal(d.SafeType!.Value.BitSize() / 8, d.ElementSize);
        }
    }

    [Theory]
    [InlineData(DType.Float32, "FloatStorage")]
    [InlineData(DType.Float64, "DoubleStorage")]
    [InlineData(DType.Float16, "HalfStorage")]
    [InlineData(DType.BFloat16, "BFloat16Storage")]
    [InlineData(DType.Int64, "LongStorage")]
    [InlineData(DType.Int32, "IntStorage")]
    [InlineData(DType.Int16, "ShortStorage")]
    [InlineData(DType.Int8, "CharStorage")]
    [InlineData(DType.UInt8, "ByteStorage")]
    [InlineData(DType.Bool, "BoolStorage")]
    [InlineData(DType.Complex64, "ComplexFloatStorage")]
    [InlineData(DType.UInt16, null)]
    [InlineData(DType.UInt64, null)]
    [InlineData(DType.Float8E4M3, null)]
    public void Each_dtype_has_the_storage_class_torch_gives_it(DType dtype, string? storageClass) =>
        Assert.Equal(storageClass, TorchStorageTypes.StorageClassOf(dtype));

    [Fact]
    public void The_writer_and_the_allowlist_read_one_table()
    {
        foreach ((string cls, TorchDType dtype) in TorchStorageTypes.StorageClasses)
        {
            PyGlobal g = PickleAllowlist.Lookup("torch", cls)!;
            Assert.Equal(GlobalKind.StorageClass, g.Kind);
            Assert.Same(dtype, g.DType);
            if (dtype.SafeType is { } safe)
            {
                Assert.Equal(cls, TorchStorageTypes.StorageClassOf(safe));
            }
        }

        foreach (TorchDType dtype in TorchStorageTypes.ByName.Values)
        {
            Assert.Same(dtype, PickleAllowlist.Lookup("torch", dtype.Name)!.DType);
        }
    }

    [Theory]
    [InlineData("f4", "float32")]
    [InlineData("f2", "float16")]
    [InlineData("i8", "int64")]
    [InlineData("b1", "bool")]
    [InlineData("u2", null)]
    [InlineData("c8", null)]
    public void Numpy_codes_map_to_torch_dtypes(string code, string? torchName) =>
        Assert.Equal(torchName, TorchStorageTypes.FromNumpyCode(code)?.Name);
}
