using System.CommandLine;

namespace SafeCkpt.Cli;

/// <summary>A command of the tool: what System.CommandLine knows, plus the examples and notes its help ends with.</summary>
internal sealed class ToolCommand(string name, string description) : Command(name, description)
{
    /// <summary>Example command lines, each with what it does (<c>("safeckpt hash m.safetensors", "its hashes")</c>).</summary>
    public IReadOnlyList<(string Line, string What)> Examples { get; init; } = [];

    /// <summary>Sections printed after the examples, each a heading and paragraphs (what the verdicts mean, ...).</summary>
    public IReadOnlyList<(string Heading, string[] Paragraphs)> Notes { get; init; } = [];

    /// <summary>Adds arguments and options, in the order help lists them.</summary>
    public ToolCommand With(params Symbol[] symbols)
    {
        foreach (Symbol s in symbols)
        {
            switch (s)
            {
                case Argument a:
                    Arguments.Add(a);
                    break;
                case Option o:
                    Options.Add(o);
                    break;
                default:
                    throw new ArgumentException($"{s.Name} is neither an argument nor an option", nameof(symbols));
            }
        }

        return this;
    }

    /// <summary>Sets the action: <paramref name="run"/> gets the parse result and the cancellation token SIGINT and SIGTERM cancel.</summary>
    public void SetRun(Func<ParseResult, CancellationToken, int> run) => SetAction((r, ct) => Task.FromResult(run(r, ct)));
}
