using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using CommunityToolkit.HighPerformance.Buffers;
using SafeCkpt.Tensors;

namespace SafeCkpt.Numerics;

/// <summary>
/// ComfyUI's per-tensor scaled fp8, in the order and precision its code computes it (ComfyUI <c>comfy/quant_ops.py</c>
/// <c>_TensorCoreFP8LayoutBase.quantize(scale="recalculate")</c>, comfy-kitchen <c>quantize_per_tensor_fp8</c> /
/// <c>dequantize_per_tensor_fp8</c>, eager backend), on the CPU:
/// <list type="number">
/// <item><c>amax = max|W|</c> in W's dtype (exact), widened to float32 (F64: rounded); NaN if W holds one.</item>
/// <item><c>scale = amax / finfo(fp8).max</c> (448 or 57344), a float32 division; for an F16 source (ComfyUI: "not
/// float32 or bfloat16") <c>scale = 1 / clamp(1 / scale, -65504, 65504)</c>, so <c>1/scale</c> fits the source
/// dtype. An all-zero weight gets scale 1 (ComfyUI would divide by zero and store NaN).</item>
/// <item><c>q = fp8(clamp(W * (1 / scale).to(W.dtype), -max, max))</c>: the reciprocal is a float32 division rounded to
/// W's dtype, the product is rounded to W's dtype (F16/BF16 products are exact in float32 and rounded once), the
/// clamp saturates, and the cast follows torch's rules (<see cref="CastKernels.SingleToFloat8(ReadOnlySpan{float}, Span{byte}, DType, bool)"/>).</item>
/// <item>Dequantization to dtype T: <c>q.to(T) * scale.to(T)</c>: the fp8 value exactly, the scale rounded to T, the
/// product rounded to T (F16/BF16 products of two such values are exact in float32 and rounded once).</item>
/// </list>
/// CUDA divides by a CPU scalar as a multiply by its float32 reciprocal, so a scale computed on a GPU can differ from
/// this one in the last bit of an F32 source's scale.
/// </summary>
internal static class ScaledFloat8
{
    private const int Block = 4096;

    /// <summary>The largest finite value of the format.</summary>
    public static float Max(DType format) => format == DType.Float8E5M2 ? 57344f : 448f;

    /// <summary>The largest magnitude's bit pattern among elements of <paramref name="dtype"/> (F64, F32, F16, BF16),
    /// combined with <paramref name="current"/>: magnitudes of IEEE values order as their bits do, and a NaN's bits
    /// exceed infinity's, so a NaN anywhere makes the result NaN, as <c>torch.amax</c> does.</summary>
    public static ulong MaxMagnitudeBits(DType dtype, ReadOnlySpan<byte> source, ulong current)
    {
        switch (dtype)
        {
            case DType.Float32:
                return Math.Max(current, MaxBits(MemoryMarshal.Cast<byte, uint>(source), 0x7FFFFFFFu));
            case DType.Float16 or DType.BFloat16:
                return Math.Max(current, MaxBits(MemoryMarshal.Cast<byte, ushort>(source), (ushort)0x7FFF));
            case DType.Float64:
                foreach (ulong u in MemoryMarshal.Cast<byte, ulong>(source))
                {
                    current = Math.Max(current, u & 0x7FFFFFFFFFFFFFFF);
                }

                return current;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "scaled fp8 quantizes F64, F32, F16 or BF16");
        }
    }

    /// <summary>The float32 value of a magnitude's bits from <see cref="MaxMagnitudeBits"/>.</summary>
    public static float AbsMax(DType dtype, ulong bits) => dtype switch
    {
        DType.Float32 => BitConverter.UInt32BitsToSingle((uint)bits),
        DType.Float16 => (float)BitConverter.UInt16BitsToHalf((ushort)bits),
        DType.BFloat16 => BitConverter.UInt32BitsToSingle((uint)bits << 16),
        _ => (float)BitConverter.UInt64BitsToDouble(bits),
    };

    /// <summary>The per-tensor scale of a weight of dtype <paramref name="source"/> whose largest magnitude is <paramref name="amax"/>.</summary>
    public static float Scale(float amax, DType source, DType format)
    {
        if (amax == 0)
        {
            return 1f;
        }

        float scale = amax / Max(format);
        if (source == DType.Float16)
        {
            scale = 1f / Math.Clamp(1f / scale, -65504f, 65504f);
        }

        return scale;
    }

    /// <summary>Quantizes <paramref name="count"/> elements of <paramref name="source"/> (dtype <paramref name="from"/>) to fp8 bytes with <paramref name="scale"/>.</summary>
    public static void Quantize(DType from, ReadOnlySpan<byte> source, Span<byte> destination, int count, float scale, DType format)
    {
        float inv = 1f / scale;
        int size = from.BitSize() / 8;
        using SpanOwner<float> scratch = SpanOwner<float>.Allocate(Block);
        using SpanOwner<ushort> narrow = SpanOwner<ushort>.Allocate(Block);
        for (int i = 0; i < count; i += Block)
        {
            int n = Math.Min(Block, count - i);
            ReadOnlySpan<byte> s = source.Slice(i * size, n * size);
            Span<float> f = scratch.Span[..n];
            Span<byte> d = destination.Slice(i, n);
            switch (from)
            {
                case DType.Float32:
                    Multiply(MemoryMarshal.Cast<byte, float>(s), inv, f);
                    break;
                case DType.Float16:
                    // Product exact in float32, rounded once to F16 (and widened back for the cast).
                    CastKernels.HalfToSingle(MemoryMarshal.Cast<byte, ushort>(s), f);
                    Multiply(f, (float)BitConverter.UInt16BitsToHalf(CastKernels.SingleToHalf(inv)), f);
                    CastKernels.SingleToHalf(f, narrow.Span[..n]);
                    CastKernels.HalfToSingle(narrow.Span[..n], f);
                    break;
                case DType.BFloat16:
                    CastKernels.BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(s), f);
                    Multiply(f, BitConverter.UInt32BitsToSingle((uint)CastKernels.SingleToBFloat16(inv) << 16), f);
                    CastKernels.SingleToBFloat16(f, narrow.Span[..n]);
                    CastKernels.BFloat16ToSingle(narrow.Span[..n], f);
                    break;
                case DType.Float64:
                    // Product and clamp in float64, then torch's double -> float -> fp8.
                    ReadOnlySpan<double> x = MemoryMarshal.Cast<byte, double>(s);
                    double max = Max(format);
                    for (int j = 0; j < n; j++)
                    {
                        double y = x[j] * inv;
                        f[j] = (float)(double.IsNaN(y) ? y : Math.Clamp(y, -max, max));
                    }

                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(from), from, "scaled fp8 quantizes F64, F32, F16 or BF16");
            }

            CastKernels.SingleToFloat8(f, d, format, saturate: true);
        }
    }

    /// <summary>Dequantizes <paramref name="count"/> fp8 bytes to dtype <paramref name="to"/> (F32, F16, BF16, F64): <c>q.to(T) * scale.to(T)</c>.</summary>
    public static void Dequantize(DType format, ReadOnlySpan<byte> source, float scale, DType to, Span<byte> destination, int count)
    {
        int size = to.BitSize() / 8;
        using SpanOwner<float> scratch = SpanOwner<float>.Allocate(Block);
        for (int i = 0; i < count; i += Block)
        {
            int n = Math.Min(Block, count - i);
            Span<float> f = scratch.Span[..n];
            Span<byte> d = destination.Slice(i * size, n * size);
            CastKernels.Float8ToSingle(source.Slice(i, n), f, format);
            switch (to)
            {
                case DType.Float32:
                    Multiply(f, scale, MemoryMarshal.Cast<byte, float>(d));
                    break;
                case DType.Float16:
                    Multiply(f, (float)BitConverter.UInt16BitsToHalf(CastKernels.SingleToHalf(scale)), f);
                    CastKernels.SingleToHalf(f, MemoryMarshal.Cast<byte, ushort>(d));
                    break;
                case DType.BFloat16:
                    Multiply(f, BitConverter.UInt32BitsToSingle((uint)CastKernels.SingleToBFloat16(scale) << 16), f);
                    CastKernels.SingleToBFloat16(f, MemoryMarshal.Cast<byte, ushort>(d));
                    break;
                case DType.Float64:
                    Span<double> y = MemoryMarshal.Cast<byte, double>(d);
                    for (int j = 0; j < n; j++)
                    {
                        y[j] = f[j] * (double)scale;
                    }

                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(to), to, "dequantizes to F32, F16, BF16 or F64");
            }
        }
    }

    /// <summary><c>destination[i] = source[i] * factor</c> (float32, round to nearest even), on the cast kernels' tier.</summary>
    internal static void Multiply(ReadOnlySpan<float> source, float factor, Span<float> destination)
    {
        ref float s = ref MemoryMarshal.GetReference(source);
        ref float d = ref MemoryMarshal.GetReference(destination);
        int n = source.Length;
        int i = 0;
        if (CastKernels.Tier >= VectorTier.Vector256)
        {
            Vector256<float> v = Vector256.Create(factor);
            for (; i <= n - 8; i += 8)
            {
                (Vector256.LoadUnsafe(ref s, (nuint)i) * v).StoreUnsafe(ref d, (nuint)i);
            }
        }

        if (CastKernels.Tier >= VectorTier.Vector128)
        {
            Vector128<float> v = Vector128.Create(factor);
            for (; i <= n - 4; i += 4)
            {
                (Vector128.LoadUnsafe(ref s, (nuint)i) * v).StoreUnsafe(ref d, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = Unsafe.Add(ref s, i) * factor;
        }
    }

    private static T MaxBits<T>(ReadOnlySpan<T> source, T mask)
        where T : unmanaged, IBinaryInteger<T>
    {
        ref T s = ref MemoryMarshal.GetReference(source);
        int n = source.Length;
        int i = 0;
        T max = T.Zero;
        if (CastKernels.Tier >= VectorTier.Vector256 && n >= Vector256<T>.Count)
        {
            Vector256<T> m = Vector256.Create(mask);
            Vector256<T> acc = Vector256<T>.Zero;
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                acc = Vector256.Max(acc, Vector256.LoadUnsafe(ref s, (nuint)i) & m);
            }

            for (int k = 0; k < Vector256<T>.Count; k++)
            {
                max = T.Max(max, acc[k]);
            }
        }

        if (CastKernels.Tier >= VectorTier.Vector128 && n - i >= Vector128<T>.Count)
        {
            Vector128<T> m = Vector128.Create(mask);
            Vector128<T> acc = Vector128<T>.Zero;
            for (; i <= n - Vector128<T>.Count; i += Vector128<T>.Count)
            {
                acc = Vector128.Max(acc, Vector128.LoadUnsafe(ref s, (nuint)i) & m);
            }

            for (int k = 0; k < Vector128<T>.Count; k++)
            {
                max = T.Max(max, acc[k]);
            }
        }

        for (; i < n; i++)
        {
            max = T.Max(max, Unsafe.Add(ref s, i) & mask);
        }

        return max;
    }
}
