using System.CommandLine;
using System.Text.Json;
using SafeCkpt.Hashing;
using Spectre.Console;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>safeckpt hash FILE|DIR... [--json] [--no-cache] [--cache FILE] [--a1111 DIR]</c>: civitai's six hashes, in one read
/// per file, with progress, through SafeCkpt's hash cache and optionally an A1111 install's <c>cache.json</c>.
/// </summary>
internal static class HashCommand
{
    public static ToolCommand Create(Terminal terminal)
    {
        Argument<string[]> paths = Opt.Paths("Files to hash, or folders of model files (.safetensors, .ckpt, .pt, .pth, .bin, .gguf).");
        Option<bool> recursive = Opt.Recursive();
        Option<bool> json = Opt.Json("Print one JSON object instead of text: file, bytes, sha256, autov1, autov2, autov3, dataSha256 (AutoV3's full SHA-256), crc32, blake3 in lowercase hex (autov3 and dataSha256 null for a file that is not safetensors), source: computed, cache or a1111-cache, and for a file SafeCkpt converted provenance: where it came from (several files: {\"files\": [...], \"summary\": {...}}).");
        Option<bool> quiet = Opt.Quiet("No progress line.");
        var noCache = new Option<bool>("--no-cache")
        {
            Description = "Read and hash every file; neither read nor write SafeCkpt's hash cache (nor take hashes from A1111's cache.json; with --a1111 it is still written).",
        };
        var cache = new Option<string?>("--cache")
        {
            HelpName = "FILE",
            Description = $"SafeCkpt's hash cache file [default: ${HashCache.EnvironmentVariable}, else ~/.cache/safeckpt/hashes.json ($XDG_CACHE_HOME/safeckpt), ~/Library/Caches/safeckpt on macOS, %LOCALAPPDATA%\\safeckpt on Windows].",
        };
        var a1111 = new Option<string?>("--a1111")
        {
            HelpName = "DIR",
            Description = "An AUTOMATIC1111 (or Forge) install folder, or its cache.json: write the hashes of the files under its models/Stable-diffusion, models/Lora, models/LyCORIS and embeddings folders into its cache.json (sections hashes and hashes-addnet) so it does not hash them again, and take their SHA-256 from there when it has them.",
        };
        ToolCommand command = new ToolCommand("hash", "Compute in one read civitai's six hashes of a model file, under civitai's names: SHA256, AutoV1 (A1111's old 8-digit hash), AutoV2 (SHA256's first 10 digits), AutoV3 (the SHA-256 after a safetensors header, 12 digits; safetensors only), CRC32 (civitai's byte order) and BLAKE3. Files already hashed come from SafeCkpt's hash cache while their size and modification time are unchanged.")
        {
            Examples =
            [
                ("safeckpt hash model.safetensors", "the six hashes, as civitai shows them"),
                ("safeckpt hash ~/models -r", "a line per model file under a folder: SHA256, AutoV3, where it came from, file"),
                ("safeckpt hash model.ckpt -j", "the same as JSON (lowercase hex)"),
                ("safeckpt hash ~/sd-webui/models -r --a1111 ~/sd-webui", "also fill A1111's cache.json, so it starts without hashing"),
            ],
            Notes =
            [
                ("Cache:", ["SafeCkpt keeps every hash it computes in one JSON file, keyed by full path, size and modification time (to the nanosecond); a file changed since is hashed again. Runs at the same time take turns to update it (a lock file beside it) and it is replaced whole, never left half-written; a cache file that cannot be read is ignored with a warning."]),
                ("A1111:", ["A1111 up to 1.8 reads cache.json at every start. From 1.9 (and Forge) it keeps its hashes in a cache/ folder and reads cache.json only when that folder does not exist yet: a fresh install, or after moving cache/ aside."]),
                ("Exit codes:", ["0 every file was hashed; 2 a file could not be read (the others are still hashed)."]),
            ],
        }.With(paths, recursive, json, quiet, noCache, cache, a1111);
        command.SetRun((r, ct) =>
        {
            string[] given = r.GetValue(paths)!;
            Inputs inputs = ModelFolder.Expand(given, r.GetValue(recursive));
            FileBatch.RequireFiles(inputs, given, r.GetValue(recursive));
            if (r.GetValue(noCache) && r.GetValue(cache) is not null)
            {
                throw new UsageException("--no-cache and --cache contradict each other: --no-cache uses no cache file");
            }

            string? install = r.GetValue(a1111);
            if (install is not null && !Directory.Exists(install) && !File.Exists(install))
            {
                throw new UsageException($"--a1111 {install}: no such folder or file; give the A1111 install folder (the one holding models/ and cache.json) or its cache.json");
            }

            var options = new ModelHashOptions
            {
                CacheFile = r.GetValue(noCache) ? null : r.GetValue(cache) ?? ModelHashOptions.DefaultCacheFile,
                A1111 = install,
                Warning = message => terminal.Error("warning: " + message),
            };
            var session = new HashSession(options) { ReadA1111 = !r.GetValue(noCache) };
            return Run(terminal, inputs, session, r.GetValue(json), r.GetValue(quiet), ct);
        });
        return command;
    }

    private static int Run(Terminal terminal, Inputs inputs, HashSession session, bool json, bool quiet, CancellationToken cancellationToken)
    {
        var results = new List<(Input Input, ModelHashes? Hashes, ErrorReport? Error)>();
        int worst;
        using (ProgressDisplay progress = ProgressDisplay.Start(terminal, string.Empty, FileBatch.Total(inputs, bytes: true), ProgressUnit.Bytes, json || quiet))
        {
            try
            {
                worst = FileBatch.Run(terminal, inputs, progress, bytes: true, (input, done) =>
                {
                    var offset = new Offset(progress, done);
                    results.Add((input, session.Hash(input.Path, offset, cancellationToken), null));
                    return ExitCodes.Success;
                }, (input, error) => results.Add((input, null, error)), cancellationToken);
            }
            finally
            {
                // Also when interrupted: what was hashed so far is kept.
                session.Flush();
            }
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
            WriteJson(terminal, inputs, results, worst);
        }
        else if (!inputs.Many)
        {
            WriteText(terminal, results[0].Input, results[0].Hashes!, session);
        }
        else
        {
            WriteTable(terminal, results, worst);
            FileBatch.NoteSkippedFolders(terminal, inputs);
        }

        NoteA1111(terminal, session);
        return worst;
    }

    /// <summary>One file: a line per hash, named and written as civitai shows them (uppercase hex).</summary>
    private static void WriteText(Terminal terminal, Input input, ModelHashes h, HashSession session)
    {
        var lines = new List<(string Label, string Value)>
        {
            ("File", $"{input.Shown} ({Format.Count(h.Length)} bytes)"),
            ("SHA256", Shown(h.Sha256)),
            ("AutoV1", Shown(h.AutoV1)),
            ("AutoV2", Shown(h.AutoV2)),
            ("AutoV3", h.AutoV3 is null ? "-   (safetensors only)" : $"{Shown(h.AutoV3)}   (full: {Shown(h.DataSha256!)})"),
            ("CRC32", Shown(h.Crc32)),
            ("BLAKE3", Shown(h.Blake3)),
        };
        if (Origin(input.Path, h, session) is { } origin)
        {
            lines.Add(("Cached", origin));
        }

        lines.AddRange(ProvenanceOf(input.Path).Select(line => ("From", Format.Safe(line))));

        foreach ((string label, string value) in lines)
        {
            terminal.Out.WriteLine($"{label + ":",-8} {value}");
        }
    }

    /// <summary>Several files: a line each, SHA256 first as <c>sha256sum</c> prints it.</summary>
    private static void WriteTable(Terminal terminal, List<(Input Input, ModelHashes? Hashes, ErrorReport? Error)> results, int worst)
    {
        Table table = Terminal.Table("SHA256", "AUTOV3", "SOURCE", "FILE");
        if (terminal.OutWidth is not int width || width >= 64 + 12 + 10 + 30)
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
                h is null ? new Text("FAILED", Palette.Warn) : new Text(Shown(h.Sha256)),
                new Text(h?.AutoV3 is { } v3 ? Shown(v3) : "-"),
                new Text(h is null ? "-" : SourceWord(h.Origin)),
                new Text(input.Shown));
        }

        terminal.Write(table);
        int failed = results.Count(x => x.Error is not null);
        int cached = results.Count(x => x.Hashes?.Origin == HashOrigin.Cache);
        terminal.WriteLine($"{Format.Count(results.Count)} files: {Format.Count(results.Count - failed - cached)} hashed, {Format.Count(cached)} from the cache, {Format.Count(failed)} failed.", Palette.ForExitCode(worst));
    }

    private static void WriteJson(Terminal terminal, Inputs inputs, List<(Input Input, ModelHashes? Hashes, ErrorReport? Error)> results, int worst) =>
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

    private static void WriteJson(Utf8JsonWriter w, Input input, ModelHashes h)
    {
        w.WriteString("file", input.Shown);
        w.WriteNumber("bytes", h.Length);
        w.WriteString("sha256", h.Sha256);
        w.WriteString("autov1", h.AutoV1);
        w.WriteString("autov2", h.AutoV2);
        w.WriteString("autov3", h.AutoV3);
        w.WriteString("dataSha256", h.DataSha256);
        w.WriteString("crc32", h.Crc32);
        w.WriteString("blake3", h.Blake3);
        IReadOnlyList<string> provenance = ProvenanceOf(input.Path);
        if (provenance.Count > 0)
        {
            w.WriteStartArray("provenance");
            provenance.ToList().ForEach(w.WriteStringValue);
            w.WriteEndArray();
        }

        w.WriteString("source", h.Origin switch
        {
            HashOrigin.Cache => "cache",
            HashOrigin.A1111Cache => "a1111-cache",
            _ => "computed",
        });
    }

    /// <summary>
    /// Where a file SafeCkpt converted came from (its <c>safeckpt.*</c> metadata: the source's name and hashes, the
    /// recipe, the original), so the original can be looked up on civitai; empty for other files. Only the header of a
    /// safetensors file is read.
    /// </summary>
    private static IReadOnlyList<string> ProvenanceOf(string path)
    {
        if (!path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            return [];
        }

        try
        {
            using ModelFile m = ModelFile.Open(path);
            return SafeCkpt.Metadata.Provenance.Summary(m.Metadata);
        }
        catch (SafeCkptException)
        {
            return [];
        }
    }

    /// <summary>Notes where A1111's hashes went, and that a 1.9+ install with a <c>cache/</c> folder will not read them.</summary>
    private static void NoteA1111(Terminal terminal, HashSession session)
    {
        if (session.A1111CacheFile is not { } file)
        {
            return;
        }

        string entries = session.A1111Written == 1 ? "entry" : "entries";
        terminal.Note($"A1111: {Format.Count(session.A1111Written)} {entries} written to {file}.");
        if (session.A1111Written > 0 && Directory.Exists(Path.Combine(Path.GetDirectoryName(file)!, "cache")))
        {
            terminal.Note($"A1111: {Path.Combine(Path.GetDirectoryName(file)!, "cache")} exists: A1111 1.9+ and Forge read their cache/ folder and convert cache.json only when it is missing; move it aside once to have them read these hashes.");
        }
    }

    /// <summary>The "Cached:" line of one file, or null when everything was computed now.</summary>
    private static string? Origin(string path, ModelHashes h, HashSession session) => h.Origin switch
    {
        HashOrigin.Cache => $"from SafeCkpt's hash cache ({session.CacheFile}); the file was not read",
        HashOrigin.A1111Cache => $"{(session.A1111TitleOf(path) is { Addnet: true } ? "AutoV3" : "SHA256")} from A1111's cache.json ({session.A1111CacheFile}); the others computed",
        _ => null,
    };

    private static string SourceWord(HashOrigin origin) => origin switch
    {
        HashOrigin.Cache => "cache",
        HashOrigin.A1111Cache => "A1111+read",
        _ => "read",
    };

    /// <summary>A hash as civitai shows it: uppercase hex.</summary>
    private static string Shown(string hex) => hex.ToUpperInvariant();

    /// <summary>One file's bytes hashed, counted after the files before it.</summary>
    private sealed class Offset(ProgressDisplay display, long before) : IProgress<long>
    {
        public void Report(long value) => display.Report(before + value);
    }
}
