using System.CommandLine;
using System.Text.Json;
using SafeCkpt.Models;
using SafeCkpt.Tensors;
using Spectre.Console;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>safeckpt inspect FILE|DIR... [--tensors] [--json]</c>: what a model file is (a summary for people first) and what
/// it holds, the biggest tensors by default; several files give a table and a summary line.
/// </summary>
internal static class InspectCommand
{
    /// <summary>How many tensors the text output lists without <c>--tensors</c>.</summary>
    private const int BiggestShown = 10;

    public static ToolCommand Create(Terminal terminal)
    {
        Argument<string[]> paths = Opt.Paths("Model files, or folders of them (.safetensors, .ckpt, .pt, .pth, .bin, .gguf).");
        var tensors = new Option<bool>("--tensors", "-t") { Description = $"List every tensor (name, dtype, shape, bytes) in file order, not only the {BiggestShown} biggest." };
        Option<bool> recursive = Opt.Recursive();
        Option<bool> json = Opt.Json("Print one JSON object instead of text: format, architecture, components, quantization, dtypes, metadata, checkpoint values and every tensor (several files: {\"files\": [...], \"summary\": {...}}).");
        Option<bool> quiet = Opt.Quiet("No progress line while several files are read.");
        Option<int?> maxExpansion = Opt.MaxExpansion();
        ToolCommand command = new ToolCommand("inspect", "Show what a model file is (architecture, prediction type, size, precision, quantized formats such as fp8 scaled, EMA, VAE, text encoders, CLIP position ids, what convert would save) and what it holds: format, dtypes, metadata, a PyTorch checkpoint's other values and storage sharing, and its biggest tensors. Several files or a folder give one line each and a summary.")
        {
            Examples =
            [
                ("safeckpt inspect v1-5-pruned.ckpt", "the summary, the details and the 10 biggest tensors"),
                ("safeckpt inspect model.safetensors --tensors", "every tensor, in file order"),
                ("safeckpt inspect ~/models -r", "one line per model file under a folder, and a summary"),
                ("safeckpt inspect lora.safetensors -j | jq .architecture.id", "the same as JSON"),
            ],
            Notes =
            [
                ("Exit codes:", ["0 every file was read; 2 a file is invalid, unsupported or unreadable; 3 a file holds unsafe content (the worst of all files)."]),
            ],
        }.With(paths, recursive, tensors, json, quiet, maxExpansion);
        command.SetRun((r, ct) =>
        {
            string[] given = r.GetValue(paths)!;
            OpenOptions open = r.GetValue(maxExpansion) is int n ? new OpenOptions { MaxViewExpansion = n } : OpenOptions.Default;
            Inputs inputs = ModelFolder.Expand(given, r.GetValue(recursive));
            FileBatch.RequireFiles(inputs, given, r.GetValue(recursive));
            return inputs.Many
                ? RunMany(terminal, inputs, open, r.GetValue(json), r.GetValue(quiet), ct)
                : RunOne(terminal, inputs.Files[0].Path, open, r.GetValue(json), r.GetValue(tensors));
        });
        return command;
    }

    private static int RunOne(Terminal terminal, string path, OpenOptions open, bool json, bool allTensors)
    {
        using ModelFile model = ModelFile.Open(path, open);
        if (json)
        {
            JsonOutput.Write(terminal.Out, w => WriteJson(model, w));
        }
        else
        {
            WriteText(model, terminal, allTensors);
        }

        return ExitCodes.Success;
    }

    private static int RunMany(Terminal terminal, Inputs inputs, OpenOptions open, bool json, bool quiet, CancellationToken cancellationToken)
    {
        int worst = ExitCodes.Success;
        int failed = 0;
        Table table = Terminal.Table("FILE", "MODEL", "FORMAT", ">TENSORS", ">SIZE", "DTYPES");
        using (ProgressDisplay progress = ProgressDisplay.Start(terminal, "inspect", inputs.Files.Count, ProgressUnit.Files, json || quiet, plainLines: false))
        {
            if (json)
            {
                JsonOutput.Write(terminal.Out, w =>
                {
                    w.WriteStartArray("files");
                    worst = FileBatch.Run(terminal, inputs, progress, bytes: false, (input, _) =>
                    {
                        using ModelFile model = ModelFile.Open(input.Path, open);
                        w.WriteStartObject();
                        WriteJson(model, w);
                        w.WriteEndObject();
                        return ExitCodes.Success;
                    }, (input, error) =>
                    {
                        failed++;
                        w.WriteStartObject();
                        w.WriteString("file", input.Shown);
                        error.WriteProperty(w);
                        w.WriteEndObject();
                    }, cancellationToken);
                    w.WriteEndArray();
                    WriteSummaryJson(w, inputs.Files.Count, failed, worst);
                });
                return worst;
            }

            worst = FileBatch.Run(terminal, inputs, progress, bytes: false, (input, _) =>
            {
                using ModelFile model = ModelFile.Open(input.Path, open);
                ArchitectureReport r = model.DetectArchitecture();
                table.AddRow(
                    new Text(input.Shown),
                    new Text(r.Id),
                    new Text(Models.DisplayNames.Of(model.Format)),
                    new Text(Format.Count(model.Tensors.Count)),
                    new Text(Format.Bytes(new FileInfo(input.Path).Length)),
                    new Text(string.Join("+", Histogram(model.Tensors).Select(g => g.Name))));
                return ExitCodes.Success;
            }, (input, error) =>
            {
                failed++;
                table.AddRow(new Text(input.Shown), new Text(error.ExitCode == ExitCodes.Unsafe ? "REFUSED (unsafe)" : "FAILED", Palette.ForExitCode(error.ExitCode)), new Text("-"), new Text("-"), new Text("-"), new Text(error.Code));
            }, cancellationToken);
        }

        terminal.Write(table);
        string summary = $"{Format.Count(inputs.Files.Count)} files: {Format.Count(inputs.Files.Count - failed)} read, {Format.Count(failed)} failed.";
        terminal.WriteLine(summary, Palette.ForExitCode(worst));
        FileBatch.NoteSkippedFolders(terminal, inputs);
        return worst;
    }

    /// <summary>The <c>summary</c> object of a JSON result for several files.</summary>
    internal static void WriteSummaryJson(Utf8JsonWriter w, int files, int failed, int exitCode, IEnumerable<(string Name, int Count)>? counts = null)
    {
        w.WriteStartObject("summary");
        w.WriteNumber("files", files);
        w.WriteNumber("ok", files - failed);
        w.WriteNumber("failed", failed);
        foreach ((string name, int count) in counts ?? [])
        {
            w.WriteNumber(name, count);
        }

        w.WriteNumber("exitCode", exitCode);
        w.WriteEndObject();
    }

    internal static string PredictionName(PredictionType p) => p switch
    {
        PredictionType.Epsilon => "eps",
        PredictionType.V => "v",
        PredictionType.Edm => "edm",
        PredictionType.VEdm => "v-edm",
        PredictionType.Flow => "flow",
        _ => "unknown",
    };

    private static string EmaName(EmaState e) => e switch
    {
        EmaState.BothSets => "both",
        EmaState.EmaOnly => "ema-only",
        _ => "none",
    };

    /// <summary>What <c>convert</c> would shrink the file to with the options that matter here, or null when they change nothing.</summary>
    private static (string Command, long Bytes)? ConvertEstimate(ModelFile model, ArchitectureReport r)
    {
        ModelPipeline p = model.Convert();
        var flags = new List<string>();
        if (model.Tensors.Tensors.Any(x => x.DType is DType.Float32 or DType.Float64))
        {
            p = p.ToHalf();
            flags.Add("--dtype fp16");
        }

        if (r.Ema == EmaState.BothSets)
        {
            p = p.SelectEma(false);
            flags.Add("--no-ema");
        }

        if (flags.Count == 0)
        {
            return null;
        }

        try
        {
            return ($"convert {string.Join(' ', flags)}", p.Plan().OutputTensorBytes);
        }
        catch (SafeCkptException)
        {
            return null;
        }
    }

    private static void WriteSummary(ModelFile model, ArchitectureReport r, TextWriter o)
    {
        string of = r.BaseArchitecture is { } b && b != r.Id ? $" for {b}" : string.Empty;
        o.WriteLine(r.Id == "unknown"
            ? $"Model:    unknown ({r.Reason})"
            : $"Model:    {r.Name} [{r.Id}]{of}, {r.Confidence.ToString().ToLowerInvariant()} confidence");
        if (r.HasMetadataConflict)
        {
            o.WriteLine($"          metadata modelspec.architecture = {r.MetadataArchitecture}, but the weights look like {r.WeightsId}; the metadata is trusted");
        }

        foreach (string line in SafeCkpt.Metadata.Provenance.Summary(model.Metadata))
        {
            o.WriteLine($"Provenance: {Format.Safe(line)}");
        }

        o.WriteLine($"Predicts: {PredictionName(r.PredictionType)}{(r.Markers.Count > 0 ? $" (markers: {string.Join(", ", r.Markers)})" : string.Empty)}");
        o.WriteLine($"Size:     {Format.Count(r.Parameters)} parameters, {Format.Bytes(r.Bytes)}");
        o.WriteLine($"Precision: {string.Join(", ", r.Components.Select(c => $"{Models.DisplayNames.Of(c.Component)} {string.Join("+", c.DTypeBytes.Keys.Select(d => d.ToSafetensorsName()))} ({Format.Bytes(c.Bytes)})"))}");
        if (QuantizedFormats.Describe(model.Tensors) is { } q)
        {
            o.WriteLine($"Quantized: {q.Description}");
        }

        o.WriteLine($"EMA:      {r.Ema switch { EmaState.BothSets => "both sets (UNet and model_ema.*)", EmaState.EmaOnly => "EMA weights only (model_ema.*)", _ => "none" }}");
        o.WriteLine($"VAE:      {(r.HasVae ? "included" : "none")}");
        o.WriteLine($"Text encoders: {(r.TextEncoders.Count == 0 ? "none" : string.Join(", ", r.TextEncoders))}");
        foreach (PositionIdsCheck ids in r.PositionIds)
        {
            string state = !ids.IsBroken ? "ok"
                : !ids.IsReadable ? $"broken: {ids.DType.ToSafetensorsName()} {string.Join("x", ids.Shape)} is not 77 position ids"
                : ids.WrongPositions.Count > 0 ? $"broken: {ids.WrongPositions.Count} wrong positions ({string.Join(", ", ids.WrongPositions.Take(10))}{(ids.WrongPositions.Count > 10 ? ", ..." : string.Empty)}); convert --fix-clip resets them"
                : $"stored as {ids.DType.ToSafetensorsName()}, not int64; convert --fix-clip rewrites them";
            o.WriteLine($"Position ids: {state} ({ids.Key})");
        }

        if (ConvertEstimate(model, r) is { } est)
        {
            o.WriteLine($"Convert:  {est.Command} would write ~{Format.Bytes(est.Bytes)} (now {Format.Bytes(r.Bytes)})");
        }

        o.WriteLine("Evidence:");
        foreach (string e in r.Evidence.Take(12))
        {
            o.WriteLine($"  {e}");
        }

        if (r.Evidence.Count > 12)
        {
            o.WriteLine($"  ... {r.Evidence.Count - 12} more (--json has all)");
        }

        o.WriteLine();
    }

    private static void WriteText(ModelFile model, Terminal terminal, bool allTensors)
    {
        TextWriter o = terminal.Out;
        TensorStore t = model.Tensors;
        WriteSummary(model, model.DetectArchitecture(), o);
        o.WriteLine($"File:     {model.Path}");
        o.WriteLine($"Format:   {Models.DisplayNames.Of(model.Format)}");
        o.WriteLine($"Tensors:  {Format.Count(t.Count)} ({Format.Bytes(t.TotalBytes)}, {Format.Count(t.Tensors.Sum(x => x.ElementCount))} elements)");
        o.WriteLine("DTypes:");
        foreach (var g in Histogram(t))
        {
            o.WriteLine($"  {g.Name,-12} {Format.Count(g.Count),8} tensors  {Format.Bytes(g.Bytes),10}");
        }

        if (t.Metadata.Count == 0)
        {
            o.WriteLine("Metadata: (none)");
        }
        else
        {
            o.WriteLine("Metadata:");
            foreach (KeyValuePair<string, string> kv in t.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                string value = kv.Value.Length > 100 ? kv.Value[..97] + "..." : kv.Value;
                o.WriteLine($"  {Format.Safe(kv.Key)}: {Format.Safe(value.ReplaceLineEndings(" "))}");
            }
        }

        if (t.Gguf is { } gguf)
        {
            o.WriteLine($"GGUF:     version {gguf.Version}, alignment {gguf.Alignment}, {Format.Count(gguf.KeyCount)} keys, architecture {gguf.Architecture ?? "(none)"}{(gguf.Reshaped.Count > 0 ? $", {Format.Count(gguf.Reshaped.Count)} reshaped tensors restored from comfy.gguf.orig_shape" : string.Empty)}");
            o.WriteLine($"Stored:   {string.Join(", ", gguf.Types.Values.GroupBy(x => x).OrderBy(g => (int)g.Key).Select(g => $"{Formats.Gguf.GgmlTypes.Name(g.Key)} x{Format.Count(g.Count())}"))} (quantized tensors read as their F32 dequantization)");
        }

        if (model.Checkpoint is { } ckpt)
        {
            o.WriteLine($"State dict: {ckpt.StateDictPath ?? "(top level)"}");
            o.WriteLine($"Storages: {Format.Count(ckpt.StorageCount)} ({Format.Count(ckpt.TensorsSharingStorage)} tensors share a storage with another)");
            if (ckpt.Values.Count == 0)
            {
                o.WriteLine("Values:   (none)");
            }
            else
            {
                o.WriteLine("Values:");
                foreach (KeyValuePair<string, string> kv in ckpt.Values)
                {
                    o.WriteLine($"  {Format.Safe(kv.Key)}: {Format.Safe(kv.Value.ReplaceLineEndings(" "))}");
                }
            }
        }

        if (t.Count == 0)
        {
            return;
        }

        // The biggest first (ties in file order), or with --tensors every one in file order.
        IEnumerable<TensorInfo> shown = allTensors ? t.Tensors : t.Tensors.Select((x, i) => (x, i)).OrderByDescending(p => p.x.ByteLength).ThenBy(p => p.i).Take(BiggestShown).Select(p => p.x);
        o.WriteLine();
        o.WriteLine(allTensors || t.Count <= BiggestShown
            ? $"Tensors ({Format.Count(t.Count)}):"
            : $"Biggest tensors ({BiggestShown} of {Format.Count(t.Count)}; --tensors lists all):");
        Formats.Gguf.GgufLayout? stored = t.Gguf;
        Table table = stored is null ? Terminal.Table("NAME", "DTYPE", "SHAPE", ">BYTES") : Terminal.Table("NAME", "DTYPE", "STORED", "SHAPE", ">BYTES");
        foreach (TensorInfo x in shown)
        {
            var cells = new List<Text> { new(x.Name), new(x.DType.ToSafetensorsName()) };
            if (stored is not null)
            {
                cells.Add(new Text(Formats.Gguf.GgmlTypes.Name(stored.Types[x.Name])));
            }

            cells.AddRange([new(x.FormatShape()), new(Format.Count(x.ByteLength))]);
            table.AddRow(cells);
        }

        terminal.Write(table);
    }

    /// <summary>The fields of one file's JSON object.</summary>
    private static void WriteJson(ModelFile model, Utf8JsonWriter w)
    {
        TensorStore t = model.Tensors;
        w.WriteString("file", model.Path);
        w.WriteString("format", Models.DisplayNames.Of(model.Format));
        w.WriteNumber("tensorCount", t.Count);
        w.WriteNumber("totalBytes", t.TotalBytes);
        WriteArchitectureJson(model, w);
        w.WriteStartObject("dtypes");
        foreach (var g in Histogram(t))
        {
            w.WriteStartObject(g.Name);
            w.WriteNumber("count", g.Count);
            w.WriteNumber("bytes", g.Bytes);
            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.WriteStartObject("metadata");
        foreach (KeyValuePair<string, string> kv in t.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            w.WriteString(kv.Key, kv.Value);
        }

        w.WriteEndObject();
        if (model.Checkpoint is { } ckpt)
        {
            w.WriteStartObject("checkpoint");
            if (ckpt.StateDictPath is null)
            {
                w.WriteNull("stateDictPath");
            }
            else
            {
                w.WriteString("stateDictPath", ckpt.StateDictPath);
            }

            w.WriteNumber("storageCount", ckpt.StorageCount);
            w.WriteNumber("tensorsSharingStorage", ckpt.TensorsSharingStorage);
            w.WriteStartObject("values");
            foreach (KeyValuePair<string, string> kv in ckpt.Values)
            {
                w.WriteString(kv.Key, kv.Value);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        if (t.Gguf is { } gguf)
        {
            w.WriteStartObject("gguf");
            w.WriteNumber("version", gguf.Version);
            w.WriteNumber("alignment", gguf.Alignment);
            w.WriteNumber("keyCount", gguf.KeyCount);
            if (gguf.Architecture is null)
            {
                w.WriteNull("architecture");
            }
            else
            {
                w.WriteString("architecture", gguf.Architecture);
            }

            w.WriteEndObject();
        }

        w.WriteStartArray("tensors");
        foreach (TensorInfo x in t.Tensors)
        {
            w.WriteStartObject();
            w.WriteString("name", x.Name);
            w.WriteString("dtype", x.DType.ToSafetensorsName());
            if (t.Gguf is { } g)
            {
                w.WriteString("stored", Formats.Gguf.GgmlTypes.Name(g.Types[x.Name]));
                w.WriteBoolean("reshaped", g.Reshaped.Contains(x.Name));
            }

            w.WriteStartArray("shape");
            foreach (long d in x.Shape)
            {
                w.WriteNumberValue(d);
            }

            w.WriteEndArray();
            w.WriteNumber("bytes", x.ByteLength);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteArchitectureJson(ModelFile model, Utf8JsonWriter w)
    {
        ArchitectureReport r = model.DetectArchitecture();
        w.WriteStartObject("architecture");
        w.WriteString("id", r.Id);
        w.WriteString("name", r.Name);
        w.WriteString("confidence", r.Confidence.ToString().ToLowerInvariant());
        w.WriteString("predictionType", PredictionName(r.PredictionType));
        w.WriteString("baseArchitecture", r.BaseArchitecture);
        w.WriteString("weightsId", r.WeightsId);
        w.WriteString("metadataArchitecture", r.MetadataArchitecture);
        w.WriteBoolean("metadataConflict", r.HasMetadataConflict);
        w.WriteString("reason", r.Reason);
        JsonOutput.WriteStrings(w, "evidence", r.Evidence);
        w.WriteEndObject();
        w.WriteNumber("parameters", r.Parameters);
        w.WriteStartArray("components");
        foreach (ComponentSummary c in r.Components)
        {
            w.WriteStartObject();
            w.WriteString("component", Models.DisplayNames.Of(c.Component));
            w.WriteNumber("tensors", c.TensorCount);
            w.WriteNumber("parameters", c.Parameters);
            w.WriteNumber("bytes", c.Bytes);
            w.WriteStartObject("dtypes");
            foreach (KeyValuePair<DType, long> d in c.DTypeBytes)
            {
                w.WriteNumber(d.Key.ToSafetensorsName(), d.Value);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteString("ema", EmaName(r.Ema));
        w.WriteBoolean("vae", r.HasVae);
        JsonOutput.WriteStrings(w, "textEncoders", r.TextEncoders);
        w.WriteStartArray("positionIds");
        foreach (PositionIdsCheck ids in r.PositionIds)
        {
            w.WriteStartObject();
            w.WriteString("key", ids.Key);
            w.WriteString("dtype", ids.DType.ToSafetensorsName());
            w.WriteBoolean("broken", ids.IsBroken);
            w.WriteStartArray("wrongPositions");
            foreach (int i in ids.WrongPositions)
            {
                w.WriteNumberValue(i);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        JsonOutput.WriteStrings(w, "markers", r.Markers);
        if (QuantizedFormats.Describe(model.Tensors) is { } q)
        {
            w.WriteStartObject("quantization");
            w.WriteString("id", q.Id);
            w.WriteString("description", q.Description);
            w.WriteBoolean("convertible", q.Convertible);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("quantization");
        }

        if (ConvertEstimate(model, r) is { } est)
        {
            w.WriteStartObject("convertEstimate");
            w.WriteString("command", est.Command);
            w.WriteNumber("outputTensorBytes", est.Bytes);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("convertEstimate");
        }
    }

    private static IEnumerable<(string Name, int Count, long Bytes)> Histogram(TensorStore t) =>
        t.Tensors.GroupBy(x => x.DType)
            .OrderByDescending(g => g.Sum(x => x.ByteLength))
            .Select(g => (g.Key.ToSafetensorsName(), g.Count(), g.Sum(x => x.ByteLength)));
}
