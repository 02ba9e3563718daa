using System.Text.Encodings.Web;
using System.Text.Json;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Tensors;

namespace SafeCkpt.Cli.Commands;

/// <summary><c>safeckpt inspect FILE [--json]</c>: what a model file holds.</summary>
internal static class InspectCommand
{
    public static int Run(string[] args, TextWriter stdout)
    {
        Arguments a = Arguments.Parse(args, ["--json"], []);
        if (a.Positional.Count != 1)
        {
            throw new UsageException(a.Positional.Count == 0 ? "inspect needs a FILE" : "inspect takes one FILE");
        }

        using ModelFile model = ModelFile.Open(a.Positional[0]);
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

    private static void WriteText(ModelFile model, TextWriter o)
    {
        TensorStore t = model.Tensors;
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
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("file", model.Path);
            w.WriteString("format", FormatName(model.Format));
            w.WriteNumber("tensorCount", t.Count);
            w.WriteNumber("totalBytes", t.TotalBytes);
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
            w.WriteEndObject();
        }

        o.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static IEnumerable<(string Name, int Count, long Bytes)> Histogram(TensorStore t) =>
        t.Tensors.GroupBy(x => x.DType)
            .OrderByDescending(g => g.Sum(x => x.ByteLength))
            .Select(g => (g.Key.ToSafetensorsName(), g.Count(), g.Sum(x => x.ByteLength)));
}
