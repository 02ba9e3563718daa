namespace SafeCkpt.Cli;

/// <summary>The tool's exit codes, the same for every command.</summary>
internal static class ExitCodes
{
    /// <summary>Success (for <c>scan</c>: clean).</summary>
    public const int Success = 0;

    /// <summary>Wrong command-line usage.</summary>
    public const int Usage = 1;

    /// <summary>The input is invalid or unreadable.</summary>
    public const int InvalidInput = 2;

    /// <summary>The input holds content refused as unsafe.</summary>
    public const int Unsafe = 3;

    /// <summary>The output exists, cannot be written, or the disk is full.</summary>
    public const int OutputProblem = 4;
}
