using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SafeCkpt.Numerics;

internal static partial class CastKernels
{
    /// <summary>float64 → float32, round to nearest even (the hardware conversion PyTorch also uses).</summary>
    public static void DoubleToSingle(ReadOnlySpan<double> source, Span<float> destination) => DoubleToSingle(source, destination, Tier);

    /// <summary>float64 → float32 on <paramref name="tier"/> (the same bits on every tier).</summary>
    internal static void DoubleToSingle(ReadOnlySpan<double> source, Span<float> destination, VectorTier tier)
    {
        CheckLengths(source.Length, destination.Length);
        ref double s = ref MemoryMarshal.GetReference(source);
        ref float d = ref MemoryMarshal.GetReference(destination);
        int n = source.Length;
        int i = 0;
        if (tier >= VectorTier.Vector256)
        {
            // Lanes: two Vector256<double> (4 + 4) narrow into one Vector256<float> of 8: the same hardware conversion
            // per lane as the scalar cast (cvtpd2ps / cvtsd2ss), so rounding and NaN quietening agree.
            for (; i <= n - 8; i += 8)
            {
                Vector256.Narrow(Vector256.LoadUnsafe(ref s, (nuint)i), Vector256.LoadUnsafe(ref s, (nuint)(i + 4))).StoreUnsafe(ref d, (nuint)i);
            }
        }

        if (tier >= VectorTier.Vector128)
        {
            // Lanes: two Vector128<double> (2 + 2) narrow into one Vector128<float> of 4 (cvtpd2ps on x64,
            // fcvtn/fcvtn2 on Arm64, each the vector form of the scalar conversion).
            for (; i <= n - 4; i += 4)
            {
                Vector128.Narrow(Vector128.LoadUnsafe(ref s, (nuint)i), Vector128.LoadUnsafe(ref s, (nuint)(i + 2))).StoreUnsafe(ref d, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = (float)Unsafe.Add(ref s, i);
        }
    }

    /// <summary>Scalar reference for <see cref="DoubleToSingle(ReadOnlySpan{double}, Span{float})"/>.</summary>
    public static void DoubleToSingleScalar(ReadOnlySpan<double> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = (float)source[i];
        }
    }
}
