using SafeCkpt.Cli;

namespace SafeCkpt.Tests.Cli;

/// <summary>The live progress line on a terminal, and the quarter lines when standard error is plain.</summary>
public class ProgressDisplayTests
{
    [Fact]
    public void On_a_50_column_terminal_the_live_line_never_wraps_and_is_cleared_at_the_end()
    {
        using var buffer = new StringWriter();
        var terminal = new Terminal(TextWriter.Null, buffer, null, TerminalCells.Console(buffer, 50));
        using (ProgressDisplay progress = ProgressDisplay.Start(terminal, "[2/5] 模型/stable-diffusion/v1-5-pruned.safetensors", 4_000_000_000, ProgressUnit.Bytes, silent: false))
        {
            for (int i = 1; i <= 15; i++)
            {
                progress.Report(i * 200_000_000L);
                Thread.Sleep(100);
            }
        }

        string[] drawn = TerminalCells.Lines(buffer.ToString());
        Assert.Contains(drawn, l => l.Contains('%', StringComparison.Ordinal) && l.Contains(" left", StringComparison.Ordinal));
        Assert.All(drawn, l => Assert.True(TerminalCells.Width(l) < 50, $"wider than the terminal: '{l}'"));
    }

    [Fact]
    public void Work_that_ends_within_half_a_second_draws_nothing()
    {
        using var buffer = new StringWriter();
        var terminal = new Terminal(TextWriter.Null, buffer, null, TerminalCells.Console(buffer, 80));
        using (ProgressDisplay progress = ProgressDisplay.Start(terminal, "quick", 100, ProgressUnit.Bytes, silent: false))
        {
            progress.Report(100);
        }

        Assert.Empty(buffer.ToString());
    }

    [Fact]
    public void A_plain_standard_error_gets_a_line_at_each_quarter()
    {
        using var err = new StringWriter();
        using (ProgressDisplay progress = ProgressDisplay.Start(Terminal.Plain(TextWriter.Null, err), "x", 1000, ProgressUnit.Bytes, silent: false))
        {
            foreach (long done in new long[] { 100, 260, 500, 740, 999, 1000 })
            {
                progress.Report(done);
            }
        }

        string[] lines = err.ToString().TrimEnd().Split('\n');
        Assert.Equal(["progress: 25%", "progress: 50%", "progress: 75%", "progress: 100%"], lines.Select(l => l[..l.IndexOf(' ', 10)]));
        Assert.StartsWith("progress: 100% (1.00 KB of 1.00 KB, ", lines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void Silent_shows_nothing_anywhere()
    {
        using var err = new StringWriter();
        using (ProgressDisplay progress = ProgressDisplay.Start(Terminal.Plain(TextWriter.Null, err), "x", 10, ProgressUnit.Bytes, silent: true))
        {
            progress.Report(10);
        }

        Assert.Empty(err.ToString());
    }
}
