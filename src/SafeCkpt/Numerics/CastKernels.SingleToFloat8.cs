using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Numerics;

internal static partial class CastKernels
{
    /// <summary>
    /// float32 → float8 (<see cref="DType.Float8E4M3"/> or <see cref="DType.Float8E5M2"/>) as PyTorch's
    /// <c>.to(torch.float8_e4m3fn)</c> / <c>.to(torch.float8_e5m2)</c>: round to nearest even, the sign always kept.
    /// E4M3FN has no infinity: NaN, ±Inf and anything that rounds past 448 become <c>0x7F | sign</c> (NaN). E5M2:
    /// NaN becomes <c>0x7F | sign</c>, ±Inf and anything that rounds past 57344 <c>0x7C | sign</c> (infinity). With
    /// <paramref name="saturate"/> the magnitude is first clamped to the largest finite value (ComfyUI's scaled fp8:
    /// <c>torch.clamp(x, -max, max)</c> before the cast; NaN stays NaN).
    /// </summary>
    public static void SingleToFloat8(ReadOnlySpan<float> source, Span<byte> destination, DType format, bool saturate = false) =>
        SingleToFloat8(source, destination, format, saturate, Tier);

    /// <summary>float32 → float8 on <paramref name="tier"/> (the same bits on every tier).</summary>
    internal static void SingleToFloat8(ReadOnlySpan<float> source, Span<byte> destination, DType format, bool saturate, VectorTier tier)
    {
        CheckLengths(source.Length, destination.Length);
        Float8Encoding e = Float8Encoding.Of(format, saturate);
        ref uint s = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(source));
        ref byte d = ref MemoryMarshal.GetReference(destination);
        int n = source.Length;
        int i = 0;
        if (tier >= VectorTier.Vector256)
        {
            // 32 floats a step: four Vector256<uint> of 8 lanes, narrowed twice into one Vector256<byte>.
            var c = new Encode256(e);
            for (; i <= n - 32; i += 32)
            {
                Vector256<ushort> lo = Vector256.Narrow(c.Lanes(Vector256.LoadUnsafe(ref s, (nuint)i)), c.Lanes(Vector256.LoadUnsafe(ref s, (nuint)(i + 8))));
                Vector256<ushort> hi = Vector256.Narrow(c.Lanes(Vector256.LoadUnsafe(ref s, (nuint)(i + 16))), c.Lanes(Vector256.LoadUnsafe(ref s, (nuint)(i + 24))));
                Vector256.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }

        if (tier >= VectorTier.Vector128)
        {
            // 16 floats a step: four Vector128<uint> of 4 lanes, narrowed twice into one Vector128<byte>.
            var c = new Encode128(e);
            for (; i <= n - 16; i += 16)
            {
                Vector128<ushort> lo = Vector128.Narrow(c.Lanes(Vector128.LoadUnsafe(ref s, (nuint)i)), c.Lanes(Vector128.LoadUnsafe(ref s, (nuint)(i + 4))));
                Vector128<ushort> hi = Vector128.Narrow(c.Lanes(Vector128.LoadUnsafe(ref s, (nuint)(i + 8))), c.Lanes(Vector128.LoadUnsafe(ref s, (nuint)(i + 12))));
                Vector128.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = e.Encode(Unsafe.Add(ref s, i));
        }
    }

    /// <summary>Scalar reference for <see cref="SingleToFloat8(ReadOnlySpan{float}, Span{byte}, DType, bool)"/>.</summary>
    public static void SingleToFloat8Scalar(ReadOnlySpan<float> source, Span<byte> destination, DType format, bool saturate = false)
    {
        CheckLengths(source.Length, destination.Length);
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = SingleToFloat8(source[i], format, saturate);
        }
    }

    /// <summary>One float32 → float8 byte (see <see cref="SingleToFloat8(ReadOnlySpan{float}, Span{byte}, DType, bool)"/>).</summary>
    public static byte SingleToFloat8(float value, DType format, bool saturate = false) =>
        Float8Encoding.Of(format, saturate).Encode(BitConverter.SingleToUInt32Bits(value));

    // Lanes: each uint lane holds one float32 bit pattern u and leaves the float8 byte in its low 8 bits:
    //   a = u & 0x7FFFFFFF, sign = (u >> 24) & 0x80
    //   saturating: a = min(a, bits(max)) unless a is NaN (a > 0x7F800000)
    //   a >= 2^-6 / 2^-14 (normal in fp8)  -> (a + rebias + (2^(s-1) - 1) + ((a >> s) & 1)) >> s, s = 20 (E4M3) or 21
    //                                         (E5M2): exponent rebiased 127 -> 7 / 15 and the mantissa rounded to 3 / 2
    //                                         bits, ties to even; a carry runs into the exponent, and past the largest
    //                                         code lands on 0x7F (E4M3's NaN) or 0x7C (E5M2's infinity)
    //   below (fp8 subnormal or zero)       -> bits(float(a) + 2^14 / 2^7) - bits(2^14 / 2^7): the float add rounds a to a
    //                                         multiple of 2^-9 / 2^-16, the ulp of the magic constant, in hardware (RNE)
    //   a >= 480 / 65536 (and ±Inf)         -> 0x7F (E4M3: NaN) / 0x7C (E5M2: infinity)
    //   a > 0x7F800000 (NaN)                -> 0x7F
    // then | sign. Compares run on signed lanes (a < 2^31), native on SSE2/AVX2 and NEON.

    /// <summary>The constants of one float32 → float8 encoding (format and saturation); <see cref="Encode"/> is the scalar
    /// reference, written branch by branch from the rules.</summary>
    private readonly struct Float8Encoding
    {
        private const uint NaNBits = 0x7F800000;

        private Float8Encoding(uint max, uint overflow, uint overflowCode, uint minNormal, uint magic, int bias, int shift, bool saturate)
        {
            Clamp = saturate ? max : NaNBits;
            Overflow = overflow;
            OverflowCode = overflowCode;
            MinNormal = minNormal;
            Magic = magic;
            Rebias = unchecked((uint)((bias - 127) << 23));
            Shift = shift;
            RoundBias = (1u << (shift - 1)) - 1;
        }

        /// <summary>The largest magnitude before a saturating cast; +Inf's bits (no clamp) otherwise.</summary>
        public uint Clamp { get; }

        /// <summary>The smallest magnitude that overflows: 480 (E4M3) or 65536 (E5M2).</summary>
        public uint Overflow { get; }

        /// <summary>What overflow gives: 0x7F (E4M3: NaN) or 0x7C (E5M2: infinity).</summary>
        public uint OverflowCode { get; }

        /// <summary>The smallest normal fp8 magnitude: 2^-6 or 2^-14.</summary>
        public uint MinNormal { get; }

        /// <summary>A power of two whose float32 ulp is the fp8 subnormal step: 2^14 (ulp 2^-9) or 2^7 (ulp 2^-16).</summary>
        public uint Magic { get; }

        /// <summary>Adds (fp8 bias - 127) to a float32 exponent field, wrapping.</summary>
        public uint Rebias { get; }

        /// <summary>The float32 mantissa bits dropped: 20 or 21.</summary>
        public int Shift { get; }

        /// <summary>Half an fp8 ulp minus one, in the dropped bits.</summary>
        public uint RoundBias { get; }

        public static Float8Encoding Of(DType format, bool saturate) => format switch
        {
            DType.Float8E4M3 => new Float8Encoding(0x43E00000, 0x43F00000, 0x7F, 0x3C800000, 0x46800000, 7, 20, saturate),
            DType.Float8E5M2 => new Float8Encoding(0x47600000, 0x47800000, 0x7C, 0x38800000, 0x43000000, 15, 21, saturate),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "casts write F8_E4M3 or F8_E5M2"),
        };

        public byte Encode(uint u)
        {
            uint sign = (u >> 24) & 0x80;
            uint a = u & 0x7FFFFFFF;
            if (a > NaNBits)
            {
                return (byte)(0x7F | sign);
            }

            a = Math.Min(a, Clamp);
            if (a >= Overflow)
            {
                return (byte)(OverflowCode | sign);
            }

            uint r = a < MinNormal
                ? BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(a) + BitConverter.UInt32BitsToSingle(Magic)) - Magic
                : (a + Rebias + RoundBias + ((a >> Shift) & 1)) >> Shift;
            return (byte)(r | sign);
        }
    }

    /// <summary><see cref="Float8Encoding"/>'s constants broadcast to Vector256 lanes.</summary>
    private readonly struct Encode256(Float8Encoding e)
    {
        private readonly Vector256<int> _clamp = Vector256.Create((int)e.Clamp);
        private readonly Vector256<int> _overflow = Vector256.Create((int)e.Overflow);
        private readonly Vector256<uint> _overflowCode = Vector256.Create(e.OverflowCode);
        private readonly Vector256<int> _minNormal = Vector256.Create((int)e.MinNormal);
        private readonly Vector256<uint> _magic = Vector256.Create(e.Magic);
        private readonly Vector256<uint> _add = Vector256.Create(e.Rebias + e.RoundBias);
        private readonly int _shift = e.Shift;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<uint> Lanes(Vector256<uint> u)
        {
            Vector256<int> a = (u & Vector256.Create(0x7FFFFFFFu)).AsInt32();
            Vector256<uint> sign = Vector256.ShiftRightLogical(u, 24) & Vector256.Create(0x80u);
            Vector256<int> nan = Vector256.GreaterThan(a, Vector256.Create(0x7F800000));
            a = Vector256.ConditionalSelect(nan, a, Vector256.Min(a, _clamp));
            Vector256<uint> au = a.AsUInt32();
            Vector256<uint> normal = Vector256.ShiftRightLogical(au + _add + (Vector256.ShiftRightLogical(au, _shift) & Vector256<uint>.One), _shift);
            Vector256<uint> subnormal = (au.AsSingle() + _magic.AsSingle()).AsUInt32() - _magic;
            Vector256<uint> r = Vector256.ConditionalSelect(Vector256.LessThan(a, _minNormal).AsUInt32(), subnormal, normal);
            r = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a, _overflow).AsUInt32(), _overflowCode, r);
            r = Vector256.ConditionalSelect(nan.AsUInt32(), Vector256.Create(0x7Fu), r);
            return r | sign;
        }
    }

    /// <summary><see cref="Float8Encoding"/>'s constants broadcast to Vector128 lanes.</summary>
    private readonly struct Encode128(Float8Encoding e)
    {
        private readonly Vector128<int> _clamp = Vector128.Create((int)e.Clamp);
        private readonly Vector128<int> _overflow = Vector128.Create((int)e.Overflow);
        private readonly Vector128<uint> _overflowCode = Vector128.Create(e.OverflowCode);
        private readonly Vector128<int> _minNormal = Vector128.Create((int)e.MinNormal);
        private readonly Vector128<uint> _magic = Vector128.Create(e.Magic);
        private readonly Vector128<uint> _add = Vector128.Create(e.Rebias + e.RoundBias);
        private readonly int _shift = e.Shift;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<uint> Lanes(Vector128<uint> u)
        {
            Vector128<int> a = (u & Vector128.Create(0x7FFFFFFFu)).AsInt32();
            Vector128<uint> sign = Vector128.ShiftRightLogical(u, 24) & Vector128.Create(0x80u);
            Vector128<int> nan = Vector128.GreaterThan(a, Vector128.Create(0x7F800000));
            a = Vector128.ConditionalSelect(nan, a, Vector128.Min(a, _clamp));
            Vector128<uint> au = a.AsUInt32();
            Vector128<uint> normal = Vector128.ShiftRightLogical(au + _add + (Vector128.ShiftRightLogical(au, _shift) & Vector128<uint>.One), _shift);
            Vector128<uint> subnormal = (au.AsSingle() + _magic.AsSingle()).AsUInt32() - _magic;
            Vector128<uint> r = Vector128.ConditionalSelect(Vector128.LessThan(a, _minNormal).AsUInt32(), subnormal, normal);
            r = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(a, _overflow).AsUInt32(), _overflowCode, r);
            r = Vector128.ConditionalSelect(nan.AsUInt32(), Vector128.Create(0x7Fu), r);
            return r | sign;
        }
    }
}
