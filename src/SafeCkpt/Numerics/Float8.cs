using SafeCkpt.Tensors;

namespace SafeCkpt.Numerics;

/// <summary>
/// The 8-bit float formats, decoded through one 256-entry table each: E4M3FN (bias 7, no infinities, S.1111.111 is
/// NaN), E5M2 (bias 15, IEEE infinities and NaNs), the FNUZ variants (bias 8 and 16, 0x80 is the only NaN, no
/// negative zero) and E8M0 (an unsigned power of two 2^(e-127), 0xFF is NaN), as torch and ml_dtypes define them.
/// The E4M3FN and E5M2 tables hold PyTorch's exact float32 bits, NaNs included (c10's scalar conversion: E4M3FN's NaN
/// is <c>0x7FF00000 | sign</c>; E5M2 widens as the float16 it is the top byte of, NaNs quietened), so they are the
/// scalar reference of <see cref="CastKernels.Float8ToSingle(ReadOnlySpan{byte}, Span{float}, DType)"/>.
/// </summary>
internal static class Float8
{
    private static readonly float[] E4M3 = Table(b => Decode(b, 4, 3, 7, fnuz: false));
    private static readonly float[] E5M2 = Table(b => (float)BitConverter.UInt16BitsToHalf((ushort)(b << 8)));
    private static readonly float[] E4M3Fnuz = Table(b => Decode(b, 4, 3, 8, fnuz: true));
    private static readonly float[] E5M2Fnuz = Table(b => Decode(b, 5, 2, 16, fnuz: true));
    private static readonly float[] E8M0 = Table(b => b == 0xFF ? float.NaN : MathF.ScaleB(1f, b - 127));

    /// <summary>Whether the dtype is one of the 8-bit floats.</summary>
    public static bool Is(DType dtype) => dtype is DType.Float8E4M3 or DType.Float8E5M2 or DType.Float8E4M3Fnuz or DType.Float8E5M2Fnuz or DType.Float8E8M0;

    /// <summary>The value of every byte of the format: index it with the stored byte.</summary>
    public static ReadOnlySpan<float> Values(DType dtype) => dtype switch
    {
        DType.Float8E4M3 => E4M3,
        DType.Float8E5M2 => E5M2,
        DType.Float8E4M3Fnuz => E4M3Fnuz,
        DType.Float8E5M2Fnuz => E5M2Fnuz,
        DType.Float8E8M0 => E8M0,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not an 8-bit float"),
    };

    /// <summary>Decodes bytes of an 8-bit float dtype into floats (every value is exact in F32).</summary>
    public static void ToSingle(DType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        ReadOnlySpan<float> table = Values(dtype);
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = table[source[i]];
        }
    }

    private static float[] Table(Func<int, float> decode) => [.. Enumerable.Range(0, 256).Select(decode)];

    private static float Decode(int b, int exponentBits, int mantissaBits, int bias, bool fnuz)
    {
        int sign = b >> 7;
        int e = (b >> mantissaBits) & ((1 << exponentBits) - 1);
        int m = b & ((1 << mantissaBits) - 1);
        int maxE = (1 << exponentBits) - 1;
        if (fnuz && b == 0x80)
        {
            return float.NaN;
        }

        if (!fnuz && e == maxE && m == (1 << mantissaBits) - 1)
        {
            // E4M3FN's S.1111.111: c10 widens it to 0x7FF00000 | sign.
            return BitConverter.UInt32BitsToSingle(0x7FF00000u | ((uint)sign << 31));
        }

        float magnitude = e == 0
            ? MathF.ScaleB(m, 1 - bias - mantissaBits)
            : MathF.ScaleB((1 << mantissaBits) + m, e - bias - mantissaBits);
        return sign == 1 ? -magnitude : magnitude;
    }
}
