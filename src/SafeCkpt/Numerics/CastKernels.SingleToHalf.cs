using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SafeCkpt.Numerics;

internal static partial class CastKernels
{
    /// <summary>float32 → float16: round to nearest even, overflow to infinity, subnormals kept, NaN →
    /// <c>sign | 0x7E00</c> (PyTorch's NaN).</summary>
    public static void SingleToHalf(ReadOnlySpan<float> source, Span<ushort> destination) => SingleToHalf(source, destination, Tier);

    /// <summary>float32 → float16 on <paramref name="tier"/> (the same bits on every tier).</summary>
    internal static void SingleToHalf(ReadOnlySpan<float> source, Span<ushort> destination, VectorTier tier)
    {
        CheckLengths(source.Length, destination.Length);
        ref uint s = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(source));
        ref ushort d = ref MemoryMarshal.GetReference(destination);
        int n = source.Length;
        int i = 0;
        if (tier >= VectorTier.Vector256)
        {
            // 16 floats a step: two Vector256<uint> of 8 lanes, narrowed into one Vector256<ushort>.
            for (; i <= n - 16; i += 16)
            {
                Vector256<uint> lo = SingleToHalfLanes(Vector256.LoadUnsafe(ref s, (nuint)i));
                Vector256<uint> hi = SingleToHalfLanes(Vector256.LoadUnsafe(ref s, (nuint)(i + 8)));
                Vector256.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }

        if (tier >= VectorTier.Vector128)
        {
            // 8 floats a step: two Vector128<uint> of 4 lanes, narrowed into one Vector128<ushort>.
            for (; i <= n - 8; i += 8)
            {
                Vector128<uint> lo = SingleToHalfLanes(Vector128.LoadUnsafe(ref s, (nuint)i));
                Vector128<uint> hi = SingleToHalfLanes(Vector128.LoadUnsafe(ref s, (nuint)(i + 4)));
                Vector128.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = SingleToHalf(BitConverter.UInt32BitsToSingle(Unsafe.Add(ref s, i)));
        }
    }

    /// <summary>Scalar reference for <see cref="SingleToHalf(ReadOnlySpan{float}, Span{ushort})"/>.</summary>
    public static void SingleToHalfScalar(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        CheckLengths(source.Length, destination.Length);
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = SingleToHalf(source[i]);
        }
    }

    /// <summary>One float32 → float16 bit pattern: the runtime's conversion (round to nearest even), PyTorch's NaN.</summary>
    public static ushort SingleToHalf(float value)
    {
        if (float.IsNaN(value))
        {
            return (ushort)((BitConverter.SingleToUInt32Bits(value) >> 16 & 0x8000) | 0x7E00);
        }

        return BitConverter.HalfToUInt16Bits((Half)value);
    }

    // Lanes: each uint lane holds one float32 bit pattern u and leaves its float16 bits in the low 16:
    //   a = u & 0x7FFFFFFF, sign = (u >> 16) & 0x8000
    //   a >  0x7F800000 (NaN)                     -> 0x7E00
    //   a >= 0x477FF000 (65520, the tie above the
    //                    largest half, and more)  -> 0x7C00 (infinity)
    //   a >= 0x38800000 (2^-14, normal in half)   -> (a - 0x38000000 + 0xFFF + ((a >> 13) & 1)) >> 13: exponent rebiased
    //                                                127 -> 15, mantissa rounded to 10 bits, ties to even; a carry runs
    //                                                into the exponent as it should
    //   below (half subnormal or zero)            -> bits(float(a) + 0.5f) - 0x3F000000: the float add rounds a to a
    //                                                multiple of 2^-24 (nearest even, in hardware), which is the ulp of
    //                                                0.5f, so the half's subnormal mantissa lands in the low bits
    // then | sign. Compares run on signed lanes: a < 2^31 makes them exact, and signed 32-bit compares are native on
    // SSE2/AVX2 and NEON alike.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> SingleToHalfLanes(Vector256<uint> u)
    {
        Vector256<uint> a = u & Vector256.Create(0x7FFFFFFFu);
        Vector256<uint> sign = Vector256.ShiftRightLogical(u, 16) & Vector256.Create(0x8000u);
        Vector256<uint> normal = Vector256.ShiftRightLogical(a - Vector256.Create(0x38000000u - 0xFFFu) + (Vector256.ShiftRightLogical(a, 13) & Vector256<uint>.One), 13);
        Vector256<uint> subnormal = (a.AsSingle() + Vector256.Create(0.5f)).AsUInt32() - Vector256.Create(0x3F000000u);
        Vector256<int> ai = a.AsInt32();
        Vector256<uint> h = Vector256.ConditionalSelect(Vector256.LessThan(ai, Vector256.Create(0x38800000)).AsUInt32(), subnormal, normal);
        h = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(ai, Vector256.Create(0x477FF000)).AsUInt32(), Vector256.Create(0x7C00u), h);
        h = Vector256.ConditionalSelect(Vector256.GreaterThan(ai, Vector256.Create(0x7F800000)).AsUInt32(), Vector256.Create(0x7E00u), h);
        return h | sign;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> SingleToHalfLanes(Vector128<uint> u)
    {
        Vector128<uint> a = u & Vector128.Create(0x7FFFFFFFu);
        Vector128<uint> sign = Vector128.ShiftRightLogical(u, 16) & Vector128.Create(0x8000u);
        Vector128<uint> normal = Vector128.ShiftRightLogical(a - Vector128.Create(0x38000000u - 0xFFFu) + (Vector128.ShiftRightLogical(a, 13) & Vector128<uint>.One), 13);
        Vector128<uint> subnormal = (a.AsSingle() + Vector128.Create(0.5f)).AsUInt32() - Vector128.Create(0x3F000000u);
        Vector128<int> ai = a.AsInt32();
        Vector128<uint> h = Vector128.ConditionalSelect(Vector128.LessThan(ai, Vector128.Create(0x38800000)).AsUInt32(), subnormal, normal);
        h = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(ai, Vector128.Create(0x477FF000)).AsUInt32(), Vector128.Create(0x7C00u), h);
        h = Vector128.ConditionalSelect(Vector128.GreaterThan(ai, Vector128.Create(0x7F800000)).AsUInt32(), Vector128.Create(0x7E00u), h);
        return h | sign;
    }
}
