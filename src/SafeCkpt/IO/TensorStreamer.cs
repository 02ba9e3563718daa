using System.Collections.Concurrent;
using SafeCkpt.Tensors;

namespace SafeCkpt.IO;

/// <summary>
/// Copies tensors from their sources into an output file in bounded chunks, the one streaming loop both writers
/// use. Two stages overlap: the calling thread reads (and casts) chunk N+1 while a writer thread writes chunk N.
/// At most <see cref="Buffers"/> chunks of <see cref="ChunkSize"/> bytes are in memory, plus a cast's input buffer.
/// </summary>
internal sealed class TensorStreamer
{
    /// <summary>The chunk size: output bytes per write.</summary>
    public const int ChunkSize = 8 << 20;

    /// <summary>The chunks in flight between the two stages.</summary>
    public const int Buffers = 3;

    private readonly AtomicOutput _output;
    private readonly SaveOptions _options;
    private readonly CancellationToken _cancellationToken;

    public TensorStreamer(AtomicOutput output, SaveOptions options, CancellationToken cancellationToken)
    {
        _output = output;
        _options = options;
        _cancellationToken = cancellationToken;
    }

    /// <summary>One tensor to copy: its bytes, where they go, and an optional observer of every chunk (checksums).</summary>
    public readonly record struct Item(string Name, TensorSource Source, long FileOffset, Action<ReadOnlySpan<byte>>? Observe = null);

    /// <summary>Copies every item; returns when all bytes are written, or throws the first error of either stage.</summary>
    public void CopyAll(IReadOnlyList<Item> items)
    {
        long total = items.Sum(i => i.Source.Length);
        if (total == 0)
        {
            return;
        }

        int size = (int)Math.Min(ChunkSize, total);
        using var free = new BlockingCollection<byte[]>(Buffers);
        using var full = new BlockingCollection<(byte[] Buffer, int Length, long Offset, string Name)>(Buffers);
        for (int i = 0; i < Buffers; i++)
        {
            free.Add(GC.AllocateUninitializedArray<byte>(size));
        }

        using var failed = CancellationTokenSource.CreateLinkedTokenSource(_cancellationToken);
        Exception? writeError = null;
        var writer = new Thread(() =>
        {
            long done = 0;
            try
            {
                foreach ((byte[] buffer, int length, long offset, string name) in full.GetConsumingEnumerable(failed.Token))
                {
                    _output.Write(buffer.AsSpan(0, length), offset);
                    done += length;
                    _options.Progress?.Report(new SaveProgress(done, total, name));
                    free.Add(buffer, failed.Token);
                }
            }
            catch (OperationCanceledException) when (failed.IsCancellationRequested)
            {
            }
#pragma warning disable CA1031 // Handed over to the reading thread, which rethrows it.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                writeError = ex;
                failed.Cancel();
            }
        })
        {
            IsBackground = true,
            Name = "SafeCkpt writer",
        };
        writer.Start();

        try
        {
            foreach (Item item in items)
            {
                for (long offset = 0; offset < item.Source.Length;)
                {
                    byte[] buffer = free.Take(failed.Token);
                    int n = (int)Math.Min(buffer.Length, item.Source.Length - offset);
                    item.Source.Read(offset, buffer.AsSpan(0, n));
                    item.Observe?.Invoke(buffer.AsSpan(0, n));
                    full.Add((buffer, n, item.FileOffset + offset, item.Name), failed.Token);
                    offset += n;
                }
            }

            full.CompleteAdding();
        }
        catch (OperationCanceledException) when (writeError is not null)
        {
            // The writer failed first; its error is rethrown below.
        }
        catch
        {
            failed.Cancel();
            writer.Join();
            throw;
        }

        writer.Join();
        if (writeError is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(writeError).Throw();
        }

        _cancellationToken.ThrowIfCancellationRequested();
    }
}
