using System.Text.RegularExpressions;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary>The README shows each command's help as the tool prints it (<c>tools/readme-help.sh</c> regenerates it).</summary>
public partial class ReadmeHelpTests
{
    [Fact]
    public void The_readmes_help_blocks_are_what_the_tool_prints()
    {
        DirectoryInfo root = new(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "SafeCkpt.sln")))
        {
            root = root.Parent ?? throw new InvalidOperationException("SafeCkpt.sln not found");
        }

        string readme = File.ReadAllText(Path.Combine(root.FullName, "README.md")).ReplaceLineEndings("\n");
        MatchCollection blocks = HelpBlock().Matches(readme);
        // One block for the overview and one for every command it lists (but help).
        string overview = SafeCkptTool.Run("--help").StdOut.ReplaceLineEndings("\n");
        string section = overview[overview.IndexOf("Commands:\n", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n\n", StringComparison.Ordinal)];
        string[] commands = CommandLine().Matches(section).Select(c => c.Groups[1].Value).Where(c => c != "help").ToArray();
        Assert.Equal(["safeckpt --help", .. commands.Select(c => $"safeckpt {c} --help")], blocks.Select(b => b.Groups[1].Value));
        foreach (Match m in blocks)
        {
            string[] args = m.Groups[1].Value.Split(' ')[1..];
            string printed = SafeCkptTool.Run(args).StdOut.ReplaceLineEndings("\n").TrimEnd('\n');
            Assert.True(printed + "\n" == m.Groups[2].Value, $"README's '{m.Groups[1].Value}' differs from the tool's; run tools/readme-help.sh");
        }
    }

    [GeneratedRegex(@"<!-- help: (safeckpt[^>]*?) -->\n```text\n((?:(?!```).*\n)*?)```")]
    private static partial Regex HelpBlock();

    [GeneratedRegex(@"^  ([a-z]+) ", RegexOptions.Multiline)]
    private static partial Regex CommandLine();
}
