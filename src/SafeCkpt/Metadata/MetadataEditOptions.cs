namespace SafeCkpt.Metadata;

/// <summary>How <see cref="SafetensorsMetadata.Edit"/> writes: in place (the default), or an edited copy.</summary>
public sealed class MetadataEditOptions
{
    /// <summary>The default: edit the file in place.</summary>
    public static MetadataEditOptions Default { get; } = new();

    /// <summary>
    /// Write an edited copy here instead of editing the file; the input is then never modified. Null (the default)
    /// edits in place.
    /// </summary>
    public string? OutputPath { get; init; }

    /// <summary>Replace <see cref="OutputPath"/> if it exists (it may never be the input itself).</summary>
    public bool Overwrite { get; init; }
}
