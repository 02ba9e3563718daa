using System.Collections.Concurrent;
using SafeCkpt.Tensors;

namespace SafeCkpt.IO;

/// <summary>
/// Appends tensors to an output file in bounded chunks, in file order: the one streaming loop both writers use. Two
/// stages overlap: the calling thread reads (and casts) chunk N+1 while a writer thread appends chunk N. At most
/// <see cref="Buffers"/> chunks of <see cref="ChunkSize"/> bytes are in flight, plus a cast's input buffer.
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

    /// <summary>
    /// One tensor to append: bytes to write before it (a zip local header), its source, an optional observer of
    /// every chunk of the tensor (checksums), and bytes to write after it, made once every chunk was observed (a zip
    /// data descriptor with the checksum).
    /// </summary>
    public readonly record struct Item(string Name, TensorSource Source, byte[]? Prefix = null, Action<ReadOnlySpan<byte>>? Observe = null, Func<byte[]>? Suffix = null);

    /// <summary>Appends every item; returns when all bytes are written, or throws the first error of either stage.</summary>
    public void CopyAll(IReadOnlyList<Item> items)
    {
        long total = items.Sum(i => i.Source.Length);
        int size = (int)Math.Clamp(total, 1, ChunkSize);
        using var free = new BlockingCollection<byte[]>(Buffers);
        using var full = new BlockingCollection<(byte[] Buffer, int Length, bool Pooled, string Name)>(Buffers + 1);
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
                foreach ((byte[] buffer, int length, bool pooled, string name) in full.GetConsumingEnumerable(failed.Token))
                {
                    _output.Append(buffer.AsSpan(0, length));
                    if (pooled)
                    {
                        done += length;
                        _options.Progress?.Report(new SaveProgress(done, total, name));
                        free.Add(buffer, failed.Token);
                    }
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
                if (item.Prefix is { Length: > 0 } prefix)
                {
                    full.Add((prefix, prefix.Length, false, item.Name), failed.Token);
                }

                for (long offset = 0; offset < item.Source.Length;)
                {
                    byte[] buffer = free.Take(failed.Token);
                    int n = (int)Math.Min(buffer.Length, item.Source.Length - offset);
                    item.Source.Read(offset, buffer.AsSpan(0, n));
                    item.Observe?.Invoke(buffer.AsSpan(0, n));
                    full.Add((buffer, n, true, item.Name), failed.Token);
                    offset += n;
                }

                if (item.Suffix?.Invoke() is { Length: > 0 } suffix)
                {
                    full.Add((suffix, suffix.Length, false, item.Name), failed.Token);
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
