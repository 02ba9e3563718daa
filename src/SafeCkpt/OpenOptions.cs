namespace SafeCkpt;

/// <summary>
/// Read budgets for <see cref="ModelFile.Open(string, OpenOptions)"/>: limits a hostile file could otherwise push to
/// exhaust memory or disk, each with a default no real model comes near.
/// </summary>
public sealed class OpenOptions
{
    /// <summary>The defaults.</summary>
    public static OpenOptions Default { get; } = new();

    /// <summary>
    /// How many times a tensor view may repeat the elements it stores (a stride-0 or overlapping view written by
    /// torch.save from an expanded tensor): one stored float of a stride-0 view can otherwise describe gigabytes of
    /// output. Views whose data is at most 64 MiB are never limited. Default 16; raise it only for a file you trust.
    /// </summary>
    public int MaxViewExpansion { get; init; } = 16;
}
