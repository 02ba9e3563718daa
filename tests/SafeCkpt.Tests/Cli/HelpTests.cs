using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary>Help for every command, <c>help CMD</c>, suggestions, short flags, response files and one-line usage errors.</summary>
public class HelpTests
{
    public static TheoryData<string> Commands => new() { "inspect", "scan", "convert", "hash", "diff", "yaml" };

    [Theory]
    [MemberData(nameof(Commands))]
    public void Each_command_has_help_with_usage_options_and_examples(string command)
    {
        var r = SafeCkptTool.Run(command, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"  safeckpt {command} ", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("Options:", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("Examples:", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("Exit codes:", r.StdOut, StringComparison.Ordinal);
        Assert.Empty(r.StdErr);
        Assert.DoesNotContain(r.StdOut.Split('\n'), l => l.EndsWith(' '));
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Help_cmd_and_h_print_the_same_help_as_cmd_help(string command)
    {
        string help = SafeCkptTool.Run(command, "--help").StdOut;
        var viaHelp = SafeCkptTool.Run("help", command);
        Assert.Equal(0, viaHelp.ExitCode);
        Assert.Equal(help, viaHelp.StdOut);
        Assert.Equal(help, SafeCkptTool.Run(command, "-h").StdOut);
    }

    [Theory]
    [InlineData("--prune", "schedule buffers")]
    [InlineData("--fix-clip", "position_ids")]
    [InlineData("--keep-fp32", "while the rest is cast")]
    [InlineData("--drop", "first_stage_model")]
    [InlineData("--vae", "shape checked")]
    [InlineData("--ema-only", "model_ema")]
    [InlineData("--dry-run", "write nothing")]
    [InlineData("--format", "folder")]
    public void Convert_help_explains_each_option(string option, string explanation)
    {
        string help = SafeCkptTool.Run("convert", "--help").StdOut;
        string[] lines = help.Split('\n');
        int at = Array.FindIndex(lines, l => l.TrimStart().StartsWith(option + " ", StringComparison.Ordinal) || l.Contains(", " + option + " ", StringComparison.Ordinal));
        Assert.True(at >= 0, option + " is not listed");

        // The option's entry: its line and the wrapped lines that follow, up to the next option.
        string entry = string.Join(' ', lines.Skip(at).TakeWhile((l, i) => i == 0 || !l.TrimStart().StartsWith('-')).Select(l => l.Trim()));
        Assert.Contains(explanation, entry, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_option_of_every_command_has_a_description()
    {
        foreach (string command in Commands)
        {
            string[] lines = SafeCkptTool.Run(command, "--help").StdOut.Split('\n');
            int start = Array.IndexOf(lines, "Options:");
            foreach (string line in lines.Skip(start + 1).TakeWhile(l => l.Length > 0).Where(l => l.TrimStart().StartsWith('-')))
            {
                // "  -o, --out <OUT>  The output file ...": a description follows the flags after two spaces.
                Assert.Matches(@"^  \S.*?\S  +\S", line);
            }
        }
    }

    [Fact]
    public void Root_help_lists_every_command_and_how_to_get_its_help()
    {
        var r = SafeCkptTool.Run("help");
        Assert.Equal(0, r.ExitCode);
        foreach (string command in Commands)
        {
            Assert.Contains($"  {command} ", r.StdOut, StringComparison.Ordinal);
        }

        Assert.Contains("safeckpt help convert", r.StdOut, StringComparison.Ordinal);
        Assert.Equal(r.StdOut, SafeCkptTool.Run("--help").StdOut);
    }

    [Fact]
    public void No_arguments_prints_the_overview_and_exits_1()
    {
        var r = SafeCkptTool.Run();
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("Commands:", r.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("inpsect", "unknown command 'inpsect'; did you mean 'inspect'?", "safeckpt --help")]
    [InlineData("hsah", "unknown command 'hsah'; did you mean 'hash'?", "safeckpt --help")]
    [InlineData("convrt", "unknown command 'convrt'; did you mean 'convert'?", "safeckpt --help")]
    [InlineData("help inpsect", "unknown command 'inpsect'; did you mean 'inspect'?", "safeckpt help --help")]
    [InlineData("inspect m.ckpt --jsno", "unknown option '--jsno'; did you mean '--json'?", "safeckpt inspect --help")]
    [InlineData("convert a.ckpt b.safetensors --dtyp fp16", "unknown option '--dtyp'; did you mean '--dtype'?", "safeckpt convert --help")]
    [InlineData("frobnicate", "unknown command 'frobnicate'", "safeckpt --help")]
    public void A_mistyped_command_or_option_gets_one_line_with_a_suggestion_and_no_help_dump(string args, string message, string help)
    {
        var r = SafeCkptTool.Run(args.Split(' '));
        Assert.Equal(1, r.ExitCode);
        Assert.Equal(["safeckpt: " + message, $"see '{help}'"], r.StdErr.TrimEnd().Split('\n'));
        Assert.Empty(r.StdOut);
    }

    [Theory]
    [InlineData("inspect", "inspect needs FILE or DIR")]
    [InlineData("diff a.safetensors", "diff needs B")]
    [InlineData("convert", "convert needs IN")]
    [InlineData("convert a.ckpt b.safetensors --dtype fp4", "--dtype takes fp16, bf16, fp32, fp8-e4m3fn, fp8-e5m2 or fp8-scaled, not 'fp4'")]
    [InlineData("inspect a.ckpt --max-expansion 0", "--max-expansion needs a whole number of at least 1, not '0'")]
    [InlineData("diff a b --tolerance x", "--tolerance needs a number of at least 0, such as 1e-3, not 'x'")]
    [InlineData("diff a b c", "unexpected argument 'c'")]
    public void Parse_errors_are_one_line_in_safeckpts_words(string args, string message)
    {
        var r = SafeCkptTool.Run(args.Split(' '));
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("safeckpt: " + message, r.StdErr.Split('\n')[0]);
        Assert.Equal(2, r.StdErr.TrimEnd().Split('\n').Length);
    }

    [Fact]
    public void Short_flags_and_bundles_work_like_long_ones()
    {
        string model = Fixtures.Path_("safetensors", "sd_tiny.safetensors");
        Assert.Equal(SafeCkptTool.Run("inspect", model, "--json").StdOut, SafeCkptTool.Run("inspect", model, "-j").StdOut);
        var bundled = SafeCkptTool.Run("hash", model, "-qj");
        Assert.Equal(0, bundled.ExitCode);
        Assert.StartsWith("{", bundled.StdOut, StringComparison.Ordinal);
        Assert.Empty(bundled.StdErr);
        var tensors = SafeCkptTool.Run("inspect", model, "-t");
        Assert.Contains("Tensors (", tensors.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void A_response_file_supplies_arguments()
    {
        using var dir = new TempDir();
        string rsp = dir.File("args.rsp");
        File.WriteAllLines(rsp, ["# inspect the tiny model as JSON", "inspect", Fixtures.Path_("safetensors", "sd_tiny.safetensors"), "--json"]);
        var r = SafeCkptTool.Run("@" + rsp);
        Assert.Equal(0, r.ExitCode);
        using var doc = System.Text.Json.JsonDocument.Parse(r.StdOut);
        Assert.Equal("safetensors", doc.RootElement.GetProperty("format").GetString());

        var missing = SafeCkptTool.Run("inspect", "@" + dir.File("missing.rsp"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("missing.rsp", missing.StdErr.Split('\n')[0], StringComparison.Ordinal);
    }

    [Fact]
    public void After_a_double_dash_a_dash_name_is_a_file()
    {
        var r = SafeCkptTool.Run("inspect", "--", "-not-an-option.safetensors");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("-not-an-option.safetensors", r.StdErr, StringComparison.Ordinal);
    }
}
