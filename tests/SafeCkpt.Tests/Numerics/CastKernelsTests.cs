using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Numerics;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Numerics;

/// <summary>
/// The cast kernels against PyTorch's own results (Fixtures/casts, made by make_cast_fixtures.py), and every vector
/// tier against the scalar reference: over every length up to past two vector widths, on random bit patterns, and on
/// millions of patterns. Each test names its tier, so a machine with AVX2 runs the Vector128 and scalar tiers too
/// (a tier the hardware lacks runs emulated: exact, only slower, so the big inputs stay on accelerated tiers).
/// </summary>
public class CastKernelsTests
{
    /// <summary>Every tier, whatever this machine accelerates.</summary>
    public static TheoryData<string> Tiers() => [.. Enum.GetNames<VectorTier>()];

    /// <summary>The tiers this machine runs in hardware (scalar with DOTNET_EnableHWIntrinsic=0).</summary>
    public static TheoryData<string> AcceleratedTiers() => [.. Enum.GetValues<VectorTier>().Where(t => t <= CastKernels.HardwareTier).Select(t => t.ToString())];

    public static TheoryData<string> Kernels() => [.. CastCase.All.Keys];

    private static VectorTier Tier(string name) => Enum.Parse<VectorTier>(name);

    // ---------------------------------------------------------------- dispatch

    [Fact]
    public void The_vector_paths_are_accelerated_on_this_machine_or_ci_says_so()
    {
        // CI runs the suite twice: normally, and with DOTNET_EnableHWIntrinsic=0 so the scalar tails carry everything.
        bool expectScalar = Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0";
        Assert.Equal(!expectScalar, Vector256.IsHardwareAccelerated || Vector128.IsHardwareAccelerated);
    }

    [Fact]
    public void The_entry_points_run_the_widest_tier_the_runtime_accelerates()
    {
        VectorTier widest = Vector256.IsHardwareAccelerated ? VectorTier.Vector256 : Vector128.IsHardwareAccelerated ? VectorTier.Vector128 : VectorTier.Scalar;
        Assert.Equal(widest, CastKernels.HardwareTier);
        Assert.Equal(widest, CastKernels.Tier);

        // What the runtime's switches imply: CI's second run turns intrinsics off, DOTNET_EnableAVX2=0 (or AVX=0)
        // leaves x64 with 128-bit SSE, and NEON is 128-bit.
        static bool Off(string knob) => Environment.GetEnvironmentVariable("DOTNET_" + knob) == "0";
        if (Off("EnableHWIntrinsic"))
        {
            Assert.Equal(VectorTier.Scalar, widest);
        }
        else if (RuntimeInformation.ProcessArchitecture == Architecture.X64 && (Off("EnableAVX2") || Off("EnableAVX")))
        {
            Assert.Equal(VectorTier.Vector128, widest);
        }
        else if (Avx2.IsSupported)
        {
            Assert.Equal(VectorTier.Vector256, widest);
        }
        else if (AdvSimd.Arm64.IsSupported)
        {
            Assert.Equal(VectorTier.Vector128, widest);
        }
    }

    // ---------------------------------------------------------------- against torch, every tier

    [Theory]
    [MemberData(nameof(Tiers))]
    public void F32_to_F16_matches_torch_half_on_specials_edges_and_random_patterns(string tier) =>
        AssertMatchesTorch("F32->F16", "f32_src", "f32_src_to_f16", Tier(tier));

    [Theory]
    [MemberData(nameof(Tiers))]
    public void F32_to_BF16_matches_torch_bfloat16_on_specials_edges_and_random_patterns(string tier) =>
        AssertMatchesTorch("F32->BF16", "f32_src", "f32_src_to_bf16", Tier(tier));

    [Theory]
    [MemberData(nameof(Tiers))]
    public void F16_to_F32_matches_torch_on_all_65536_patterns(string tier) =>
        AssertMatchesTorch("F16->F32", "f16_all", "f16_all_to_f32", Tier(tier));

    [Theory]
    [MemberData(nameof(Tiers))]
    public void BF16_to_F32_matches_torch_on_all_65536_patterns(string tier) =>
        AssertMatchesTorch("BF16->F32", "bf16_all", "bf16_all_to_f32", Tier(tier));

    [Theory]
    [MemberData(nameof(Tiers))]
    public void F64_to_F32_matches_torch_float_on_specials_and_random_patterns(string tier) =>
        AssertMatchesTorch("F64->F32", "f64_src", "f64_src_to_f32", Tier(tier));

    [Theory]
    [MemberData(nameof(Tiers))]
    public void F32_to_F64_matches_torch_double_on_specials_edges_and_random_patterns(string tier) =>
        AssertMatchesTorch("F32->F64", "f32_src", "f32_src_to_f64", Tier(tier));

    private static void AssertMatchesTorch(string kernel, string source, string expected, VectorTier tier)
    {
        CastCase k = CastCase.All[kernel];
        byte[] src = TorchCasts.Read(source);
        byte[] want = TorchCasts.Read(expected);
        var got = new byte[want.Length];
        k.Run(src, got, tier);
        CastCase.AssertSameBits(src, k.FromSize, want, got, k.ToSize, $"{kernel} on {tier} against torch");
        k.Reference(src, got);
        CastCase.AssertSameBits(src, k.FromSize, want, got, k.ToSize, $"{kernel} scalar reference against torch");
    }

    [Fact]
    public void F32_to_F64_is_exact_and_keeps_a_nan_payload_quietened()
    {
        // Independent of the scalar cast: a float widens to the same value, and a NaN to sign | quiet | payload << 29.
        uint[] bits = FloatBits.Sample(FloatBits.F32, 100_000, 64);
        var d = new double[bits.Length];
        CastKernels.SingleToDouble(MemoryMarshal.Cast<uint, float>(bits), d);
        for (int i = 0; i < bits.Length; i++)
        {
            uint u = bits[i];
            ulong want = (u & 0x7FFFFFFF) > 0x7F800000
                ? ((ulong)(u & 0x80000000) << 32) | 0x7FF8000000000000 | ((ulong)(u & 0x7FFFFF) << 29)
                : BitConverter.DoubleToUInt64Bits(BitConverter.UInt32BitsToSingle(u));
            Assert.True(want == BitConverter.DoubleToUInt64Bits(d[i]), $"f32 0x{u:x8}: expected 0x{want:x16}, got 0x{BitConverter.DoubleToUInt64Bits(d[i]):x16}");
            Assert.True(float.IsNaN(BitConverter.UInt32BitsToSingle(u)) || (float)d[i] == BitConverter.UInt32BitsToSingle(u));
        }
    }

    // ---------------------------------------------------------------- every tier against the scalar reference

    /// <summary>Every (kernel, tier).</summary>
    public static TheoryData<string, string> KernelTiers()
    {
        var data = new TheoryData<string, string>();
        foreach (string kernel in CastCase.All.Keys)
        {
            foreach (string tier in Enum.GetNames<VectorTier>())
            {
                data.Add(kernel, tier);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(KernelTiers))]
    public void Every_tier_matches_the_scalar_reference_for_every_length_and_leaves_the_rest_untouched(string kernel, string tier)
    {
        // 0 to past two of the widest steps (16 elements), then around 64 and 128: every split into vector steps and
        // a tail.
        CastCase k = CastCase.All[kernel];
        foreach (int length in Enumerable.Range(0, 2 * 16 + 9).Concat([63, 64, 65, 127, 128, 129]))
        {
            k.AssertTierMatchesReference(k.Sample(length, (ulong)length), Tier(tier));
        }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Every_tier_matches_the_scalar_reference_on_random_bit_patterns(string kernel)
    {
        CastCase k = CastCase.All[kernel];
        Property property = Prop.ForAll(k.Inputs.ToArbitrary(), source =>
        {
            foreach (VectorTier tier in Enum.GetValues<VectorTier>())
            {
                k.AssertTierMatchesReference(source, tier);
            }
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300).WithEndSize(80).WithName(kernel), property);
    }

    [Theory]
    [MemberData(nameof(AcceleratedTiers))]
    public void Every_accelerated_tier_matches_the_scalar_reference_on_four_million_patterns(string tier)
    {
        // The scalar references are checked against torch (above); this takes the vector tiers over millions of
        // patterns (every exponent, NaN payloads, subnormals, rounding edges) at the cost of a few milliseconds each.
        foreach (CastCase k in CastCase.All.Values)
        {
            k.AssertTierMatchesReference(k.Sample(4 << 20, 20261125), Tier(tier));
        }
    }

    [Theory]
    [MemberData(nameof(AcceleratedTiers))]
    public void Every_accelerated_tier_matches_the_scalar_reference_on_every_float32_top_half_with_edge_low_halves(string tier)
    {
        // Every sign, exponent and top 7 mantissa bits, each with low halves on, below and above the F16 and BF16
        // rounding points: the whole space except the bits below the rounding points, which only decide ties.
        ushort[] lows = [0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x2001, 0x3000, 0x6000, 0x7FFF, 0x8000, 0x8001, 0x9000, 0xEFFF, 0xF000, 0xFFFF];
        var bits = new uint[65536 * lows.Length];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = ((uint)(i / lows.Length) << 16) | lows[i % lows.Length];
        }

        byte[] source = MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
        foreach (string kernel in new[] { "F32->F16", "F32->BF16", "F32->BF16 (NaN 0x7FC0)", "F32->F64", "F32->F8_E4M3", "F32->F8_E5M2", "F32->F8_E4M3 (saturating)", "F32->F8_E5M2 (saturating)" })
        {
            CastCase.All[kernel].AssertTierMatchesReference(source, Tier(tier));
        }
    }

    [ExhaustiveFact]
    public void Every_accelerated_tier_matches_the_scalar_reference_on_every_float32_bit_pattern()
    {
        // All 2^32 patterns through F32->F16, F32->BF16 (both NaN values), F32->F64 and F32->F8 (both formats, plain and
        // saturating), in blocks of 4 Mi; a few minutes with two accelerated tiers. Run with SAFECKPT_EXHAUSTIVE=1.
        const int Block = 1 << 22;
        var bits = new uint[Block];
        VectorTier[] tiers = [.. Enum.GetValues<VectorTier>().Where(t => t != VectorTier.Scalar && t <= CastKernels.HardwareTier)];
        CastCase[] kernels = [.. new[] { "F32->F16", "F32->BF16", "F32->BF16 (NaN 0x7FC0)", "F32->F64", "F32->F8_E4M3", "F32->F8_E5M2", "F32->F8_E4M3 (saturating)", "F32->F8_E5M2 (saturating)" }.Select(n => CastCase.All[n])];
        for (long start = 0; start < 1L << 32; start += Block)
        {
            for (int i = 0; i < Block; i++)
            {
                bits[i] = (uint)(start + i);
            }

            byte[] source = MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
            foreach (CastCase k in kernels)
            {
                var expected = new byte[Block * k.ToSize];
                var actual = new byte[Block * k.ToSize];
                k.Reference(source, expected);
                foreach (VectorTier tier in tiers)
                {
                    k.Run(source, actual, tier);
                    CastCase.AssertSameBits(source, k.FromSize, expected, actual, k.ToSize, $"{k.Name} on {tier}");
                }
            }
        }
    }

    [Fact]
    public void A_destination_shorter_than_the_source_is_refused()
    {
        foreach (VectorTier tier in Enum.GetValues<VectorTier>())
        {
            Assert.Throws<ArgumentException>(() => CastKernels.SingleToHalf(new float[4], new ushort[3], tier));
            Assert.Throws<ArgumentException>(() => CastKernels.SingleToDouble(new float[40], new double[39], tier));
        }
    }

    // ---------------------------------------------------------------- properties of the casts themselves

    [Property(MaxTest = 500)]
    public Property Widening_then_narrowing_returns_every_non_nan_half_and_bfloat16() =>
        Prop.ForAll(ArbMap.Default.GeneratorFor<ushort>().ArrayOf().ToArbitrary(), bits =>
        {
            ushort[] h = bits.Where(b => (b & 0x7FFF) <= 0x7C00).ToArray();
            var f = new float[h.Length];
            var back = new ushort[h.Length];
            CastKernels.HalfToSingle(h, f);
            CastKernels.SingleToHalf(f, back);
            bool half = h.SequenceEqual(back);
            ushort[] b = bits.Where(x => (x & 0x7FFF) <= 0x7F80).ToArray();
            f = new float[b.Length];
            back = new ushort[b.Length];
            CastKernels.BFloat16ToSingle(b, f);
            CastKernels.SingleToBFloat16(f, back);
            var d = new double[f.Length];
            var f2 = new float[f.Length];
            CastKernels.SingleToDouble(f, d);
            CastKernels.DoubleToSingle(d, f2);
            return half && b.SequenceEqual(back) && f.AsSpan().SequenceEqual(f2);
        });

    [Property(MaxTest = 500)]
    public Property Narrowing_is_monotonic_and_nan_stays_nan() =>
        Prop.ForAll(ArbMap.Default.GeneratorFor<float>().ArrayOf().ToArbitrary(), values =>
        {
            float[] sorted = values.Where(v => !float.IsNaN(v)).Order().ToArray();
            var h = new ushort[sorted.Length];
            CastKernels.SingleToHalf(sorted, h);
            var f = new float[h.Length];
            CastKernels.HalfToSingle(h, f);
            bool monotonic = f.Zip(f.Skip(1), (a, b) => a <= b || (a == 0 && b == 0)).All(x => x);
            var nan = new ushort[1];
            CastKernels.SingleToHalf([float.NaN], nan);
            return monotonic && Half.IsNaN(BitConverter.UInt16BitsToHalf(nan[0]));
        });
}
