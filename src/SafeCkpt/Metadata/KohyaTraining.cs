using System.Text.Json;

namespace SafeCkpt.Metadata;

/// <summary>One tag of a training set and how many captions held it.</summary>
internal readonly record struct TagCount(string Tag, long Count);

/// <summary>One dataset folder of a kohya training run: its tags (most frequent first) and, from <c>ss_dataset_dirs</c>, its repeats and image count.</summary>
internal sealed record TrainingDataset(string Name, IReadOnlyList<TagCount> Tags, long? Repeats, long? Images)
{
    /// <summary>The folder name without kohya's <c>&lt;repeats&gt;_</c> prefix (<c>10_mychar</c> → <c>mychar</c>), or null when it has none.</summary>
    public string? Identifier => KohyaTraining.Identifier(Name);
}

/// <summary>
/// kohya sd-scripts' training metadata (<c>ss_*</c> keys, train_network.py): <c>ss_tag_frequency</c> is a JSON string
/// <c>{"dataset folder": {"tag": count}}</c> (tags lowercased and stripped by <c>set_tag_frequency</c>), and
/// <c>ss_dataset_dirs</c> is <c>{"dataset folder": {"n_repeats": n, "img_count": n}}</c>.
/// </summary>
internal static class KohyaTraining
{
    /// <summary>The prefix of kohya's training keys (and <c>sshs_</c>, its hashes).</summary>
    public const string Prefix = "ss_";

    /// <summary>The tag frequency key.</summary>
    public const string TagFrequency = "ss_tag_frequency";

    /// <summary>The dataset folders key.</summary>
    public const string DatasetDirs = "ss_dataset_dirs";

    /// <summary>Whether a key is kohya's (<c>ss_*</c>, <c>sshs_*</c>).</summary>
    public static bool Owns(string key) => key.StartsWith(Prefix, StringComparison.Ordinal) || key.StartsWith("sshs_", StringComparison.Ordinal);

    /// <summary>The datasets of <c>ss_tag_frequency</c>, in file order, each with its tags most frequent first; null when the key is absent or not that JSON shape.</summary>
    public static IReadOnlyList<TrainingDataset>? Datasets(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(TagFrequency, out string? text) || ParseObject(text) is not { } frequency)
        {
            return null;
        }

        JsonElement? dirs = metadata.TryGetValue(DatasetDirs, out string? d) ? ParseObject(d) : null;
        var datasets = new List<TrainingDataset>();
        foreach (JsonProperty set in frequency.EnumerateObject())
        {
            if (set.Value.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var tags = new List<TagCount>();
            foreach (JsonProperty tag in set.Value.EnumerateObject())
            {
                if (Number(tag.Value) is long count)
                {
                    tags.Add(new TagCount(tag.Name.Trim(), count));
                }
            }

            long? repeats = null, images = null;
            if (dirs is { } all && all.TryGetProperty(set.Name, out JsonElement info) && info.ValueKind == JsonValueKind.Object)
            {
                repeats = info.TryGetProperty("n_repeats", out JsonElement r) ? Number(r) : null;
                images = info.TryGetProperty("img_count", out JsonElement i) ? Number(i) : null;
            }

            datasets.Add(new TrainingDataset(set.Name, Ordered(tags), repeats, images));
        }

        return datasets;
    }

    /// <summary>Every dataset's tags summed (as A1111's LoRA card lists "training dataset tags"), most frequent first, ties by name.</summary>
    public static IReadOnlyList<TagCount> AllTags(IReadOnlyList<TrainingDataset> datasets)
    {
        var sums = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (TagCount t in datasets.SelectMany(d => d.Tags))
        {
            sums[t.Tag] = sums.GetValueOrDefault(t.Tag) + t.Count;
        }

        return Ordered(sums.Select(kv => new TagCount(kv.Key, kv.Value)));
    }

    /// <summary>
    /// The trigger words and the rule that found them: <c>modelspec.trigger_phrase</c> when set; otherwise the
    /// dataset folder names of <c>ss_tag_frequency</c> without kohya's <c>&lt;repeats&gt;_</c> prefix (the DreamBooth
    /// folder convention <c>10_mychar</c>; model-info tools fill "trained words" from it the same way); otherwise none.
    /// </summary>
    public static (IReadOnlyList<string> Words, string Rule)? TriggerWords(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<TrainingDataset>? datasets)
    {
        if (metadata.TryGetValue(ModelSpecFields.TriggerPhrase, out string? phrase) && phrase.Trim().Length > 0)
        {
            return ([phrase.Trim()], ModelSpecFields.TriggerPhrase);
        }

        List<string> names = datasets?.Select(d => d.Identifier).OfType<string>().Distinct(StringComparer.Ordinal).ToList() ?? [];
        return names.Count > 0 ? (names, "ss_tag_frequency dataset folders <repeats>_<name>") : null;
    }

    /// <summary>The part of a kohya folder name after its <c>&lt;digits&gt;_</c> repeats prefix, or null.</summary>
    internal static string? Identifier(string folder)
    {
        int i = 0;
        while (i < folder.Length && char.IsAsciiDigit(folder[i]))
        {
            i++;
        }

        string? rest = i > 0 && i < folder.Length && folder[i] == '_' ? folder[(i + 1)..].Trim() : null;
        return rest is { Length: > 0 } ? rest : null;
    }

    private static List<TagCount> Ordered(IEnumerable<TagCount> tags) =>
        [.. tags.OrderByDescending(t => t.Count).ThenBy(t => t.Tag, StringComparer.Ordinal)];

    private static long? Number(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Number when e.TryGetInt64(out long n) => n,
        JsonValueKind.Number when e.TryGetDouble(out double x) => (long)x,
        JsonValueKind.String when long.TryParse(e.GetString(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long n) => n,
        _ => null,
    };

    /// <summary>A JSON object held in a metadata string, or null when the string is not one.</summary>
    internal static JsonElement? ParseObject(string text)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 64 });
            return doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.Clone() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
