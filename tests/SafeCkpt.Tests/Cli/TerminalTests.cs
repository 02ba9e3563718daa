using SafeCkpt.Cli;
using Spectre.Console;

namespace SafeCkpt.Tests.Cli;

/// <summary>Tables stay aligned for long and wide (East Asian) names: as plain text when redirected, drawn to the width on a terminal.</summary>
public class TerminalTests
{
    private static readonly string[] Names =
    [
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_k.weight",
        "first_stage_model.decoder.conv_in.weight",
        "アニメ風のモデル.埋め込み.weight",
        "w",
    ];

    private static Table Sample()
    {
        Table table = Terminal.Table("NAME", "DTYPE", ">BYTES");
        foreach (string name in Names)
        {
            table.AddRow(new Text(name), new Text("F16"), new Text("1,234,567"));
        }

        return table;
    }

    [Fact]
    public void A_plain_table_aligns_every_column_and_never_wraps()
    {
        using var output = new StringWriter();
        Terminal.Plain(output, TextWriter.Null).Write(Sample());
        string[] lines = output.ToString().TrimEnd().Split('\n');
        Assert.Equal(Names.Length + 1, lines.Length);
        Assert.StartsWith("NAME ", lines[0], StringComparison.Ordinal);

        // DTYPE starts at the same column on every line, counted in terminal cells, and the numbers end together.
        int[] dtypeAt = lines.Skip(1).Select(l => TerminalCells.Width(l[..l.IndexOf("F16", StringComparison.Ordinal)])).ToArray();
        Assert.Single(dtypeAt.Distinct());
        Assert.Equal(TerminalCells.Width(lines[0][..lines[0].IndexOf("DTYPE", StringComparison.Ordinal)]), dtypeAt[0]);
        Assert.Single(lines.Select(TerminalCells.Width).Distinct());
        Assert.DoesNotContain(lines, l => l.EndsWith(' ') || l.Contains('\u001b', StringComparison.Ordinal));
    }

    [Fact]
    public void On_a_50_column_terminal_a_table_fits_and_its_borders_line_up()
    {
        using var buffer = new StringWriter();
        var terminal = new Terminal(buffer, TextWriter.Null, TerminalCells.Console(buffer, 50), null);
        terminal.Write(Sample());
        string[] lines = TerminalCells.Lines(buffer.ToString());
        Assert.True(lines.Length > Names.Length + 2, "long names wrap inside their cells");
        Assert.All(lines, l => Assert.True(TerminalCells.Width(l) <= 50, $"wider than the terminal: '{l}'"));
        int[] separators = lines.Where(l => l.Contains('│', StringComparison.Ordinal)).Select(l => TerminalCells.Width(l[..l.IndexOf('│', StringComparison.Ordinal)])).ToArray();
        Assert.Single(separators.Distinct());
        Assert.Contains(lines, l => l.Contains("1,234,567", StringComparison.Ordinal));
    }

    [Fact]
    public void A_terminal_colours_an_error_prefix_and_plain_output_has_no_escape_codes()
    {
        using var rich = new StringWriter();
        new Terminal(TextWriter.Null, rich, null, TerminalCells.Console(rich, 80)).Error("it broke");
        Assert.Contains("\u001b[", rich.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("it broke", TerminalCells.Lines(rich.ToString()).Single(), StringComparison.Ordinal);

        using var plain = new StringWriter();
        Terminal.Plain(TextWriter.Null, plain).Error("it broke");
        Assert.Equal("safeckpt: it broke" + Environment.NewLine, plain.ToString());
    }
}
