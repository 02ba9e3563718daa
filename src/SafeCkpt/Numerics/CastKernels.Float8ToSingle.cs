using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Numerics;

internal static partial class CastKernels
{
    /// <summary>
    /// float8 (<see cref="DType.Float8E4M3"/> or <see cref="DType.Float8E5M2"/>) → float32, exact, as PyTorch's
    /// <c>.float()</c>: E4M3FN's NaN becomes <c>0x7FF00000 | sign</c> (c10's scalar conversion), E5M2 widens as the
    /// float16 it is the top byte of (infinities kept, NaNs quietened).
    /// </summary>
    public static void Float8ToSingle(ReadOnlySpan<byte> source, Span<float> destination, DType format) =>
        Float8ToSingle(source, destination, format, Tier);

    /// <summary>float8 → float32 on <paramref name="tier"/> (the same bits on every tier).</summary>
    internal static void Float8ToSingle(ReadOnlySpan<byte> source, Span<float> destination, DType format, VectorTier tier)
    {
        CheckLengths(source.Length, destination.Length);
        bool e4m3 = format switch
        {
            DType.Float8E4M3 => true,
            DType.Float8E5M2 => false,
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "the kernel reads F8_E4M3 or F8_E5M2"),
        };
        ref byte s = ref MemoryMarshal.GetReference(source);
        ref uint d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(destination));
        int n = source.Length;
        int i = 0;
        if (tier >= VectorTier.Vector256)
        {
            // 32 bytes a step: one Vector256<byte> widened twice into four Vector256<uint> (lanes 0-7, 8-15, 16-23, 24-31).
            for (; i <= n - 32; i += 32)
            {
                (Vector256<ushort> lo, Vector256<ushort> hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                (Vector256<uint> a, Vector256<uint> b) = Vector256.Widen(lo);
                (Vector256<uint> c, Vector256<uint> e) = Vector256.Widen(hi);
                Float8ToSingleLanes(a, e4m3).StoreUnsafe(ref d, (nuint)i);
                Float8ToSingleLanes(b, e4m3).StoreUnsafe(ref d, (nuint)(i + 8));
                Float8ToSingleLanes(c, e4m3).StoreUnsafe(ref d, (nuint)(i + 16));
                Float8ToSingleLanes(e, e4m3).StoreUnsafe(ref d, (nuint)(i + 24));
            }
        }

        if (tier >= VectorTier.Vector128)
        {
            // 16 bytes a step: one Vector128<byte> widened twice into four Vector128<uint>.
            for (; i <= n - 16; i += 16)
            {
                (Vector128<ushort> lo, Vector128<ushort> hi) = Vector128.Widen(Vector128.LoadUnsafe(ref s, (nuint)i));
                (Vector128<uint> a, Vector128<uint> b) = Vector128.Widen(lo);
                (Vector128<uint> c, Vector128<uint> e) = Vector128.Widen(hi);
                Float8ToSingleLanes(a, e4m3).StoreUnsafe(ref d, (nuint)i);
                Float8ToSingleLanes(b, e4m3).StoreUnsafe(ref d, (nuint)(i + 4));
                Float8ToSingleLanes(c, e4m3).StoreUnsafe(ref d, (nuint)(i + 8));
                Float8ToSingleLanes(e, e4m3).StoreUnsafe(ref d, (nuint)(i + 12));
            }
        }

        ReadOnlySpan<float> table = Float8.Values(format);
        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = BitConverter.SingleToUInt32Bits(table[Unsafe.Add(ref s, i)]);
        }
    }

    /// <summary>Scalar reference for <see cref="Float8ToSingle(ReadOnlySpan{byte}, Span{float}, DType)"/>: the decode table.</summary>
    public static void Float8ToSingleScalar(ReadOnlySpan<byte> source, Span<float> destination, DType format)
    {
        CheckLengths(source.Length, destination.Length);
        ReadOnlySpan<float> table = Float8.Values(format);
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = table[source[i]];
        }
    }

    // Lanes: each uint lane holds one float8 byte b (zero-extended) and becomes its float32 bits.
    //   E4M3FN: a = b & 0x7F, sign = (b & 0x80) << 24
    //     a >= 8 (normal)    -> (a << 20) + (120 << 23): mantissa moved up 20 bits, exponent rebiased 7 -> 127
    //     below (subnormal)  -> bits(float(a) * 2^-9), exact (a < 8)
    //     a == 0x7F (NaN)    -> 0x7FF00000
    //     then | sign
    //   E5M2: b << 8 is an IEEE float16; the float16 lanes of HalfToSingle widen it (sign, infinities, quietened NaNs).
    // Compares run on signed lanes (a < 2^8), native on SSE2/AVX2 and NEON.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Float8ToSingleLanes(Vector256<uint> b, bool e4m3)
    {
        if (!e4m3)
        {
            return HalfToSingleLanes(Vector256.ShiftLeft(b, 8));
        }

        Vector256<uint> a = b & Vector256.Create(0x7Fu);
        Vector256<uint> sign = Vector256.ShiftLeft(b & Vector256.Create(0x80u), 24);
        Vector256<uint> subnormal = (Vector256.ConvertToSingle(a.AsInt32()) * Vector256.Create(1.0f / (1 << 9))).AsUInt32();
        Vector256<int> ai = a.AsInt32();
        Vector256<uint> f = Vector256.ConditionalSelect(Vector256.LessThan(ai, Vector256.Create(8)).AsUInt32(), subnormal, Vector256.ShiftLeft(a, 20) + Vector256.Create(120u << 23));
        f = Vector256.ConditionalSelect(Vector256.Equals(ai, Vector256.Create(0x7F)).AsUInt32(), Vector256.Create(0x7FF00000u), f);
        return f | sign;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> Float8ToSingleLanes(Vector128<uint> b, bool e4m3)
    {
        if (!e4m3)
        {
            return HalfToSingleLanes(Vector128.ShiftLeft(b, 8));
        }

        Vector128<uint> a = b & Vector128.Create(0x7Fu);
        Vector128<uint> sign = Vector128.ShiftLeft(b & Vector128.Create(0x80u), 24);
        Vector128<uint> subnormal = (Vector128.ConvertToSingle(a.AsInt32()) * Vector128.Create(1.0f / (1 << 9))).AsUInt32();
        Vector128<int> ai = a.AsInt32();
        Vector128<uint> f = Vector128.ConditionalSelect(Vector128.LessThan(ai, Vector128.Create(8)).AsUInt32(), subnormal, Vector128.ShiftLeft(a, 20) + Vector128.Create(120u << 23));
        f = Vector128.ConditionalSelect(Vector128.Equals(ai, Vector128.Create(0x7F)).AsUInt32(), Vector128.Create(0x7FF00000u), f);
        return f | sign;
    }
}
