using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SafeCkpt.Numerics;

internal static partial class CastKernels
{
    /// <summary>float32 → float64 (exact; NaN payload kept and quietened, as the hardware conversion does).</summary>
    public static void SingleToDouble(ReadOnlySpan<float> source, Span<double> destination) => SingleToDouble(source, destination, Tier);

    /// <summary>float32 → float64 on <paramref name="tier"/> (the same bits on every tier).</summary>
    internal static void SingleToDouble(ReadOnlySpan<float> source, Span<double> destination, VectorTier tier)
    {
        CheckLengths(source.Length, destination.Length);
        ref float s = ref MemoryMarshal.GetReference(source);
        ref double d = ref MemoryMarshal.GetReference(destination);
        int n = source.Length;
        int i = 0;
        if (tier >= VectorTier.Vector256)
        {
            // Lanes: one Vector256<float> of 8 widens into two Vector256<double> (lanes 0-3, 4-7), the vector form of
            // the scalar conversion (cvtps2pd / cvtss2sd).
            for (; i <= n - 8; i += 8)
            {
                (Vector256<double> lo, Vector256<double> hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                lo.StoreUnsafe(ref d, (nuint)i);
                hi.StoreUnsafe(ref d, (nuint)(i + 4));
            }
        }

        if (tier >= VectorTier.Vector128)
        {
            // Lanes: one Vector128<float> of 4 widens into two Vector128<double> (lanes 0-1, 2-3): cvtps2pd on x64,
            // fcvtl/fcvtl2 on Arm64.
            for (; i <= n - 4; i += 4)
            {
                (Vector128<double> lo, Vector128<double> hi) = Vector128.Widen(Vector128.LoadUnsafe(ref s, (nuint)i));
                lo.StoreUnsafe(ref d, (nuint)i);
                hi.StoreUnsafe(ref d, (nuint)(i + 2));
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = Unsafe.Add(ref s, i);
        }
    }

    /// <summary>Scalar reference for <see cref="SingleToDouble(ReadOnlySpan{float}, Span{double})"/>.</summary>
    public static void SingleToDoubleScalar(ReadOnlySpan<float> source, Span<double> destination)
    {
        CheckLengths(source.Length, destination.Length);
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = source[i];
        }
    }
}
