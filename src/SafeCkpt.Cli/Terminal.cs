using Spectre.Console;
using Spectre.Console.Rendering;

namespace SafeCkpt.Cli;

/// <summary>
/// The tool's two streams and how to write to each. A stream on a terminal is rich (restrained colour, a live
/// progress line, tables drawn to the window's width); a redirected stream, <c>NO_COLOR</c> or <c>TERM=dumb</c> make
/// it plain: no escape code, no redraw, tables as aligned text that never wraps, so logs and pipes read line by line.
/// </summary>
internal sealed class Terminal
{
    /// <summary>The width plain tables are laid out in: wide enough that no cell ever wraps.</summary>
    private const int PlainWidth = 100_000;

    private readonly IAnsiConsole? _outConsole;
    private readonly IAnsiConsole? _errConsole;

    /// <summary>Creates a terminal over two writers; <paramref name="outRich"/> and <paramref name="errRich"/> say which are terminals to draw on.</summary>
    public Terminal(TextWriter stdout, TextWriter stderr, bool outRich, bool errRich)
        : this(stdout, stderr, outRich ? Rich(stdout) : null, errRich ? Rich(stderr) : null)
    {
    }

    /// <summary>Creates a terminal that draws with the given consoles (null: that stream is plain).</summary>
    internal Terminal(TextWriter stdout, TextWriter stderr, IAnsiConsole? outConsole, IAnsiConsole? errConsole)
    {
        Out = stdout;
        Err = stderr;
        _outConsole = outConsole;
        _errConsole = errConsole;
    }

    /// <summary>Standard output: results.</summary>
    public TextWriter Out { get; }

    /// <summary>Standard error: progress, notes and errors.</summary>
    public TextWriter Err { get; }

    /// <summary>Whether standard output is a terminal drawn in colour.</summary>
    public bool OutIsRich => _outConsole is not null;

    /// <summary>Whether standard error is a terminal that can show a live progress line.</summary>
    public bool ErrIsRich => _errConsole is not null;

    /// <summary>The width of the terminal standard output is drawn on; null when it is plain (its lines never wrap).</summary>
    public int? OutWidth => _outConsole?.Profile.Width;

    /// <summary>The console that draws on standard error, when it is a terminal.</summary>
    public IAnsiConsole? ErrConsole => _errConsole;

    /// <summary>The width help text is wrapped to: the window's on a terminal, 100 columns otherwise.</summary>
    public int HelpWidth => _outConsole is { } c ? Math.Max(40, c.Profile.Width) : 100;

    /// <summary>The process's console: rich where a stream is a terminal and nothing in the environment asks for plain text.</summary>
    public static Terminal ForConsole()
    {
        bool plain = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"))
            || string.Equals(Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal);
        return new Terminal(Console.Out, Console.Error, !plain && !Console.IsOutputRedirected, !plain && !Console.IsErrorRedirected);
    }

    /// <summary>Plain text on both writers (tests, and any caller that is not a console).</summary>
    public static Terminal Plain(TextWriter stdout, TextWriter stderr) => new(stdout, stderr, outRich: false, errRich: false);

    /// <summary>Writes a line of results, in <paramref name="style"/> on a terminal.</summary>
    public void WriteLine(string text, Style? style = null)
    {
        if (_outConsole is { } c && style is not null)
        {
            c.Write(Line((text, style)));
        }
        else
        {
            Out.WriteLine(text);
        }
    }

    /// <summary>Writes a label and a value that carries a verdict (green, yellow or red on a terminal).</summary>
    public void WriteLine(string label, string value, Style? style)
    {
        if (_outConsole is { } c && style is not null)
        {
            c.Write(Line((label, null), (value, style)));
        }
        else
        {
            Out.WriteLine(label + value);
        }
    }

    /// <summary>Writes a table to standard output: bordered and fitted to the window on a terminal, aligned plain text otherwise.</summary>
    public void Write(Table table)
    {
        if (_outConsole is { } c)
        {
            c.Write(table.Border(TableBorder.Minimal).BorderStyle(Palette.Border));
            return;
        }

        table.Border(TableBorder.None).ShowHeaders();
        for (int i = 0; i < table.Columns.Count; i++)
        {
            table.Columns[i].Padding(0, 0, i == table.Columns.Count - 1 ? 0 : 2, 0);
        }

        foreach (string line in RenderPlain(table))
        {
            Out.WriteLine(line);
        }
    }

    /// <summary>A table with these column headers; a name starting with '>' is right-aligned (numbers).</summary>
    public static Table Table(params string[] columns)
    {
        var table = new Table();
        foreach (string name in columns)
        {
            bool right = name.StartsWith('>');
            var column = new TableColumn(new Text(right ? name[1..] : name, Palette.Header));
            table.AddColumn(right ? column.RightAligned() : column);
        }

        return table;
    }

    /// <summary>Writes an error line to standard error: <c>safeckpt: message</c>, the prefix in red on a terminal.</summary>
    public void Error(string message)
    {
        if (_errConsole is { } c)
        {
            c.Write(Line(("safeckpt: ", Palette.Bad), (message, null)));
        }
        else
        {
            Err.WriteLine("safeckpt: " + message);
        }
    }

    /// <summary>Writes a line to standard error (a hint, a note), dimmed on a terminal.</summary>
    public void Note(string message)
    {
        if (_errConsole is { } c)
        {
            c.Write(Line((message, Palette.Dim)));
        }
        else
        {
            Err.WriteLine(message);
        }
    }

    /// <summary>The lines of a renderable laid out as plain text, each without trailing blanks.</summary>
    internal static IEnumerable<string> RenderPlain(IRenderable renderable)
    {
        using var buffer = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        IAnsiConsole plain = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(buffer),
            Enrichment = new ProfileEnrichment { UseDefaultEnrichers = false },
        });
        plain.Profile.Width = PlainWidth;
        plain.Write(renderable);
        return buffer.ToString().ReplaceLineEndings("\n").TrimEnd('\n').Split('\n').Select(l => l.TrimEnd());
    }

    /// <summary>
    /// One line as one renderable: written in one piece, it goes above a live progress line intact (written in
    /// parts, the progress line would be redrawn between them).
    /// </summary>
    private static Paragraph Line(params (string Text, Style? Style)[] parts)
    {
        var p = new Paragraph();
        foreach ((string text, Style? style) in parts)
        {
            p.Append(text, style);
        }

        return p.Append("\n");
    }

    private static IAnsiConsole Rich(TextWriter writer) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = AnsiSupport.Detect,
        ColorSystem = ColorSystemSupport.Detect,
        Interactive = InteractionSupport.Yes,
        Out = new AnsiConsoleOutput(writer),
        Enrichment = new ProfileEnrichment { UseDefaultEnrichers = false },
    });
}

/// <summary>The few styles the tool uses on a terminal: one colour per kind of verdict, dim for what is secondary.</summary>
internal static class Palette
{
    public static readonly Style Good = new(Color.Green);
    public static readonly Style Warn = new(Color.Yellow);
    public static readonly Style Bad = new(Color.Red, decoration: Decoration.Bold);
    public static readonly Style Dim = new(decoration: Decoration.Dim);
    public static readonly Style Header = new(decoration: Decoration.Bold);
    public static readonly Style Border = new(Color.Grey);

    /// <summary>The style of an exit code's verdict.</summary>
    public static Style ForExitCode(int code) => code switch
    {
        ExitCodes.Success => Good,
        ExitCodes.Unsafe => Bad,
        _ => Warn,
    };
}
