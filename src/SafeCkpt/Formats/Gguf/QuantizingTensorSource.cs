using System.Buffers;
using System.Runtime.InteropServices;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// A tensor's float32 values written as a GGUF tensor of <paramref name="type"/>: each read quantizes only the blocks
/// that cover the asked range, 32 Ki elements at a time, so memory stays at one small step whatever the
/// tensor's or the chunk's size.
/// </summary>
/// <param name="values">The tensor's values as float32 little-endian bytes (the source, widened).</param>
/// <param name="type">The GGUF type to write.</param>
internal sealed class QuantizingTensorSource(TensorSource values, GgmlType type) : TensorSource
{
    /// <summary>Blocks quantized per step: 128 KiB of float32 for the 32-element types.</summary>
    private const int ElementsPerStep = 32 << 10;

    private readonly int _blockElements = GgmlTypes.TryGetBlock((uint)type, out int n, out _) ? n : throw new ArgumentOutOfRangeException(nameof(type));
    private readonly int _blockBytes = GgmlTypes.TryGetBlock((uint)type, out _, out int size) ? size : 0;

    private long Blocks => values.Length / sizeof(float) / _blockElements;

    public override long Length => Blocks * _blockBytes;

    public override (object? File, long Offset) Position => values.Position;

    public override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        if (destination.IsEmpty)
        {
            return;
        }

        int blocksPerStep = ElementsPerStep / _blockElements;
        long firstBlock = offset / _blockBytes;
        long endBlock = (offset + destination.Length + _blockBytes - 1) / _blockBytes;
        float[] floats = ArrayPool<float>.Shared.Rent(blocksPerStep * _blockElements);
        byte[] encoded = ArrayPool<byte>.Shared.Rent(blocksPerStep * _blockBytes);
        try
        {
            for (long b = firstBlock; b < endBlock; b += blocksPerStep)
            {
                int count = (int)Math.Min(blocksPerStep, endBlock - b);
                Span<float> x = floats.AsSpan(0, count * _blockElements);
                values.Read(b * _blockElements * sizeof(float), MemoryMarshal.AsBytes(x));
                Span<byte> y = encoded.AsSpan(0, count * _blockBytes);
                GgmlQuantizer.Quantize(type, x, y);
                long stepStart = b * _blockBytes;
                long from = Math.Max(offset, stepStart);
                long to = Math.Min(offset + destination.Length, stepStart + y.Length);
                y.Slice((int)(from - stepStart), (int)(to - from)).CopyTo(destination[(int)(from - offset)..]);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(floats);
            ArrayPool<byte>.Shared.Return(encoded);
        }
    }
}
