using SafeCkpt.Cli;

namespace SafeCkpt.Tests.Cli;

/// <summary>The progress line fits any width on one line, giving up its least useful parts first.</summary>
public class ProgressLineTests
{
    private static readonly ProgressSnapshot HalfWay = new(1_600_000_000, 3_200_000_000, ProgressUnit.Bytes, TimeSpan.FromSeconds(7), 450_000_000, TimeSpan.FromSeconds(4));

    public static TheoryData<string> Descriptions => new()
    {
        string.Empty,
        "model.safetensors",
        "[12/250] checkpoints/stable-diffusion/v1-5-pruned-emaonly-with-a-very-long-name.safetensors",
        "[2/5] 模型/テスト/アニメ風のモデル.safetensors",
    };

    [Theory]
    [MemberData(nameof(Descriptions))]
    public void The_line_never_exceeds_the_width(string description)
    {
        for (int width = 20; width <= 220; width++)
        {
            ProgressLine line = ProgressLine.Layout(width, description, HalfWay, TerminalCells.Width);
            Assert.True(TerminalCells.Width(line.ToString()) <= width, $"{width}: {line}");
            Assert.Contains(" 50%", line.Tail, StringComparison.Ordinal);
            Assert.InRange(line.BarFilled, 0, line.BarWidth);
        }
    }

    [Fact]
    public void At_50_columns_the_line_keeps_percentage_rate_and_time_left()
    {
        ProgressLine line = ProgressLine.Layout(49, "[2/5] stable-diffusion/v1-5-pruned.safetensors", HalfWay, TerminalCells.Width);
        Assert.Contains("450.00 MB/s", line.Tail, StringComparison.Ordinal);
        Assert.Contains("0:04 left", line.Tail, StringComparison.Ordinal);
        Assert.True(line.BarWidth >= 6);
    }

    [Fact]
    public void A_wide_window_shows_everything_and_a_full_bar()
    {
        ProgressLine line = ProgressLine.Layout(200, "model.safetensors", HalfWay, TerminalCells.Width);
        Assert.Equal("model.safetensors", line.Description);
        Assert.Equal(30, line.BarWidth);
        Assert.Equal(15, line.BarFilled);
        Assert.Equal(" 50%  1.60 GB/3.20 GB  450.00 MB/s  0:07  0:04 left", line.Tail);
    }

    [Fact]
    public void A_long_description_is_shortened_from_the_left_keeping_the_count()
    {
        ProgressLine line = ProgressLine.Layout(100, "[12/250] checkpoints/stable-diffusion/v1-5-pruned-emaonly-with-a-very-long-name.safetensors", HalfWay, TerminalCells.Width);
        Assert.StartsWith("[12/250] …", line.Description, StringComparison.Ordinal);
        Assert.EndsWith("name.safetensors", line.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Files_are_counted_without_a_rate()
    {
        var files = new ProgressSnapshot(3, 10, ProgressUnit.Files, TimeSpan.FromSeconds(2), 1.5, TimeSpan.FromSeconds(5));
        ProgressLine line = ProgressLine.Layout(120, "scan", files, TerminalCells.Width);
        Assert.Equal(" 30%  3/10 files  0:02  0:05 left", line.Tail);
    }

    [Theory]
    [InlineData(7, "0:07")]
    [InlineData(754, "12:34")]
    [InlineData(3723, "1:02:03")]
    public void Durations_read_as_a_clock(int seconds, string clock) =>
        Assert.Equal(clock, ProgressLine.Clock(TimeSpan.FromSeconds(seconds)));
}
