using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>
/// Generators of floating-point bit patterns for the cast kernel tests: uniform random bits (every exponent, NaN
/// payloads), the special values (±0, ±Inf, quiet and signalling NaNs, subnormals, largest finite) and patterns on
/// the rounding edges of the narrower type (ties, one below, one above), mixed so that a short array holds a few of
/// each. <see cref="Sample{T}"/> draws a fixed, reproducible array from the same generators for the sweeps.
/// </summary>
public static class FloatBits
{
    private static readonly uint[] SingleSpecials =
    [
        0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF812345, 0x7FBFFFFF,
        0xFFFFFFFF, 0x00000001, 0x807FFFFF, 0x00800000, 0x33000000, 0x33000001, 0x387FC000, 0x38800000, 0x477FE000,
        0x477FEFFF, 0x477FF000, 0x477FF001, 0x47800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0x3F808000,
        0x3F818000, 0x3F80C000, 0x3F817FFF, 0x33800000, 0x337FFFFF, 0xB3000001,
    ];

    // Low mantissa bits that sit on, just below and just above the rounding points of F16 (bit 13) and BF16 (bit 16).
    private static readonly uint[] MantissaEdges =
        [0, 1, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x3000, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x10000, 0x18000, 0x400000, 0x7FFFFF];

    private static readonly ulong[] DoubleSpecials =
    [
        0, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000, 0xFFF8000000000001,
        0x7FF0000000000001, 0x7FF7FFFFFFFFFFFF, 0x0000000000000001, 0x800FFFFFFFFFFFFF, 0x3FF0000010000000,
        0x3FF0000010000001, 0x3FF0000030000000, 0x3FF000000FFFFFFF, 0x47EFFFFFE0000000, 0x47EFFFFFDFFFFFFF,
        0x47EFFFFFF0000000, 0x47F0000000000000, 0x36A0000000000000, 0x36A0000000000001, 0x3690000000000000,
        0x380FFFFFF0000000, 0x40EFFE0000000000, 0x7FEFFFFFFFFFFFFF,
    ];

    // Low bits of a double on, below and above the rounding point to float32 (bit 29).
    private static readonly ulong[] DoubleLowEdges = [0, 1, 0x0FFFFFFF, 0x10000000, 0x10000001, 0x1FFFFFFF, 0x20000000, 0x30000000];

    private static Gen<uint> Uniform32 { get; } =
        Gen.Zip(Gen.Choose(0, 0xFFFF), Gen.Choose(0, 0xFFFF)).Select(p => ((uint)p.Item1 << 16) | (uint)p.Item2);

    /// <summary>float32 bit patterns: uniform, specials, every exponent with edge mantissas, and the float16 range
    /// (subnormals included) with random mantissas.</summary>
    public static Gen<uint> F32 { get; } = Gen.Frequency(
        (3, Uniform32),
        (1, Gen.Elements(SingleSpecials)),
        (2, Gen.Zip(Gen.Choose(0, 511), Gen.Elements(MantissaEdges)).Select(p => ((uint)p.Item1 << 23) | p.Item2)),
        (2, Gen.Zip(Gen.Choose(102, 143), Gen.Zip(Gen.Choose(0, 1), Uniform32)).Select(p => ((uint)p.Item2.Item1 << 31) | ((uint)p.Item1 << 23) | (p.Item2.Item2 & 0x7FFFFF))));

    /// <summary>float8 bytes: uniform over all 256 (each is special or not by itself).</summary>
    public static Gen<byte> F8 { get; } = Gen.Choose(0, 0xFF).Select(x => (byte)x);

    /// <summary>float16 or bfloat16 bit patterns: uniform over all 65,536 (each is special or not by itself).</summary>
    public static Gen<ushort> F16 { get; } = Gen.Choose(0, 0xFFFF).Select(x => (ushort)x);

    /// <summary>float64 bit patterns: uniform, specials, and the float32 range (subnormals, overflow) with low bits on
    /// the float32 rounding point.</summary>
    public static Gen<ulong> F64 { get; } = Gen.Frequency(
        (3, Gen.Zip(Uniform32, Uniform32).Select(p => ((ulong)p.Item1 << 32) | p.Item2)),
        (1, Gen.Elements(DoubleSpecials)),
        (2, Gen.Zip(Gen.Zip(Gen.Choose(1023 - 152, 1023 + 129), Gen.Choose(0, 1)), Gen.Zip(Uniform32, Gen.Elements(DoubleLowEdges)))
            .Select(p => ((ulong)p.Item1.Item2 << 63) | ((ulong)p.Item1.Item1 << 52) | (((ulong)p.Item2.Item1 << 29) & 0x000FFFFFE0000000) | p.Item2.Item2)));

    /// <summary>A reproducible array of <paramref name="length"/> patterns from <paramref name="gen"/>. Past 64 Ki
    /// elements (FsCheck draws slowly), every other element is one of 4 Ki drawn patterns and the rest uniform bits,
    /// so specials and rounding edges stay about as dense.</summary>
    public static T[] Sample<T>(Gen<T> gen, int length, ulong seed)
        where T : unmanaged
    {
        var rnd = new Rnd(seed, 0x9E3779B97F4A7C15);
        if (length <= 1 << 16)
        {
            return gen.Sample(length, rnd, 100); // (count, seed, size)
        }

        const int Pool = 1 << 12;
        T[] drawn = gen.Sample(Pool, rnd, 100);

        var rng = new Random((int)seed);
        var result = new T[length];
        rng.NextBytes(MemoryMarshal.AsBytes(result.AsSpan()));
        for (int i = 0; i < length; i += 2)
        {
            result[i] = drawn[rng.Next(Pool)];
        }

        return result;
    }
}
