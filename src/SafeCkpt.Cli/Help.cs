using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Text;

namespace SafeCkpt.Cli;

/// <summary>
/// <c>--help</c>: System.CommandLine's description, usage, arguments and options, then the command's examples and
/// notes (and for <c>safeckpt --help</c> the exit codes).
/// </summary>
internal sealed class HelpWithExamples(HelpAction standard) : SynchronousCommandLineAction
{
    /// <summary>The exit codes, as the root help and the README list them.</summary>
    public static readonly (string Code, string Meaning)[] ExitCodeTable =
    [
        ("0", "success (scan: clean; diff: the same)"),
        ("1", "usage error (diff: the models differ)"),
        ("2", "invalid, unsupported or unreadable input"),
        ("3", "unsafe content refused"),
        ("4", "output problem (exists, not writable, disk full)"),
        ("130, 143", "interrupted by SIGINT (Ctrl-C) or SIGTERM; nothing partial is left"),
    ];

    /// <inheritdoc/>
    public override bool ClearsParseErrors => true;

    /// <summary>How wide the text is wrapped.</summary>
    public int Width { get; init; } = 100;

    /// <inheritdoc/>
    public override int Invoke(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        // System.CommandLine's text, its wrapped lines without the blanks they end with.
        standard.MaxWidth = Width;
        TextWriter o = parseResult.InvocationConfiguration.Output;
        using var buffer = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        parseResult.InvocationConfiguration.Output = buffer;
        int code;
        try
        {
            code = standard.Invoke(parseResult);
        }
        finally
        {
            parseResult.InvocationConfiguration.Output = o;
        }

        foreach (string line in buffer.ToString().ReplaceLineEndings("\n").TrimEnd('\n').Split('\n'))
        {
            o.WriteLine(line.TrimEnd());
        }

        o.WriteLine();
        if (parseResult.CommandResult.Command is not ToolCommand command)
        {
            return code;
        }

        if (command.Examples.Count > 0)
        {
            o.WriteLine("Examples:");
            foreach ((string line, string what) in command.Examples)
            {
                foreach (string l in Wrap(what, Width, "  # "))
                {
                    o.WriteLine(l);
                }

                o.WriteLine("  " + line);
            }

            o.WriteLine();
        }

        foreach ((string heading, string[] paragraphs) in command.Notes)
        {
            o.WriteLine(heading);
            foreach (string l in paragraphs.SelectMany(p => Wrap(p, Width, "  ")))
            {
                o.WriteLine(l);
            }

            o.WriteLine();
        }

        if (command.Parents.Any())
        {
            return code;
        }

        o.WriteLine("Exit codes:");
        int w = ExitCodeTable.Max(e => e.Code.Length);
        foreach ((string c, string meaning) in ExitCodeTable)
        {
            o.WriteLine($"  {c.PadRight(w)}  {meaning}");
        }

        o.WriteLine();
        return code;
    }

    /// <summary>Words of <paramref name="text"/> in lines of at most <paramref name="width"/> characters after <paramref name="indent"/>.</summary>
    internal static IEnumerable<string> Wrap(string text, int width, string indent)
    {
        var line = new StringBuilder(indent);
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > indent.Length && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear().Append(indent);
            }

            if (line.Length > indent.Length)
            {
                line.Append(' ');
            }

            line.Append(word);
        }

        yield return line.ToString();
    }
}
