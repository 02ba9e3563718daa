using System.IO.Hashing;
using System.Security.Cryptography;
using SafeCkpt.IO;

namespace SafeCkpt.Hashing;

/// <summary>
/// One sequential read of a file feeding every hash at once. The calling thread reads chunks into a ring of buffers
/// (and runs CRC-32 and AutoV1's copy, which cost little); each of the expensive hashes (SHA-256 of the file, SHA-256
/// of AutoV3's range, BLAKE3) runs on its own thread and takes the chunks in order, so the operating system spreads
/// them over the cores and a slow hash never stops a fast one until the ring is full. A buffer returns to the reader
/// when every hash is done with it. Files of one chunk or less are hashed on the calling thread.
/// </summary>
internal static class HashPass
{
    /// <summary>Bytes per read.</summary>
    internal const int ChunkSize = 4 << 20;

    /// <summary>Buffers in the ring: how far the fastest hash may run ahead of the slowest.</summary>
    internal const int RingSlots = 8;

    /// <summary>How the hashes are spread over threads (the alternatives are kept for the benchmark that chose <see cref="Schedule.Lanes"/>).</summary>
    internal enum Schedule
    {
        /// <summary>One thread per expensive hash; CRC-32 on the reader.</summary>
        Lanes,

        /// <summary>Two threads: SHA-256 and CRC-32 on one, AutoV3's SHA-256 and BLAKE3 on the other.</summary>
        Pairs,

        /// <summary>As <see cref="Lanes"/>, with BLAKE3's own parallel tree hashing (<c>UpdateWithJoin</c>) on its lane.</summary>
        Blake3Join,

        /// <summary>Everything on the calling thread.</summary>
        Serial,

        /// <summary>CRC-32 and BLAKE3 on the reader; each SHA-256 on its own thread.</summary>
        ReaderBlake3,
    }

    /// <summary>
    /// Hashes <paramref name="file"/> in one read. <paramref name="dataStart"/> is where AutoV3's range starts (-1: none);
    /// <paramref name="fullSha256"/> and <paramref name="dataSha256"/> say whether those two SHA-256 are wanted (a
    /// caller that knows them already, from A1111's cache, skips them).
    /// </summary>
    public static Digests Run(ByteSource file, long dataStart, bool fullSha256, bool dataSha256, Schedule schedule, IProgress<long>? progress, CancellationToken cancellationToken) =>
        Run(file, dataStart, fullSha256, dataSha256, schedule, shaOnly: false, progress, cancellationToken);

    /// <summary>As the other overload; with <paramref name="shaOnly"/> only the SHA-256 asked for are computed (BLAKE3 and CRC-32 come back empty), each on its own thread: what provenance needs.</summary>
    public static Digests Run(ByteSource file, long dataStart, bool fullSha256, bool dataSha256, Schedule schedule, bool shaOnly, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        long length = file.Length;
        var crc = new Crc32Hasher();
        var blake = new Blake3Hasher(join: schedule == Schedule.Blake3Join);
        ShaHasher? full = fullSha256 ? new ShaHasher(0) : null;
        ShaHasher? data = dataSha256 && dataStart >= 0 ? new ShaHasher(dataStart) : null;
        var autoV1 = new byte[HashRanges.AutoV1WindowLength(length)];
        try
        {
            IChunkHasher[] onReader;
            IChunkHasher[][] workers;
            if (shaOnly)
            {
                onReader = [];
                workers = [.. Present(full, data).Select(h => new[] { h })];
                Read(file, onReader, workers, autoV1, progress, cancellationToken);
                return new Digests(full?.Finish(), data?.Finish(), [], [], SHA256.HashData(autoV1));
            }

            if (schedule == Schedule.Serial || length <= ChunkSize)
            {
                onReader = [crc, blake, .. Present(full, data)];
                workers = [];
            }
            else if (schedule == Schedule.ReaderBlake3)
            {
                onReader = [crc, blake];
                workers = [.. Present(full, data).Select(h => new[] { h })];
            }
            else if (schedule == Schedule.Pairs)
            {
                onReader = [];
                workers = [[crc, .. Present(full)], [blake, .. Present(data)]];
            }
            else
            {
                onReader = [crc];
                workers = [[blake], .. Present(full, data).Select(h => new[] { h })];
            }

            Read(file, onReader, workers, autoV1, progress, cancellationToken);
            return new Digests(full?.Finish(), data?.Finish(), blake.Finish(), crc.Finish(), SHA256.HashData(autoV1));
        }
        finally
        {
            full?.Dispose();
            data?.Dispose();
            blake.Dispose();
        }
    }

    private static IChunkHasher[] Present(params ShaHasher?[] hashers) => [.. hashers.OfType<ShaHasher>()];

    private static void Read(ByteSource file, IChunkHasher[] onReader, IChunkHasher[][] workerHashers, byte[] autoV1, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        long length = file.Length;
        int slots = workerHashers.Length == 0 ? 1 : (int)Math.Clamp((length + ChunkSize - 1) / ChunkSize, 1, RingSlots);
        using var ring = new Ring(slots, (int)Math.Clamp(length, 1, ChunkSize));
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Worker[] workers = [.. workerHashers.Select(h => new Worker(h, ring, failed))];
        try
        {
            int index = 0;
            for (long at = 0; at < length; at += ChunkSize, index++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int slot = index % slots;
                if (workers.Length > 0)
                {
                    ring.Free.Wait(failed.Token);
                }

                int n = (int)Math.Min(ChunkSize, length - at);
                Span<byte> chunk = ring.Buffers[slot].AsSpan(0, n);
                file.ReadExactly(at, chunk);
                CopyAutoV1Window(chunk, at, autoV1);
                foreach (IChunkHasher h in onReader)
                {
                    h.Append(chunk, at);
                }

                ring.Lengths[slot] = n;
                ring.Starts[slot] = at;
                ring.Pending[slot] = workers.Length;
                foreach (Worker w in workers)
                {
                    w.Post();
                }

                progress?.Report(at + n);
            }

            foreach (Worker w in workers)
            {
                w.End(index);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // A worker failed and cancelled the reader's wait: its error is reported below.
        }
        finally
        {
            foreach (Worker w in workers)
            {
                w.Dispose();
            }
        }

        workers.FirstOrDefault(w => w.Error is not null)?.Rethrow();
    }

    private static void CopyAutoV1Window(ReadOnlySpan<byte> chunk, long chunkStart, byte[] window)
    {
        long from = Math.Max(chunkStart, HashRanges.AutoV1Offset);
        long to = Math.Min(chunkStart + chunk.Length, HashRanges.AutoV1Offset + window.Length);
        if (from < to)
        {
            chunk.Slice((int)(from - chunkStart), (int)(to - from)).CopyTo(window.AsSpan((int)(from - HashRanges.AutoV1Offset)));
        }
    }

    /// <summary>The raw digests of one pass (null where not computed).</summary>
    internal sealed record Digests(byte[]? Sha256, byte[]? DataSha256, byte[] Blake3, byte[] Crc32, byte[] AutoV1Sha256);

    /// <summary>One hash fed chunk by chunk, in file order.</summary>
    private interface IChunkHasher
    {
        void Append(ReadOnlySpan<byte> chunk, long chunkStart);
    }

    /// <summary>SHA-256 of the bytes from <c>from</c> to the end of the file.</summary>
    private sealed class ShaHasher(long from) : IChunkHasher, IDisposable
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public void Append(ReadOnlySpan<byte> chunk, long chunkStart)
        {
            long skip = Math.Max(0, from - chunkStart);
            if (skip < chunk.Length)
            {
                _hash.AppendData(chunk[(int)skip..]);
            }
        }

        public byte[] Finish() => _hash.GetHashAndReset();

        public void Dispose() => _hash.Dispose();
    }

    private sealed class Blake3Hasher(bool join) : IChunkHasher, IDisposable
    {
        private readonly Blake3.Hasher _hasher = Blake3.Hasher.New();

        public void Append(ReadOnlySpan<byte> chunk, long chunkStart)
        {
            if (join)
            {
                _hasher.UpdateWithJoin(chunk);
            }
            else
            {
                _hasher.Update(chunk);
            }
        }

        public byte[] Finish()
        {
            var digest = new byte[Blake3.Hash.Size];
            _hasher.Finalize(digest);
            return digest;
        }

        public void Dispose() => _hasher.Dispose();
    }

    /// <summary>CRC-32 (zlib's polynomial); its digest is the CRC's little-endian bytes, civitai's order.</summary>
    private sealed class Crc32Hasher : IChunkHasher
    {
        private readonly Crc32 _crc = new();

        public void Append(ReadOnlySpan<byte> chunk, long chunkStart) => _crc.Append(chunk);

        public byte[] Finish() => _crc.GetCurrentHash();
    }

    /// <summary>The reader's buffers; <see cref="Free"/> counts those every worker is done with.</summary>
    private sealed class Ring : IDisposable
    {
        public Ring(int slots, int size)
        {
            Buffers = [.. Enumerable.Range(0, slots).Select(_ => GC.AllocateUninitializedArray<byte>(size))];
            Lengths = new int[slots];
            Starts = new long[slots];
            Pending = new int[slots];
            Free = new SemaphoreSlim(slots);
        }

        public byte[][] Buffers { get; }

        public int[] Lengths { get; }

        public long[] Starts { get; }

        public int[] Pending { get; }

        public SemaphoreSlim Free { get; }

        public void Dispose() => Free.Dispose();
    }

    /// <summary>
    /// A thread running some hashes over the ring's chunks in order, one post per chunk, then one for the end.
    /// Disposing it waits for the thread, stopping it first unless it was told where the end is.
    /// </summary>
    private sealed class Worker : IDisposable
    {
        private readonly IChunkHasher[] _hashers;
        private readonly Ring _ring;
        private readonly CancellationTokenSource _failed;
        private readonly SemaphoreSlim _posted = new(0);
        private readonly Thread _thread;
        private volatile int _end = -1;
        private volatile bool _abort;

        public Worker(IChunkHasher[] hashers, Ring ring, CancellationTokenSource failed)
        {
            _hashers = hashers;
            _ring = ring;
            _failed = failed;
            _thread = new Thread(Loop) { IsBackground = true, Name = "SafeCkpt hash" };
            _thread.Start();
        }

        public Exception? Error { get; private set; }

        public void Post() => _posted.Release();

        /// <summary>Tells the worker that <paramref name="chunks"/> chunks were posted in all.</summary>
        public void End(int chunks)
        {
            _end = chunks;
            _posted.Release();
        }

        public void Rethrow() => System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(Error!);

        public void Dispose()
        {
            if (_end < 0)
            {
                _abort = true;
                _posted.Release();
            }

            _thread.Join();
            _posted.Dispose();
        }

        private void Loop()
        {
            try
            {
                for (int index = 0; ; index++)
                {
                    _posted.Wait();
                    if (_abort || index == _end)
                    {
                        return;
                    }

                    int slot = index % _ring.Buffers.Length;
                    ReadOnlySpan<byte> chunk = _ring.Buffers[slot].AsSpan(0, _ring.Lengths[slot]);
                    foreach (IChunkHasher h in _hashers)
                    {
                        h.Append(chunk, _ring.Starts[slot]);
                    }

                    if (Interlocked.Decrement(ref _ring.Pending[slot]) == 0)
                    {
                        _ring.Free.Release();
                    }
                }
            }
            catch (Exception ex)
            {
                Error = ex;
                _failed.Cancel();
            }
        }
    }
}
