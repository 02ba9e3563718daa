using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using SafeCkpt.Cli.Commands;

namespace SafeCkpt.Cli;

/// <summary>
/// The command tree (System.CommandLine), and the one place every error becomes one line (two with the hint), an
/// exit code, and with <c>--json</c> an error object on standard output.
/// </summary>
internal sealed class CliApp
{
    private readonly Terminal _terminal;
    private readonly ToolCommand _root;
    private readonly Option<bool> _verbose = new("--verbose") { Description = "Show the stack trace of an error.", Recursive = true };
    private readonly ParserConfiguration _parser = new() { EnablePosixBundling = true };

    private CliApp(Terminal terminal)
    {
        _terminal = terminal;
        _root = new ToolCommand("safeckpt", "Read, check and convert Stable Diffusion model files (.ckpt, .pt, .pth, .bin PyTorch pickles and zips, .safetensors; GGUF read) without running any code they hold.")
        {
            Examples =
            [
                ("safeckpt inspect model.ckpt", "what a model is, and what it holds"),
                ("safeckpt scan ~/Downloads -r", "is anything in this folder unsafe to load? (exit 3 if so)"),
                ("safeckpt convert model.ckpt -o model.safetensors --dtype fp16 --no-ema", "a smaller, safe file for every UI"),
                ("safeckpt help convert", "the options and examples of one command"),
            ],
            Notes =
            [
                ("Response files:", ["@FILE on the command line is replaced by the arguments in FILE (one or more per line; '#' starts a comment). After '--' it is an argument like any other."]),
                ("Environment:", ["NO_COLOR (any value) or TERM=dumb: plain text, as when the output is redirected: no colour, no redrawn progress line."]),
            ],
        };
        var help = new HelpOption();
        help.Action = new HelpWithExamples((HelpAction)help.Action!) { Width = terminal.HelpWidth };
        _root.Options.Add(help);
        _root.Options.Add(new VersionOption());
        _root.Options.Add(_verbose);
        Command[] commands =
        [
            InspectCommand.Create(terminal),
            ScanCommand.Create(terminal),
            ConvertCommand.Create(terminal),
            HashCommand.Create(terminal),
            DiffCommand.Create(terminal),
            FitCommand.Create(terminal),
            YamlCommand.Create(terminal),
            MetaCommand.Create(terminal),
            HelpCommand(),
        ];
        foreach (Command c in commands)
        {
            _root.Subcommands.Add(c);
        }
    }

    /// <summary>Runs a command line with plain text on both writers.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, Terminal.Plain(stdout, stderr));

    /// <summary>Runs a command line.</summary>
    public static int Run(string[] args, Terminal terminal) => new CliApp(terminal).Invoke(args);

    private int Invoke(string[] args)
    {
        if (args.Length == 0)
        {
            // As git and most tools: the overview, and the exit code of a usage error.
            _root.Parse(["--help"], _parser).Invoke(Invocation());
            return ExitCodes.Usage;
        }

        ParseResult parse = _root.Parse(args, _parser);
        bool json = AsksForJson(parse);
        if (parse.Action is ParseErrorAction || (parse.Action is not HelpWithExamples && UnknownOption(parse) is not null))
        {
            return Fail(new ErrorReport("Usage", UsageMessage(parse), null, null, null, ExitCodes.Usage), parse, json, exception: null);
        }

        try
        {
            int code = parse.InvokeAsync(Invocation(), Interrupt.Token).GetAwaiter().GetResult();
            return Interrupt.ExitCode ?? code;
        }
        catch (OperationCanceledException) when (Interrupt.ExitCode is int signal)
        {
            return Fail(new ErrorReport("Interrupted", "interrupted; no partial output was left.", null, null, null, signal), parse, json, exception: null);
        }
        catch (UsageException ex)
        {
            return Fail(new ErrorReport("Usage", ex.Message, null, null, null, ExitCodes.Usage), parse, json, exception: null);
        }
#pragma warning disable CA1031 // The tool's last line of defence: every error, a bug too, is one line and an exit code.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return Fail(ErrorReport.From(ex), parse, json, ex);
        }
    }

    /// <summary>Reports an error that ends the command: one line on standard error (with a hint for usage errors), the JSON object with <c>--json</c>.</summary>
    private int Fail(ErrorReport error, ParseResult parse, bool json, Exception? exception)
    {
        _terminal.Error(error.Message);
        if (error.Code == "Usage")
        {
            _terminal.Note($"see '{HelpLine(parse.CommandResult.Command)}'");
        }
        else if (error.Code == "InternalError")
        {
            _terminal.Note("This is a bug in SafeCkpt; run again with --verbose and report the output.");
        }

        if (exception is not null && parse.GetValue(_verbose))
        {
            _terminal.Err.WriteLine(exception);
        }

        if (json)
        {
            JsonOutput.Write(_terminal.Out, error.WriteFields);
        }

        return error.ExitCode;
    }

    private InvocationConfiguration Invocation() => new()
    {
        Output = _terminal.Out,
        Error = _terminal.Err,
        EnableDefaultExceptionHandler = false,

        // Interrupt (SIGINT, SIGTERM) already cancels the token passed to InvokeAsync and lets the command clean up
        // for as long as it takes; System.CommandLine's own handler would return after a timeout, with the
        // temporary output perhaps not yet deleted.
        ProcessTerminationTimeout = null,
    };

    /// <summary>Whether the command line asked for JSON (an error is then a JSON object too).</summary>
    private static bool AsksForJson(ParseResult parse) =>
        parse.CommandResult.Children.OfType<OptionResult>().Any(r => r.Option.Name == "--json" && !r.Implicit);

    /// <summary>The help command line for <paramref name="command"/>: <c>safeckpt inspect --help</c>.</summary>
    private static string HelpLine(Command command) => command.Parents.Any() ? $"safeckpt {command.Name} --help" : "safeckpt --help";

    /// <summary>
    /// A token that looks like an option but that System.CommandLine took as a FILE argument (a command that takes
    /// many files accepts any token): an unknown option, unless it comes after <c>--</c> or is a number.
    /// </summary>
    private static string? UnknownOption(ParseResult parse)
    {
        int doubleDash = parse.Tokens.ToList().FindIndex(t => t.Type == TokenType.DoubleDash);
        return parse.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens)
            .Where(t => t.Value.Length > 1 && t.Value[0] == '-' && !double.TryParse(t.Value, System.Globalization.CultureInfo.InvariantCulture, out _))
            .Where(t => doubleDash < 0 || parse.Tokens.ToList().FindIndex(x => ReferenceEquals(x, t)) < doubleDash)
            .Select(t => t.Value)
            .FirstOrDefault();
    }

    /// <summary>One line for a parse error: the first problem, with a suggestion for a mistyped command or option.</summary>
    private string UsageMessage(ParseResult parse)
    {
        Command command = parse.CommandResult.Command;

        // The tokenizer's own errors (a response file that cannot be read) come before what they cause.
        if (parse.Errors.FirstOrDefault(e => e.SymbolResult is null) is { } tokenError)
        {
            return Sentence(tokenError.Message);
        }

        string? unknown = parse.UnmatchedTokens.FirstOrDefault(t => t.StartsWith('-') && t.Length > 1) ?? UnknownOption(parse);
        if (unknown is not null)
        {
            IEnumerable<string> names = command.Options.Concat(_root.Options.Where(o => o.Recursive))
                .Where(o => !o.Hidden).SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal));
            return $"unknown option '{unknown}'" + Suggestions.DidYouMean(unknown, names);
        }

        // Missing arguments, named as help names them: "diff needs A and B".
        List<Argument> missing = command.Arguments
            .Where(a => a.Arity.MinimumNumberOfValues > 0 && (parse.CommandResult.GetResult(a)?.Tokens.Count ?? 0) < a.Arity.MinimumNumberOfValues)
            .ToList();
        if (missing.Count > 0)
        {
            return $"{command.Name} needs {string.Join(" and ", missing.Select(a => a.Name.Replace("|", " or ", StringComparison.Ordinal)))}";
        }

        if (parse.UnmatchedTokens.Count > 0)
        {
            string token = parse.UnmatchedTokens[0];
            if (command == _root)
            {
                return $"unknown command '{token}'" + Suggestions.DidYouMean(token, _root.Subcommands.Select(c => c.Name));
            }

            return $"unexpected argument '{token}'";
        }

        return Sentence(parse.Errors.Count > 0 ? parse.Errors[0].Message : "invalid command line");
    }

    /// <summary>A System.CommandLine message as one of the tool's lines: one line, no final period, lowercase first word.</summary>
    private static string Sentence(string message)
    {
        message = message.ReplaceLineEndings(" ").Replace('\t', ' ').Trim().TrimEnd('.');
        return message.Length > 1 && char.IsUpper(message[0]) && !char.IsUpper(message[1]) ? char.ToLowerInvariant(message[0]) + message[1..] : message;
    }

    /// <summary><c>safeckpt help [COMMAND]</c>: the same as <c>safeckpt COMMAND --help</c>.</summary>
    private ToolCommand HelpCommand()
    {
        var name = new Argument<string?>("COMMAND") { Arity = ArgumentArity.ZeroOrOne, Description = "The command to explain; without it, the overview." };
        ToolCommand command = new ToolCommand("help", "Show the help of a command: its arguments, every option, examples.")
        {
            Examples = [("safeckpt help convert", "the same as safeckpt convert --help")],
        }.With(name);
        command.SetRun((r, _) =>
        {
            string? wanted = r.GetValue(name);
            if (wanted is not null && !_root.Subcommands.Any(c => c.Name == wanted))
            {
                throw new UsageException($"unknown command '{wanted}'" + Suggestions.DidYouMean(wanted, _root.Subcommands.Select(c => c.Name)));
            }

            return _root.Parse(wanted is null ? ["--help"] : [wanted, "--help"], _parser).Invoke(Invocation());
        });
        return command;
    }
}
