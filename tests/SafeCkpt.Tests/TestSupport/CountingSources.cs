using SafeCkpt.IO;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>What a counting source was asked for: read calls, bytes, and the largest single read.</summary>
internal sealed class ReadCounts
{
    private long _reads;
    private long _bytes;
    private long _largest;

    public long Reads => Interlocked.Read(ref _reads);

    public long Bytes => Interlocked.Read(ref _bytes);

    public long Largest => Interlocked.Read(ref _largest);

    public void Record(int count)
    {
        Interlocked.Increment(ref _reads);
        Interlocked.Add(ref _bytes, count);
        long seen;
        while (count > (seen = Interlocked.Read(ref _largest)) && Interlocked.CompareExchange(ref _largest, count, seen) != seen)
        {
        }
    }

    public void Reset()
    {
        Interlocked.Exchange(ref _reads, 0);
        Interlocked.Exchange(ref _bytes, 0);
        Interlocked.Exchange(ref _largest, 0);
    }

    public override string ToString() => $"{Reads:N0} reads, {Bytes:N0} bytes, largest {Largest:N0}";
}

/// <summary>A byte source that counts every read of the source it wraps (and owns).</summary>
internal sealed class CountingByteSource(ByteSource inner) : ByteSource
{
    public ReadCounts Counts { get; } = new();

    public override string Name => inner.Name;

    public override long Length => inner.Length;

    public override void ReadExactly(long offset, Span<byte> destination)
    {
        Counts.Record(destination.Length);
        inner.ReadExactly(offset, destination);
    }

    public override void Dispose()
    {
        inner.Dispose();
        base.Dispose();
    }
}

/// <summary>A tensor source that counts every read of the source it wraps.</summary>
internal sealed class CountingTensorSource(TensorSource inner) : TensorSource
{
    public ReadCounts Counts { get; } = new();

    public override long Length => inner.Length;

    public override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        Counts.Record(destination.Length);
        inner.Read(offset, destination);
    }
}
