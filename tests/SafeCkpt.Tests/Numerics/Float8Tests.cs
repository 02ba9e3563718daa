using SafeCkpt.Building;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Numerics;

/// <summary>The 8-bit float tables against the values the OCP FP8 spec and ml_dtypes give for the landmark bytes.</summary>
public sealed class Float8Tests
{
    [Theory]
    [InlineData(DType.Float8E4M3, 0x38, 1.0f)]
    [InlineData(DType.Float8E4M3, 0x7E, 448f)]
    [InlineData(DType.Float8E4M3, 0xFE, -448f)]
    [InlineData(DType.Float8E4M3, 0x08, 0.015625f)]
    [InlineData(DType.Float8E4M3, 0x01, 0.001953125f)]
    [InlineData(DType.Float8E4M3, 0x7F, float.NaN)]
    [InlineData(DType.Float8E4M3, 0xFF, float.NaN)]
    [InlineData(DType.Float8E5M2, 0x3C, 1.0f)]
    [InlineData(DType.Float8E5M2, 0x7B, 57344f)]
    [InlineData(DType.Float8E5M2, 0x7C, float.PositiveInfinity)]
    [InlineData(DType.Float8E5M2, 0xFC, float.NegativeInfinity)]
    [InlineData(DType.Float8E5M2, 0x7D, float.NaN)]
    [InlineData(DType.Float8E5M2, 0x01, 1.52587890625e-05f)]
    [InlineData(DType.Float8E4M3Fnuz, 0x40, 1.0f)]
    [InlineData(DType.Float8E4M3Fnuz, 0x7F, 240f)]
    [InlineData(DType.Float8E4M3Fnuz, 0x80, float.NaN)]
    [InlineData(DType.Float8E5M2Fnuz, 0x40, 1.0f)]
    [InlineData(DType.Float8E5M2Fnuz, 0x7F, 57344f)]
    [InlineData(DType.Float8E5M2Fnuz, 0x80, float.NaN)]
    [InlineData(DType.Float8E8M0, 0x7F, 1.0f)]
    [InlineData(DType.Float8E8M0, 0x80, 2.0f)]
    [InlineData(DType.Float8E8M0, 0xFF, float.NaN)]
    public void Landmark_bytes_decode_to_the_spec_values(DType dtype, int b, float expected) =>
        Assert.Equal(expected, Float8.Values(dtype)[b]);

    [Fact]
    public void Negative_zero_exists_except_in_the_fnuz_formats()
    {
        Assert.True(float.IsNegative(Float8.Values(DType.Float8E4M3)[0x80]) && Float8.Values(DType.Float8E4M3)[0x80] == 0);
        Assert.True(float.IsNegative(Float8.Values(DType.Float8E5M2)[0x80]) && Float8.Values(DType.Float8E5M2)[0x80] == 0);
    }

    [Theory]
    [InlineData(DType.Float8E4M3)]
    [InlineData(DType.Float8E5M2)]
    [InlineData(DType.Float8E4M3Fnuz)]
    [InlineData(DType.Float8E5M2Fnuz)]
    public void Each_format_is_monotonic_over_its_positive_bytes(DType dtype)
    {
        float[] positive = [.. Float8.Values(dtype)[..0x80].ToArray().Where(v => !float.IsNaN(v))];
        Assert.Equal(positive.Order(), positive);
        Assert.Equal(positive.Length, positive.Distinct().Count());
    }

    [Fact]
    public void ReadTensorAs_float_and_double_decode_an_f8_tensor()
    {
        using TensorStore s = new CheckpointBuilder().Add("w", DType.Float8E4M3, [3], [0x38, 0x7E, 0xC0]).Build().Tensors;
        Assert.Equal([1f, 448f, -2f], s.ReadTensorAs<float>("w"));
        Assert.Equal([1.0, 448.0, -2.0], s.ReadTensorAs<double>("w"));
        Assert.Equal([0x38, 0x7E, 0xC0], s.ReadTensorAs<byte>("w"));
    }
}
