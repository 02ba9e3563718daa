using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Numerics;

/// <summary>
/// ComfyUI's scaled fp8 arithmetic: the blocked, vectorized quantizer and dequantizer against a per-element
/// composition of the scalar references (ComfyUI's order of operations written out once more), on every tier.
/// make_scaled_fp8_fixtures.py checks the same against torch (ScaledFloat8TransformTests).
/// </summary>
[Collection(nameof(CastTierOverride))]
public class ScaledFloat8Tests
{
    private static readonly DType[] Sources = [DType.Float32, DType.Float16, DType.BFloat16, DType.Float64];

    /// <summary>One element, ComfyUI's way: x * (1/scale rounded to the source dtype), rounded to the source dtype, clamped, cast.</summary>
    private static byte QuantizeOne(DType from, ReadOnlySpan<byte> x, float scale, DType format)
    {
        float inv = 1f / scale;
        float max = ScaledFloat8.Max(format);
        float y;
        switch (from)
        {
            case DType.Float32:
                y = MemoryMarshal.Read<float>(x) * inv;
                break;
            case DType.Float16:
                float invH = (float)BitConverter.UInt16BitsToHalf(CastKernels.SingleToHalf(inv));
                y = (float)BitConverter.UInt16BitsToHalf(CastKernels.SingleToHalf((float)BitConverter.UInt16BitsToHalf(MemoryMarshal.Read<ushort>(x)) * invH));
                break;
            case DType.BFloat16:
                float invB = BitConverter.UInt32BitsToSingle((uint)CastKernels.SingleToBFloat16(inv) << 16);
                y = BitConverter.UInt32BitsToSingle((uint)CastKernels.SingleToBFloat16(BitConverter.UInt32BitsToSingle((uint)MemoryMarshal.Read<ushort>(x) << 16) * invB) << 16);
                break;
            default:
                double d = MemoryMarshal.Read<double>(x) * inv;
                y = (float)(double.IsNaN(d) ? d : Math.Clamp(d, -max, max));
                break;
        }

        return CastKernels.SingleToFloat8(float.IsNaN(y) ? y : Math.Clamp(y, -max, max), format);
    }

    public static TheoryData<string> Tiers() => [.. Enum.GetNames<VectorTier>()];

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Quantize_and_dequantize_equal_the_element_by_element_formula_on_every_tier(string tier)
    {
        using var forced = new ForcedTier(Enum.Parse<VectorTier>(tier));
        foreach (DType from in Sources)
        {
            foreach (DType format in new[] { DType.Float8E4M3, DType.Float8E5M2 })
            {
                Property p = Prop.ForAll(Gen.Choose(0, 9000).ToArbitrary(), Gen.Choose(1, int.MaxValue).ToArbitrary(), (n, seed) =>
                {
                    byte[] src = CastCase.SampleOf(from, n, (ulong)seed);
                    int size = from.BitSize() / 8;
                    ulong bits = ScaledFloat8.MaxMagnitudeBits(from, src, 0);
                    float scale = ScaledFloat8.Scale(ScaledFloat8.AbsMax(from, bits), from, format);
                    if (!float.IsFinite(scale))
                    {
                        scale = 0.01f; // random bit patterns hold NaN and Inf; the arithmetic is what is under test here
                    }

                    var q = new byte[n];
                    ScaledFloat8.Quantize(from, src, q, n, scale, format);
                    for (int i = 0; i < n; i++)
                    {
                        Assert.True(QuantizeOne(from, src.AsSpan(i * size, size), scale, format) == q[i], $"{from}->{format} element {i} of {n}, scale {scale}");
                    }

                    foreach (DType to in new[] { DType.Float32, DType.Float16, DType.BFloat16 })
                    {
                        var d = new byte[n * (to.BitSize() / 8)];
                        ScaledFloat8.Dequantize(format, q, scale, to, d, n);
                        var scaleT = new byte[to.BitSize() / 8];
                        ElementCast.Convert(DType.Float32, to, BitConverter.GetBytes(scale), scaleT, 1);
                        float s = ElementRead.AsFloat32(scaleT, to)[0];
                        float[] qv = ElementRead.AsFloat32(q, format);
                        var want = new byte[d.Length];
                        ElementCast.Convert(DType.Float32, to, MemoryMarshal.AsBytes(qv.Select(v => v * s).ToArray().AsSpan()), want, n);
                        Assert.True(want.AsSpan().SequenceEqual(d), $"dequantize {format}->{to}, {n} elements");
                    }
                });
                Check.One(Config.QuickThrowOnFailure.WithMaxTest(12).WithName($"{from} {format}"), p);
            }
        }
    }

    [Fact]
    public void The_scale_follows_ComfyUI_including_the_F16_reciprocal_clamp()
    {
        Assert.Equal(3.7f / 448f, ScaledFloat8.Scale(3.7f, DType.Float32, DType.Float8E4M3));
        Assert.Equal(3.7f / 57344f, ScaledFloat8.Scale(3.7f, DType.BFloat16, DType.Float8E5M2));
        Assert.Equal(1f / 65504f, ScaledFloat8.Scale(2e-6f, DType.Float16, DType.Float8E4M3));
        Assert.Equal(2e-6f / 448f, ScaledFloat8.Scale(2e-6f, DType.BFloat16, DType.Float8E4M3));
        Assert.Equal(1f, ScaledFloat8.Scale(0f, DType.Float32, DType.Float8E4M3));
    }

    [Fact]
    public void The_absolute_maximum_sees_negative_values_infinity_and_nan()
    {
        float[] f = [1f, -7.5f, 3f];
        Assert.Equal(7.5f, ScaledFloat8.AbsMax(DType.Float32, ScaledFloat8.MaxMagnitudeBits(DType.Float32, MemoryMarshal.AsBytes(f.AsSpan()), 0)));
        float[] big = [.. Enumerable.Range(0, 100).Select(i => (float)i), float.NegativeInfinity, .. Enumerable.Range(0, 37).Select(i => (float)-i)];
        Assert.Equal(float.PositiveInfinity, ScaledFloat8.AbsMax(DType.Float32, ScaledFloat8.MaxMagnitudeBits(DType.Float32, MemoryMarshal.AsBytes(big.AsSpan()), 0)));
        Half[] h = [.. Enumerable.Range(0, 50).Select(i => (Half)i), Half.NaN];
        Assert.True(float.IsNaN(ScaledFloat8.AbsMax(DType.Float16, ScaledFloat8.MaxMagnitudeBits(DType.Float16, MemoryMarshal.AsBytes(h.AsSpan()), 0))));
        double[] d = [-1e300, 2];
        Assert.Equal(float.PositiveInfinity, ScaledFloat8.AbsMax(DType.Float64, ScaledFloat8.MaxMagnitudeBits(DType.Float64, MemoryMarshal.AsBytes(d.AsSpan()), 0)));
    }
}
