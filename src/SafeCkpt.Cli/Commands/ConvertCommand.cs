using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;
using SafeCkpt.Models;
using SafeCkpt.Transforms;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>safeckpt convert IN OUT [--dtype fp16|bf16|fp32] [--ema-only | --no-ema] [--vae FILE] [--prune]
/// [--drop vae|te|unet]... [--keep-fp32 vae|te|unet]... [--fix-clip] [--overwrite] [--json]</c>.
/// The output format follows OUT's extension; without options the conversion is lossless.
/// </summary>
internal static class ConvertCommand
{
    public const string Usage = "convert IN OUT [--dtype fp16|bf16|fp32] [--ema-only | --no-ema] [--vae FILE] [--prune] [--drop vae|te|unet]... [--keep-fp32 vae|te|unet]... [--fix-clip] [--overwrite] [--json]";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        Arguments a = Arguments.Parse(args, ["--ema-only", "--no-ema", "--prune", "--fix-clip", "--overwrite", "--json"], ["--dtype", "--vae", "--drop", "--keep-fp32"]);
        if (a.Positional.Count != 2)
        {
            throw new UsageException("convert needs IN and OUT: " + Usage);
        }

        string input = a.Positional[0];
        string output = a.Positional[1];
        bool ckpt = OutputIsCkpt(output);
        if (a.Has("--ema-only") && a.Has("--no-ema"))
        {
            throw new UsageException("--ema-only and --no-ema exclude each other");
        }

        Models.ModelComponent[] drop = a.Values("--drop").Select(ParseComponent).ToArray();
        Models.ModelComponent[] keep = a.Values("--keep-fp32").Select(ParseComponent).ToArray();
        Tensors.DType? dtype = a.Value("--dtype") switch
        {
            null => null,
            "fp16" or "f16" or "half" => Tensors.DType.Float16,
            "bf16" => Tensors.DType.BFloat16,
            "fp32" or "f32" or "float" => Tensors.DType.Float32,
            string other => throw new UsageException($"--dtype takes fp16, bf16 or fp32, not '{other}'"),
        };
        if (keep.Length > 0 && dtype is null)
        {
            throw new UsageException("--keep-fp32 goes with --dtype");
        }

        using ModelFile model = ModelFile.Open(input);
        using ModelFile? vae = a.Value("--vae") is { } vaePath ? ModelFile.Open(vaePath) : null;
        ModelPipeline p = model.Convert();
        if (a.Has("--ema-only"))
        {
            p = p.SelectEma(true);
        }
        else if (a.Has("--no-ema"))
        {
            p = p.SelectEma(false);
        }

        if (drop.Length > 0)
        {
            p = p.Drop(drop);
        }

        if (vae is not null)
        {
            p = p.ReplaceVae(vae);
        }

        if (a.Has("--prune"))
        {
            p = p.Prune();
        }

        if (a.Has("--fix-clip"))
        {
            p = p.FixClipPositionIds();
        }

        if (dtype is { } target)
        {
            Models.ModelComponent[] cast = keep.Length == 0 ? [] : Enum.GetValues<Models.ModelComponent>().Except(keep).ToArray();
            p = p.Apply(new CastTransform(target, cast));
        }

        using var progress = ProgressBar.Create(stderr, a.Has("--json"));
        var options = new SaveOptions { Overwrite = a.Has("--overwrite"), Progress = progress };
        ConversionResult r = ckpt ? p.SaveCkpt(output, options) : p.SaveSafetensors(output, options);
        progress?.Finish();
        if (a.Has("--json"))
        {
            WriteJson(stdout, model, r);
        }
        else
        {
            foreach (string note in r.Plan.Notes)
            {
                stdout.WriteLine(note);
            }

            stdout.WriteLine($"Wrote {output}: {Format.Count(r.Plan.Tensors.Count)} tensors ({Format.Count(r.Plan.CastCount)} cast, {Format.Count(r.Plan.Dropped.Count)} dropped), {Format.Bytes(new FileInfo(input).Length)} -> {Format.Bytes(r.OutputFileBytes)} in {r.Elapsed.TotalSeconds:0.0} s.");
        }

        return ExitCodes.Success;
    }

    internal static bool OutputIsCkpt(string output) => Path.GetExtension(output).ToLowerInvariant() switch
    {
        ".safetensors" => false,
        ".ckpt" or ".pt" or ".pth" or ".bin" => true,
        string ext => throw new UsageException($"cannot tell the output format from '{ext}': use .safetensors, or .ckpt/.pt/.pth/.bin for a PyTorch checkpoint"),
    };

    internal static Models.ModelComponent ParseComponent(string s) => s switch
    {
        "vae" => Models.ModelComponent.Vae,
        "te" or "text-encoder" or "clip" => Models.ModelComponent.TextEncoder,
        "unet" => Models.ModelComponent.UNet,
        _ => throw new UsageException($"'{s}' is not a component: use vae, te or unet"),
    };

    private static void WriteJson(TextWriter stdout, ModelFile model, ConversionResult r)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("input", model.Path);
            w.WriteString("output", r.OutputPath);
            w.WriteNumber("inputBytes", new FileInfo(model.Path).Length);
            w.WriteNumber("outputBytes", r.OutputFileBytes);
            w.WriteNumber("tensors", r.Plan.Tensors.Count);
            w.WriteNumber("cast", r.Plan.CastCount);
            w.WriteNumber("dropped", r.Plan.Dropped.Count);
            w.WriteNumber("emaSwapped", r.Plan.EmaSwapped);
            w.WriteNumber("seconds", Math.Round(r.Elapsed.TotalSeconds, 3));
            w.WriteStartArray("notes");
            foreach (string n in r.Plan.Notes)
            {
                w.WriteStringValue(n);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}

/// <summary>A one-line progress bar on stderr when it is a terminal; nothing when redirected.</summary>
internal sealed class ProgressBar : IProgress<SaveProgress>, IDisposable
{
    private readonly TextWriter _err;
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private long _lastDraw = -1;

    private ProgressBar(TextWriter err) => _err = err;

    public static ProgressBar? Create(TextWriter stderr, bool quiet) =>
        quiet || Console.IsErrorRedirected ? null : new ProgressBar(stderr);

    public void Report(SaveProgress value)
    {
        long now = _watch.ElapsedMilliseconds;
        if (now - _lastDraw < 100 && value.BytesWritten < value.TotalBytes)
        {
            return;
        }

        _lastDraw = now;
        double f = value.TotalBytes == 0 ? 1 : (double)value.BytesWritten / value.TotalBytes;
        int filled = (int)(f * 30);
        _err.Write($"\r[{new string('#', filled)}{new string('.', 30 - filled)}] {f * 100,5:0.0}%  {Format.Bytes(value.BytesWritten)} / {Format.Bytes(value.TotalBytes)}   ");
    }

    public void Finish() => _err.Write("\r" + new string(' ', 78) + "\r");

    public void Dispose()
    {
    }
}
