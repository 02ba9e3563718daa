using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace SafeCkpt.Cli;

/// <summary>The options several commands share, each made anew per command so its help text can say what it does there.</summary>
internal static class Opt
{
    /// <summary><c>-j, --json</c>.</summary>
    public static Option<bool> Json(string what) => new("--json", "-j")
    {
        Description = what + " A failure prints an error object instead: {\"code\", \"message\", \"file\", \"offset\", \"tensor\"}.",
    };

    /// <summary><c>-q, --quiet</c>.</summary>
    public static Option<bool> Quiet(string what) => new("--quiet", "-q") { Description = what };

    /// <summary><c>-r, --recursive</c>.</summary>
    public static Option<bool> Recursive() => new("--recursive", "-r")
    {
        Description = "Look for model files (.safetensors, .ckpt, .pt, .pth, .bin, .gguf) in the subfolders of each DIR too. Symlinked folders are not followed; no folder is visited twice.",
    };

    /// <summary><c>--max-expansion N</c>.</summary>
    public static Option<int?> MaxExpansion() => new("--max-expansion")
    {
        HelpName = "N",
        Description = "Let a tensor view repeat its stored elements up to N times [default: 16]. A stride-0 view of one float could otherwise become gigabytes.",
        CustomParser = r => WholeNumber(r, "--max-expansion", 1),
    };

    /// <summary>The FILE and DIR arguments of a command that takes many (at least one).</summary>
    public static Argument<string[]> Paths(string description) => new("FILE|DIR")
    {
        Description = description,
        Arity = ArgumentArity.OneOrMore,
    };

    /// <summary>
    /// The value of <paramref name="option"/> in a validator, or the default when the value itself is invalid (its
    /// own error is reported then; System.CommandLine throws on reading it).
    /// </summary>
    public static T? ValueOrDefault<T>(CommandResult result, Option<T> option)
    {
        try
        {
            return result.GetValue(option);
        }
        catch (InvalidOperationException)
        {
            return default;
        }
    }

    /// <summary>The value of <paramref name="argument"/> in a validator, or the default when the value itself is invalid.</summary>
    public static T? ValueOrDefault<T>(CommandResult result, Argument<T> argument)
    {
        try
        {
            return result.GetValue(argument);
        }
        catch (InvalidOperationException)
        {
            return default;
        }
    }

    /// <summary>An option value that must be a whole number of at least <paramref name="min"/>.</summary>
    public static int? WholeNumber(ArgumentResult r, string option, int min)
    {
        string text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : string.Empty;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int x) && x >= min)
        {
            return x;
        }

        r.AddError($"{option} needs a whole number of at least {min}, not '{text}'");
        return null;
    }
}
