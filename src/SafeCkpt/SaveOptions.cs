namespace SafeCkpt;

/// <summary>How to write an output file.</summary>
public sealed class SaveOptions
{
    /// <summary>The defaults: never overwrite, no flush to disk.</summary>
    public static SaveOptions Default { get; } = new();

    /// <summary>Replace an existing output file. Off by default: an existing file is an error.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Flush the output to the device before renaming it into place (slower, survives power loss).</summary>
    public bool FlushToDisk { get; init; }

    /// <summary>
    /// Record in a safetensors output where it came from, under <c>safeckpt.*</c> metadata keys: the source's name,
    /// format and hashes (SHA-256, AutoV2, AutoV3), the recipe and any VAE baked in (README, "Provenance"). On by
    /// default for models opened from a file (a model built in code or opened from memory has no source to record);
    /// it costs one read of each input, overlapped with the save. Off: no <c>safeckpt.*</c> key is written, and the
    /// source's own are dropped.
    /// </summary>
    public bool Provenance { get; init; } = true;

    /// <summary>Receives progress while saving (bytes written so far and in all), if set.</summary>
    public IProgress<SaveProgress>? Progress { get; init; }
}

/// <summary>A progress report while saving.</summary>
/// <param name="BytesWritten">Tensor bytes written so far.</param>
/// <param name="TotalBytes">Tensor bytes to write in all.</param>
/// <param name="CurrentTensor">The tensor being written.</param>
public readonly record struct SaveProgress(long BytesWritten, long TotalBytes, string CurrentTensor);
