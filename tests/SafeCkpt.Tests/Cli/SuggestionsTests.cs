using SafeCkpt.Cli;

namespace SafeCkpt.Tests.Cli;

public class SuggestionsTests
{
    private static readonly string[] Commands = ["inspect", "scan", "convert", "hash", "diff", "yaml", "help"];

    [Theory]
    [InlineData("inpsect", "inspect")]
    [InlineData("insepct", "inspect")]
    [InlineData("scna", "scan")]
    [InlineData("covnert", "convert")]
    [InlineData("Hash", "hash")]
    [InlineData("dif", "diff")]
    [InlineData("ymal", "yaml")]
    public void A_typo_of_a_command_suggests_it(string typed, string expected) =>
        Assert.Equal(expected, Suggestions.Closest(typed, Commands));

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("x")]
    [InlineData("list")]
    public void Something_else_suggests_nothing(string typed) => Assert.Null(Suggestions.Closest(typed, Commands));

    [Fact]
    public void Options_are_suggested_by_their_long_name() =>
        Assert.Equal("; did you mean '--tensors'?", Suggestions.DidYouMean("--tensor", ["--json", "--tensors", "--recursive"]));
}
