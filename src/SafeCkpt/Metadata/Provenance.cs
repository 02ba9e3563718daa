using System.Reflection;
using SafeCkpt.Hashing;
using SafeCkpt.Transforms;

namespace SafeCkpt.Metadata;

/// <summary>
/// Where a written file came from, in its metadata under <c>safeckpt.*</c> (README, "Provenance"): the source's name,
/// format and hashes (SHA-256, AutoV2, and for safetensors sources the SHA-256 after the header, AutoV3's), the
/// recipe (every step, and the dtype, EMA choice, dropped parts and baked VAE with its hashes), and the first file of
/// a chain of conversions (<c>safeckpt.origin.*</c>), so that a launcher can find the original on civitai.
/// </summary>
/// <remarks>
/// The hashes are computed while the tensors are written (one extra read of each input, usually from the page
/// cache), so the values are not known when the header is laid out: every hash has a fixed length, the header is
/// laid out with placeholders of that length and written again, the same size, once they are known.
/// </remarks>
internal sealed class Provenance : IDisposable
{
    /// <summary>Every key SafeCkpt writes starts with this.</summary>
    public const string Prefix = "safeckpt.";

    /// <summary>The SafeCkpt version that wrote the file.</summary>
    public const string Version = "safeckpt.version";

    /// <summary>The immediate input's keys: <c>.name</c>, <c>.format</c>, <c>.sha256</c>, <c>.autov2</c>, <c>.autov3</c>.</summary>
    public const string Source = "safeckpt.source.";

    /// <summary>The first input of a chain of SafeCkpt conversions, the same fields as <see cref="Source"/>; written only when the input was itself written by SafeCkpt.</summary>
    public const string Origin = "safeckpt.origin.";

    /// <summary>The steps, in order, as <see cref="TensorTransform.Description"/>s joined by "; ".</summary>
    public const string Recipe = "safeckpt.recipe";

    /// <summary>The floating dtype written (<c>fp16</c>, <c>bf16</c>, <c>fp32</c>, <c>fp64</c>, <c>fp8-e4m3fn</c>, <c>fp8-e5m2</c>, <c>fp8-e4m3fn-scaled (comfy_quant layout)</c>), with the components when only some were cast.</summary>
    public const string RecipeDType = "safeckpt.recipe.dtype";

    /// <summary><c>ema</c> (the EMA weights became the UNet) or <c>no-ema</c> (they were dropped).</summary>
    public const string RecipeEma = "safeckpt.recipe.ema";

    /// <summary>The components dropped, comma separated (<c>vae</c>, <c>text-encoder</c>, ...).</summary>
    public const string RecipeDropped = "safeckpt.recipe.dropped";

    /// <summary><c>true</c> when known junk was pruned.</summary>
    public const string RecipePruned = "safeckpt.recipe.pruned";

    /// <summary>The VAE baked in: <c>.name</c>, <c>.sha256</c>, <c>.autov2</c> (and <c>.autov3</c> for a safetensors VAE).</summary>
    public const string RecipeVae = "safeckpt.recipe.vae.";

    private const int Sha256Length = 64;
    private const int AutoV2Length = 10;

    private readonly Dictionary<string, string> _fixed;
    private readonly List<(string Prefix, bool HasData, Task<SourceDigests>? Hashes)> _hashed = [];

    /// <summary>Stops the hashing when the save fails or is cancelled.</summary>
    private readonly CancellationTokenSource _stop;

    private Provenance(Dictionary<string, string> fixedValues, CancellationToken cancellationToken)
    {
        _fixed = fixedValues;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    /// <summary>The SafeCkpt version written in <see cref="Version"/>.</summary>
    public static string WriterVersion { get; } = typeof(Provenance).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    /// <summary>
    /// Starts hashing the source (and a VAE being baked in) in the background and records the recipe; null when
    /// <paramref name="options"/> turns provenance off.
    /// </summary>
    public static Provenance? Start(ModelFile source, IReadOnlyList<TensorTransform> steps, SaveOptions options, CancellationToken cancellationToken)
    {
        // A model with no file behind it (built in code, opened from memory) has nothing to look up: no provenance,
        // and its metadata is written as it is.
        if (!options.Provenance || source.Tensors.FilePath is null)
        {
            return null;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal) { [Version] = WriterVersion };
        var p = new Provenance(values, cancellationToken);
        p.Describe(Source, source.Path, source.Format, source.Tensors.FilePath);
        if (steps.Count > 0)
        {
            values[Recipe] = string.Join("; ", steps.Select(s => s.Description));
        }

        var dropped = new List<string>();
        foreach (TensorTransform step in steps)
        {
            switch (step)
            {
                case CastTransform cast:
                    values[RecipeDType] = cast.Components.Count == 0 ? Models.DisplayNames.Of(cast.Target) : $"{Models.DisplayNames.Of(cast.Target)} ({string.Join(", ", cast.Components.Select(Models.DisplayNames.Of))})";
                    break;
                case ScaledFloat8Transform scaled:
                    values[RecipeDType] = $"{Models.DisplayNames.Of(scaled.Format)}-scaled ({(scaled.Layout == Models.ScaledFloat8Layout.ComfyQuant ? "comfy_quant" : "scaled_fp8")} layout)";
                    break;
                case EmaSelection ema:
                    values[RecipeEma] = ema.UseEma ? "ema" : "no-ema";
                    break;
                case ComponentFilter filter:
                    dropped.AddRange(filter.Dropped.Select(Models.DisplayNames.Of));
                    break;
                case PruneTransform:
                    values[RecipePruned] = "true";
                    break;
                case ReplaceVae vae:
                    p.Describe(RecipeVae, vae.VaePath, null, File.Exists(vae.VaePath) ? vae.VaePath : null);
                    break;
            }
        }

        if (dropped.Count > 0)
        {
            values[RecipeDropped] = string.Join(",", dropped.Distinct());
        }

        return p;
    }

    /// <summary>
    /// Replaces the <c>safeckpt.*</c> keys of <paramref name="metadata"/> (the source's, carried over) with this
    /// file's, moving the source's own source to <see cref="Origin"/>; the hashes are placeholders of their final
    /// length until <see cref="Complete"/>.
    /// </summary>
    public void Stamp(Dictionary<string, string> metadata)
    {
        Dictionary<string, string> carried = Strip(metadata);

        // The chain's first file: the input's origin, else the input's own source, else (no SafeCkpt history) none.
        string from = carried.Keys.Any(k => k.StartsWith(Origin, StringComparison.Ordinal)) ? Origin : Source;
        foreach ((string k, string v) in carried.Where(kv => kv.Key.StartsWith(from, StringComparison.Ordinal)))
        {
            metadata[Origin + k[from.Length..]] = v;
        }

        foreach ((string k, string v) in _fixed)
        {
            metadata[k] = v;
        }

        foreach ((string prefix, bool hasData, Task<SourceDigests>? hashes) in _hashed)
        {
            if (hashes is not null)
            {
                metadata[prefix + "sha256"] = new string('0', Sha256Length);
                metadata[prefix + "autov2"] = new string('0', AutoV2Length);
                if (hasData)
                {
                    metadata[prefix + "autov3"] = new string('0', Sha256Length);
                }
            }
        }
    }

    /// <summary>Removes every <c>safeckpt.*</c> key from <paramref name="metadata"/> and returns them.</summary>
    public static Dictionary<string, string> Strip(Dictionary<string, string> metadata)
    {
        Dictionary<string, string> removed = metadata.Where(kv => kv.Key.StartsWith(Prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        foreach (string k in removed.Keys)
        {
            metadata.Remove(k);
        }

        return removed;
    }

    /// <summary>Waits for the hashes and writes them over their placeholders (the same lengths); returns <paramref name="metadata"/>.</summary>
    public IReadOnlyDictionary<string, string> Complete(Dictionary<string, string> metadata, CancellationToken cancellationToken)
    {
        foreach ((string prefix, bool hasData, Task<SourceDigests>? task) in _hashed)
        {
            if (task is null)
            {
                continue;
            }

            SourceDigests h = task.WaitAsync(cancellationToken).GetAwaiter().GetResult();
            metadata[prefix + "sha256"] = h.Sha256;
            metadata[prefix + "autov2"] = h.Sha256[..AutoV2Length];
            if (hasData)
            {
                metadata[prefix + "autov3"] = h.DataSha256 ?? throw new InvalidOperationException($"{prefix}: the data hash of a safetensors file is missing.");
            }
        }

        return metadata;
    }

    /// <summary>Stops the hashing (a finished save has its values; a failed one does not need them) and observes its end.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        foreach ((_, _, Task<SourceDigests>? task) in _hashed)
        {
            task?.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }

        _stop.Dispose();
    }

    private void Describe(string prefix, string shownPath, ModelFormat? format, string? file)
    {
        _fixed[prefix + "name"] = System.IO.Path.GetFileName(shownPath);
        if (format is ModelFormat f)
        {
            _fixed[prefix + "format"] = Models.DisplayNames.Of(f);
        }

        Task<SourceDigests>? hashes = null;
        bool hasData = false;
        if (file is not null)
        {
            hasData = (format ?? Sniff(file)) == ModelFormat.Safetensors;
            CancellationToken stop = _stop.Token;
            bool data = hasData;
            hashes = Task.Run(() => SourceHashes(file, data, stop), stop);
        }

        _hashed.Add((prefix, hasData, hashes));
    }

    /// <summary>
    /// The SHA-256 values provenance records: from SafeCkpt's hash cache when it knows the file (path, size and
    /// modification time; <c>safeckpt hash</c> fills it), else the full SHA-256 (and for a safetensors input the
    /// after-header one, on another thread) over one read, without BLAKE3 or CRC-32: one SHA-256 pass.
    /// </summary>
    private static SourceDigests SourceHashes(string file, bool safetensors, CancellationToken cancellationToken)
    {
        string full = System.IO.Path.GetFullPath(file);
        try
        {
            if (HashCache.Open(HashCache.DefaultPath, _ => { }).Find(full, FileStamp.Of(full)) is { } cached)
            {
                return new SourceDigests(cached.Sha256, cached.DataSha256);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or SafeCkptException)
        {
            // No cache to read: compute.
        }

        using IO.FileByteSource f = IO.FileByteSource.Open(file);
        long dataStart = HashRanges.AutoV3Start(f);
        // AutoV3's range is recorded for safetensors inputs only (the LoRA and checkpoint hash kohya and A1111 use);
        // civitai's AutoV3 of a pickle (everything after byte 8) would cost a second SHA-256 pass for little.
        HashPass.Digests d = HashPass.Run(f, dataStart, fullSha256: true, dataSha256: safetensors && dataStart >= 0, HashPass.Schedule.Lanes, shaOnly: true, progress: null, cancellationToken);
        return new SourceDigests(ModelHashes.Hex(d.Sha256!), d.DataSha256 is null ? null : ModelHashes.Hex(d.DataSha256));
    }

    /// <summary>The format of an input opened by path only (a VAE to bake in): its first bytes, as every open decides it.</summary>
    private static ModelFormat Sniff(string file)
    {
        using IO.FileByteSource f = IO.FileByteSource.Open(file);
        return Internals.FormatSniffer.Sniff(f).Format;
    }

    /// <summary>
    /// What a file's <c>safeckpt.*</c> keys say, as the tool prints it: "converted from NAME (FORMAT), SHA256 ...,
    /// AutoV2 ... by SafeCkpt V: RECIPE", and the original when the file is a conversion of a conversion; empty
    /// when the file has no source recorded.
    /// </summary>
    public static IReadOnlyList<string> Summary(IReadOnlyDictionary<string, string> metadata)
    {
        var lines = new List<string>();
        if (Describe(metadata, Source) is not { } source)
        {
            return lines;
        }

        string by = metadata.TryGetValue(Version, out string? v) ? $" by SafeCkpt {v}" : string.Empty;
        string recipe = metadata.TryGetValue(Recipe, out string? r) ? $": {r}" : string.Empty;
        lines.Add($"converted from {source}{by}{recipe}");
        if (Describe(metadata, RecipeVae) is { } vae)
        {
            lines.Add($"VAE baked in: {vae}");
        }

        if (Describe(metadata, Origin) is { } origin)
        {
            lines.Add($"original: {origin}");
        }

        return lines;
    }

    private static string? Describe(IReadOnlyDictionary<string, string> m, string prefix)
    {
        if (!m.TryGetValue(prefix + "name", out string? name))
        {
            return null;
        }

        var parts = new List<string>();
        if (m.TryGetValue(prefix + "format", out string? format))
        {
            parts.Add(format);
        }

        if (m.TryGetValue(prefix + "autov2", out string? autoV2))
        {
            parts.Add($"AutoV2 {autoV2.ToUpperInvariant()}");
        }

        if (m.TryGetValue(prefix + "autov3", out string? autoV3))
        {
            parts.Add($"AutoV3 {autoV3.ToUpperInvariant()}");
        }

        if (m.TryGetValue(prefix + "sha256", out string? sha))
        {
            parts.Add($"SHA256 {sha.ToUpperInvariant()}");
        }

        return parts.Count == 0 ? name : $"{name} ({string.Join(", ", parts)})";
    }

    /// <summary>The keys as the README's provenance table lists them, for the tests that keep the two in step.</summary>
    internal static IEnumerable<string> DocumentedKeys()
    {
        string[] fields = ["name", "format", "sha256", "autov2", "autov3"];
        return new[] { Version, Recipe, RecipeDType, RecipeEma, RecipeDropped, RecipePruned }
            .Concat(fields.Select(f => Source + f))
            .Concat(fields.Select(f => Origin + f))
            .Concat(fields.Where(f => f != "format").Select(f => RecipeVae + f));
    }
}

/// <summary>The two SHA-256 provenance records of an input: the whole file's and, for safetensors, the bytes after the header.</summary>
internal sealed record SourceDigests(string Sha256, string? DataSha256);
