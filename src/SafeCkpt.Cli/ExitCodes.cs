namespace SafeCkpt.Cli;

/// <summary>The tool's exit codes, the same for every command.</summary>
internal static class ExitCodes
{
    /// <summary>Success (for <c>scan</c>: clean; for <c>diff</c>: the models are the same).</summary>
    public const int Success = 0;

    /// <summary>Wrong command-line usage (for <c>diff</c> also: the models differ).</summary>
    public const int Usage = 1;

    /// <summary><c>diff</c>: the models differ (as <c>diff</c> and <c>cmp</c> say it).</summary>
    public const int Differ = 1;

    /// <summary><c>fit</c>: the LoRA fits the model only partly or not at all.</summary>
    public const int NoFit = 1;

    /// <summary>The input is invalid or unreadable.</summary>
    public const int InvalidInput = 2;

    /// <summary>The input holds content refused as unsafe.</summary>
    public const int Unsafe = 3;

    /// <summary>The output exists, cannot be written, or the disk is full.</summary>
    public const int OutputProblem = 4;

    /// <summary>The exit code of several results: the worst, unsafe first, then output problems, then bad input.</summary>
    public static int Worst(int a, int b) => Rank(a) >= Rank(b) ? a : b;

    /// <summary>The exit code for a library error.</summary>
    public static int Of(SafeCkptException ex) => ex switch
    {
        OutputException => OutputProblem,
        UnsafeCheckpointException => Unsafe,
        _ => InvalidInput,
    };

    private static int Rank(int code) => code switch
    {
        Unsafe => 3,
        OutputProblem => 2,
        InvalidInput => 1,
        _ => 0,
    };
}
