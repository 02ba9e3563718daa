namespace SafeCkpt.Metadata;

/// <summary>What <see cref="SafetensorsMetadata.Edit"/> did.</summary>
public sealed class MetadataEditResult
{
    internal MetadataEditResult(string path, MetadataWriteMode mode, IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after, long headerBefore, long headerAfter)
    {
        Path = path;
        Mode = mode;
        Before = before;
        After = after;
        HeaderLengthBefore = headerBefore;
        HeaderLengthAfter = headerAfter;
    }

    /// <summary>The file written: the input, or <see cref="MetadataEditOptions.OutputPath"/>.</summary>
    public string Path { get; }

    /// <summary>How it was written.</summary>
    public MetadataWriteMode Mode { get; }

    /// <summary>The metadata before the edit.</summary>
    public IReadOnlyDictionary<string, string> Before { get; }

    /// <summary>The metadata the written file holds.</summary>
    public IReadOnlyDictionary<string, string> After { get; }

    /// <summary>The header length N (the u64 the file starts with) before the edit.</summary>
    public long HeaderLengthBefore { get; }

    /// <summary>The header length N of the written file; equal to <see cref="HeaderLengthBefore"/> when the header was rewritten in place.</summary>
    public long HeaderLengthAfter { get; }

    /// <summary>The keys whose value was added or changed, in ordinal order.</summary>
    public IReadOnlyList<string> Changed => [.. After.Where(kv => !Before.TryGetValue(kv.Key, out string? v) || v != kv.Value).Select(kv => kv.Key).Order(StringComparer.Ordinal)];

    /// <summary>The keys removed, in ordinal order.</summary>
    public IReadOnlyList<string> Removed => [.. Before.Keys.Where(k => !After.ContainsKey(k)).Order(StringComparer.Ordinal)];

    /// <summary>
    /// What a leftover undo journal of an earlier, interrupted edit did before this edit ran ("restored the old
    /// header", ...), or null when there was none.
    /// </summary>
    public string? Recovery { get; internal init; }
}
