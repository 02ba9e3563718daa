using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Tensors;

public class DTypeTests
{
    [Theory]
    [InlineData(DType.Bool, "BOOL", 8)]
    [InlineData(DType.UInt8, "U8", 8)]
    [InlineData(DType.Int8, "I8", 8)]
    [InlineData(DType.Int16, "I16", 16)]
    [InlineData(DType.UInt16, "U16", 16)]
    [InlineData(DType.Int32, "I32", 32)]
    [InlineData(DType.UInt32, "U32", 32)]
    [InlineData(DType.Int64, "I64", 64)]
    [InlineData(DType.UInt64, "U64", 64)]
    [InlineData(DType.Float16, "F16", 16)]
    [InlineData(DType.BFloat16, "BF16", 16)]
    [InlineData(DType.Float32, "F32", 32)]
    [InlineData(DType.Float64, "F64", 64)]
    [InlineData(DType.Complex64, "C64", 64)]
    [InlineData(DType.Float8E4M3, "F8_E4M3", 8)]
    [InlineData(DType.Float8E5M2, "F8_E5M2", 8)]
    [InlineData(DType.Float8E8M0, "F8_E8M0", 8)]
    [InlineData(DType.Float8E4M3Fnuz, "F8_E4M3FNUZ", 8)]
    [InlineData(DType.Float8E5M2Fnuz, "F8_E5M2FNUZ", 8)]
    [InlineData(DType.Float4E2M1, "F4", 4)]
    [InlineData(DType.Float6E2M3, "F6_E2M3", 6)]
    [InlineData(DType.Float6E3M2, "F6_E3M2", 6)]
    public void Each_dtype_has_its_safetensors_name_and_bit_size(DType dtype, string name, int bits)
    {
        Assert.Equal(name, dtype.ToSafetensorsName());
        Assert.Equal(bits, dtype.BitSize());
        Assert.True(DTypeExtensions.TryParseSafetensorsName(name, out DType parsed));
        Assert.Equal(dtype, parsed);
    }

    [Fact]
    public void Every_defined_dtype_round_trips_through_its_name()
    {
        Assert.Equal(Enum.GetValues<DType>().Length, DTypeExtensions.All.Count);
        foreach (DType d in DTypeExtensions.All)
        {
            Assert.True(DTypeExtensions.TryParseSafetensorsName(d.ToSafetensorsName(), out DType back));
            Assert.Equal(d, back);
        }
    }

    [Theory]
    [InlineData("f16")]
    [InlineData("FP16")]
    [InlineData("float16")]
    [InlineData("")]
    [InlineData(null)]
    public void Unknown_or_wrongly_cased_names_do_not_parse(string? name) =>
        Assert.False(DTypeExtensions.TryParseSafetensorsName(name, out _));

    [Fact]
    public void Only_real_floating_types_count_as_floating_point()
    {
        DType[] floating = DTypeExtensions.All.Where(d => d.IsFloatingPoint()).ToArray();
        Assert.Contains(DType.Float16, floating);
        Assert.Contains(DType.BFloat16, floating);
        Assert.Contains(DType.Float32, floating);
        Assert.Contains(DType.Float64, floating);
        Assert.DoesNotContain(DType.Int64, floating);
        Assert.DoesNotContain(DType.Bool, floating);
        Assert.DoesNotContain(DType.Complex64, floating);
    }
}
