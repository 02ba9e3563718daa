using System.CommandLine;
using System.Text.Json;
using SafeCkpt.Hashing;
using Spectre.Console;

namespace SafeCkpt.Cli.Commands;

/// <summary><c>safeckpt hash FILE|DIR... [--json]</c>: the hashes model sites and web UIs show, in one pass per file, with progress.</summary>
internal static class HashCommand
{
    public static ToolCommand Create(Terminal terminal)
    {
        Argument<string[]> paths = Opt.Paths("Files to hash, or folders of model files (.safetensors, .ckpt, .pt, .pth, .bin, .gguf).");
        Option<bool> recursive = Opt.Recursive();
        Option<bool> json = Opt.Json("Print one JSON object instead of text: file, bytes, sha256, autov2, oldA1111, and for safetensors dataSha256 and autov3 (several files: {\"files\": [...], \"summary\": {...}}).");
        Option<bool> quiet = Opt.Quiet("No progress line.");
        ToolCommand command = new ToolCommand("hash", "Compute in one pass the identifiers model sites and web UIs show: the SHA-256, AutoV2 (its first 10 hex digits), the old A1111 hash (8 hex digits) and, for safetensors, AutoV3 (the SHA-256 of the bytes after the header).")
        {
            Examples =
            [
                ("safeckpt hash model.safetensors", "SHA-256, AutoV2, old A1111 hash, AutoV3"),
                ("safeckpt hash ~/models -r", "a line per model file under a folder: SHA-256, AutoV3, old hash, file"),
                ("safeckpt hash model.ckpt -j", "the same as JSON"),
            ],
            Notes = [("Exit codes:", ["0 every file was hashed; 2 a file could not be read (the others are still hashed)."])],
        }.With(paths, recursive, json, quiet);
        command.SetRun((r, ct) =>
        {
            string[] given = r.GetValue(paths)!;
            Inputs inputs = ModelFolder.Expand(given, r.GetValue(recursive));
            FileBatch.RequireFiles(inputs, given, r.GetValue(recursive));
            return Run(terminal, inputs, r.GetValue(json), r.GetValue(quiet), ct);
        });
        return command;
    }

    private static int Run(Terminal terminal, Inputs inputs, bool json, bool quiet, CancellationToken cancellationToken)
    {
        var results = new List<(Input Input, ModelHashes? Hashes, ErrorReport? Error)>();
        int worst;
        using (ProgressDisplay progress = ProgressDisplay.Start(terminal, string.Empty, FileBatch.Total(inputs, bytes: true), ProgressUnit.Bytes, json || quiet))
        {
            worst = FileBatch.Run(terminal, inputs, progress, bytes: true, (input, done) =>
            {
                var offset = new Offset(progress, done);
                results.Add((input, ModelHashes.Compute(input.Path, offset, cancellationToken), null));
                return ExitCodes.Success;
            }, (input, error) => results.Add((input, null, error)), cancellationToken);
        }

        if (!inputs.Many && results[0].Error is { } failure)
        {
            // One file: its error is the command's (one line, the JSON error object).
            if (json)
            {
                JsonOutput.Write(terminal.Out, failure.WriteFields);
            }

            return failure.ExitCode;
        }

        if (json)
        {
            JsonOutput.Write(terminal.Out, w =>
            {
                if (!inputs.Many)
                {
                    WriteJson(w, results[0].Input, results[0].Hashes!);
                    return;
                }

                w.WriteStartArray("files");
                foreach ((Input input, ModelHashes? h, ErrorReport? error) in results)
                {
                    w.WriteStartObject();
                    if (h is not null)
                    {
                        WriteJson(w, input, h);
                    }
                    else
                    {
                        w.WriteString("file", input.Shown);
                        error!.WriteProperty(w);
                    }

                    w.WriteEndObject();
                }

                w.WriteEndArray();
                InspectCommand.WriteSummaryJson(w, results.Count, results.Count(x => x.Error is not null), worst);
            });
            return worst;
        }

        if (!inputs.Many)
        {
            (Input input, ModelHashes? one, _) = results[0];
            TextWriter o = terminal.Out;
            o.WriteLine($"File:       {input.Shown} ({Format.Count(one!.Length)} bytes)");
            o.WriteLine($"SHA-256:    {one.Sha256}");
            o.WriteLine($"AutoV2:     {one.AutoV2}");
            o.WriteLine($"Old A1111:  {one.OldA1111}");
            if (one.DataSha256 is not null)
            {
                o.WriteLine($"AutoV3:     {one.AutoV3}   (data SHA-256 {one.DataSha256})");
            }

            return ExitCodes.Success;
        }

        // SHA-256 first, as sha256sum prints it, so `cut -d' ' -f1` and `sha256sum -c` habits carry over.
        Table table = Terminal.Table("SHA-256", "AUTOV3", "OLD", "FILE");
        if (terminal.OutWidth is not int width || width >= 64 + 10 + 8 + 30)
        {
            // A hash is copied whole: the file name wraps, not the hash (unless the window is too narrow for it).
            foreach (TableColumn column in table.Columns.Take(3))
            {
                column.NoWrap();
            }
        }

        foreach ((Input input, ModelHashes? h, ErrorReport? error) in results)
        {
            table.AddRow(
                h is null ? new Text("FAILED", Palette.Warn) : new Text(h.Sha256),
                new Text(h?.AutoV3 ?? "-"),
                new Text(h?.OldA1111 ?? "-"),
                new Text(input.Shown));
        }

        terminal.Write(table);
        int failed = results.Count(x => x.Error is not null);
        terminal.WriteLine($"{Format.Count(results.Count)} files: {Format.Count(results.Count - failed)} hashed, {Format.Count(failed)} failed.", Palette.ForExitCode(worst));
        FileBatch.NoteSkippedFolders(terminal, inputs);
        return worst;
    }

    private static void WriteJson(Utf8JsonWriter w, Input input, ModelHashes h)
    {
        w.WriteString("file", input.Shown);
        w.WriteNumber("bytes", h.Length);
        w.WriteString("sha256", h.Sha256);
        w.WriteString("autov2", h.AutoV2);
        w.WriteString("oldA1111", h.OldA1111);
        if (h.DataSha256 is not null)
        {
            w.WriteString("dataSha256", h.DataSha256);
            w.WriteString("autov3", h.AutoV3);
        }
    }

    /// <summary>One file's bytes hashed, counted after the files before it.</summary>
    private sealed class Offset(ProgressDisplay display, long before) : IProgress<long>
    {
        public void Report(long value) => display.Report(before + value);
    }
}
