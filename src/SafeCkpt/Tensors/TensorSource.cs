using SafeCkpt.IO;

namespace SafeCkpt.Tensors;

/// <summary>
/// Where a tensor's bytes come from, read lazily and in chunks: a range of a file, a buffer, zeros, or (later) a
/// transform of another source. Sources never hold more than the caller's destination span.
/// </summary>
internal abstract class TensorSource
{
    /// <summary>The number of bytes this source yields.</summary>
    public abstract long Length { get; }

    /// <summary>Fills <paramref name="destination"/> with the bytes starting at <paramref name="offset"/>.</summary>
    public abstract void Read(long offset, Span<byte> destination);

    /// <summary>Where the bytes lie in an input file, so a save can read its inputs in file order; no file for computed or in-memory bytes.</summary>
    public virtual (object? File, long Offset) Position => (null, 0);

    protected void CheckRange(long offset, int count)
    {
        if (offset < 0 || count < 0 || offset > Length - count)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"Range [{offset}, {offset + count}) is outside the tensor's {Length} bytes.");
        }
    }
}

/// <summary>A contiguous range of a file or buffer.</summary>
internal sealed class RangeTensorSource(ByteSource source, long start, long length) : TensorSource
{
    public override long Length => length;

    public ByteSource Source => source;

    public long Start => start;

    public override (object? File, long Offset) Position => (source, start);

    public override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        source.ReadExactly(start + offset, destination);
    }
}

/// <summary>Bytes owned in memory.</summary>
internal sealed class MemoryTensorSource(ReadOnlyMemory<byte> bytes) : TensorSource
{
    public override long Length => bytes.Length;

    public override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        bytes.Span.Slice((int)offset, destination.Length).CopyTo(destination);
    }
}

/// <summary>All-zero bytes of any length, without allocating them (layout fixtures, placeholders).</summary>
internal sealed class ZeroTensorSource(long length) : TensorSource
{
    public override long Length => length;

    public override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        destination.Clear();
    }
}

/// <summary>
/// Another source's bytes with each element's bytes reversed (big-endian records read as little-endian). Reads are
/// widened to whole elements, so any range can be asked for.
/// </summary>
internal sealed class ByteSwapTensorSource(TensorSource inner, int elementSize) : TensorSource
{
    public override long Length => inner.Length;

    public override (object? File, long Offset) Position => inner.Position;

    public override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        if (destination.IsEmpty)
        {
            return;
        }

        long start = offset / elementSize * elementSize;
        long end = (offset + destination.Length + elementSize - 1) / elementSize * elementSize;
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)(end - start));
        try
        {
            Span<byte> span = buffer.AsSpan(0, (int)(end - start));
            inner.Read(start, span);
            for (int i = 0; i < span.Length; i += elementSize)
            {
                span.Slice(i, elementSize).Reverse();
            }

            span.Slice((int)(offset - start), destination.Length).CopyTo(destination);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
