namespace SafeCkpt.Metadata;

/// <summary>How a metadata edit was written. In every mode the tensor bytes are the same as before, byte for byte.</summary>
public enum MetadataWriteMode
{
    /// <summary>The metadata asked for was already there; nothing was written.</summary>
    Unchanged,

    /// <summary>The new header fit in the old header's bytes and replaced them in place (padded with spaces); the file's length and the data section's offset did not change.</summary>
    HeaderInPlace,

    /// <summary>The new header was larger: the file was written anew beside the old one (the data section copied unchanged) and renamed over it.</summary>
    FileRewritten,

    /// <summary>An edited copy was written to <see cref="MetadataEditOptions.OutputPath"/>; the input was not modified.</summary>
    Copied,
}
