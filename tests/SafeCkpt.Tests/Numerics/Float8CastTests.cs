using System.Runtime.InteropServices;
using System.Security.Cryptography;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Numerics;

/// <summary>
/// The float8 casts against PyTorch's rules as make_fp8_fixtures.py computes them exactly (torch 1.13 has no fp8):
/// every F16 and BF16 pattern, 10,485,760 F32 patterns (every high half with 160 low halves, checked per
/// sign-and-exponent block by hash), hand-checked values, F64 patterns, and all 256 codes decoded. The scalar
/// reference is checked against the rules, and every tier against the scalar reference, bit for bit.
/// </summary>
[Collection(nameof(CastTierOverride))]
public class Float8CastTests
{
    public static TheoryData<string, string, bool, string> SixteenBitSources()
    {
        var data = new TheoryData<string, string, bool, string>();
        foreach (string source in new[] { "f16", "bf16" })
        {
            foreach (string format in new[] { "e4m3fn", "e5m2" })
            {
                foreach (bool saturate in new[] { false, true })
                {
                    foreach (string tier in Enum.GetNames<VectorTier>())
                    {
                        data.Add(source, format, saturate, tier);
                    }
                }
            }
        }

        return data;
    }

    public static TheoryData<string, bool> Formats() => new() { { "e4m3fn", false }, { "e4m3fn", true }, { "e5m2", false }, { "e5m2", true } };

    public static TheoryData<string, string> FormatTiers()
    {
        var data = new TheoryData<string, string>();
        foreach (string format in new[] { "e4m3fn", "e5m2" })
        {
            foreach (string tier in Enum.GetNames<VectorTier>())
            {
                data.Add(format, tier);
            }
        }

        return data;
    }

    private static DType Of(string format) => format == "e4m3fn" ? DType.Float8E4M3 : DType.Float8E5M2;

    private static string Tag(string format, bool saturate) => format + (saturate ? "_sat" : string.Empty);

    [Theory]
    [MemberData(nameof(SixteenBitSources))]
    public void Every_F16_and_BF16_pattern_casts_to_fp8_by_torchs_rules(string source, string format, bool saturate, string tier)
    {
        DType from = source == "f16" ? DType.Float16 : DType.BFloat16;
        byte[] src = Fp8Reference.Read(source + "_all");
        byte[] want = Fp8Reference.Read($"{source}_all_to_{Tag(format, saturate)}");
        var got = new byte[want.Length];
        using (new ForcedTier(Enum.Parse<VectorTier>(tier)))
        {
            if (saturate)
            {
                var f = new float[want.Length];
                ElementCast.Convert(from, DType.Float32, src, MemoryMarshal.AsBytes(f.AsSpan()), f.Length);
                CastKernels.SingleToFloat8(f, got, Of(format), saturate: true);
            }
            else
            {
                ElementCast.Convert(from, Of(format), src, got, want.Length);
            }
        }

        CastCase.AssertSameBits(src, 2, want, got, 1, $"{source} -> {Tag(format, saturate)} on {tier}");
        if (!saturate)
        {
            CastCase.AssertSameBits(src, 2, want, CastCase.ScalarCast(from, Of(format), src), 1, $"{source} -> {format}, scalar references");
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Ten_million_F32_patterns_cast_to_fp8_by_torchs_rules_on_every_tier(string format, bool saturate)
    {
        // Every sign, exponent and top 7 mantissa bits, each with 160 low halves (0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF
        // and 154 spread ones): every rounding point of both formats with its sticky bits. The scalar reference must
        // give the fixture's hash for each of the 512 sign-and-exponent blocks; each tier must give the scalar's bytes.
        ushort[] lows = MemoryMarshal.Cast<byte, ushort>(Fp8Reference.Read("f32_lows")).ToArray();
        byte[] hashes = Fp8Reference.Read($"f32_to_{Tag(format, saturate)}_sha256");
        VectorTier[] tiers = [.. Enum.GetValues<VectorTier>().Where(t => t != VectorTier.Scalar)];
        var bits = new uint[128 * lows.Length];
        var expected = new byte[bits.Length];
        var actual = new byte[bits.Length];
        for (int block = 0; block < 512; block++)
        {
            for (int i = 0; i < bits.Length; i++)
            {
                bits[i] = ((uint)((block * 128) + (i / lows.Length)) << 16) | lows[i % lows.Length];
            }

            ReadOnlySpan<float> f = MemoryMarshal.Cast<uint, float>(bits);
            CastKernels.SingleToFloat8Scalar(f, expected, Of(format), saturate);
            Assert.True(SHA256.HashData(expected).AsSpan(0, 8).SequenceEqual(hashes.AsSpan(block * 8, 8)), $"scalar {Tag(format, saturate)}: block {block} (sign {block >> 8}, exponent {block & 0xFF}, f32 0x{block << 23:x8}..) differs from the rules (make_fp8_fixtures.py prints no values; rerun it for this block)");
            foreach (VectorTier tier in tiers)
            {
                CastKernels.SingleToFloat8(f, actual, Of(format), saturate, tier);
                CastCase.AssertSameBits(MemoryMarshal.AsBytes(bits.AsSpan()).ToArray(), 4, expected, actual, 1, $"{Tag(format, saturate)} on {tier}, block {block}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void The_hand_checked_values_cast_as_documented(string format, bool saturate)
    {
        byte[] src = Fp8Reference.Read("f32_special");
        byte[] want = Fp8Reference.Read($"f32_special_to_{Tag(format, saturate)}");
        foreach (VectorTier tier in Enum.GetValues<VectorTier>())
        {
            // Long enough for a vector step: the values, then again shifted so each sits in another lane.
            byte[] twice = [.. src, .. src, .. src.Take(12)];
            var got = new byte[twice.Length / 4];
            CastKernels.SingleToFloat8(MemoryMarshal.Cast<byte, float>(twice), got, Of(format), saturate, tier);
            CastCase.AssertSameBits(twice, 4, [.. want, .. want, .. want.Take(3)], got, 1, $"{Tag(format, saturate)} on {tier}");
        }
    }

    [Theory]
    [InlineData(448f, 0x7E, 0x5F)]
    [InlineData(464f, 0x7E, 0x5F)]
    [InlineData(464.00003f, 0x7F, 0x5F)]
    [InlineData(480f, 0x7F, 0x60)]
    [InlineData(float.PositiveInfinity, 0x7F, 0x7C)]
    [InlineData(float.NegativeInfinity, 0xFF, 0xFC)]
    [InlineData(-0f, 0x80, 0x80)]
    [InlineData(0.0009765625f, 0x00, 0x14)]
    [InlineData(0.0029296875f, 0x02, 0x1A)]
    [InlineData(1e-9f, 0x00, 0x00)]
    [InlineData(-1e-9f, 0x80, 0x80)]
    [InlineData(57344f, 0x7F, 0x7B)]
    [InlineData(61439.996f, 0x7F, 0x7B)]
    [InlineData(61440f, 0x7F, 0x7C)]
    [InlineData(65536f, 0x7F, 0x7C)]
    [InlineData(7.62939453125e-06f, 0x00, 0x00)]
    public void Landmark_values_follow_torch(float value, int e4m3, int e5m2)
    {
        Assert.Equal((byte)e4m3, CastKernels.SingleToFloat8(value, DType.Float8E4M3));
        Assert.Equal((byte)e5m2, CastKernels.SingleToFloat8(value, DType.Float8E5M2));
    }

    [Fact]
    public void Nan_becomes_0x7F_with_its_sign_and_saturation_clamps_infinity_but_not_nan()
    {
        float negNan = BitConverter.UInt32BitsToSingle(0xFFC00001);
        Assert.Equal(0x7F, CastKernels.SingleToFloat8(float.NaN, DType.Float8E4M3) & 0x7F);
        Assert.Equal(0xFF, CastKernels.SingleToFloat8(negNan, DType.Float8E4M3));
        Assert.Equal(0xFF, CastKernels.SingleToFloat8(negNan, DType.Float8E5M2));
        Assert.Equal(0x7E, CastKernels.SingleToFloat8(float.PositiveInfinity, DType.Float8E4M3, saturate: true));
        Assert.Equal(0xFB, CastKernels.SingleToFloat8(float.NegativeInfinity, DType.Float8E5M2, saturate: true));
        Assert.Equal(0x7E, CastKernels.SingleToFloat8(470f, DType.Float8E4M3, saturate: true));
        Assert.Equal(0xFF, CastKernels.SingleToFloat8(negNan, DType.Float8E4M3, saturate: true));
    }

    [Theory]
    [MemberData(nameof(FormatTiers))]
    public void F64_rounds_to_float32_first_then_casts(string format, string tier)
    {
        byte[] src = Fp8Reference.Read("f64_src");
        byte[] want = Fp8Reference.Read("f64_src_to_" + format);
        var got = new byte[want.Length];
        using (new ForcedTier(Enum.Parse<VectorTier>(tier)))
        {
            ElementCast.Convert(DType.Float64, Of(format), src, got, got.Length);
        }

        CastCase.AssertSameBits(src, 8, want, got, 1, $"f64 -> {format} on {tier}");
    }

    [Theory]
    [MemberData(nameof(FormatTiers))]
    public void Every_code_widens_to_F32_F16_and_BF16_as_torch(string format, string tier)
    {
        byte[] codes = [.. Enumerable.Range(0, 256).Select(i => (byte)i), .. Enumerable.Range(0, 256).Select(i => (byte)(255 - i))];
        using var forced = new ForcedTier(Enum.Parse<VectorTier>(tier));
        foreach ((DType to, string name, int size) in new[] { (DType.Float32, "f32", 4), (DType.Float16, "f16", 2), (DType.BFloat16, "bf16", 2) })
        {
            byte[] table = Fp8Reference.Read($"decode_{format}_to_{name}");
            byte[] want = [.. table, .. Enumerable.Range(0, 256).SelectMany(i => table.AsSpan((255 - i) * size, size).ToArray())];
            var got = new byte[want.Length];
            ElementCast.Convert(Of(format), to, codes, got, codes.Length);
            CastCase.AssertSameBits(codes, 1, want, got, size, $"{format} -> {name} on {tier}");
        }
    }

    [Theory]
    [InlineData("e4m3fn")]
    [InlineData("e5m2")]
    public void The_decode_table_is_the_scalar_reference_and_every_number_round_trips(string format)
    {
        byte[] want = Fp8Reference.Read($"decode_{format}_to_f32");
        ReadOnlySpan<float> table = Float8.Values(Of(format));
        Assert.True(MemoryMarshal.AsBytes(table).SequenceEqual(want));
        for (int b = 0; b < 256; b++)
        {
            if (!float.IsNaN(table[b]))
            {
                Assert.Equal((byte)b, CastKernels.SingleToFloat8(table[b], Of(format)));
            }

            if (float.IsFinite(table[b]))
            {
                Assert.Equal((byte)b, CastKernels.SingleToFloat8(table[b], Of(format), saturate: true));
            }
        }
    }
}
