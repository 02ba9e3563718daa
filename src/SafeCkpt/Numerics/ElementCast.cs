using System.Runtime.InteropServices;
using CommunityToolkit.HighPerformance.Buffers;
using SafeCkpt.Tensors;

namespace SafeCkpt.Numerics;

/// <summary>
/// Converts a run of elements between floating dtypes (F64, F32, F16, BF16, F8_E4M3, F8_E5M2) through
/// <see cref="CastKernels"/>. Conversions without a direct kernel go through float32 in small blocks, exactly as
/// PyTorch does (for example F16→BF16 is <c>bf16(float(h))</c>, F64→F16 is <c>half(float(d))</c>, F64→F8 is
/// <c>fp8(float(d))</c>: two roundings, F8→F16 is <c>half(float(q))</c>: exact).
/// </summary>
internal static class ElementCast
{
    private const int Block = 4096;

    /// <summary>Whether a conversion between the two dtypes is supported.</summary>
    public static bool CanConvert(DType from, DType to) => from == to || (IsCastable(from) && IsCastable(to));

    /// <summary>The dtypes casts apply to, from and to.</summary>
    public static bool IsCastable(DType dtype) => dtype is DType.Float64 or DType.Float32 or DType.Float16 or DType.BFloat16 or DType.Float8E4M3 or DType.Float8E5M2;

    /// <summary>
    /// Converts <paramref name="count"/> elements from <paramref name="source"/> (dtype <paramref name="from"/>) into
    /// <paramref name="destination"/> (dtype <paramref name="to"/>). Both spans are raw little-endian bytes.
    /// </summary>
    public static void Convert(DType from, DType to, ReadOnlySpan<byte> source, Span<byte> destination, int count)
    {
        int fromSize = from.BitSize() / 8;
        int toSize = to.BitSize() / 8;
        source = source[..(count * fromSize)];
        destination = destination[..(count * toSize)];
        if (from == to)
        {
            source.CopyTo(destination);
            return;
        }

        switch (from, to)
        {
            case (DType.Float32, DType.Float16):
                CastKernels.SingleToHalf(MemoryMarshal.Cast<byte, float>(source), MemoryMarshal.Cast<byte, ushort>(destination));
                return;
            case (DType.Float32, DType.BFloat16):
                CastKernels.SingleToBFloat16(MemoryMarshal.Cast<byte, float>(source), MemoryMarshal.Cast<byte, ushort>(destination));
                return;
            case (DType.Float16, DType.Float32):
                CastKernels.HalfToSingle(MemoryMarshal.Cast<byte, ushort>(source), MemoryMarshal.Cast<byte, float>(destination));
                return;
            case (DType.BFloat16, DType.Float32):
                CastKernels.BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(source), MemoryMarshal.Cast<byte, float>(destination));
                return;
            case (DType.Float64, DType.Float32):
                CastKernels.DoubleToSingle(MemoryMarshal.Cast<byte, double>(source), MemoryMarshal.Cast<byte, float>(destination));
                return;
            case (DType.Float32, DType.Float64):
                CastKernels.SingleToDouble(MemoryMarshal.Cast<byte, float>(source), MemoryMarshal.Cast<byte, double>(destination));
                return;
            case (DType.Float32, DType.Float8E4M3 or DType.Float8E5M2):
                CastKernels.SingleToFloat8(MemoryMarshal.Cast<byte, float>(source), destination, to);
                return;
            case (DType.Float8E4M3 or DType.Float8E5M2, DType.Float32):
                CastKernels.Float8ToSingle(source, MemoryMarshal.Cast<byte, float>(destination), from);
                return;
        }

        if (!CanConvert(from, to))
        {
            throw new NotSupportedException($"No conversion from {from.ToSafetensorsName()} to {to.ToSafetensorsName()}.");
        }

        // Two steps through float32, one block at a time.
        using SpanOwner<float> scratch = SpanOwner<float>.Allocate(Block);
        Span<byte> mid = MemoryMarshal.AsBytes(scratch.Span);
        for (int i = 0; i < count; i += Block)
        {
            int n = Math.Min(Block, count - i);
            Convert(from, DType.Float32, source.Slice(i * fromSize, n * fromSize), mid, n);
            Span<byte> d = destination.Slice(i * toSize, n * toSize);
            if (to == DType.BFloat16)
            {
                // PyTorch's F16 → BF16 kernel and c10's scalar F8 → BF16 write NaN as 0x7FC0; its F32 and F64 vector kernels write 0xFFFF.
                CastKernels.SingleToBFloat16(MemoryMarshal.Cast<byte, float>(mid[..(n * 4)]), MemoryMarshal.Cast<byte, ushort>(d), from is DType.Float16 or DType.Float8E4M3 or DType.Float8E5M2 ? (ushort)0x7FC0 : (ushort)0xFFFF);
            }
            else
            {
                Convert(DType.Float32, to, mid, d, n);
            }
        }
    }
}
