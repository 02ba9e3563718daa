using System.Text.Json;

namespace SafeCkpt.Hashing;

/// <summary>
/// SafeCkpt's own hash cache: one JSON file of every file hashed, keyed by full path, whose six hashes are reused
/// while the file's size and modification time (to the nanosecond) are the ones recorded. Shape:
/// <c>{"format": "safeckpt-hash-cache", "version": 1, "files": {PATH: {"size", "mtimeNs", "sha256", "autov1",
/// "dataSha256" (absent when the file has no AutoV3), "crc32", "blake3"}}}</c>, hashes in lowercase hex. A file that
/// cannot be read as such a cache is ignored with a warning and replaced on the next write; one written by a later
/// version (another <c>version</c>) is used for nothing and left alone.
/// </summary>
internal sealed class HashCache
{
    /// <summary>The value of the <c>format</c> key.</summary>
    public const string FormatName = "safeckpt-hash-cache";

    /// <summary>The layout version this code reads and writes.</summary>
    public const int Version = 1;

    /// <summary>The environment variable that moves the default cache file.</summary>
    public const string EnvironmentVariable = "SAFECKPT_HASH_CACHE";

    private readonly Dictionary<string, Entry> _entries;
    private readonly Dictionary<string, Entry> _pending = new(StringComparer.Ordinal);
    private readonly bool _foreign;

    private HashCache(string path, Dictionary<string, Entry> entries, bool foreign)
    {
        FilePath = path;
        _entries = entries;
        _foreign = foreign;
    }

    /// <summary>The cache file.</summary>
    public string FilePath { get; }

    /// <summary>
    /// Where the cache lives unless told otherwise: <c>$SAFECKPT_HASH_CACHE</c> when set; else
    /// <c>$XDG_CACHE_HOME/safeckpt/hashes.json</c> (<c>~/.cache/safeckpt/hashes.json</c>) on Linux and other Unixes,
    /// <c>~/Library/Caches/safeckpt/hashes.json</c> on macOS, <c>%LOCALAPPDATA%\safeckpt\hashes.json</c> on Windows.
    /// </summary>
    public static string DefaultPath
    {
        get
        {
            if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } overridden)
            {
                return Path.GetFullPath(overridden);
            }

            // No home folder (a service account): the temporary folder rather than the working directory.
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) is { Length: > 0 } h ? h : Path.GetTempPath();
            string root;
            if (OperatingSystem.IsWindows())
            {
                root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
            }
            else if (OperatingSystem.IsMacOS())
            {
                root = Path.Combine(home, "Library", "Caches");
            }
            else
            {
                // The XDG spec ignores a relative XDG_CACHE_HOME.
                root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg) ? xdg : Path.Combine(home, ".cache");
            }

            return Path.Combine(root, "safeckpt", "hashes.json");
        }
    }

    /// <summary>Loads the cache at <paramref name="path"/> (empty when there is none); problems go to <paramref name="warn"/>.</summary>
    public static HashCache Open(string path, Action<string> warn)
    {
        string full = Path.GetFullPath(path);
        byte[]? bytes;
        try
        {
            bytes = CacheFile.Read(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            warn($"hash cache {full}: cannot be read ({ex.Message}); hashing without it.");
            return new HashCache(full, new(StringComparer.Ordinal), foreign: true);
        }

        if (bytes is null)
        {
            return new HashCache(full, new(StringComparer.Ordinal), foreign: false);
        }

        Parsed parsed = Parse(bytes);
        if (parsed.Problem is not null)
        {
            warn($"hash cache {full}: {parsed.Problem}; ignored{(parsed.Foreign ? " and left as it is" : ", and replaced when this run writes to it")}.");
        }

        return new HashCache(full, parsed.Entries, parsed.Foreign);
    }

    /// <summary>The cached hashes of <paramref name="fullPath"/> when its stamp is the one recorded; else null.</summary>
    public ModelHashes? Find(string fullPath, FileStamp stamp) =>
        (_pending.TryGetValue(fullPath, out Entry? e) || _entries.TryGetValue(fullPath, out e)) && e.Size == stamp.Size && e.MTimeNs == stamp.UnixNanoseconds
            ? ModelHashes.FromStored(e.Sha256, e.AutoV1, e.DataSha256, e.Crc32, e.Blake3, e.Size, HashOrigin.Cache)
            : null;

    /// <summary>Records the hashes of <paramref name="fullPath"/> as of <paramref name="stamp"/>, to be written by <see cref="Flush"/>.</summary>
    public void Put(string fullPath, FileStamp stamp, ModelHashes h) =>
        _pending[fullPath] = new Entry(stamp.Size, stamp.UnixNanoseconds, h.Sha256, h.AutoV1, h.DataSha256, h.Crc32, h.Blake3);

    /// <summary>Writes the recorded entries into the file (merged, under its lock, with what other runs wrote meanwhile); returns a warning on failure.</summary>
    public string? Flush()
    {
        if (_pending.Count == 0 || _foreign)
        {
            return null;
        }

        string? warning = CacheFile.Update(FilePath, current =>
        {
            Parsed now = current is null ? new Parsed(new(StringComparer.Ordinal), null, false) : Parse(current);
            if (now.Foreign)
            {
                return null;
            }

            foreach ((string path, Entry e) in _pending)
            {
                now.Entries[path] = e;
            }

            return Serialize(now.Entries);
        });
        if (warning is null)
        {
            foreach ((string path, Entry e) in _pending)
            {
                _entries[path] = e;
            }

            _pending.Clear();
        }

        return warning is null ? null : "hash cache " + warning;
    }

    private static Parsed Parse(byte[] bytes)
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out JsonElement format) || format.ValueKind != JsonValueKind.String || format.GetString() != FormatName)
            {
                return new Parsed(entries, $"not a SafeCkpt hash cache (no \"format\": \"{FormatName}\")", false);
            }

            if (!root.TryGetProperty("version", out JsonElement version) || !version.TryGetInt32(out int v) || v != Version)
            {
                return new Parsed(entries, $"written by another version of SafeCkpt (not version {Version})", true);
            }

            if (!root.TryGetProperty("files", out JsonElement files) || files.ValueKind != JsonValueKind.Object)
            {
                return new Parsed(entries, "has no \"files\" object", false);
            }

            foreach (JsonProperty file in files.EnumerateObject())
            {
                // An entry that does not hold what it should is dropped; the others stay usable.
                if (Entry.Read(file.Value) is { } e)
                {
                    entries[file.Name] = e;
                }
            }

            return new Parsed(entries, null, false);
        }
        catch (JsonException ex)
        {
            return new Parsed(new(StringComparer.Ordinal), $"not valid JSON ({ex.Message})", false);
        }
    }

    private static byte[] Serialize(Dictionary<string, Entry> entries)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, CacheFile.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("format", FormatName);
            w.WriteNumber("version", Version);
            w.WriteStartObject("files");
            foreach ((string path, Entry e) in entries.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                w.WriteStartObject(path);
                e.Write(w);
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    private sealed record Parsed(Dictionary<string, Entry> Entries, string? Problem, bool Foreign);

    private sealed record Entry(long Size, long MTimeNs, string Sha256, string AutoV1, string? DataSha256, string Crc32, string Blake3)
    {
        public static Entry? Read(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.Object
                || !e.TryGetProperty("size", out JsonElement size) || !size.TryGetInt64(out long sizeValue)
                || !e.TryGetProperty("mtimeNs", out JsonElement mtime) || !mtime.TryGetInt64(out long mtimeValue))
            {
                return null;
            }

            string? sha = Text(e, "sha256");
            string? autoV1 = Text(e, "autov1");
            string? data = Text(e, "dataSha256");
            string? crc = Text(e, "crc32");
            string? blake = Text(e, "blake3");
            return ModelHashes.FromStored(sha, autoV1, data, crc, blake, sizeValue, HashOrigin.Cache) is null
                ? null
                : new Entry(sizeValue, mtimeValue, sha!, autoV1!, data, crc!, blake!);
        }

        public void Write(Utf8JsonWriter w)
        {
            w.WriteNumber("size", Size);
            w.WriteNumber("mtimeNs", MTimeNs);
            w.WriteString("sha256", Sha256);
            w.WriteString("autov1", AutoV1);
            if (DataSha256 is not null)
            {
                w.WriteString("dataSha256", DataSha256);
            }

            w.WriteString("crc32", Crc32);
            w.WriteString("blake3", Blake3);
        }

        private static string? Text(JsonElement e, string name) =>
            e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }
}
