using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SafeCkpt.Numerics;

internal static partial class CastKernels
{
    /// <summary>
    /// float32 → bfloat16, round to nearest even. NaN becomes <paramref name="nan"/>: PyTorch gives <c>0xFFFF</c> for a
    /// float32 or float64 source (its CPU vector kernels) and <c>0x7FC0</c> for an F16 source.
    /// </summary>
    public static void SingleToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination, ushort nan = 0xFFFF) =>
        SingleToBFloat16(source, destination, nan, Tier);

    /// <summary>float32 → bfloat16 on <paramref name="tier"/> (the same bits on every tier).</summary>
    internal static void SingleToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination, ushort nan, VectorTier tier)
    {
        CheckLengths(source.Length, destination.Length);
        ref uint s = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(source));
        ref ushort d = ref MemoryMarshal.GetReference(destination);
        int n = source.Length;
        int i = 0;
        if (tier >= VectorTier.Vector256)
        {
            // 16 floats a step: two Vector256<uint> of 8 lanes, narrowed into one Vector256<ushort>.
            var nanBits = Vector256.Create((uint)nan);
            for (; i <= n - 16; i += 16)
            {
                Vector256<uint> lo = SingleToBFloat16Lanes(Vector256.LoadUnsafe(ref s, (nuint)i), nanBits);
                Vector256<uint> hi = SingleToBFloat16Lanes(Vector256.LoadUnsafe(ref s, (nuint)(i + 8)), nanBits);
                Vector256.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }

        if (tier >= VectorTier.Vector128)
        {
            // 8 floats a step: two Vector128<uint> of 4 lanes, narrowed into one Vector128<ushort>.
            var nanBits = Vector128.Create((uint)nan);
            for (; i <= n - 8; i += 8)
            {
                Vector128<uint> lo = SingleToBFloat16Lanes(Vector128.LoadUnsafe(ref s, (nuint)i), nanBits);
                Vector128<uint> hi = SingleToBFloat16Lanes(Vector128.LoadUnsafe(ref s, (nuint)(i + 4)), nanBits);
                Vector128.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = SingleToBFloat16(BitConverter.UInt32BitsToSingle(Unsafe.Add(ref s, i)), nan);
        }
    }

    /// <summary>Scalar reference for <see cref="SingleToBFloat16(ReadOnlySpan{float}, Span{ushort}, ushort)"/>.</summary>
    public static void SingleToBFloat16Scalar(ReadOnlySpan<float> source, Span<ushort> destination, ushort nan = 0xFFFF)
    {
        CheckLengths(source.Length, destination.Length);
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = SingleToBFloat16(source[i], nan);
        }
    }

    /// <summary>One float32 → bfloat16 bit pattern (NaN → <paramref name="nan"/>).</summary>
    public static ushort SingleToBFloat16(float value, ushort nan = 0xFFFF)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFFFFFF) > 0x7F800000)
        {
            return nan;
        }

        return (ushort)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
    }

    // Lanes: each uint lane holds one float32 bit pattern u and leaves its bfloat16 bits in the low 16, exactly the
    // scalar function above: (u + 0x7FFF + ((u >> 16) & 1)) >> 16 rounds the top half to nearest even (a carry runs
    // into the exponent, up to infinity); lanes whose u & 0x7FFFFFFF > 0x7F800000 (NaN) take nanBits instead. The NaN
    // compare runs on signed lanes: the masked value is below 2^31, so it is exact and native on SSE2/AVX2 and NEON.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> SingleToBFloat16Lanes(Vector256<uint> u, Vector256<uint> nanBits)
    {
        Vector256<uint> rounded = Vector256.ShiftRightLogical(u + Vector256.Create(0x7FFFu) + (Vector256.ShiftRightLogical(u, 16) & Vector256<uint>.One), 16);
        Vector256<int> isNaN = Vector256.GreaterThan((u & Vector256.Create(0x7FFFFFFFu)).AsInt32(), Vector256.Create(0x7F800000));
        return Vector256.ConditionalSelect(isNaN.AsUInt32(), nanBits, rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> SingleToBFloat16Lanes(Vector128<uint> u, Vector128<uint> nanBits)
    {
        Vector128<uint> rounded = Vector128.ShiftRightLogical(u + Vector128.Create(0x7FFFu) + (Vector128.ShiftRightLogical(u, 16) & Vector128<uint>.One), 16);
        Vector128<int> isNaN = Vector128.GreaterThan((u & Vector128.Create(0x7FFFFFFFu)).AsInt32(), Vector128.Create(0x7F800000));
        return Vector128.ConditionalSelect(isNaN.AsUInt32(), nanBits, rounded);
    }
}
