using System.Security.Cryptography;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.IO;

namespace SafeCkpt.Hashing;

/// <summary>
/// The identifiers model sites and web UIs show for a model file, computed in one pass: the full SHA-256 (and its
/// first 10 hex digits, "AutoV2"), the old AUTOMATIC1111 hash (the first 8 hex digits of the SHA-256 of the 64 KiB at
/// offset 1 MiB), and for safetensors files the SHA-256 of everything after the header ("AutoV3"; the kohya/addnet
/// hash).
/// </summary>
public sealed class ModelHashes
{
    private const int ChunkSize = 8 << 20;
    private const long OldHashOffset = 0x100000;
    private const int OldHashLength = 0x10000;

    private ModelHashes(string sha256, string oldHash, string? dataSha256, long length)
    {
        Sha256 = sha256;
        OldA1111 = oldHash;
        DataSha256 = dataSha256;
        Length = length;
    }

    /// <summary>The SHA-256 of the whole file, 64 lowercase hex digits.</summary>
    public string Sha256 { get; }

    /// <summary>AutoV2, as Civitai and AUTOMATIC1111 show it: the first 10 hex digits of <see cref="Sha256"/>.</summary>
    public string AutoV2 => Sha256[..10];

    /// <summary>The old AUTOMATIC1111 <c>model_hash</c>: the first 8 hex digits of the SHA-256 of 64 KiB at offset 1 MiB (of whatever the file holds there, possibly fewer bytes).</summary>
    public string OldA1111 { get; }

    /// <summary>For safetensors: the SHA-256 of every byte after the header (the addnet hash), 64 hex digits; null otherwise.</summary>
    public string? DataSha256 { get; }

    /// <summary>AutoV3, as Civitai shows it: the first 10 hex digits of <see cref="DataSha256"/>; null for other formats.</summary>
    public string? AutoV3 => DataSha256?[..10];

    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }

    /// <summary>Hashes a file in one sequential pass; the two SHA-256 of a safetensors file run on two cores.</summary>
    /// <param name="path">The model file.</param>
    /// <param name="cancellationToken">Cancels the computation.</param>
    /// <returns>The hashes.</returns>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static ModelHashes Compute(string path, CancellationToken cancellationToken = default) => Compute(path, null, cancellationToken);

    /// <summary>Hashes a file, reporting the bytes hashed so far (the tool's progress line).</summary>
    /// <param name="path">The model file.</param>
    /// <param name="progress">Receives the count of bytes read so far after each chunk.</param>
    /// <param name="cancellationToken">Cancels the computation.</param>
    /// <returns>The hashes.</returns>
    internal static ModelHashes Compute(string path, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using var file = FileByteSource.Open(path);
        long length = file.Length;
        long dataStart = SafetensorsDataStart(file);
        using var full = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using IncrementalHash? data = dataStart >= 0 ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        var oldWindow = new byte[(int)Math.Clamp(length - OldHashOffset, 0, OldHashLength)];
        byte[][] buffers = [GC.AllocateUninitializedArray<byte>((int)Math.Clamp(length, 1, ChunkSize)), GC.AllocateUninitializedArray<byte>((int)Math.Clamp(length, 1, ChunkSize))];
        Task? pending = null;
        int which = 0;
        for (long at = 0; at < length; at += ChunkSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            byte[] buffer = buffers[which];
            which ^= 1;
            int n = (int)Math.Min(ChunkSize, length - at);
            file.ReadExactly(at, buffer.AsSpan(0, n));
            CopyOldWindow(buffer.AsSpan(0, n), at, oldWindow);
            pending?.Wait(cancellationToken);
            progress?.Report(at + n);
            long chunkStart = at;
            // The next read overlaps these hashes; the second hash (AutoV3) runs on the other core.
            pending = Task.Run(
                () =>
            {
                if (data is not null && chunkStart + n > dataStart)
                {
                    int skip = (int)Math.Max(0, dataStart - chunkStart);
                    Task second = Task.Run(() => data.AppendData(buffer, skip, n - skip), CancellationToken.None);
                    full.AppendData(buffer, 0, n);
                    second.Wait();
                }
                else
                {
                    full.AppendData(buffer, 0, n);
                }
            },
                CancellationToken.None);
        }

        pending?.Wait(cancellationToken);
        progress?.Report(length);
        string Hex(byte[] h) => Convert.ToHexString(h).ToLowerInvariant();
        string old = Hex(SHA256.HashData(oldWindow))[..8];
        return new ModelHashes(Hex(full.GetHashAndReset()), old, data is null ? null : Hex(data.GetHashAndReset()), length);
    }

    /// <summary>Where the data section of a safetensors file starts, or -1 when the file is not safetensors.</summary>
    private static long SafetensorsDataStart(ByteSource file)
    {
        if (Internals.FormatSniffer.Sniff(file).Format != ModelFormat.Safetensors)
        {
            return -1;
        }

        Span<byte> prefix = stackalloc byte[SafetensorsLayout.PrefixLength];
        file.ReadExactly(0, prefix);
        return SafetensorsLayout.DataStart(SafetensorsLayout.ReadPrefix(prefix), file.Length);
    }

    private static void CopyOldWindow(ReadOnlySpan<byte> chunk, long chunkStart, byte[] window)
    {
        long from = Math.Max(chunkStart, OldHashOffset);
        long to = Math.Min(chunkStart + chunk.Length, OldHashOffset + window.Length);
        if (from < to)
        {
            chunk.Slice((int)(from - chunkStart), (int)(to - from)).CopyTo(window.AsSpan((int)(from - OldHashOffset)));
        }
    }
}
