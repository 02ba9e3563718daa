using System.Text.Json;
using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Cli.Commands;

/// <summary><c>safeckpt inspect FILE [--json]</c>: what a model file is (a summary for people first) and what it holds.</summary>
internal static class InspectCommand
{
    public static int Run(string[] args, TextWriter stdout)
    {
        Arguments a = Arguments.Parse(args, ["--json"], ["--max-expansion"]);
        if (a.Positional.Count != 1)
        {
            throw new UsageException(a.Positional.Count == 0 ? "inspect needs a FILE" : "inspect takes one FILE");
        }

        using ModelFile model = ModelFile.Open(a.Positional[0], a.OpenOptions());
        if (a.Has("--json"))
        {
            WriteJson(model, stdout);
        }
        else
        {
            WriteText(model, stdout);
        }

        return ExitCodes.Success;
    }

    internal static string FormatName(ModelFormat f) => f switch
    {
        ModelFormat.Safetensors => "safetensors",
        ModelFormat.TorchZip => "pytorch-zip",
        ModelFormat.TorchLegacy => "pytorch-legacy",
        ModelFormat.Pickle => "pickle",
        _ => "unknown",
    };

    internal static string PredictionName(PredictionType p) => p switch
    {
        PredictionType.Epsilon => "eps",
        PredictionType.V => "v",
        PredictionType.Edm => "edm",
        PredictionType.VEdm => "v-edm",
        PredictionType.Flow => "flow",
        _ => "unknown",
    };

    private static string ComponentName(ModelComponent c) => c switch
    {
        ModelComponent.UNet => "unet",
        ModelComponent.Vae => "vae",
        ModelComponent.TextEncoder => "text-encoder",
        ModelComponent.Ema => "ema",
        _ => "other",
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

        o.WriteLine($"Predicts: {PredictionName(r.PredictionType)}{(r.Markers.Count > 0 ? $" (markers: {string.Join(", ", r.Markers)})" : string.Empty)}");
        o.WriteLine($"Size:     {Format.Count(r.Parameters)} parameters, {Format.Bytes(r.Bytes)}");
        o.WriteLine($"Precision: {string.Join(", ", r.Components.Select(c => $"{ComponentName(c.Component)} {string.Join("+", c.DTypeBytes.Keys.Select(d => d.ToSafetensorsName()))} ({Format.Bytes(c.Bytes)})"))}");
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

    private static void WriteText(ModelFile model, TextWriter o)
    {
        TensorStore t = model.Tensors;
        WriteSummary(model, model.DetectArchitecture(), o);
        o.WriteLine($"File:     {model.Path}");
        o.WriteLine($"Format:   {FormatName(model.Format)}");
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
                o.WriteLine($"  {kv.Key}: {value.ReplaceLineEndings(" ")}");
            }
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
                    o.WriteLine($"  {kv.Key}: {kv.Value.ReplaceLineEndings(" ")}");
                }
            }
        }

        if (t.Count == 0)
        {
            return;
        }

        int nameWidth = Math.Min(80, t.Tensors.Max(x => x.Name.Length));
        o.WriteLine();
        o.WriteLine($"{"NAME".PadRight(nameWidth)}  {"DTYPE",-11}  {"SHAPE",-22}  {"BYTES",14}");
        foreach (TensorInfo x in t.Tensors)
        {
            o.WriteLine($"{x.Name.PadRight(nameWidth)}  {x.DType.ToSafetensorsName(),-11}  {x.FormatShape(),-22}  {Format.Count(x.ByteLength),14}");
        }
    }

    private static void WriteJson(ModelFile model, TextWriter o)
    {
        TensorStore t = model.Tensors;
        JsonOutput.Write(o, w =>
        {
            w.WriteString("file", model.Path);
            w.WriteString("format", FormatName(model.Format));
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

            w.WriteStartArray("tensors");
            foreach (TensorInfo x in t.Tensors)
            {
                w.WriteStartObject();
                w.WriteString("name", x.Name);
                w.WriteString("dtype", x.DType.ToSafetensorsName());
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
        });
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
            w.WriteString("component", ComponentName(c.Component));
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
