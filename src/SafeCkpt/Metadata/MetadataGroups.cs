namespace SafeCkpt.Metadata;

/// <summary>A group of metadata keys shown together: an id for JSON, a heading for people, the keys in ordinal order.</summary>
internal sealed record MetadataGroup(string Id, string Title, IReadOnlyList<string> Keys);

/// <summary>
/// How metadata keys are grouped for display: ModelSpec (<c>modelspec.*</c>), kohya training (<c>ss_*</c>,
/// <c>sshs_*</c>), the A1111 merge recipe (<c>sd_merge_recipe</c>, <c>sd_merge_models</c>), then any other
/// namespace (the part of a key before its first dot, e.g. <c>safeckpt.*</c>), then keys with no namespace.
/// </summary>
internal static class MetadataGroups
{
    public static IReadOnlyList<MetadataGroup> Of(IReadOnlyDictionary<string, string> metadata)
    {
        var known = new List<(string Id, string Title, Func<string, bool> Owns)>
        {
            ("modelspec", "ModelSpec (modelspec.*)", k => k.StartsWith(ModelSpecFields.Prefix, StringComparison.Ordinal)),
            ("kohya", "kohya training (ss_*)", KohyaTraining.Owns),
            ("a1111-merge", "A1111 merge (sd_merge_recipe, sd_merge_models)", MergeRecipe.Owns),
        };
        var groups = new List<MetadataGroup>();
        var rest = new List<string>();
        var keys = metadata.Keys.Order(StringComparer.Ordinal).ToList();
        foreach ((string id, string title, Func<string, bool> owns) in known)
        {
            List<string> mine = keys.Where(owns).ToList();
            if (mine.Count > 0)
            {
                groups.Add(new MetadataGroup(id, title, mine));
            }
        }

        foreach (IGrouping<string, string> ns in keys.Where(k => !known.Any(g => g.Owns(k))).GroupBy(Namespace))
        {
            if (ns.Key.Length == 0)
            {
                rest.AddRange(ns);
            }
            else
            {
                groups.Add(new MetadataGroup(ns.Key, ns.Key + ".*", [.. ns]));
            }
        }

        if (rest.Count > 0)
        {
            groups.Add(new MetadataGroup("other", "Other keys", rest));
        }

        return groups;
    }

    /// <summary>The part of a key before its first dot, or empty when it has none (or starts with one).</summary>
    private static string Namespace(string key)
    {
        int dot = key.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 ? key[..dot] : string.Empty;
    }
}
