namespace SafeCkpt.Cli;

/// <summary>
/// The library's messages name API parameters (<c>SaveOptions.Overwrite</c>, <c>SelectEma(true)</c>); the tool shows
/// the flags that set them. One table, applied to every error the tool prints.
/// </summary>
internal static class ErrorText
{
    private static readonly (string Api, string Flag)[] Names =
    [
        ("SaveOptions.Overwrite", "--overwrite"),
        ("do not call SelectEma(true)", "omit --ema-only"),
        ("change the transforms (Drop, Prune, Where, ...)", "change the options (--drop, --prune, ...)"),
        ("OpenOptions.MaxViewExpansion", "--max-expansion"),
        ("TensorStore.Tensors", "safeckpt inspect --json"),
    ];

    /// <summary>The message with API names replaced by the tool's flags.</summary>
    public static string ForCli(string message)
    {
        foreach ((string api, string flag) in Names)
        {
            message = message.Replace(api, flag, StringComparison.Ordinal);
        }

        return message;
    }
}
