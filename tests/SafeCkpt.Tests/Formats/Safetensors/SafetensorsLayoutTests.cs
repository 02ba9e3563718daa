using System.Text;
using SafeCkpt.Building;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Safetensors;

public class SafetensorsLayoutTests
{
    // The variants of `pub enum Dtype` in declaration order, as written in huggingface/safetensors
    // safetensors/src/tensor.rs @ 24b0b2857fef49be734b9ab72ce97c09bb25f5b9; each is also the dtype's header spelling.
    // Its `prepare` sorts by `right.dtype().cmp(&left.dtype()).then(lname.cmp(rname))`: this order reversed, then name.
    private const string ReferenceEnum = "BOOL F4 F6_E2M3 F6_E3M2 U8 I8 F8_E5M2 F8_E4M3 F8_E8M0 F8_E4M3FNUZ F8_E5M2FNUZ I16 U16 F16 BF16 I32 U32 F32 C64 F64 I64 U64";

    [Fact]
    public void Every_dtype_ranks_at_its_place_in_the_reference_enum()
    {
        string[] variants = ReferenceEnum.Split(' ');
        Assert.Equal(DTypeExtensions.All.Count, variants.Length);
        for (int i = 0; i < variants.Length; i++)
        {
            Assert.True(DTypeExtensions.TryParseSafetensorsName(variants[i], out DType d), variants[i]);
            Assert.Equal(i, SafetensorsLayout.ReferenceRank(d));
        }
    }

    [Fact]
    public void Same_size_dtypes_are_written_in_the_reference_writers_order_not_by_name()
    {
        // F32/U32/I32, BF16/F16/I16 and BOOL/U8/I8 share a size: the reference orders them by dtype before name.
        using var dir = new TempDir();
        string path = dir.File("mixed.safetensors");
        new CheckpointBuilder()
            .Add("a_bool", new[] { true })
            .Add("a_f16", new[] { (Half)1 })
            .Add("a_f32", new[] { 1f })
            .AddZeros("b_bf16", DType.BFloat16, 1)
            .Add("b_i32", new[] { 2 })
            .Add("b_u8", new byte[] { 3 })
            .AddZeros("c_i16", DType.Int16, 1)
            .AddZeros("c_i8", DType.Int8, 1)
            .AddZeros("c_u32", DType.UInt32, 1)
            .SaveSafetensors(path);

        byte[] file = File.ReadAllBytes(path);
        int n = (int)BitConverter.ToUInt64(file);
        string header = Encoding.UTF8.GetString(file, 8, n).TrimEnd(' ');
        (string Name, string DType, int Begin, int End)[] expected =
        [
            ("a_f32", "F32", 0, 4), ("c_u32", "U32", 4, 8), ("b_i32", "I32", 8, 12),
            ("b_bf16", "BF16", 12, 14), ("a_f16", "F16", 14, 16), ("c_i16", "I16", 16, 18),
            ("c_i8", "I8", 18, 19), ("b_u8", "U8", 19, 20), ("a_bool", "BOOL", 20, 21),
        ];
        string json = "{" + string.Join(",", expected.Select(e => $"\"{e.Name}\":{{\"dtype\":\"{e.DType}\",\"shape\":[1],\"data_offsets\":[{e.Begin},{e.End}]}}")) + "}";
        Assert.Equal(json, header);
    }

    [Fact]
    public void Wider_dtypes_come_first_and_sub_byte_floats_come_after_the_byte_types_but_before_bool()
    {
        DType[] shuffled = [DType.Bool, DType.Float4E2M1, DType.UInt8, DType.Float64, DType.Complex64, DType.Int64, DType.Float6E3M2, DType.Float8E4M3, DType.UInt64];
        DType[] ordered = [.. shuffled.Select(d => new TensorInfo("t", d, [8])).Order(SafetensorsLayout.TensorOrder).Select(t => t.DType)];
        Assert.Equal([DType.UInt64, DType.Int64, DType.Float64, DType.Complex64, DType.Float8E4M3, DType.UInt8, DType.Float6E3M2, DType.Float4E2M1, DType.Bool], ordered);
    }

    [Fact]
    public void Names_of_one_dtype_are_ordered_by_code_point_as_rust_compares_strings()
    {
        // U+FF01 is below U+1F600, whose UTF-16 form (a surrogate pair, 0xD83D...) sorts first ordinally.
        string fullwidth = "\uFF01", emoji = "\U0001F600";
        Assert.True(string.CompareOrdinal(emoji, fullwidth) < 0);
        Assert.True(SafetensorsLayout.CompareNames(fullwidth, emoji) < 0);
        Assert.True(SafetensorsLayout.CompareNames("a", "b") < 0);
        Assert.True(SafetensorsLayout.CompareNames("a", "a.b") < 0);
        Assert.Equal(0, SafetensorsLayout.CompareNames("x\U0001F600", "x\U0001F600"));
        Assert.True(SafetensorsLayout.CompareNames("\U0001F600", "\U0001F601") < 0);
    }

    [Fact]
    public void The_prefix_is_a_little_endian_u64_and_the_header_pads_to_eight()
    {
        var prefix = new byte[SafetensorsLayout.PrefixLength];
        SafetensorsLayout.WritePrefix(prefix, 0x0102);
        Assert.Equal([0x02, 0x01, 0, 0, 0, 0, 0, 0], prefix);
        Assert.Equal(0x0102UL, SafetensorsLayout.ReadPrefix(prefix));
        Assert.Equal([0, 8, 8, 16], new[] { 0, 1, 8, 9 }.Select(SafetensorsLayout.PaddedHeaderLength));
    }

    [Fact]
    public void The_data_starts_after_the_header_when_the_header_fits_in_the_file()
    {
        Assert.Equal(8 + 16, SafetensorsLayout.DataStart(16, 24));
        Assert.Equal(8 + 16, SafetensorsLayout.DataStart(16, 100));
        Assert.Equal(-1, SafetensorsLayout.DataStart(17, 24));
        Assert.Equal(-1, SafetensorsLayout.DataStart(0, 7));
        Assert.Equal(-1, SafetensorsLayout.DataStart(ulong.MaxValue, long.MaxValue));
    }
}
