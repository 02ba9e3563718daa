namespace SafeCkpt.Hashing;

/// <summary>
/// Hashes files through the caches of a <see cref="ModelHashOptions"/>: SafeCkpt's cache first (a hit reads
/// nothing), then A1111's (a hit skips the SHA-256 passes); what was computed is recorded in both and written out
/// every <see cref="FlushInterval"/> and by <see cref="Flush"/>, each write merged under the file's lock.
/// </summary>
internal sealed class HashSession
{
    private readonly HashCache? _cache;
    private readonly A1111Cache? _a1111;
    private readonly Action<string> _warn;
    private DateTime _lastFlush = DateTime.UtcNow;

    public HashSession(ModelHashOptions options)
    {
        _warn = options.Warning ?? (_ => { });
        _cache = options.CacheFile is { Length: > 0 } file ? HashCache.Open(file, _warn) : null;
        _a1111 = options.A1111 is { Length: > 0 } a1111 ? A1111Cache.Open(a1111, _warn) : null;
    }

    /// <summary>Whether SHA-256 values are taken from A1111's cache (off: every file is read; the cache is still written).</summary>
    public bool ReadA1111 { get; init; } = true;

    /// <summary>How many entries were written to A1111's <c>cache.json</c> so far.</summary>
    public int A1111Written { get; private set; }

    /// <summary>How often recorded hashes are written while a batch runs.</summary>
    internal static TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>SafeCkpt's cache file, or null.</summary>
    public string? CacheFile => _cache?.FilePath;

    /// <summary>A1111's <c>cache.json</c>, or null.</summary>
    public string? A1111CacheFile => _a1111?.FilePath;

    /// <summary>The hashes of <paramref name="path"/>, from a cache when one holds them for the file as it is now.</summary>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public ModelHashes Hash(string path, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        string full = Path.GetFullPath(path);
        FileStamp? before = Stamp(full);
        if (before is not { } stamp)
        {
            // Unreadable: hashing it reports the error the usual way.
            return ModelHashes.Compute(full, default, HashPass.Schedule.Lanes, progress, cancellationToken);
        }

        ModelHashes? h = _cache?.Find(full, stamp);
        if (h is null)
        {
            ModelHashes.KnownSha256 known = ReadA1111 ? _a1111?.Find(full, stamp) ?? default : default;
            h = ModelHashes.Compute(full, known, HashPass.Schedule.Lanes, progress, cancellationToken);

            // A file written to while it was read has no hash worth keeping.
            if (Stamp(full) != stamp)
            {
                return h;
            }

            _cache?.Put(full, stamp, h);
        }

        _a1111?.Put(full, stamp, h);
        if (DateTime.UtcNow - _lastFlush >= FlushInterval)
        {
            Flush();
        }

        return h;
    }

    /// <summary>The section and title A1111 files <paramref name="path"/> under, or null (no A1111 install, or a file it does not cache).</summary>
    public (string Section, string Title, bool Addnet)? A1111TitleOf(string path) => _a1111?.TitleOf(Path.GetFullPath(path));

    /// <summary>Writes what was recorded to the cache files; problems go to the warning callback.</summary>
    public void Flush()
    {
        _lastFlush = DateTime.UtcNow;
        if (_cache?.Flush() is { } cacheWarning)
        {
            _warn(cacheWarning);
        }

        int pending = _a1111?.PendingCount ?? 0;
        if (_a1111?.Flush() is { } a1111Warning)
        {
            _warn(a1111Warning);
        }
        else
        {
            A1111Written += pending;
        }
    }

    private static FileStamp? Stamp(string full)
    {
        try
        {
            return FileStamp.Of(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
