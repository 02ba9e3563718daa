using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SafeCkpt.Numerics;

internal static partial class CastKernels
{
    /// <summary>float16 → float32 (exact; NaN payload kept and quietened).</summary>
    public static void HalfToSingle(ReadOnlySpan<ushort> source, Span<float> destination) => HalfToSingle(source, destination, Tier);

    /// <summary>float16 → float32 on <paramref name="tier"/> (the same bits on every tier).</summary>
    internal static void HalfToSingle(ReadOnlySpan<ushort> source, Span<float> destination, VectorTier tier)
    {
        CheckLengths(source.Length, destination.Length);
        ref ushort s = ref MemoryMarshal.GetReference(source);
        ref uint d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(destination));
        int n = source.Length;
        int i = 0;
        if (tier >= VectorTier.Vector256)
        {
            // 16 halves a step: one Vector256<ushort> widened to two Vector256<uint> (lanes 0-7, 8-15).
            for (; i <= n - 16; i += 16)
            {
                (Vector256<uint> lo, Vector256<uint> hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                HalfToSingleLanes(lo).StoreUnsafe(ref d, (nuint)i);
                HalfToSingleLanes(hi).StoreUnsafe(ref d, (nuint)(i + 8));
            }
        }

        if (tier >= VectorTier.Vector128)
        {
            // 8 halves a step: one Vector128<ushort> widened to two Vector128<uint> (lanes 0-3, 4-7).
            for (; i <= n - 8; i += 8)
            {
                (Vector128<uint> lo, Vector128<uint> hi) = Vector128.Widen(Vector128.LoadUnsafe(ref s, (nuint)i));
                HalfToSingleLanes(lo).StoreUnsafe(ref d, (nuint)i);
                HalfToSingleLanes(hi).StoreUnsafe(ref d, (nuint)(i + 4));
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf(Unsafe.Add(ref s, i)));
        }
    }

    /// <summary>Scalar reference for <see cref="HalfToSingle(ReadOnlySpan{ushort}, Span{float})"/>.</summary>
    public static void HalfToSingleScalar(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = (float)BitConverter.UInt16BitsToHalf(source[i]);
        }
    }

    // Lanes: each uint lane holds one float16 bit pattern h (zero-extended) and becomes its float32 bits:
    //   a = h & 0x7FFF, sign = (h & 0x8000) << 16
    //   a >= 0x7C00 (infinity, NaN) -> (a << 13) | 0x7F800000, and | 0x00400000 when a > 0x7C00: a NaN keeps its
    //                                  payload and is quietened, as the hardware conversion does
    //   a >= 0x0400 (normal)        -> (a << 13) + 0x38000000: mantissa moved up 13 bits, exponent rebiased 15 -> 127
    //   below (subnormal, zero)     -> bits(float(a) * 2^-24), exact (a < 2^10)
    // then | sign. Compares run on signed lanes (a < 2^15), native on SSE2/AVX2 and NEON.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> HalfToSingleLanes(Vector256<uint> h)
    {
        Vector256<uint> a = h & Vector256.Create(0x7FFFu);
        Vector256<uint> sign = Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16);
        Vector256<uint> shifted = Vector256.ShiftLeft(a, 13);
        Vector256<uint> subnormal = (Vector256.ConvertToSingle(a.AsInt32()) * Vector256.Create(1.0f / (1 << 24))).AsUInt32();
        Vector256<int> ai = a.AsInt32();
        Vector256<uint> f = Vector256.ConditionalSelect(Vector256.LessThan(ai, Vector256.Create(0x0400)).AsUInt32(), subnormal, shifted + Vector256.Create(0x38000000u));
        f = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(ai, Vector256.Create(0x7C00)).AsUInt32(), shifted | Vector256.Create(0x7F800000u), f);
        f |= Vector256.GreaterThan(ai, Vector256.Create(0x7C00)).AsUInt32() & Vector256.Create(0x00400000u);
        return f | sign;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> HalfToSingleLanes(Vector128<uint> h)
    {
        Vector128<uint> a = h & Vector128.Create(0x7FFFu);
        Vector128<uint> sign = Vector128.ShiftLeft(h & Vector128.Create(0x8000u), 16);
        Vector128<uint> shifted = Vector128.ShiftLeft(a, 13);
        Vector128<uint> subnormal = (Vector128.ConvertToSingle(a.AsInt32()) * Vector128.Create(1.0f / (1 << 24))).AsUInt32();
        Vector128<int> ai = a.AsInt32();
        Vector128<uint> f = Vector128.ConditionalSelect(Vector128.LessThan(ai, Vector128.Create(0x0400)).AsUInt32(), subnormal, shifted + Vector128.Create(0x38000000u));
        f = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(ai, Vector128.Create(0x7C00)).AsUInt32(), shifted | Vector128.Create(0x7F800000u), f);
        f |= Vector128.GreaterThan(ai, Vector128.Create(0x7C00)).AsUInt32() & Vector128.Create(0x00400000u);
        return f | sign;
    }
}
