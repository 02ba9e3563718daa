using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using SafeCkpt.Tensors;

namespace SafeCkpt.IO;

/// <summary>
/// Copies tensors into an output file in bounded chunks: the one streaming loop both writers use, and the one place
/// that chooses chunk sizes. Each item says where in the output it goes, so the input is read in file order
/// (<see cref="InInputOrder"/>) whatever order the output lays tensors out in. Two stages overlap: the calling thread
/// reads (and casts) chunk N+1 while a writer thread writes chunk N. At most <see cref="Buffers"/> chunks of
/// <see cref="ChunkSize"/> bytes are in flight.
/// </summary>
internal sealed unsafe class TensorStreamer
{
    /// <summary>The chunk size: output bytes per write.</summary>
    public const int ChunkSize = ChunkSizes.Stream;

    /// <summary>The chunks in flight between the two stages.</summary>
    public const int Buffers = 3;

    private const int Align = DirectIO.Alignment;

    private readonly AtomicOutput _output;
    private readonly SaveOptions _options;
    private readonly CancellationToken _cancellationToken;

    public TensorStreamer(AtomicOutput output, SaveOptions options, CancellationToken cancellationToken)
    {
        _output = output;
        _options = options;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Sees one chunk of a tensor's bytes as they are written (a named delegate: <c>Action&lt;ReadOnlySpan&lt;byte&gt;&gt;</c> needs .NET 9's ref-struct type arguments).</summary>
    public delegate void ChunkObserver(ReadOnlySpan<byte> chunk);

    /// <summary>
    /// One tensor to write at <paramref name="Offset"/>: bytes to write first (a zip local header), its source, an
    /// optional observer of every chunk of the tensor (checksums), and bytes to write right after it, made once every
    /// chunk was observed (a zip data descriptor with the checksum).
    /// </summary>
    public readonly record struct Item(string Name, TensorSource Source, long Offset, byte[]? Prefix = null, ChunkObserver? Observe = null, Func<byte[]>? Suffix = null)
    {
        /// <summary>Where the tensor's own bytes start in the output.</summary>
        public long DataOffset => Offset + (Prefix?.Length ?? 0);
    }

    /// <summary>
    /// The items in the order their bytes lie in the inputs: grouped by input file (in order of first appearance),
    /// then by position; items without a file position (in memory, computed) keep their relative order.
    /// </summary>
    public static List<Item> InInputOrder(IEnumerable<Item> items)
    {
        var files = new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
        var keyed = new List<(int File, long At, Item Item)>();
        foreach (Item item in items)
        {
            (object? file, long offset) = item.Source.Position;
            if (file is not null && !files.ContainsKey(file))
            {
                files.Add(file, files.Count);
            }

            keyed.Add(file is null ? (-1, keyed.Count, item) : (files[file], offset, item));
        }

        return [.. keyed.OrderBy(k => k.File).ThenBy(k => k.At).Select(k => k.Item)];
    }

    /// <summary>Writes every item, in the given order; returns when all bytes are written, or throws the first error of either stage.</summary>
    public void CopyAll(IReadOnlyList<Item> items)
    {
        long total = items.Sum(i => i.Source.Length);
        int size = (int)Math.Min(ChunkSize, (total + (2 * Align) - 1) / Align * Align);
        var buffers = new List<nint>();
        using var free = new BlockingCollection<nint>(Buffers);
        using var full = new BlockingCollection<Chunk>(Buffers + 1);
        try
        {
            for (int i = 0; i < Buffers; i++)
            {
                nint b = (nint)NativeMemory.AlignedAlloc((nuint)size, Align);
                buffers.Add(b);
                free.Add(b);
            }

            Run(items, total, size, free, full);
        }
        finally
        {
            foreach (nint b in buffers)
            {
                NativeMemory.AlignedFree((void*)b);
            }
        }
    }

    private void Run(IReadOnlyList<Item> items, long total, int size, BlockingCollection<nint> free, BlockingCollection<Chunk> full)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(_cancellationToken);
        Exception? writeError = null;
        var writer = new Thread(() =>
        {
            long done = 0;
            try
            {
                foreach (Chunk c in full.GetConsumingEnumerable(failed.Token))
                {
                    if (c.Bytes is not null)
                    {
                        _output.Write(c.Offset, c.Bytes);
                        continue;
                    }

                    _output.Write(c.Offset, new ReadOnlySpan<byte>((byte*)c.Buffer + c.Start, c.Length));
                    done += c.Length;
                    _options.Progress?.Report(new SaveProgress(done, total, c.Name));
                    free.Add(c.Buffer, failed.Token);
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
                    full.Add(new Chunk(item.Name, item.Offset, prefix, 0, 0, prefix.Length), failed.Token);
                }

                long at = item.DataOffset;
                for (long offset = 0; offset < item.Source.Length;)
                {
                    // The first chunk ends on an aligned output offset and starts in its buffer at the same place within
                    // a 4 KiB block as in the file, so every chunk's whole blocks can go to O_DIRECT without a copy.
                    int start = (int)((at + offset) % Align);
                    int n = (int)Math.Min(size - start, item.Source.Length - offset);
                    nint buffer = free.Take(failed.Token);
                    var span = new Span<byte>((byte*)buffer + start, n);
                    item.Source.Read(offset, span);
                    item.Observe?.Invoke(span);
                    full.Add(new Chunk(item.Name, at + offset, null, buffer, start, n), failed.Token);
                    offset += n;
                }

                if (item.Suffix?.Invoke() is { Length: > 0 } suffix)
                {
                    full.Add(new Chunk(item.Name, at + item.Source.Length, suffix, 0, 0, suffix.Length), failed.Token);
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

    /// <summary>A write for the writer thread: small owned bytes, or a range of a pooled aligned buffer.</summary>
    private readonly record struct Chunk(string Name, long Offset, byte[]? Bytes, nint Buffer, int Start, int Length);
}
