using SafeCkpt.IO;

namespace SafeCkpt.Hashing;

/// <summary>
/// The six hashes civitai records for a model file, under civitai's names, computed in one sequential read: SHA256,
/// AutoV1, AutoV2, AutoV3 (safetensors only), CRC32 and BLAKE3 (the SHA-256, the AutoV3 SHA-256 and BLAKE3 on
/// separate threads). Values
/// are lowercase hex, as <c>sha256sum</c>, <c>b3sum</c>, Python's <c>hexdigest()</c> and A1111 write them; civitai
/// shows the same digits in uppercase and matches them case-insensitively.
/// </summary>
public sealed class ModelHashes
{
    private ModelHashes(string sha256, string autoV1, string? dataSha256, string crc32, string blake3, long length, HashOrigin origin)
    {
        Sha256 = sha256;
        AutoV1 = autoV1;
        DataSha256 = dataSha256;
        Crc32 = crc32;
        Blake3 = blake3;
        Length = length;
        Origin = origin;
    }

    /// <summary>SHA256: the SHA-256 of the whole file, 64 hex digits (A1111's <c>sha256</c>, <c>sha256sum</c>).</summary>
    public string Sha256 { get; }

    /// <summary>
    /// AutoV1: A1111's old <c>model_hash</c>, the first 8 hex digits of the SHA-256 of the 64 KiB at offset 1 MiB (of
    /// whatever the file holds there: fewer bytes, or none, in a file under 1 MiB + 64 KiB). civitai records it only
    /// for files of 2 MiB or more.
    /// </summary>
    public string AutoV1 { get; }

    /// <summary>AutoV2: the first 10 hex digits of <see cref="Sha256"/> (A1111's checkpoint short hash).</summary>
    public string AutoV2 => Sha256[..10];

    /// <summary>AutoV3: the first 12 hex digits of <see cref="DataSha256"/>, the width civitai stores and A1111 shows for a LoRA; null for a file that is not safetensors.</summary>
    public string? AutoV3 => DataSha256?[..12];

    /// <summary>
    /// The full SHA-256 behind AutoV3, 64 hex digits: of every byte of a safetensors file after the 8-byte length and
    /// the JSON header (kohya's <c>sshs_model_hash</c>, A1111's <c>hashes-addnet</c>; ModelSpec's <c>hash_sha256</c>
    /// is <c>"0x"</c> and this), so editing the metadata does not change it. Null for other formats and for a
    /// safetensors file whose declared header runs past its end.
    /// </summary>
    public string? DataSha256 { get; }

    /// <summary>
    /// CRC32 in civitai's byte order: the CRC-32 (zlib's, IEEE 802.3) written as its 4 little-endian bytes in hex, as
    /// <c>System.IO.Hashing.Crc32.GetCurrentHash</c> gives them. "hello world" is <c>85114a0d</c>, where zlib's
    /// <c>crc32</c> returns the number 0x0d4a1185: the same bytes in reverse order.
    /// </summary>
    public string Crc32 { get; }

    /// <summary>BLAKE3: the 256-bit BLAKE3 hash of the whole file, 64 hex digits (<c>b3sum</c>; StabilityMatrix looks models up on civitai by it).</summary>
    public string Blake3 { get; }

    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }

    /// <summary>Whether the values were computed now or taken from a cache.</summary>
    public HashOrigin Origin { get; }

    /// <summary>Hashes a file in one sequential read, without any cache.</summary>
    /// <param name="path">The model file.</param>
    /// <param name="cancellationToken">Cancels the computation.</param>
    /// <returns>The hashes.</returns>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static ModelHashes Compute(string path, CancellationToken cancellationToken) => Compute(path, options: null, cancellationToken);

    /// <summary>
    /// Hashes a file in one sequential read, through the caches of <paramref name="options"/> when given: SafeCkpt's
    /// cache (a matching entry means the file is not read), then an A1111 install's <c>cache.json</c> (a matching
    /// entry saves the SHA-256 passes); what is computed is written to both before this returns. A cache that cannot
    /// be read or written is left out, with a message to <see cref="ModelHashOptions.Warning"/>.
    /// </summary>
    /// <param name="path">The model file.</param>
    /// <param name="options">The caches to use; null for none.</param>
    /// <param name="cancellationToken">Cancels the computation.</param>
    /// <returns>The hashes; <see cref="Origin"/> tells whether they came from a cache.</returns>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static ModelHashes Compute(string path, ModelHashOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (options is null)
        {
            return Compute(path, known: default, HashPass.Schedule.Lanes, progress: null, cancellationToken);
        }

        var session = new HashSession(options);
        try
        {
            return session.Hash(path, progress: null, cancellationToken);
        }
        finally
        {
            session.Flush();
        }
    }

    /// <summary>
    /// Hashes a file in one read. <paramref name="known"/> holds full SHA-256 values already known for it (from A1111's
    /// cache); their passes are skipped and <see cref="Origin"/> says so.
    /// </summary>
    internal static ModelHashes Compute(string path, KnownSha256 known, HashPass.Schedule schedule, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using var file = FileByteSource.Open(path);
        long dataStart = HashRanges.AutoV3Start(file);
        bool needData = dataStart >= 0 && known.Data is null;
        HashPass.Digests d = HashPass.Run(file, dataStart, fullSha256: known.Full is null, dataSha256: needData, schedule, progress, cancellationToken);
        progress?.Report(file.Length);
        string? data = dataStart < 0 ? null : known.Data ?? Hex(d.DataSha256!);
        HashOrigin origin = known.Full is null && (known.Data is null || dataStart < 0) ? HashOrigin.Computed : HashOrigin.A1111Cache;
        return new ModelHashes(known.Full ?? Hex(d.Sha256!), Hex(d.AutoV1Sha256)[..8], data, Hex(d.Crc32), Hex(d.Blake3), file.Length, origin);
    }

    /// <summary>Rebuilds stored hashes (SafeCkpt's cache); the values are checked to be hex of the right lengths.</summary>
    internal static ModelHashes? FromStored(string? sha256, string? autoV1, string? dataSha256, string? crc32, string? blake3, long length, HashOrigin origin) =>
        IsHex(sha256, 64) && IsHex(autoV1, 8) && (dataSha256 is null || IsHex(dataSha256, 64)) && IsHex(crc32, 8) && IsHex(blake3, 64)
            ? new ModelHashes(sha256!, autoV1!, dataSha256, crc32!, blake3!, length, origin)
            : null;

    /// <summary>Lowercase hex of <paramref name="digest"/>.</summary>
    internal static string Hex(byte[] digest) => Convert.ToHexString(digest).ToLowerInvariant();

    /// <summary>Whether <paramref name="value"/> is <paramref name="length"/> lowercase hex digits.</summary>
    internal static bool IsHex(string? value, int length) =>
        value is not null && value.Length == length && value.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));

    /// <summary>Full SHA-256 values known for a file before it is read (lowercase hex), or null.</summary>
    internal readonly record struct KnownSha256(string? Full, string? Data);
}
