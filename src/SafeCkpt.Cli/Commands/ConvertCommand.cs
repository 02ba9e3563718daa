using System.Diagnostics;
using SafeCkpt.Transforms;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>safeckpt convert IN OUT [--dtype fp16|bf16|fp32] [--ema-only | --no-ema] [--vae FILE] [--prune]
/// [--drop vae|te|unet]... [--keep-fp32 vae|te|unet]... [--fix-clip] [--overwrite] [--dry-run] [--json]</c>, or a
/// whole folder with <c>convert DIR --out DIR2</c>. The output format follows OUT's extension; without options the
/// conversion is lossless.
/// </summary>
internal static class ConvertCommand
{
    public const string Usage = "convert IN OUT [--dtype fp16|bf16|fp32] [--ema-only | --no-ema] [--vae FILE] [--prune] [--drop vae|te|unet]... [--keep-fp32 vae|te|unet]... [--fix-clip] [--yaml] [--overwrite] [--dry-run] [--json], or convert DIR --out DIR2 [--recursive] [--format safetensors|ckpt] [options]";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        Arguments a = Arguments.Parse(args, ["--ema-only", "--no-ema", "--prune", "--fix-clip", "--overwrite", "--json", "--dry-run", "--recursive", "--yaml"], ["--dtype", "--vae", "--drop", "--keep-fp32", "--out", "--format", "--max-expansion"]);
        Options o = Options.From(a);
        if (a.Positional.Count == 1 && Directory.Exists(a.Positional[0]))
        {
            return BatchConvert.Run(a.Positional[0], a.Value("--out") ?? throw new UsageException("converting a folder needs --out DIR"), a.Has("--recursive"), o, stdout, stderr);
        }

        if (a.Positional.Count != 2)
        {
            throw new UsageException("convert needs IN and OUT (or a folder and --out DIR): " + Usage);
        }

        string input = a.Positional[0];
        string output = a.Positional[1];
        bool ckpt = OutputIsCkpt(output);
        using ModelFile model = ModelFile.Open(input, a.OpenOptions());
        using ModelFile? vae = o.VaePath is { } vaePath ? ModelFile.Open(vaePath) : null;
        ModelPipeline p = o.Build(model, vae);

        // --yaml: decided on the source before anything is written, so a model without a config fails up front.
        Models.ArchitectureReport? architecture = a.Has("--yaml") ? model.DetectArchitecture() : null;
        if (architecture is not null && !Models.ConfigYaml.IsSupported(architecture.Id))
        {
            throw new ConversionException(SafeCkptErrorCode.UnsupportedFormat, input, $"{input}: is {architecture.Id} ({architecture.Name}); no config yaml exists for it, so --yaml cannot write one. Convert without --yaml.");
        }

        if (o.DryRun)
        {
            DryRun.Print(p.Plan(), model, output, ckpt, o.Json, stdout);
            return ExitCodes.Success;
        }

        // Every output of the run (the model, the yaml) is checked against every input and the overwrite rule
        // before anything is written; the yaml goes to its temporary file first and is renamed after the model.
        string[] inputs = o.VaePath is { } v ? [input, v] : [input];
        string? yaml = architecture is null ? null : Path.ChangeExtension(output, ".yaml");
        IO.AtomicOutput.Check(output, o.Overwrite, inputs);
        if (yaml is not null && IO.FileIdentity.SameFile(yaml, output))
        {
            throw new OutputException(SafeCkptErrorCode.OutputNotWritable, yaml, $"{yaml}: is the same file as the model output {output} (through a symlink or hard link); remove the link or choose another output name.");
        }

        using IO.AtomicOutput? stagedYaml = yaml is null ? null : StageYaml(architecture!, yaml, o.Overwrite, inputs);
        using var progress = ProgressBar.Create(stderr, o.Json);
        ConversionResult r = Save(p, output, ckpt, o.Overwrite, progress);
        progress?.Finish();
        if (stagedYaml is not null)
        {
            try
            {
                stagedYaml.Commit(flushToDisk: false);
            }
            catch (OutputException ex)
            {
                // The model is complete and stays; only the yaml is missing.
                throw new OutputException(ex.Code, yaml, $"{ex.Message} The model {r.OutputPath} was written completely; write its config with: safeckpt yaml {r.OutputPath} --out {yaml}", ex);
            }
        }

        if (o.Json)
        {
            WriteJson(stdout, model, r);
        }
        else
        {
            foreach (string note in r.Plan.Notes.Concat(r.Findings))
            {
                stdout.WriteLine(note);
            }

            stdout.WriteLine(Summary(input, r));
            if (yaml is not null)
            {
                stdout.WriteLine($"Wrote {yaml}: the config for {architecture!.Id} ({architecture.Name}).");
            }
        }

        return ExitCodes.Success;
    }

    /// <summary>Writes the yaml's temporary file; a refusal says the yaml is the file --yaml would write.</summary>
    private static IO.AtomicOutput StageYaml(Models.ArchitectureReport architecture, string yaml, bool overwrite, string[] inputs)
    {
        try
        {
            return Models.ConfigYaml.Stage(architecture, yaml, overwrite, inputs);
        }
        catch (OutputException ex)
        {
            throw new OutputException(ex.Code, yaml, $"{ex.Message} (--yaml writes the config beside the output, as {yaml}; nothing was written.)", ex);
        }
    }

    internal static ConversionResult Save(ModelPipeline p, string output, bool ckpt, bool overwrite, IProgress<SaveProgress>? progress)
    {
        var options = new SaveOptions { Overwrite = overwrite, Progress = progress };
        return ckpt ? p.SaveCkpt(output, options, Interrupt.Token) : p.SaveSafetensors(output, options, Interrupt.Token);
    }

    internal static string Summary(string input, ConversionResult r) =>
        $"Wrote {r.OutputPath}: {Format.Count(r.Plan.Tensors.Count)} tensors ({Format.Count(r.Plan.CastCount)} cast, {Format.Count(r.Plan.Dropped.Count)} dropped), {Format.Bytes(new FileInfo(input).Length)} -> {Format.Bytes(r.OutputFileBytes)} in {r.Elapsed.TotalSeconds:0.0} s.";

    /// <summary>The conversion options of one command line, turned into a pipeline per model.</summary>
    internal sealed record Options(bool EmaOnly, bool NoEma, Models.ModelComponent[] Drop, Models.ModelComponent[] Keep, Tensors.DType? DType, string? VaePath, bool Prune, bool FixClip, bool Overwrite, bool Json, bool DryRun, string? Format)
    {
        public static Options From(Arguments a)
        {
            if (a.Has("--ema-only") && a.Has("--no-ema"))
            {
                throw new UsageException("--ema-only and --no-ema exclude each other");
            }

            Tensors.DType? dtype = a.Value("--dtype") switch
            {
                null => null,
                "fp16" or "f16" or "half" => Tensors.DType.Float16,
                "bf16" => Tensors.DType.BFloat16,
                "fp32" or "f32" or "float" => Tensors.DType.Float32,
                string other => throw new UsageException($"--dtype takes fp16, bf16 or fp32, not '{other}'"),
            };
            Models.ModelComponent[] keep = a.Values("--keep-fp32").Select(ParseComponent).ToArray();
            if (keep.Length > 0 && dtype is null)
            {
                throw new UsageException("--keep-fp32 goes with --dtype");
            }

            string? format = a.Value("--format");
            if (format is not null and not "safetensors" and not "ckpt")
            {
                throw new UsageException($"--format takes safetensors or ckpt, not '{format}'");
            }

            return new Options(a.Has("--ema-only"), a.Has("--no-ema"), a.Values("--drop").Select(ParseComponent).ToArray(), keep, dtype, a.Value("--vae"), a.Has("--prune"), a.Has("--fix-clip"), a.Has("--overwrite"), a.Has("--json"), a.Has("--dry-run"), format);
        }

        public ModelPipeline Build(ModelFile model, ModelFile? vae)
        {
            ModelPipeline p = model.Convert();
            if (EmaOnly)
            {
                p = p.SelectEma(true);
            }
            else if (NoEma)
            {
                p = p.SelectEma(false);
            }

            if (Drop.Length > 0)
            {
                p = p.Drop(Drop);
            }

            if (vae is not null)
            {
                p = p.ReplaceVae(vae);
            }

            if (Prune)
            {
                p = p.Prune();
            }

            if (FixClip)
            {
                p = p.FixClipPositionIds();
            }

            if (DType is { } target)
            {
                Models.ModelComponent[] cast = Keep.Length == 0 ? [] : Enum.GetValues<Models.ModelComponent>().Except(Keep).ToArray();
                p = p.Apply(new CastTransform(target, cast));
            }

            return p;
        }
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
        JsonOutput.Write(stdout, w =>
        {
            w.WriteString("input", model.Path);
            w.WriteString("output", r.OutputPath);
            w.WriteNumber("inputBytes", new FileInfo(model.Path).Length);
            w.WriteNumber("outputBytes", r.OutputFileBytes);
            w.WriteNumber("tensors", r.Plan.Tensors.Count);
            w.WriteNumber("cast", r.Plan.CastCount);
            w.WriteNumber("dropped", r.Plan.Dropped.Count);
            w.WriteNumber("emaSwapped", r.Plan.EmaSwapped);
            w.WriteNumber("seconds", Math.Round(r.Elapsed.TotalSeconds, 3));
            JsonOutput.WriteStrings(w, "notes", [.. r.Plan.Notes, .. r.Findings]);
        });
    }
}

/// <summary>
/// Progress on stderr: a redrawn bar on a terminal; when stderr is redirected, a plain line at every quarter, so
/// logs stay readable. Nothing with <c>--json</c>.
/// </summary>
internal sealed class ProgressBar : IProgress<SaveProgress>, IDisposable
{
    private readonly TextWriter _err;
    private readonly bool _terminal;
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private long _lastDraw = -1;
    private int _lastQuarter;

    private ProgressBar(TextWriter err, bool terminal)
    {
        _err = err;
        _terminal = terminal;
    }

    public static ProgressBar? Create(TextWriter stderr, bool quiet) =>
        quiet ? null : new ProgressBar(stderr, terminal: !Console.IsErrorRedirected);

    public void Report(SaveProgress value)
    {
        double f = value.TotalBytes == 0 ? 1 : (double)value.BytesWritten / value.TotalBytes;
        if (!_terminal)
        {
            int quarter = (int)(f * 4);
            if (quarter > _lastQuarter)
            {
                _lastQuarter = quarter;
                _err.WriteLine($"progress: {quarter * 25}% ({Format.Bytes(value.BytesWritten)} of {Format.Bytes(value.TotalBytes)}, {_watch.Elapsed.TotalSeconds:0.0} s)");
            }

            return;
        }

        long now = _watch.ElapsedMilliseconds;
        if (now - _lastDraw < 100 && value.BytesWritten < value.TotalBytes)
        {
            return;
        }

        _lastDraw = now;
        int filled = (int)(f * 30);
        _err.Write($"\r[{new string('#', filled)}{new string('.', 30 - filled)}] {f * 100,5:0.0}%  {Format.Bytes(value.BytesWritten)} / {Format.Bytes(value.TotalBytes)}   ");
    }

    public void Finish()
    {
        if (_terminal)
        {
            _err.Write("\r" + new string(' ', 78) + "\r");
        }
    }

    public void Dispose()
    {
    }
}
