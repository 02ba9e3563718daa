using System.Buffers;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// A tensor whose bytes are made block by block from another representation (GGUF blocks dequantized to float32,
/// float32 quantized to GGUF blocks): each read makes only the blocks that cover the asked range, a step of
/// blocks at a time into one rented buffer (with one rented scratch buffer for the step's input), and copies the
/// asked bytes, so memory stays at one step whatever the tensor's or the read's size.
/// </summary>
internal abstract class BlockTensorSource : TensorSource
{
    private readonly int _blockBytes;
    private readonly int _inputBlockBytes;
    private readonly int _blocksPerStep;

    /// <summary>Sets the block sizes and how many blocks one step makes.</summary>
    /// <param name="blockBytes">The bytes one block makes.</param>
    /// <param name="inputBlockBytes">The scratch bytes one block needs for its input.</param>
    /// <param name="blocksPerStep">The blocks made per step.</param>
    protected BlockTensorSource(int blockBytes, int inputBlockBytes, int blocksPerStep)
    {
        _blockBytes = blockBytes;
        _inputBlockBytes = inputBlockBytes;
        _blocksPerStep = blocksPerStep;
    }

    /// <inheritdoc/>
    public sealed override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        if (destination.IsEmpty)
        {
            return;
        }

        BeforeRead();
        long firstBlock = offset / _blockBytes;
        long endBlock = (offset + destination.Length + _blockBytes - 1) / _blockBytes;
        byte[] made = ArrayPool<byte>.Shared.Rent(_blocksPerStep * _blockBytes);
        byte[] scratch = ArrayPool<byte>.Shared.Rent(_blocksPerStep * _inputBlockBytes);
        try
        {
            for (long b = firstBlock; b < endBlock; b += _blocksPerStep)
            {
                int count = (int)Math.Min(_blocksPerStep, endBlock - b);
                Make(b, count, scratch, made);
                long stepStart = b * _blockBytes;
                long from = Math.Max(offset, stepStart);
                long to = Math.Min(offset + destination.Length, stepStart + ((long)count * _blockBytes));
                made.AsSpan((int)(from - stepStart), (int)(to - from)).CopyTo(destination[(int)(from - offset)..]);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(made);
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Checks, once per read, that the blocks can be made at all; throws when not.</summary>
    protected virtual void BeforeRead()
    {
    }

    /// <summary>Makes blocks <paramref name="firstBlock"/> to <paramref name="firstBlock"/> + <paramref name="count"/> into the start of <paramref name="output"/>.</summary>
    /// <param name="firstBlock">The first block's index in the tensor.</param>
    /// <param name="count">How many blocks (at most the step).</param>
    /// <param name="scratch">At least <paramref name="count"/> blocks' input bytes, for the input.</param>
    /// <param name="output">At least <paramref name="count"/> blocks' bytes.</param>
    protected abstract void Make(long firstBlock, int count, byte[] scratch, byte[] output);
}
