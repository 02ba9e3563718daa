using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SafeCkpt.Numerics;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// float32 → GGUF tensor bytes, bit-identical to llama.cpp's gguf-py <c>gguf.quants.quantize</c> (which follows ggml's
/// <c>quantize_row_*_ref</c>), operation by operation in its numpy dtypes, per block of 32:
/// <list type="bullet">
/// <item>Q8_0: <c>d = max|x| / 127</c>, <c>id = d == 0 ? 0 : 1/d</c>, <c>q = roundf(x*id)</c> (half away from zero, as
/// gguf-py's <c>np_roundf</c>: <c>floor(a) + floor(2*(a - floor(a)))</c> with the sign put back).</item>
/// <item>Q4_0 / Q5_0: <c>max</c> = the element of largest |x| (first on ties, sign kept), <c>d = max / -8</c> (-16),
/// <c>q = min(15, trunc(float((double)x*(double)id + 8.5)))</c> (31, 16.5): the product and sum in double, rounded
/// to float once, then truncated.</item>
/// <item>Q4_1 / Q5_1: <c>d = (max - min)/15</c> (31), <c>q = min(15, trunc((x - min)*id + 0.5f))</c>, all in float.</item>
/// <item>float → int8/uint8 as numpy casts on x86-64: through int32, keeping the low byte (NaN and out-of-range
/// values give 0); <c>d</c>, <c>m</c> → fp16 by numpy's rule (round to nearest even; NaN keeps its top payload bits,
/// 0x7C01 when none survive).</item>
/// <item>F16: numpy's <c>astype(float16)</c> (the same rule); BF16: ggml's <c>fp32_to_bf16</c> (NaN quieted with its
/// payload, round to nearest even); F32: the values.</item>
/// </list>
/// No step is fused or reordered, so .NET's float arithmetic gives numpy's bits.
/// </summary>
internal static class GgmlQuantizer
{
    /// <summary>The types SafeCkpt writes.</summary>
    public static bool CanQuantize(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q8_0 or GgmlType.Q5_1 or GgmlType.Q5_0 or GgmlType.Q4_1 or GgmlType.Q4_0;

    /// <summary>Quantizes whole blocks of <paramref name="values"/> into <paramref name="destination"/> (bytes per block per block).</summary>
    public static void Quantize(GgmlType type, ReadOnlySpan<float> values, Span<byte> destination) => Quantize(type, values, destination, Vector256.IsHardwareAccelerated);

    /// <summary>As <see cref="Quantize(GgmlType, ReadOnlySpan{float}, Span{byte})"/>; <paramref name="vectorized"/> false runs the scalar reference only (tests compare the two).</summary>
    internal static void Quantize(GgmlType type, ReadOnlySpan<float> values, Span<byte> destination, bool vectorized)
    {
        if (!CanQuantize(type) || !GgmlTypes.TryGetBlock((uint)type, out int n, out int size))
        {
            throw new ArgumentOutOfRangeException(nameof(type), $"ggml type {GgmlTypes.Name(type)} has no quantizer.");
        }

        int count = values.Length / n;
        if (values.Length % n != 0 || destination.Length < count * size)
        {
            throw new ArgumentException($"{values.Length} values are not whole {GgmlTypes.Name(type)} blocks, or the destination holds fewer than {count * size} bytes.", nameof(values));
        }

        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.AsBytes(values).CopyTo(destination);
                return;
            case GgmlType.F16:
                ToHalf(values, MemoryMarshal.Cast<byte, ushort>(destination[..(count * 2)]));
                return;
            case GgmlType.BF16:
                Span<ushort> bf = MemoryMarshal.Cast<byte, ushort>(destination[..(count * 2)]);
                for (int i = 0; i < values.Length; i++)
                {
                    bf[i] = BFloat16(values[i]);
                }

                return;
        }

        for (int b = 0; b < count; b++)
        {
            ReadOnlySpan<float> x = values.Slice(b * n, n);
            Span<byte> y = destination.Slice(b * size, size);
            switch (type)
            {
                case GgmlType.Q8_0 when vectorized: Q8_0Vector(x, y); break;
                case GgmlType.Q8_0: Q8_0(x, y); break;
                case GgmlType.Q4_0: Symmetric(x, y, -8f, 8.5, 15, fiveBit: false); break;
                case GgmlType.Q5_0: Symmetric(x, y, -16f, 16.5, 31, fiveBit: true); break;
                case GgmlType.Q4_1: Affine(x, y, 15f, 15, fiveBit: false); break;
                default: Affine(x, y, 31f, 31, fiveBit: true); break;
            }
        }
    }

    /// <summary>float32 → fp16 bits by numpy's rule: round to nearest even, overflow to infinity, NaN keeps <c>sig &gt;&gt; 13</c> (0x7C01 when that is 0).</summary>
    public static ushort Half(float value)
    {
        if (!float.IsNaN(value))
        {
            return CastKernels.SingleToHalf(value);
        }

        uint u = BitConverter.SingleToUInt32Bits(value);
        uint h = 0x7C00u + ((u & 0x007FFFFFu) >> 13);
        if (h == 0x7C00u)
        {
            h++;
        }

        return (ushort)(((u >> 16) & 0x8000u) | h);
    }

    /// <summary>float32 → bf16 bits as ggml's <c>ggml_compute_fp32_to_bf16</c> (and gguf-py): NaN quieted keeping its payload, else round to nearest even.</summary>
    public static ushort BFloat16(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        {
            u = (u & 0xFFFF0000u) | 0x00400000u;
        }

        return (ushort)(((ulong)u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    }

    private static void ToHalf(ReadOnlySpan<float> values, Span<ushort> destination)
    {
        CastKernels.SingleToHalf(values, destination);
        for (int i = 0; i < values.Length; i++)
        {
            if (float.IsNaN(values[i]))
            {
                destination[i] = Half(values[i]);
            }
        }
    }

    private static void Q8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0f;
        foreach (float v in x)
        {
            float a = MathF.Abs(v);
            if (float.IsNaN(a) || a > amax)
            {
                amax = a;
            }

            if (float.IsNaN(amax))
            {
                break;
            }
        }

        float d = amax / 127f;
        float id = d == 0f ? 0f : 1f / d;
        BinaryPrimitives.WriteUInt16LittleEndian(y, Half(d));
        for (int j = 0; j < x.Length; j++)
        {
            y[2 + j] = (byte)ToInt(RoundAway(x[j] * id));
        }
    }

    /// <summary>
    /// Q8_0 with Vector256, the same operations as <see cref="Q8_0"/> lane by lane: four vectors of 8 lanes per block;
    /// <c>amax</c> is the largest |x| (order-free for finite values); per lane <c>p = x*id</c>, <c>a = |p|</c>,
    /// <c>b = floor(a) + floor(2*(a - floor(a)))</c> (integral, at most 128), the code <c>±(int)b</c> with p's sign,
    /// narrowed to its low byte. A block holding NaN or an infinity goes to the scalar reference.
    /// </summary>
    private static void Q8_0Vector(ReadOnlySpan<float> x, Span<byte> y)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        Vector256<float> v0 = Vector256.LoadUnsafe(ref p, 0);
        Vector256<float> v1 = Vector256.LoadUnsafe(ref p, 8);
        Vector256<float> v2 = Vector256.LoadUnsafe(ref p, 16);
        Vector256<float> v3 = Vector256.LoadUnsafe(ref p, 24);
        Vector256<float> inf = Vector256.Create(float.PositiveInfinity);
        Vector256<float> m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        if (!Vector256.LessThanAll(Vector256.Abs(v0), inf) || !Vector256.LessThanAll(Vector256.Abs(v1), inf)
            || !Vector256.LessThanAll(Vector256.Abs(v2), inf) || !Vector256.LessThanAll(Vector256.Abs(v3), inf))
        {
            Q8_0(x, y);
            return;
        }

        float amax = 0f;
        for (int i = 0; i < 8; i++)
        {
            amax = MathF.Max(amax, m.GetElement(i));
        }

        float d = amax / 127f;
        float id = d == 0f ? 0f : 1f / d;
        BinaryPrimitives.WriteUInt16LittleEndian(y, Half(d));
        Vector256<float> scale = Vector256.Create(id);
        Vector256<short> lo = Vector256.Narrow(Code(v0 * scale), Code(v1 * scale));
        Vector256<short> hi = Vector256.Narrow(Code(v2 * scale), Code(v3 * scale));
        Vector256.Narrow(lo, hi).AsByte().StoreUnsafe(ref MemoryMarshal.GetReference(y), 2);

        static Vector256<int> Code(Vector256<float> n)
        {
            Vector256<float> a = Vector256.Abs(n);
            Vector256<float> floored = Vector256.Floor(a);
            Vector256<float> b = floored + Vector256.Floor(Vector256.Create(2f) * (a - floored));
            Vector256<int> q = Vector256.ConvertToInt32(b);
            return Vector256.ConditionalSelect(Vector256.LessThan(n, Vector256<float>.Zero).AsInt32(), -q, q);
        }
    }

    /// <summary>Q4_0 / Q5_0: the scale from the signed extreme, the values truncated after a double multiply-add.</summary>
    private static void Symmetric(ReadOnlySpan<float> x, Span<byte> y, float divisor, double offset, int top, bool fiveBit)
    {
        int imax = 0;
        float best = MathF.Abs(x[0]);
        for (int j = 1; j < x.Length && !float.IsNaN(best); j++)
        {
            float a = MathF.Abs(x[j]);
            if (float.IsNaN(a) || a > best)
            {
                best = a;
                imax = j;
            }
        }

        float d = x[imax] / divisor;
        float id = d == 0f ? 0f : 1f / d;
        BinaryPrimitives.WriteUInt16LittleEndian(y, Half(d));
        Span<byte> q = stackalloc byte[32];
        for (int j = 0; j < 32; j++)
        {
            float v = (float)(((double)x[j] * id) + offset);
            q[j] = (byte)Math.Min(top, (byte)ToInt(MathF.Truncate(v)));
        }

        Pack(q, y[2..], fiveBit);
    }

    /// <summary>Q4_1 / Q5_1: scale and minimum, the values truncated after a float multiply-add.</summary>
    private static void Affine(ReadOnlySpan<float> x, Span<byte> y, float divisor, int top, bool fiveBit)
    {
        float max = Reduce(x, max: true);
        float min = Reduce(x, max: false);
        float d = (max - min) / divisor;
        float id = d == 0f ? 0f : 1f / d;
        BinaryPrimitives.WriteUInt16LittleEndian(y, Half(d));
        BinaryPrimitives.WriteUInt16LittleEndian(y[2..], Half(min));
        Span<byte> q = stackalloc byte[32];
        for (int j = 0; j < 32; j++)
        {
            float v = ((x[j] - min) * id) + 0.5f;
            q[j] = (byte)Math.Min(top, (byte)ToInt(MathF.Truncate(v)));
        }

        Pack(q, y[4..], fiveBit);
    }

    /// <summary>
    /// numpy's <c>min</c> / <c>max</c> over one 32-element row as numpy 1.24 reduces float32 with AVX-512 (the machine
    /// the fixtures were made on): every lane starts at x[0]; x[1..16] are folded in lane by lane; the 16 lanes are folded
    /// in halves (8+8, 4+4, then 0+2/1+3, then 0+1); x[17..31] are folded one by one. Each step keeps the second operand
    /// on a tie, which only shows for +0/-0 (the sign of <c>m</c> and of a zero <c>d</c>); a NaN gives the first NaN, quieted (numpy's reduction quiets it).
    /// </summary>
    private static float Reduce(ReadOnlySpan<float> x, bool max)
    {
        foreach (float v in x)
        {
            if (float.IsNaN(v))
            {
                return BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(v) | 0x00400000u);
            }
        }

        Span<float> acc = stackalloc float[16];
        for (int i = 0; i < 16; i++)
        {
            acc[i] = Pick(x[0], x[1 + i], max);
        }

        for (int width = 8; width >= 4; width /= 2)
        {
            for (int i = 0; i < width; i++)
            {
                acc[i] = Pick(acc[i + width], acc[i], max);
            }
        }

        float r = Pick(Pick(acc[0], acc[2], max), Pick(acc[1], acc[3], max), max);
        for (int j = 17; j < x.Length; j++)
        {
            r = Pick(r, x[j], max);
        }

        return r;
    }

    /// <summary><c>_mm_min_ps(a, b)</c> / <c>_mm_max_ps(a, b)</c>: a when strictly smaller (larger), else b.</summary>
    private static float Pick(float a, float b, bool max) => (max ? a > b : a < b) ? a : b;

    /// <summary>Nibbles (element j low, j+16 high), after the 32 fifth bits as a little-endian u32 for the 5-bit types.</summary>
    private static void Pack(ReadOnlySpan<byte> q, Span<byte> y, bool fiveBit)
    {
        if (fiveBit)
        {
            uint qh = 0;
            for (int j = 0; j < 32; j++)
            {
                qh |= (uint)((q[j] >> 4) & 1) << j;
            }

            BinaryPrimitives.WriteUInt32LittleEndian(y, qh);
            y = y[4..];
        }

        for (int j = 0; j < 16; j++)
        {
            y[j] = (byte)((q[j] & 0x0F) | (q[j + 16] << 4));
        }
    }

    /// <summary>gguf-py's <c>np_roundf</c>: half away from zero, in float32 steps; NaN stays NaN.</summary>
    private static float RoundAway(float n)
    {
        float a = MathF.Abs(n);
        float floored = MathF.Floor(a);
        float b = floored + MathF.Floor(2f * (a - floored));
        float sign = n > 0f ? 1f : n < 0f ? -1f : n == 0f ? 0f : float.NaN;
        return sign * b;
    }

    /// <summary>numpy's float32 → small-integer cast on x86-64: through int32 (NaN and out-of-range give int.MinValue), keeping the low bits.</summary>
    private static int ToInt(float v) => float.IsNaN(v) || v >= 2147483648f || v < -2147483648f ? int.MinValue : (int)v;
}
