namespace SafeCkpt.Hashing;

/// <summary>
/// The caches <see cref="ModelHashes.Compute(string, ModelHashOptions?, CancellationToken)"/> uses, so that a folder
/// of models is hashed once: SafeCkpt's own cache (on by default) and, when named, an AUTOMATIC1111 install's
/// <c>cache.json</c>, read and updated so that A1111 finds the hashes without reading the files again.
/// </summary>
public sealed class ModelHashOptions
{
    /// <summary>
    /// Where SafeCkpt's cache is, by default: <c>$SAFECKPT_HASH_CACHE</c> when set; else
    /// <c>$XDG_CACHE_HOME/safeckpt/hashes.json</c> (<c>~/.cache/safeckpt/hashes.json</c>) on Linux,
    /// <c>~/Library/Caches/safeckpt/hashes.json</c> on macOS, <c>%LOCALAPPDATA%\safeckpt\hashes.json</c> on Windows.
    /// </summary>
    public static string DefaultCacheFile => HashCache.DefaultPath;

    /// <summary>
    /// SafeCkpt's cache file (created when missing); null for none. Entries are keyed by full path and used while
    /// the file's size and modification time are the recorded ones. Defaults to <see cref="DefaultCacheFile"/>.
    /// </summary>
    public string? CacheFile { get; init; } = DefaultCacheFile;

    /// <summary>
    /// An AUTOMATIC1111 (or Forge) install folder, or its <c>cache.json</c>; null for none. Files under its
    /// <c>models/Stable-diffusion</c>, <c>models/Lora</c>, <c>models/LyCORIS</c> and <c>embeddings</c> folders get
    /// entries in its <c>hashes</c> and <c>hashes-addnet</c> sections, and a matching entry there saves the SHA-256
    /// passes.
    /// </summary>
    public string? A1111 { get; init; }

    /// <summary>Receives a message when a cache cannot be read or written (the hashes are computed regardless).</summary>
    public Action<string>? Warning { get; init; }
}
