namespace SafeCkpt.Hashing;

/// <summary>Where the values of a <see cref="ModelHashes"/> came from.</summary>
public enum HashOrigin
{
    /// <summary>Computed now, in one read of the file.</summary>
    Computed,

    /// <summary>Taken from SafeCkpt's hash cache: the file's path, size and modification time matched; the file was not read.</summary>
    Cache,

    /// <summary>
    /// SHA256 (and, for a LoRA, AutoV3) taken from AUTOMATIC1111's <c>cache.json</c>, whose entry matched the file's
    /// modification time; the other hashes computed in a read that skipped those SHA-256 passes.
    /// </summary>
    A1111Cache,
}
