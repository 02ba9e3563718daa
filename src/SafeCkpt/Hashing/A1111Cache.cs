using System.Text.Json;
using System.Text.Json.Nodes;

namespace SafeCkpt.Hashing;

/// <summary>
/// AUTOMATIC1111's <c>cache.json</c>, sections <c>hashes</c> and <c>hashes-addnet</c>, as its <c>modules/hashes.py</c>
/// reads and writes them (v1.10.1, 82a973c; the same shape since v1.5): <c>{"hashes": {TITLE: {"mtime": FLOAT,
/// "sha256": HEX}}, "hashes-addnet": {...}}</c>, where <c>mtime</c> is Python's <c>os.path.getmtime</c> of the file and
/// an entry is used while the file's modification time is not later than it (<c>sha256_from_cache</c>). The titles
/// name a file by what A1111 lists it as, under the install's default folders:
/// <list type="bullet">
/// <item><c>models/Stable-diffusion/REL</c>: <c>checkpoint/REL</c> (the path below the folder, with its extension and
/// the platform's separators; <c>sd_models.CheckpointInfo</c>), SHA256.</item>
/// <item><c>models/Lora/**/NAME.EXT</c> and <c>models/LyCORIS/**</c>: <c>lora/NAME</c> (the file name without its
/// extension; <c>extensions-builtin/Lora</c>); a <c>.safetensors</c> LoRA goes in <c>hashes-addnet</c> with its AutoV3
/// SHA-256 (kohya's hash), others in <c>hashes</c> with the SHA256.</item>
/// <item><c>embeddings/**/NAME.EXT</c>: <c>textual_inversion/NAME</c>, SHA256.</item>
/// </list>
/// VAEs (all under the one title <c>vae</c>) and hypernetworks (titled by a name stored inside the file) are left out.
/// Other sections and entries are kept as they are; a <c>cache.json</c> that is not a JSON object is never written.
/// A1111 from v1.9 keeps its cache in a <c>cache/</c> folder (diskcache) and reads <c>cache.json</c> only to
/// convert it, at a start when that folder does not exist yet.
/// </summary>
internal sealed class A1111Cache
{
    private const string Hashes = "hashes";
    private const string AddnetHashes = "hashes-addnet";

    private readonly JsonObject? _loaded;
    private readonly Dictionary<(string Section, string Title), (double MTime, string Sha256)> _pending = [];
    private readonly bool _unwritable;

    private A1111Cache(string root, string file, JsonObject? loaded, bool unwritable)
    {
        Root = root;
        FilePath = file;
        _loaded = loaded;
        _unwritable = unwritable;
    }

    /// <summary>The install's data folder (where <c>models/</c>, <c>embeddings/</c> and <c>cache.json</c> are).</summary>
    public string Root { get; }

    /// <summary>The <c>cache.json</c> file.</summary>
    public string FilePath { get; }

    /// <summary>How many entries wait to be written by <see cref="Flush"/>.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>
    /// Opens the cache of the A1111 install at <paramref name="location"/>: its folder, or its <c>cache.json</c>
    /// (then the folder is the file's). A missing <c>cache.json</c> is created on the first write.
    /// </summary>
    public static A1111Cache Open(string location, Action<string> warn)
    {
        string full = Path.GetFullPath(location);
        bool isFile = File.Exists(full) || (!Directory.Exists(full) && full.EndsWith(".json", StringComparison.OrdinalIgnoreCase));
        string root = isFile ? Path.GetDirectoryName(full)! : full;
        string file = isFile ? full : Path.Combine(full, "cache.json");
        byte[]? bytes;
        try
        {
            bytes = CacheFile.Read(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            warn($"A1111 cache {file}: cannot be read ({ex.Message}); not used.");
            return new A1111Cache(root, file, null, unwritable: true);
        }

        if (bytes is null)
        {
            return new A1111Cache(root, file, null, unwritable: false);
        }

        JsonObject? loaded = Parse(bytes, out string? problem);
        if (problem is not null)
        {
            warn($"A1111 cache {file}: {problem}; not used, and left as it is.");
        }

        return new A1111Cache(root, file, loaded, unwritable: problem is not null);
    }

    /// <summary>The section and title A1111 files <paramref name="fullPath"/> under, and whether it takes the AutoV3 hash; null for files it does not cache.</summary>
    public (string Section, string Title, bool Addnet)? TitleOf(string fullPath)
    {
        string models = Path.Combine(Root, "models");
        if (Below(Path.Combine(models, "Stable-diffusion"), fullPath) is { } checkpoint)
        {
            return (Hashes, "checkpoint/" + checkpoint, false);
        }

        string stem = Path.GetFileNameWithoutExtension(fullPath);
        if (Below(Path.Combine(models, "Lora"), fullPath) is not null || Below(Path.Combine(models, "LyCORIS"), fullPath) is not null)
        {
            bool addnet = Path.GetExtension(fullPath).Equals(".safetensors", StringComparison.OrdinalIgnoreCase);
            return (addnet ? AddnetHashes : Hashes, "lora/" + stem, addnet);
        }

        return Below(Path.Combine(Root, "embeddings"), fullPath) is not null ? (Hashes, "textual_inversion/" + stem, false) : null;
    }

    /// <summary>
    /// The SHA-256 A1111 cached for <paramref name="fullPath"/> when its recorded <c>mtime</c> is exactly the file's
    /// (stricter than A1111's own not-later-than test): the full SHA256, or for a safetensors LoRA the AutoV3 one.
    /// </summary>
    public ModelHashes.KnownSha256 Find(string fullPath, FileStamp stamp)
    {
        if (TitleOf(fullPath) is not { } t || _loaded?[t.Section] is not JsonObject section || section[t.Title] is not JsonObject entry)
        {
            return default;
        }

        string? sha = entry["sha256"] is JsonValue s && s.TryGetValue(out string? text) ? text.ToLowerInvariant() : null;
        bool fresh = entry["mtime"] is JsonValue m && m.TryGetValue(out double mtime) && mtime == stamp.PythonMTime;
        if (!fresh || !ModelHashes.IsHex(sha, 64))
        {
            return default;
        }

        return t.Addnet ? new ModelHashes.KnownSha256(null, sha) : new ModelHashes.KnownSha256(sha, null);
    }

    /// <summary>Records <paramref name="h"/> for <paramref name="fullPath"/> (when A1111 caches such a file and its entry is missing or different), to be written by <see cref="Flush"/>.</summary>
    public void Put(string fullPath, FileStamp stamp, ModelHashes h)
    {
        if (TitleOf(fullPath) is not { } t || (t.Addnet ? h.DataSha256 : h.Sha256) is not { } sha)
        {
            return;
        }

        ModelHashes.KnownSha256 now = Find(fullPath, stamp);
        if ((t.Addnet ? now.Data : now.Full) != sha)
        {
            _pending[(t.Section, t.Title)] = (stamp.PythonMTime, sha);
        }
    }

    /// <summary>Writes the recorded entries into <c>cache.json</c> (re-read under its lock, everything else kept); returns a warning on failure.</summary>
    public string? Flush()
    {
        if (_pending.Count == 0 || _unwritable)
        {
            return null;
        }

        string? problem = null;
        string? warning = CacheFile.Update(FilePath, current =>
        {
            JsonObject? root = current is null ? [] : Parse(current, out problem);
            if (root is null)
            {
                return null;
            }

            foreach (((string section, string title), (double mtime, string sha)) in _pending)
            {
                if (root[section] is not JsonObject entries)
                {
                    entries = [];
                    root[section] = entries;
                }

                entries[title] = new JsonObject { ["mtime"] = mtime, ["sha256"] = sha };
            }

            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, CacheFile.WriterOptions))
            {
                root.WriteTo(w);
            }

            return buffer.ToArray();
        });
        if (problem is not null)
        {
            return $"A1111 cache {FilePath}: {problem}; not written.";
        }

        if (warning is null)
        {
            _pending.Clear();
        }

        return warning is null ? null : "A1111 cache " + warning;
    }

    /// <summary>The path of <paramref name="fullPath"/> below <paramref name="folder"/> (the platform's separators), or null when it is not below it.</summary>
    private static string? Below(string folder, string fullPath)
    {
        string prefix = Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar;
        return fullPath.StartsWith(prefix, IO.FileIdentity.PathComparison) && fullPath.Length > prefix.Length ? fullPath[prefix.Length..] : null;
    }

    private static JsonObject? Parse(byte[] bytes, out string? problem)
    {
        try
        {
            if (JsonNode.Parse(bytes) is JsonObject root)
            {
                problem = null;
                return root;
            }

            problem = "is not a JSON object";
            return null;
        }
        catch (JsonException ex)
        {
            problem = $"is not JSON this tool reads ({ex.Message})";
            return null;
        }
    }
}
