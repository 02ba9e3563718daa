using System.Runtime.InteropServices;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// A tensor's float32 values written as a GGUF tensor of a block type: each read quantizes only the blocks that cover
/// the asked range, 256 Ki elements (1 MiB of float32) at a time, so memory stays at one small step whatever the
/// tensor's or the chunk's size. A step is read on the calling thread and quantized on every core, in contiguous
/// runs of whole blocks (blocks are independent, so the bytes do not depend on the split).
/// </summary>
internal sealed class QuantizingTensorSource : BlockTensorSource
{
    /// <summary>Elements read and quantized per step.</summary>
    private const int ElementsPerStep = 256 << 10;

    /// <summary>Fewer elements than this per core are quantized on the calling thread alone.</summary>
    private const int ElementsPerTask = 32 << 10;

    private readonly TensorSource _values;
    private readonly GgmlType _type;
    private readonly int _blockElements;
    private readonly int _blockBytes;

    /// <summary>The values of <paramref name="values"/> as <paramref name="type"/>.</summary>
    /// <param name="values">The tensor's values as float32 little-endian bytes (the source, widened).</param>
    /// <param name="type">The GGUF type to write.</param>
    public QuantizingTensorSource(TensorSource values, GgmlType type)
        : base(Block(type).Bytes, Block(type).Elements * sizeof(float), ElementsPerStep / Block(type).Elements)
    {
        (_values, _type) = (values, type);
        (_blockElements, _blockBytes) = Block(type);
    }

    private long Blocks => _values.Length / sizeof(float) / _blockElements;

    public override long Length => Blocks * _blockBytes;

    public override (object? File, long Offset) Position => _values.Position;

    protected override void Make(long firstBlock, int count, byte[] scratch, byte[] output)
    {
        _values.Read(firstBlock * _blockElements * sizeof(float), scratch.AsSpan(0, count * _blockElements * sizeof(float)));
        int tasks = Math.Min(Environment.ProcessorCount, count * _blockElements / ElementsPerTask);
        if (tasks <= 1)
        {
            Quantize(scratch, output, 0, count);
            return;
        }

        Parallel.For(0, tasks, i => Quantize(scratch, output, (int)((long)count * i / tasks), (int)((long)count * (i + 1) / tasks)));
    }

    /// <summary>Quantizes blocks <paramref name="from"/> to <paramref name="to"/> of the step.</summary>
    private void Quantize(byte[] floats, byte[] encoded, int from, int to) =>
        GgmlQuantizer.Quantize(
            _type,
            MemoryMarshal.Cast<byte, float>(floats.AsSpan(from * _blockElements * sizeof(float), (to - from) * _blockElements * sizeof(float))),
            encoded.AsSpan(from * _blockBytes, (to - from) * _blockBytes));

    private static (int Elements, int Bytes) Block(GgmlType type) =>
        GgmlTypes.TryGetBlock((uint)type, out int n, out int size) ? (n, size) : throw new ArgumentOutOfRangeException(nameof(type));
}
