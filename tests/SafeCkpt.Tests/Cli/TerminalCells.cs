using System.Text.RegularExpressions;
using Spectre.Console;

namespace SafeCkpt.Tests.Cli;

/// <summary>What a terminal shows of captured output: escape codes removed, redrawn lines split, widths in cells.</summary>
internal static partial class TerminalCells
{
    /// <summary>A console that draws as a colour terminal of <paramref name="width"/> columns into <paramref name="buffer"/>.</summary>
    public static IAnsiConsole Console(StringWriter buffer, int width)
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.Standard,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(buffer),
        });
        console.Profile.Width = width;
        console.Profile.Capabilities.Unicode = true;
        return console;
    }

    /// <summary>Every line drawn: escape sequences removed, split at line feeds and carriage returns.</summary>
    public static string[] Lines(string captured) =>
        Escape().Replace(captured, string.Empty).Split('\n', '\r').Where(l => l.Length > 0).ToArray();

    /// <summary>Columns a string takes: East Asian wide characters take two.</summary>
    public static int Width(string s) => s.Sum(c => Wide(c) ? 2 : 1);

    private static bool Wide(char c) =>
        c is (>= '\u1100' and <= '\u115F') or (>= '\u2E80' and <= '\uA4CF') or (>= '\uAC00' and <= '\uD7A3') or (>= '\uF900' and <= '\uFAFF') or (>= '\uFE30' and <= '\uFE4F') or (>= '\uFF00' and <= '\uFF60') or (>= '\uFFE0' and <= '\uFFE6');

    [GeneratedRegex(@"\x1b\[[0-9;?]*[A-Za-z]")]
    private static partial Regex Escape();
}
