using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SafeCkpt.Numerics;

internal static partial class CastKernels
{
    /// <summary>bfloat16 → float32: the 16 bits become the top half of the float (exact, NaNs unchanged).</summary>
    public static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination) => BFloat16ToSingle(source, destination, Tier);

    /// <summary>bfloat16 → float32 on <paramref name="tier"/> (the same bits on every tier).</summary>
    internal static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination, VectorTier tier)
    {
        CheckLengths(source.Length, destination.Length);
        ref ushort s = ref MemoryMarshal.GetReference(source);
        ref uint d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(destination));
        int n = source.Length;
        int i = 0;
        if (tier >= VectorTier.Vector256)
        {
            // Lanes: 16 x ushort widen to two Vector256<uint> (lanes 0-7, 8-15), each shifted left by 16.
            for (; i <= n - 16; i += 16)
            {
                (Vector256<uint> lo, Vector256<uint> hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                Vector256.ShiftLeft(lo, 16).StoreUnsafe(ref d, (nuint)i);
                Vector256.ShiftLeft(hi, 16).StoreUnsafe(ref d, (nuint)(i + 8));
            }
        }

        if (tier >= VectorTier.Vector128)
        {
            // Lanes: 8 x ushort widen to two Vector128<uint> (lanes 0-3, 4-7), each shifted left by 16.
            for (; i <= n - 8; i += 8)
            {
                (Vector128<uint> lo, Vector128<uint> hi) = Vector128.Widen(Vector128.LoadUnsafe(ref s, (nuint)i));
                Vector128.ShiftLeft(lo, 16).StoreUnsafe(ref d, (nuint)i);
                Vector128.ShiftLeft(hi, 16).StoreUnsafe(ref d, (nuint)(i + 4));
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = (uint)Unsafe.Add(ref s, i) << 16;
        }
    }

    /// <summary>Scalar reference for <see cref="BFloat16ToSingle(ReadOnlySpan{ushort}, Span{float})"/>.</summary>
    public static void BFloat16ToSingleScalar(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = BitConverter.UInt32BitsToSingle((uint)source[i] << 16);
        }
    }
}
