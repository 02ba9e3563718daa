using SafeCkpt.Cli.Commands;

namespace SafeCkpt.Cli;

/// <summary>Dispatches commands and turns every error into one or two readable lines and an exit code.</summary>
internal static class CliApp
{
    public const string Usage = """
        usage: safeckpt <command> [options]

        commands:
          inspect FILE [--json] [--max-expansion N]
                                   show what a model file is (architecture, prediction type, size,
                                   precision, EMA, VAE, text encoders, CLIP position ids, what
                                   convert would save) and holds: format, tensors, dtypes, metadata,
                                   and for PyTorch checkpoints their other values and storage sharing
          scan FILE [--json]       list every global and unusual opcode the file's pickles would use,
                                   without loading it, then read it as inspect does: exit 0 clean,
                                   3 unsafe, 2 unsupported, malformed or not a model
          convert IN OUT [--dtype fp16|bf16|fp32] [--ema-only | --no-ema] [--vae FILE] [--prune]
                 [--drop vae|te|unet]... [--keep-fp32 vae|te|unet]... [--fix-clip] [--yaml]
                 [--overwrite] [--dry-run] [--json] [--max-expansion N]
                                   convert to OUT's format (.safetensors, or .ckpt/.pt/.pth/.bin);
                                   without options lossless (tensors byte-identical); streaming, in
                                   bounded memory; nothing is written if anything is refused;
                                   --dry-run prints the plan and writes nothing; --yaml writes the
                                   config yaml beside OUT
          convert DIR --out DIR2 [--recursive] [--format safetensors|ckpt] [options]
                                   convert every model file of a folder; skips outputs that exist,
                                   carries on past bad files, prints a summary table
          diff A B [--all] [--json]
                                   missing and extra keys, shape and dtype changes, and the max and
                                   mean absolute difference of every tensor, streaming
          hash FILE [--json]       SHA-256, AutoV2, the old A1111 hash and (safetensors) AutoV3, in one pass
          yaml MODEL [--out FILE] [--overwrite] [--json]
                                   write the LDM config yaml web UIs read beside an SD 1.x, 2.x or
                                   SDXL checkpoint, or the cldm yaml beside an SD 1.x/2.x ControlNet
                                   (MODEL.yaml by default); refused, with the reason, for others

          --max-expansion N        let a tensor view repeat its stored elements up to N times (default 16;
                                   a stride-0 view of one float could otherwise become gigabytes)

        common options:
          --json                   print one JSON object instead of text
          --verbose                show the stack trace of an error
          --help                   show this help

        exit codes: 0 success, 1 usage error, 2 invalid, unsupported or unreadable input,
                    3 unsafe content refused, 4 output problem, 130/143 interrupted (nothing left behind)
        """;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        bool verbose = args.Contains("--verbose");
        string[] rest = args.Where(a => a != "--verbose").ToArray();
        try
        {
            if (rest.Length == 0 || rest[0] is "--help" or "-h" or "help")
            {
                stdout.WriteLine(Usage);
                return rest.Length == 0 ? ExitCodes.Usage : ExitCodes.Success;
            }

            if (rest[0] == "--version")
            {
                stdout.WriteLine(typeof(ModelFile).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
                return ExitCodes.Success;
            }

            string[] commandArgs = rest[1..];
            int code = rest[0] switch
            {
                "inspect" => InspectCommand.Run(commandArgs, stdout),
                "scan" => ScanCommand.Run(commandArgs, stdout),
                "convert" => ConvertCommand.Run(commandArgs, stdout, stderr),
                "hash" => HashCommand.Run(commandArgs, stdout),
                "diff" => DiffCommand.Run(commandArgs, stdout),
                "yaml" => YamlCommand.Run(commandArgs, stdout),
                _ => throw new UsageException($"unknown command '{rest[0]}'"),
            };
            return Interrupt.ExitCode ?? code;
        }
        catch (OperationCanceledException) when (Interrupt.ExitCode is int signal)
        {
            stderr.WriteLine("safeckpt: interrupted; no partial output was left.");
            return signal;
        }
        catch (UsageException ex)
        {
            stderr.WriteLine($"safeckpt: {ex.Message}");
            stderr.WriteLine("Run 'safeckpt --help' for usage.");
            return ExitCodes.Usage;
        }
        catch (SafeCkptException ex)
        {
            stderr.WriteLine($"safeckpt: {ErrorText.ForCli(ex.Message)}");
            if (verbose)
            {
                stderr.WriteLine(ex);
            }

            return ExitCodeOf(ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"safeckpt: {ex.Message}");
            if (verbose)
            {
                stderr.WriteLine(ex);
            }

            return ExitCodes.InvalidInput;
        }
#pragma warning disable CA1031 // The tool's last line of defence: a bug must still print one line, not a stack trace.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            stderr.WriteLine($"safeckpt: internal error: {ex.GetType().Name}: {ex.Message}");
            stderr.WriteLine(verbose ? ex.ToString() : "This is a bug in SafeCkpt; run again with --verbose and report the output.");
            return ExitCodes.InvalidInput;
        }
    }

    /// <summary>The exit code for a library error.</summary>
    public static int ExitCodeOf(SafeCkptException ex) => ex switch
    {
        OutputException => ExitCodes.OutputProblem,
        UnsafeCheckpointException => ExitCodes.Unsafe,
        _ => ExitCodes.InvalidInput,
    };
}
