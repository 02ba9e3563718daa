using System.Buffers;
using System.Runtime.InteropServices;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// A tensor's float32 values written as a GGUF tensor of <paramref name="type"/>: each read quantizes only the blocks
/// that cover the asked range, 256 Ki elements (1 MiB of float32) at a time, so memory stays at one small step whatever
/// the tensor's or the chunk's size. A step is read on the calling thread and quantized on every core, in contiguous
/// runs of whole blocks (blocks are independent, so the bytes do not depend on the split).
/// </summary>
/// <param name="values">The tensor's values as float32 little-endian bytes (the source, widened).</param>
/// <param name="type">The GGUF type to write.</param>
internal sealed class QuantizingTensorSource(TensorSource values, GgmlType type) : TensorSource
{
    /// <summary>Elements read and quantized per step.</summary>
    private const int ElementsPerStep = 256 << 10;

    /// <summary>Fewer elements than this per core are quantized on the calling thread alone.</summary>
    private const int ElementsPerTask = 32 << 10;

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
                Quantize(floats, encoded, count);
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

    private void Quantize(float[] floats, byte[] encoded, int blocks)
    {
        int tasks = Math.Min(Environment.ProcessorCount, blocks * _blockElements / ElementsPerTask);
        if (tasks <= 1)
        {
            GgmlQuantizer.Quantize(type, floats.AsSpan(0, blocks * _blockElements), encoded.AsSpan(0, blocks * _blockBytes));
            return;
        }

        Parallel.For(0, tasks, i =>
        {
            int from = (int)((long)blocks * i / tasks);
            int to = (int)((long)blocks * (i + 1) / tasks);
            GgmlQuantizer.Quantize(type, floats.AsSpan(from * _blockElements, (to - from) * _blockElements), encoded.AsSpan(from * _blockBytes, (to - from) * _blockBytes));
        });
    }
}
