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

    /// <summary>Receives progress while saving (bytes written so far and in all), if set.</summary>
    public IProgress<SaveProgress>? Progress { get; init; }
}

/// <summary>A progress report while saving.</summary>
/// <param name="BytesWritten">Tensor bytes written so far.</param>
/// <param name="TotalBytes">Tensor bytes to write in all.</param>
/// <param name="CurrentTensor">The tensor being written.</param>
public readonly record struct SaveProgress(long BytesWritten, long TotalBytes, string CurrentTensor);
