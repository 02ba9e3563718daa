using System.CommandLine;
using System.Text.Json;
using SafeCkpt.Safety;
using Spectre.Console;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>safeckpt scan FILE|DIR... [--json]</c>: every global and unusual opcode the files' pickles would use, without
/// loading them, and a verdict; several files give a table, a summary line and the worst verdict's exit code.
/// </summary>
internal static class ScanCommand
{
    private static readonly ScanVerdict[] Verdicts = Enum.GetValues<ScanVerdict>();

    public static ToolCommand Create(Terminal terminal)
    {
        Argument<string[]> paths = Opt.Paths("Model files, or folders of them (.safetensors, .ckpt, .pt, .pth, .bin, .gguf).");
        Option<bool> recursive = Opt.Recursive();
        Option<bool> json = Opt.Json("Print one JSON object instead of text: file, format, verdict, error, and every finding with its record and offsets (several files: {\"files\": [...], \"summary\": {...}}).");
        Option<bool> quiet = Opt.Quiet("No progress line while several files are scanned.");
        ToolCommand command = new ToolCommand("scan", "List every global and unusual opcode the files' pickles would use, each marked allowed or UNSAFE, without loading them; then read each file as inspect does, and give a verdict.")
        {
            Examples =
            [
                ("safeckpt scan suspicious.pt", "exit 3, and the offending global with its offsets, if loading it would run code"),
                ("safeckpt scan ~/Downloads -r", "every model file under a folder: a table, a summary, the worst verdict's exit code"),
                ("safeckpt scan model.ckpt -j", "the findings as JSON"),
            ],
            Notes =
            [
                ("Exit codes:", [
                    "clean (0): nothing in the file would run code, and SafeCkpt reads all of it.",
                    "unsafe (3): torch.load(weights_only=False) could import or call something outside SafeCkpt's allowlist.",
                    "unsupported, malformed, not-a-model (2): nothing runs, but SafeCkpt does not read it (sparse or quantized tensors; a broken or ambiguous file; an HTML page, a Git LFS pointer).",
                    "Several files exit with the worst verdict: 3 if any is unsafe, else 2 if any could not be read.",
                ]),
            ],
        }.With(paths, recursive, json, quiet);
        command.SetRun((r, ct) =>
        {
            string[] given = r.GetValue(paths)!;
            Inputs inputs = ModelFolder.Expand(given, r.GetValue(recursive));
            FileBatch.RequireFiles(inputs, given, r.GetValue(recursive));
            return inputs.Many
                ? RunMany(terminal, inputs, r.GetValue(json), r.GetValue(quiet), ct)
                : RunOne(terminal, inputs.Files[0].Path, r.GetValue(json));
        });
        return command;
    }

    /// <summary>The verdict as printed and in JSON: clean, unsafe, unsupported, malformed, not-a-model.</summary>
    public static string VerdictName(ScanVerdict verdict) => verdict switch
    {
        ScanVerdict.NotAModel => "not-a-model",
        _ => verdict.ToString().ToLowerInvariant(),
    };

    private static int ExitCode(ScanVerdict verdict) => verdict switch
    {
        ScanVerdict.Clean => ExitCodes.Success,
        ScanVerdict.Unsafe => ExitCodes.Unsafe,
        _ => ExitCodes.InvalidInput,
    };

    private static int RunOne(Terminal terminal, string path, bool json)
    {
        ScanReport report = CheckpointScanner.Scan(path);
        if (json)
        {
            JsonOutput.Write(terminal.Out, w => WriteJson(report, w));
            return ExitCode(report.Verdict);
        }

        TextWriter o = terminal.Out;
        o.WriteLine($"File:     {report.Path}");
        o.WriteLine($"Format:   {Models.DisplayNames.Of(report.Format)}");
        terminal.WriteLine("Verdict:  ", VerdictName(report.Verdict), Palette.ForExitCode(ExitCode(report.Verdict)));
        if (report.Error is not null)
        {
            o.WriteLine($"Error:    {report.Error}");
        }

        foreach (ScanFinding f in report.Findings)
        {
            string where = f.FileOffset is long fo ? $"{f.Record} byte {f.Offset} (file byte {fo})" : $"{f.Record} byte {f.Offset}";
            string times = f.Count > 1 ? $" x{f.Count}" : string.Empty;
            terminal.WriteLine($"  {(f.Allowed ? "ok    " : "UNSAFE")} {f.Kind.ToString().ToLowerInvariant(),-7} {f.Name}{times}  at {where}: {f.Detail}", f.Allowed ? (Style?)null : Palette.Bad);
        }

        return ExitCode(report.Verdict);
    }

    private static int RunMany(Terminal terminal, Inputs inputs, bool json, bool quiet, CancellationToken cancellationToken)
    {
        var counts = Verdicts.ToDictionary(v => v, _ => 0);
        int unreadable = 0;
        int worst;
        Table table = Terminal.Table("FILE", "FORMAT", "VERDICT", "DETAIL");
        using (ProgressDisplay progress = ProgressDisplay.Start(terminal, "scan", inputs.Files.Count, ProgressUnit.Files, json || quiet, plainLines: false))
        {
            if (json)
            {
                int code = ExitCodes.Success;
                JsonOutput.Write(terminal.Out, w =>
                {
                    w.WriteStartArray("files");
                    code = FileBatch.Run(terminal, inputs, progress, bytes: false, (input, _) =>
                    {
                        ScanReport report = CheckpointScanner.Scan(input.Path);
                        counts[report.Verdict]++;
                        w.WriteStartObject();
                        WriteJson(report, w);
                        w.WriteEndObject();
                        return ExitCode(report.Verdict);
                    }, (input, error) =>
                    {
                        unreadable++;
                        w.WriteStartObject();
                        w.WriteString("file", input.Shown);
                        w.WriteString("verdict", "unreadable");
                        error.WriteProperty(w);
                        w.WriteEndObject();
                    }, cancellationToken);
                    w.WriteEndArray();
                    InspectCommand.WriteSummaryJson(w, inputs.Files.Count, unreadable + counts.Where(c => c.Key != ScanVerdict.Clean).Sum(c => c.Value), code, Verdicts.Select(v => (VerdictName(v), counts[v])).Append(("unreadable", unreadable)));
                });
                return code;
            }

            worst = FileBatch.Run(terminal, inputs, progress, bytes: false, (input, _) =>
            {
                ScanReport report = CheckpointScanner.Scan(input.Path);
                counts[report.Verdict]++;
                ScanFinding? first = report.Findings.FirstOrDefault(f => !f.Allowed);
                int unsafeCount = report.Findings.Count(f => !f.Allowed);
                string detail = first is not null
                    ? $"{first.Name} at {first.Record} byte {first.Offset}{(unsafeCount > 1 ? $" (+{unsafeCount - 1} more)" : string.Empty)}"
                    : report.Error ?? $"{report.Findings.Count} globals, all allowed";
                table.AddRow(new Text(input.Shown), new Text(Models.DisplayNames.Of(report.Format)), new Text(VerdictName(report.Verdict), Palette.ForExitCode(ExitCode(report.Verdict))), new Text(detail));
                return ExitCode(report.Verdict);
            }, (input, error) =>
            {
                unreadable++;
                table.AddRow(new Text(input.Shown), new Text("-"), new Text("unreadable", Palette.Warn), new Text(error.Message));
            }, cancellationToken);
        }

        terminal.Write(table);
        IEnumerable<string> parts = Verdicts.Where(v => counts[v] > 0 || v is ScanVerdict.Clean or ScanVerdict.Unsafe).Select(v => $"{Format.Count(counts[v])} {VerdictName(v)}");
        if (unreadable > 0)
        {
            parts = parts.Append($"{Format.Count(unreadable)} unreadable");
        }

        terminal.WriteLine($"{Format.Count(inputs.Files.Count)} files: {string.Join(", ", parts)}.", Palette.ForExitCode(worst));
        FileBatch.NoteSkippedFolders(terminal, inputs);
        return worst;
    }

    private static void WriteJson(ScanReport report, Utf8JsonWriter w)
    {
        w.WriteString("file", report.Path);
        w.WriteString("format", Models.DisplayNames.Of(report.Format));
        w.WriteString("verdict", VerdictName(report.Verdict));
        if (report.Error is not null)
        {
            // The same error object as every other command's (and as an unreadable file's in a batch).
            new ErrorReport(report.ErrorCode?.ToString() ?? nameof(SafeCkptErrorCode.UnsupportedFormat), report.Error, report.Path, null, null, ExitCode(report.Verdict)).WriteProperty(w);
        }

        w.WriteStartArray("findings");
        foreach (ScanFinding f in report.Findings)
        {
            w.WriteStartObject();
            w.WriteString("kind", f.Kind.ToString().ToLowerInvariant());
            w.WriteString("name", f.Name);
            w.WriteBoolean("allowed", f.Allowed);
            w.WriteString("record", f.Record);
            w.WriteNumber("offset", f.Offset);
            if (f.FileOffset is long fo)
            {
                w.WriteNumber("fileOffset", fo);
            }

            w.WriteNumber("count", f.Count);
            w.WriteString("detail", f.Detail);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }
}
