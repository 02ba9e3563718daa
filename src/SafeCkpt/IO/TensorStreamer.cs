using System.Buffers;
using SafeCkpt.Tensors;

namespace SafeCkpt.IO;

/// <summary>
/// Copies tensors from their sources into an output file in bounded chunks: the one streaming loop both writers
/// use. At most one chunk of each tensor (plus the cast input buffer) is in memory at a time.
/// </summary>
internal sealed class TensorStreamer : IDisposable
{
    /// <summary>The chunk size: the most output bytes held in memory at once.</summary>
    public const int ChunkSize = 8 << 20;

    private readonly AtomicOutput _output;
    private readonly SaveOptions _options;
    private readonly CancellationToken _cancellationToken;
    private readonly long _total;
    private readonly byte[] _buffer;
    private long _done;

    public TensorStreamer(AtomicOutput output, long totalBytes, SaveOptions options, CancellationToken cancellationToken)
    {
        _output = output;
        _total = totalBytes;
        _options = options;
        _cancellationToken = cancellationToken;
        _buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(totalBytes, 1, ChunkSize));
    }

    /// <summary>
    /// Streams <paramref name="source"/> to the output at <paramref name="fileOffset"/>; <paramref name="observe"/>
    /// sees every chunk (for checksums).
    /// </summary>
    public void Copy(string name, TensorSource source, long fileOffset, Action<ReadOnlySpan<byte>>? observe = null)
    {
        for (long offset = 0; offset < source.Length;)
        {
            _cancellationToken.ThrowIfCancellationRequested();
            int n = (int)Math.Min(_buffer.Length, source.Length - offset);
            Span<byte> chunk = _buffer.AsSpan(0, n);
            source.Read(offset, chunk);
            observe?.Invoke(chunk);
            _output.Write(chunk, fileOffset + offset);
            offset += n;
            _done += n;
            _options.Progress?.Report(new SaveProgress(_done, _total, name));
        }
    }

    public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);
}
