using System.CommandLine;
using System.Text.Json;
using SafeCkpt.Metadata;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>safeckpt meta FILE [--set K=V]... [--unset K]... [--strip [--keep K]...] [--from JSON] [--modelspec] [--out FILE]</c>:
/// shows a safetensors file's metadata, grouped and parsed, or edits it without rewriting the tensor bytes.
/// </summary>
internal static class MetaCommand
{
    /// <summary>Test seam: <c>STEP:MARKER</c> stops an in-place edit at STEP (a <see cref="MetadataEditStep"/>), creates MARKER and waits for a signal; tests kill the tool there.</summary>
    internal const string PauseVariable = "SAFECKPT_TEST_META_PAUSE";

    /// <summary>Values longer than this are cut in the text output unless <c>--full</c>.</summary>
    private const int ShownLength = 100;

    /// <summary>Tags listed per dataset unless <c>--full</c>.</summary>
    private const int TopTags = 10;

    public static ToolCommand Create(Terminal terminal)
    {
        var file = new Argument<string>("FILE") { Description = "A .safetensors file." };
        var set = new Option<string[]>("--set") { HelpName = "K=V", Description = "Set key K to the string V (repeatable; V may be empty). Wins over --from and --modelspec.", Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };
        var unset = new Option<string[]>("--unset") { HelpName = "K", Description = "Remove key K (repeatable); K ending in * removes every key starting with the rest (--unset 'ss_*').", Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };
        var strip = new Option<bool>("--strip") { Description = "Remove every key except those named with --keep (applied first; then --from, --modelspec, --set)." };
        var keep = new Option<string[]>("--keep") { HelpName = "K", Description = "With --strip: keep key K (repeatable; K ending in * keeps a prefix: --keep 'modelspec.*').", Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };
        var from = new Option<string?>("--from") { HelpName = "JSON", Description = "Set every key of JSON, a file holding one object of string values (or the output of meta --json), merged into the metadata: keys it does not name stay. With --strip it replaces the metadata." };
        var modelspec = new Option<bool>("--modelspec") { Description = "Fill the ModelSpec keys SafeCkpt can tell: sai_model_spec, architecture, implementation, resolution, prediction_type, hash_sha256, title. Keys already set are kept; hash_sha256 is always recomputed." };
        var output = new Option<string?>("--out", "-o") { HelpName = "OUT", Description = "Write an edited copy to OUT instead of editing FILE; FILE is then never modified." };
        var overwrite = new Option<bool>("--overwrite") { Description = "With --out: replace OUT if it exists (it is never FILE itself)." };
        var full = new Option<bool>("--full") { Description = $"Show every value whole and every training tag (values over {ShownLength} characters are cut otherwise)." };
        Option<bool> json = Opt.Json("Print one JSON object instead of text: file, headerBytes, metadata (the raw map) and parsed (modelspec, kohya datasets, tags and trigger words, merge recipe, groups); after an edit: file, written, mode, changed, removed.");
        ToolCommand command = new ToolCommand("meta", "Show a safetensors file's metadata (__metadata__): ModelSpec fields, kohya training metadata with its tags and trigger words, A1111 merge recipes, any other keys. With --set, --unset, --strip, --from or --modelspec, edit it: the tensor bytes are never rewritten, so AutoV3 stays the same. A header that still fits is rewritten in place, atomically (an undo journal beside the file makes it old or new, never torn); a larger one makes the file be rewritten beside itself and renamed over.")
        {
            Examples =
            [
                ("safeckpt meta lora.safetensors", "ModelSpec, training settings, trigger words, top tags per dataset"),
                ("safeckpt meta lora.safetensors --set modelspec.title='My LoRA' --set modelspec.trigger_phrase=mychar", "edit in place"),
                ("safeckpt meta lora.safetensors --strip --keep 'modelspec.*' -o clean.safetensors", "a copy without the training metadata"),
                ("safeckpt meta model.safetensors --modelspec", "fill the ModelSpec keys from detection and the tensor hash"),
                ("safeckpt meta a.safetensors -j > m.json && safeckpt meta b.safetensors --strip --from m.json", "copy one file's metadata to another"),
            ],
            Notes =
            [
                ("Order:", ["--strip (and --keep), then --from, then --modelspec (fills missing keys), then --set, then --unset. A key may not be both --set and --unset."]),
                ("Trigger words:", ["modelspec.trigger_phrase when set; otherwise the dataset folder names in ss_tag_frequency without kohya's '<repeats>_' prefix (10_mychar -> mychar)."]),
                ("Exit codes:", ["0 shown or written; 1 usage (a bad --set, --from file or key); 2 FILE is not safetensors, or is invalid or unreadable; 4 FILE (or OUT) cannot be written."]),
            ],
        }.With(file, set, unset, strip, keep, from, modelspec, output, overwrite, full, json);
        command.SetRun((r, ct) =>
        {
            string path = r.GetValue(file)!;
            var edits = new Edits(r.GetValue(set) ?? [], r.GetValue(unset) ?? [], r.GetValue(strip), r.GetValue(keep) ?? [], r.GetValue(from), r.GetValue(modelspec));
            if (!edits.Any)
            {
                if (r.GetValue(output) is not null)
                {
                    throw new UsageException("--out writes an edited copy; say what to change (--set, --unset, --strip, --from or --modelspec)");
                }

                return Show(terminal, path, r.GetValue(full), r.GetValue(json));
            }

            return Edit(terminal, path, edits, r.GetValue(output), r.GetValue(overwrite), r.GetValue(json), ct);
        });
        return command;
    }

    private static int Edit(Terminal terminal, string path, Edits edits, string? output, bool overwrite, bool json, CancellationToken cancellationToken)
    {
        IReadOnlyDictionary<string, string> fromFile = edits.From is { } f ? ReadFromFile(f) : new Dictionary<string, string>();
        Dictionary<string, string> sets = edits.ParseSets();
        IReadOnlyDictionary<string, string>? proposed = edits.ModelSpec ? SafetensorsMetadata.ProposeModelSpec(path, cancellationToken) : null;
        IReadOnlyList<string> filled = [];
        InstallPause();
        MetadataEditResult result = SafetensorsMetadata.Edit(
            path,
            m =>
            {
                if (edits.Strip)
                {
                    foreach (string k in m.Keys.Where(k => !edits.Keep.Any(p => Matches(p, k))).ToList())
                    {
                        m.Remove(k);
                    }
                }

                foreach ((string k, string v) in fromFile)
                {
                    m[k] = v;
                }

                if (proposed is not null)
                {
                    filled = SafetensorsMetadata.FillModelSpec(m, proposed);
                }

                foreach ((string k, string v) in sets)
                {
                    m[k] = v;
                }

                foreach (string k in m.Keys.Where(k => edits.Unset.Any(p => Matches(p, k))).ToList())
                {
                    m.Remove(k);
                }
            },
            new MetadataEditOptions { OutputPath = output, Overwrite = overwrite },
            cancellationToken);

        if (json)
        {
            JsonOutput.Write(terminal.Out, w =>
            {
                w.WriteString("file", path);
                w.WriteString("written", result.Mode == MetadataWriteMode.Unchanged ? null : result.Path);
                w.WriteString("mode", ModeName(result.Mode));
                w.WriteNumber("headerBytesBefore", result.HeaderLengthBefore);
                w.WriteNumber("headerBytesAfter", result.HeaderLengthAfter);
                w.WriteStartObject("changed");
                foreach (string k in result.Changed)
                {
                    w.WriteString(k, result.After[k]);
                }

                w.WriteEndObject();
                JsonOutput.WriteStrings(w, "removed", result.Removed);
                if (proposed is not null)
                {
                    JsonOutput.WriteStrings(w, "modelspecFilled", filled);
                }

                if (result.Recovery is { Length: > 0 } recovery)
                {
                    w.WriteString("recovery", recovery);
                }
            });
            return ExitCodes.Success;
        }

        if (result.Recovery is { Length: > 0 } note)
        {
            terminal.Note(note);
        }

        TextWriter o = terminal.Out;
        o.WriteLine(result.Mode switch
        {
            MetadataWriteMode.Unchanged => $"No change: {path} already holds this metadata; nothing was written.",
            MetadataWriteMode.HeaderInPlace => $"Updated {path} in place: the header's {Format.Count(result.HeaderLengthBefore)} bytes were rewritten; the tensor data was not touched.",
            MetadataWriteMode.FileRewritten => $"Rewrote {path}: the header grew from {Format.Count(result.HeaderLengthBefore)} to {Format.Count(result.HeaderLengthAfter)} bytes (padded for later edits); the tensor data was copied unchanged.",
            _ => $"Wrote {result.Path}: a copy of {path} with the new metadata ({path} was not modified).",
        });
        foreach (string k in result.Changed)
        {
            o.WriteLine($"  set     {Format.Safe(k)} = {Shown(result.After[k], full: false)}");
        }

        foreach (string k in result.Removed)
        {
            o.WriteLine($"  removed {Format.Safe(k)}");
        }

        if (proposed is not null)
        {
            IEnumerable<string> kept = proposed.Keys.Where(k => !filled.Contains(k) && result.After.ContainsKey(k)).Order(StringComparer.Ordinal);
            string[] unknown = [.. new[] { ModelSpecFields.Architecture, ModelSpecFields.Implementation, ModelSpecFields.Resolution }.Where(k => !result.After.ContainsKey(k))];
            if (kept.Any())
            {
                o.WriteLine($"  kept    {string.Join(", ", kept)} (already set; --set overrides)");
            }

            if (unknown.Length > 0)
            {
                o.WriteLine($"  unknown {string.Join(", ", unknown)}: SafeCkpt cannot tell them for this file; set them with --set");
            }
        }

        return ExitCodes.Success;
    }

    private static int Show(Terminal terminal, string path, bool full, bool json)
    {
        (IReadOnlyDictionary<string, string> metadata, long headerLength) = MetadataEditor.Read(path);
        IReadOnlyList<MetadataGroup> groups = MetadataGroups.Of(metadata);
        IReadOnlyList<TrainingDataset>? datasets = KohyaTraining.Datasets(metadata);
        (IReadOnlyList<string> Words, string Rule)? trigger = KohyaTraining.TriggerWords(metadata, datasets);
        MergeRecipe? merge = MergeRecipe.Parse(metadata);
        if (json)
        {
            JsonOutput.Write(terminal.Out, w => WriteJson(w, path, headerLength, metadata, groups, datasets, trigger, merge));
            return ExitCodes.Success;
        }

        TextWriter o = terminal.Out;
        o.WriteLine($"File:     {path}");
        o.WriteLine($"Header:   {Format.Count(headerLength)} bytes, {Format.Count(metadata.Count)} metadata {(metadata.Count == 1 ? "key" : "keys")}");
        if (metadata.Count == 0)
        {
            o.WriteLine("Metadata: (none)");
            return ExitCodes.Success;
        }

        foreach (MetadataGroup g in groups)
        {
            o.WriteLine();
            terminal.WriteLine($"{g.Title}:", Palette.Header);
            switch (g.Id)
            {
                case "modelspec":
                    WriteModelSpec(o, metadata, g.Keys, full);
                    break;
                case "kohya":
                    WriteKohya(o, metadata, g.Keys, datasets, trigger, full);
                    break;
                case "a1111-merge":
                    WriteMerge(o, metadata, g.Keys, merge, full);
                    break;
                default:
                    WriteKeys(o, metadata, g.Keys, full);
                    break;
            }
        }

        if (trigger is { } t && !groups.Any(g => g.Id == "kohya"))
        {
            o.WriteLine();
            o.WriteLine($"Trigger words: {string.Join(", ", t.Words.Select(Format.Safe))} (from {t.Rule})");
        }

        return ExitCodes.Success;
    }

    private static void WriteModelSpec(TextWriter o, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<string> keys, bool full)
    {
        var rows = new List<(string Label, string Key)>();
        foreach ((string key, string label) in ModelSpecFields.Labels)
        {
            if (metadata.ContainsKey(key))
            {
                rows.Add((label, key));
            }
        }

        rows.AddRange(keys.Where(k => !ModelSpecFields.Labels.Any(l => l.Key == k)).Select(k => (k[ModelSpecFields.Prefix.Length..], k)));
        foreach ((string label, string key) in rows)
        {
            Row(o, label, metadata[key], full);
        }

        if (!metadata.ContainsKey(ModelSpecFields.Version))
        {
            o.WriteLine("  (no modelspec.sai_model_spec: the file does not claim the spec; --modelspec fills it)");
        }
    }

    private static void WriteKohya(TextWriter o, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<string> keys, IReadOnlyList<TrainingDataset>? datasets, (IReadOnlyList<string> Words, string Rule)? trigger, bool full)
    {
        o.WriteLine(trigger is { } t
            ? $"  Trigger words: {string.Join(", ", t.Words.Select(Format.Safe))} (from {t.Rule})"
            : "  Trigger words: none recorded (no modelspec.trigger_phrase, no <repeats>_<name> dataset folder)");
        if (datasets is not null)
        {
            foreach (TrainingDataset d in datasets)
            {
                string size = (d.Images, d.Repeats) switch
                {
                    (long i, long n) => $"{Format.Count(i)} images x {Format.Count(n)} repeats, ",
                    (long i, null) => $"{Format.Count(i)} images, ",
                    _ => string.Empty,
                };
                o.WriteLine($"  Dataset {Format.Safe(d.Name)}: {size}{Format.Count(d.Tags.Count)} distinct tags");
                WriteTags(o, d.Tags, full);
            }

            if (datasets.Count > 1)
            {
                IReadOnlyList<TagCount> all = KohyaTraining.AllTags(datasets);
                o.WriteLine($"  All datasets: {Format.Count(all.Count)} distinct tags");
                WriteTags(o, all, full);
            }
        }
        else if (metadata.ContainsKey(KohyaTraining.TagFrequency))
        {
            o.WriteLine($"  ({KohyaTraining.TagFrequency} is not the JSON object kohya writes; shown as it is below)");
        }

        IEnumerable<string> rest = datasets is null ? keys : keys.Where(k => k is not (KohyaTraining.TagFrequency or KohyaTraining.DatasetDirs));
        WriteKeys(o, metadata, [.. rest], full);
    }

    private static void WriteTags(TextWriter o, IReadOnlyList<TagCount> tags, bool full)
    {
        if (tags.Count == 0)
        {
            return;
        }

        IEnumerable<TagCount> shown = full ? tags : tags.Take(TopTags);
        string more = !full && tags.Count > TopTags ? $", ... {Format.Count(tags.Count - TopTags)} more (--full)" : string.Empty;
        o.WriteLine($"    {string.Join(", ", shown.Select(t => $"{Format.Safe(t.Tag)} ({Format.Count(t.Count)})"))}{more}");
    }

    private static void WriteMerge(TextWriter o, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<string> keys, MergeRecipe? merge, bool full)
    {
        if (merge is null)
        {
            WriteKeys(o, metadata, keys, full);
            return;
        }

        string method = merge.Method is null ? "(method not recorded)" : Format.Safe(merge.Method);
        o.WriteLine($"  Merge:   {method}{(merge.Multiplier is { } m ? $", multiplier {Format.Safe(m)}" : string.Empty)}{(merge.Type is { } t ? $" (by {Format.Safe(t)})" : string.Empty)}");
        foreach (MergeInput input in merge.Inputs)
        {
            string legacy = input.LegacyHash is { } h ? $" [{Format.Safe(h)}]" : string.Empty;
            o.WriteLine($"  {input.Role}:       {Format.Safe(input.Name ?? "(name not recorded)")}{legacy}, SHA-256 {Format.Safe(input.Sha256)}");
        }

        if (merge.Settings.Count > 0)
        {
            o.WriteLine($"  Settings: {Shown(string.Join(", ", merge.Settings.Select(s => $"{s.Key}={s.Value}")), full)}");
        }

        if (merge.RecordedModels > 0)
        {
            o.WriteLine($"  History: {Format.Count(merge.RecordedModels)} models recorded in {MergeRecipe.ModelsKey}, {Format.Count(merge.EarlierMerges)} of them merges themselves (--json has them)");
        }
    }

    private static void WriteKeys(TextWriter o, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<string> keys, bool full)
    {
        foreach (string k in keys)
        {
            Row(o, k, metadata[k], full);
        }
    }

    private static void Row(TextWriter o, string label, string value, bool full)
    {
        string shown = Shown(value, full);
        o.WriteLine($"  {Format.Safe(label),-22} {shown.ReplaceLineEndings(Environment.NewLine + new string(' ', 25))}");
    }

    /// <summary>A value for the terminal: control characters escaped (a file cannot move the cursor or recolour the screen), cut at 100 characters unless <paramref name="full"/> (which keeps line breaks).</summary>
    internal static string Shown(string value, bool full)
    {
        if (full)
        {
            return string.Join("\n", value.ReplaceLineEndings("\n").Split('\n').Select(Format.Safe));
        }

        string one = Format.Safe(value.ReplaceLineEndings(" "));
        return one.Length <= ShownLength ? one : $"{one[..(ShownLength - 3)]}... ({Format.Count(value.Length)} chars; --full shows all)";
    }


    private static void WriteJson(Utf8JsonWriter w, string path, long headerLength, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<MetadataGroup> groups, IReadOnlyList<TrainingDataset>? datasets, (IReadOnlyList<string> Words, string Rule)? trigger, MergeRecipe? merge)
    {
        w.WriteString("file", path);
        w.WriteString("format", "safetensors");
        w.WriteNumber("headerBytes", headerLength);
        w.WriteStartObject("metadata");
        foreach (string k in metadata.Keys.Order(StringComparer.Ordinal))
        {
            w.WriteString(k, metadata[k]);
        }

        w.WriteEndObject();
        w.WriteStartObject("parsed");
        w.WriteStartObject("groups");
        foreach (MetadataGroup g in groups)
        {
            JsonOutput.WriteStrings(w, g.Id, g.Keys);
        }

        w.WriteEndObject();
        if (trigger is { } t)
        {
            w.WriteStartObject("triggerWords");
            JsonOutput.WriteStrings(w, "words", t.Words);
            w.WriteString("rule", t.Rule);
            w.WriteEndObject();
        }

        if (datasets is not null)
        {
            w.WriteStartArray("datasets");
            foreach (TrainingDataset d in datasets)
            {
                w.WriteStartObject();
                w.WriteString("name", d.Name);
                w.WriteString("identifier", d.Identifier);
                WriteNumberOrNull(w, "images", d.Images);
                WriteNumberOrNull(w, "repeats", d.Repeats);
                WriteTagsJson(w, "tags", d.Tags);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            WriteTagsJson(w, "allTags", KohyaTraining.AllTags(datasets));
        }

        if (merge is not null)
        {
            w.WriteStartObject("mergeRecipe");
            w.WriteString("type", merge.Type);
            w.WriteString("method", merge.Method);
            w.WriteString("multiplier", merge.Multiplier);
            w.WriteStartArray("models");
            foreach (MergeInput i in merge.Inputs)
            {
                w.WriteStartObject();
                w.WriteString("role", i.Role);
                w.WriteString("sha256", i.Sha256);
                w.WriteString("name", i.Name);
                w.WriteString("legacyHash", i.LegacyHash);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("settings");
            foreach ((string k, string v) in merge.Settings)
            {
                w.WriteString(k, v);
            }

            w.WriteEndObject();
            w.WriteNumber("recordedModels", merge.RecordedModels);
            w.WriteNumber("earlierMerges", merge.EarlierMerges);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static void WriteTagsJson(Utf8JsonWriter w, string name, IReadOnlyList<TagCount> tags)
    {
        w.WriteStartArray(name);
        foreach (TagCount t in tags)
        {
            w.WriteStartObject();
            w.WriteString("tag", t.Tag);
            w.WriteNumber("count", t.Count);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteNumberOrNull(Utf8JsonWriter w, string name, long? value)
    {
        if (value is long v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static string ModeName(MetadataWriteMode mode) => mode switch
    {
        MetadataWriteMode.Unchanged => "unchanged",
        MetadataWriteMode.HeaderInPlace => "in-place",
        MetadataWriteMode.FileRewritten => "rewritten",
        _ => "copied",
    };

    /// <summary>Whether a key matches a --keep/--unset pattern: equal, or starting with the text before a final <c>*</c>.</summary>
    private static bool Matches(string pattern, string key) =>
        pattern.EndsWith('*') ? key.StartsWith(pattern[..^1], StringComparison.Ordinal) : key == pattern;

    /// <summary>
    /// Reads a <c>--from</c> file: one JSON object of string values, or the object <c>meta --json</c> prints (its
    /// <c>metadata</c> member is taken).
    /// </summary>
    private static Dictionary<string, string> ReadFromFile(string file)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--from {file}: cannot read the file ({ex.Message})");
        }

        JsonElement root;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
            root = doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new UsageException($"--from {file}: not valid JSON ({ex.Message.Split('.')[0]})");
        }

        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("metadata", out JsonElement inner) && inner.ValueKind == JsonValueKind.Object && root.TryGetProperty("file", out _))
        {
            root = inner;
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new UsageException($"--from {file}: must hold one JSON object of string values, like {{\"modelspec.title\": \"My model\"}}");
        }

        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty p in root.EnumerateObject())
        {
            if (p.Name.Length == 0)
            {
                throw new UsageException($"--from {file}: a key is empty; every metadata key needs a name");
            }

            if (p.Value.ValueKind != JsonValueKind.String)
            {
                string kind = p.Value.ValueKind.ToString().ToLowerInvariant();
                throw new UsageException($"--from {file}: the value of \"{p.Name}\" is a {kind}; safetensors metadata values must be strings, so quote it (\"{p.Name}\": \"...\")");
            }

            if (!map.TryAdd(p.Name, p.Value.GetString()!))
            {
                throw new UsageException($"--from {file}: the key \"{p.Name}\" appears twice");
            }
        }

        return map;
    }

    /// <summary>Installs the test pause of <see cref="PauseVariable"/>, if set.</summary>
    private static void InstallPause()
    {
        if (Environment.GetEnvironmentVariable(PauseVariable) is not { Length: > 0 } spec || spec.Split(':', 2) is not [string step, string marker]
            || !Enum.TryParse(step, out MetadataEditStep at))
        {
            return;
        }

        MetadataEditor.StepHook = s =>
        {
            if (s == at)
            {
                File.WriteAllText(marker, s.ToString());
                Interrupt.Token.WaitHandle.WaitOne();
            }
        };
    }

    /// <summary>The edits asked for on the command line.</summary>
    private sealed record Edits(string[] Set, string[] Unset, bool Strip, string[] Keep, string? From, bool ModelSpec)
    {
        public bool Any => Set.Length > 0 || Unset.Length > 0 || Strip || Keep.Length > 0 || From is not null || ModelSpec;

        public Dictionary<string, string> ParseSets()
        {
            if (Keep.Length > 0 && !Strip)
            {
                throw new UsageException("--keep names what --strip keeps; add --strip (or use --unset to remove keys)");
            }

            var sets = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string s in Set)
            {
                int eq = s.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    throw new UsageException(eq == 0 ? $"--set '{s}': the key is empty" : $"--set '{s}': write KEY=VALUE (VALUE may be empty)");
                }

                sets[s[..eq]] = s[(eq + 1)..];
            }

            foreach (string u in Unset)
            {
                if (u.Length == 0 || u == "*" && !Strip)
                {
                    throw new UsageException(u.Length == 0 ? "--unset needs a key" : "--unset '*' removes everything; say --strip instead");
                }

                if (sets.Keys.FirstOrDefault(k => Matches(u, k)) is { } both)
                {
                    throw new UsageException($"'{both}' is both set (--set) and removed (--unset '{u}'); choose one");
                }
            }

            return sets;
        }
    }
}
