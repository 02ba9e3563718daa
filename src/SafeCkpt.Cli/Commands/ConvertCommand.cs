using System.CommandLine;
using SafeCkpt.Models;
using SafeCkpt.Tensors;
using SafeCkpt.Transforms;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>safeckpt convert IN [OUT | -o OUT] [--dtype fp16|bf16|fp32|fp8-e4m3fn|fp8-e5m2|fp8-scaled [--legacy-scaled-fp8]]
/// [--ema-only | --no-ema] [--vae FILE] [--prune] [--drop vae|te|unet]... [--keep-fp32 vae|te|unet]... [--fix-clip]
/// [--yaml] [--overwrite] [--dry-run] [--json]</c>, <c>safeckpt convert IN OUT.gguf [--quant q8_0|q5_1|q5_0|q4_1|q4_0|f16|bf16]</c>,
/// or a whole folder with <c>convert DIR -o DIR2</c>. The output format follows OUT's extension; without options the
/// conversion is lossless.
/// </summary>
internal static class ConvertCommand
{
    public static ToolCommand Create(Terminal terminal)
    {
        var input = new Argument<string>("IN") { Description = "The model file to convert, or a folder of model files." };
        var outputArgument = new Argument<string?>("OUT") { Arity = ArgumentArity.ZeroOrOne, Description = "The output file: its extension sets the format (.safetensors, .ckpt/.pt/.pth/.bin for a PyTorch checkpoint, or .gguf for the diffusion model alone as ComfyUI-GGUF loads it). For a folder IN, the output folder. The same as -o." };
        var output = new Option<string?>("--out", "-o") { HelpName = "OUT", Description = "The output file (or, for a folder IN, the output folder), instead of OUT." };
        var dtype = new Option<CastChoice?>("--dtype", "-d")
        {
            HelpName = "TYPE",
            Description = "Cast the floating-point tensors to TYPE, rounding as PyTorch does; integer tensors (CLIP position ids) keep theirs. fp16, bf16, fp32: every floating tensor (F64, F32, F16, BF16, F8); from a scaled fp8 file, the scaled layers are dequantized as ComfyUI does. fp8-e4m3fn, fp8-e5m2: the diffusion model only (norms and biases too), as ComfyUI stores an fp8 model; the VAE and text encoders keep their type. fp8-scaled (e4m3fn), fp8-scaled-e5m2: ComfyUI's scaled fp8, the diffusion model's linear weights in fp8 with a per-tensor scale, the rest unchanged. Without --dtype nothing is cast and the tensors are byte-identical.",
            CustomParser = r => ParseDType(r),
        };
        var quant = new Option<GgufQuantization?>("--quant")
        {
            HelpName = "TYPE",
            Description = "With OUT.gguf: the type of the diffusion model's 2-D weights, q8_0, q5_1, q5_0, q4_1 or q4_0 (quantized exactly as llama.cpp's reference), or f16 / bf16 for every tensor; tensors ComfyUI-GGUF keeps at high precision (1-D, small, embedders, conv_in/conv_out) stay F32/F16 whatever TYPE. [default: bf16 for a bf16 model, else f16, as ComfyUI-GGUF's convert.py]",
            CustomParser = r => ParseQuant(r),
        };
        var legacyScaled = new Option<bool>("--legacy-scaled-fp8") { Description = "With --dtype fp8-scaled: write ComfyUI's legacy layout (a scaled_fp8 marker tensor and .scale_weight per layer, which older loaders read) instead of the current one (.weight_scale, .comfy_quant and _quantization_metadata)." };
        var emaOnly = new Option<bool>("--ema-only") { Description = "Put the EMA weights (model_ema.*) in place of the UNet's, and drop the rest of the EMA copy; an error if the file has none." };
        var noEma = new Option<bool>("--no-ema") { Description = "Drop the EMA weights (model_ema.*) and keep the UNet's: a training checkpoint loses about half its size." };
        var vae = new Option<string?>("--vae") { HelpName = "FILE", Description = "Bake in a standalone VAE (.safetensors, .ckpt, .pt; with or without the first_stage_model. prefix): its tensors replace the model's VAE, each shape checked; a model without a VAE gets it added." };
        var prune = new Option<bool>("--prune") { Description = "Remove the known junk of training checkpoints: the diffusion schedule buffers (betas, alphas_cumprod, ...; every UI recomputes them), the VAE's training loss, textual-inversion embedding managers, LoRA and ControlNet leftovers, CLIP's logit_scale. Markers (v_pred, ztsnr, edm_*, scaled_fp8) are kept." };
        var drop = new Option<ModelComponent[]>("--drop")
        {
            HelpName = "vae|te|unet",
            Description = "Remove a component: vae (first_stage_model.*), te (the text encoders; also text-encoder or clip) or unet (model.diffusion_model.*). Repeat the option for several.",
            CustomParser = r => ParseComponents(r, "--drop"),
        };
        var keep = new Option<ModelComponent[]>("--keep-fp32")
        {
            HelpName = "vae|te|unet",
            Description = "With --dtype: leave this component in the type it has (a VAE is often kept in fp32, where fp16 gives black images) while the rest is cast. Repeat the option for several.",
            CustomParser = r => ParseComponents(r, "--keep-fp32"),
        };
        var fixClip = new Option<bool>("--fix-clip") { Description = "Reset CLIP's position_ids to int64 [0, 1, ..., 76] when they are broken (stored as floats by a merge, off by rounding, or missing), and say which positions were wrong." };
        var noProvenance = new Option<bool>("--no-provenance") { Description = "Do not record where the output came from (safeckpt.* metadata: the source's name and SHA256/AutoV2/AutoV3, the recipe, a baked VAE's hashes; see README, Provenance), and drop any the source carried. Saves one read of each input." };
        var yaml = new Option<bool>("--yaml") { Description = "Also write the config yaml web UIs need beside OUT (named OUT.yaml), for the architectures that have one (see safeckpt yaml --help). Checked before anything is written." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace OUT (and its yaml) if it exists; for a folder, convert files whose output exists instead of skipping them. The output is never one of the inputs, whatever links lead there." };
        var dryRun = new Option<bool>("--dry-run", "-n") { Description = "Print the plan (tensors kept, cast, dropped, taken from the VAE; the output size) and write nothing." };
        var format = new Option<string?>("--format", "-f")
        {
            HelpName = "safetensors|ckpt",
            Description = "For a folder IN: the format of the outputs [default: safetensors]. A single file's format follows OUT's extension.",
        };
        format.AcceptOnlyFromAmong("safetensors", "ckpt");
        var recursive = new Option<bool>("--recursive", "-r") { Description = "For a folder IN: convert the model files of its subfolders too, into the same relative paths under the output folder. Symlinked folders are not followed." };
        Option<bool> json = Opt.Json("Print one JSON object instead of text: input, output, inputBytes, outputBytes, tensors, cast, dropped, emaSwapped, seconds, notes (with --dry-run: the plan).");
        Option<bool> quiet = Opt.Quiet("No progress line and no notes: only the summary line (for a folder: the table and the summary).");
        Option<int?> maxExpansion = Opt.MaxExpansion();
        ToolCommand command = new ToolCommand("convert", "Convert a model file to the format of OUT's extension: .safetensors, .ckpt/.pt/.pth/.bin, or .gguf (the diffusion model only, for ComfyUI-GGUF; the VAE and text encoders are left out and listed). Without options the conversion is lossless (tensors byte-identical). It streams, in bounded memory, and writes nothing if anything is refused. A folder IN converts every model file in it, skips outputs that exist, carries on past bad files and ends with a table.")
        {
            Examples =
            [
                ("safeckpt convert sd15.ckpt sd15-fp16.safetensors --dtype fp16 --no-ema", "the usual: half precision, no EMA, safetensors"),
                ("safeckpt convert sd15.ckpt -o sd15-ema.ckpt --ema-only --vae vae-ft-mse-840000.safetensors --prune", "the EMA weights as the UNet, a better VAE baked in, junk removed"),
                ("safeckpt convert sdxl.safetensors sdxl-bf16.safetensors --dtype bf16 --keep-fp32 vae", "bf16 everywhere but the VAE"),
                ("safeckpt convert model.ckpt out.safetensors --dtype fp16 -n", "the plan; writes nothing"),
                ("safeckpt convert flux-dev.safetensors flux-dev-fp8.safetensors --dtype fp8-scaled", "ComfyUI's scaled fp8: linear weights in fp8 with a per-tensor scale"),
                ("safeckpt convert model-fp8-scaled.safetensors model-bf16.safetensors --dtype bf16", "back out of (scaled) fp8, dequantized as ComfyUI does"),
                ("safeckpt convert model.safetensors model-Q8_0.gguf --quant q8_0", "the UNet / transformer as a Q8_0 GGUF for ComfyUI-GGUF"),
                ("safeckpt convert ~/Downloads -o ~/models -r --dtype fp16", "a folder, with a summary table"),
            ],
            Notes =
            [
                ("Exit codes:", ["0 written; 1 contradictory options; 2 an input is invalid or unreadable, or the conversion is refused (no EMA weights, a VAE of another shape); 3 an input holds unsafe content; 4 OUT exists (without --overwrite), is an input, or cannot be written. A folder exits with the worst of its files."]),
            ],
        }.With(input, outputArgument, output, dtype, quant, legacyScaled, noEma, emaOnly, vae, prune, drop, keep, fixClip, noProvenance, yaml, overwrite, dryRun, format, recursive, json, quiet, maxExpansion);

        // Contradictions are usage errors, found before any file is opened.
        command.Validators.Add(r =>
        {
            ModelComponent[] dropped = Opt.ValueOrDefault(r, drop) ?? [];
            ModelComponent[] kept = Opt.ValueOrDefault(r, keep) ?? [];
            CastChoice? cast = Opt.ValueOrDefault(r, dtype);
            bool gguf = (Opt.ValueOrDefault(r, outputArgument) ?? Opt.ValueOrDefault(r, output)) is { } o && IsGguf(o);
            string? problem =
                Opt.ValueOrDefault(r, quant) is not null && !gguf ? "--quant goes with a .gguf output (it chooses the GGUF tensor type); for safetensors or ckpt use --dtype"
                : gguf && cast is not null ? "a .gguf output takes --quant, not --dtype: its types follow ComfyUI-GGUF's rules (--quant f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0)"
                : gguf && Opt.ValueOrDefault(r, vae) is not null ? "--vae does not go with a .gguf output: a GGUF holds the diffusion model only, the VAE is left out"
                : gguf && Opt.ValueOrDefault(r, yaml) ? "--yaml does not go with a .gguf output: ComfyUI-GGUF needs no config yaml"
                : gguf && Opt.ValueOrDefault(r, dryRun) ? "--dry-run does not go with a .gguf output yet; run without it (nothing is left behind if the conversion is refused)"
                : Opt.ValueOrDefault(r, outputArgument) is not null && Opt.ValueOrDefault(r, output) is not null ? "give the output once: convert IN OUT, or convert IN -o OUT"
                : Opt.ValueOrDefault(r, emaOnly) && Opt.ValueOrDefault(r, noEma) ? "--ema-only and --no-ema exclude each other"
                : kept.Length > 0 && cast is null ? "--keep-fp32 goes with --dtype (it keeps a component out of the cast)"
                : kept.Length > 0 && cast!.IsFloat8 ? "--keep-fp32 does not go with the fp8 types: they cast only the diffusion model, and the VAE and text encoders keep their type anyway"
                : Opt.ValueOrDefault(r, legacyScaled) && cast is not { Scaled: true } ? "--legacy-scaled-fp8 goes with --dtype fp8-scaled (it chooses where the scales go)"
                : Opt.ValueOrDefault(r, legacyScaled) && cast!.Target == DType.Float8E5M2 ? "--legacy-scaled-fp8 holds F8_E4M3 only (ComfyUI's current loader reads every legacy layer as e4m3fn): use --dtype fp8-scaled, or drop --legacy-scaled-fp8"
                : dropped.Intersect(kept).FirstOrDefault() is var both && both != ModelComponent.Other ? $"--drop {ComponentFlag(both)} and --keep-fp32 {ComponentFlag(both)} contradict each other: the component is either removed or kept"
                : dropped.Contains(ModelComponent.Vae) && Opt.ValueOrDefault(r, vae) is not null ? "--drop vae and --vae FILE contradict each other: remove the VAE, or bake in FILE"
                : dropped.Contains(ModelComponent.UNet) && Opt.ValueOrDefault(r, emaOnly) ? "--drop unet and --ema-only contradict each other: --ema-only puts the EMA weights in the UNet's place"
                : dropped.Contains(ModelComponent.TextEncoder) && Opt.ValueOrDefault(r, fixClip) ? "--drop te and --fix-clip contradict each other: the position ids belong to the text encoder"
                : null;
            if (problem is not null)
            {
                r.AddError(problem);
            }
        });
        command.SetRun((r, ct) =>
        {
            CastChoice? cast = r.GetValue(dtype) is { } c ? c with { Legacy = r.GetValue(legacyScaled) } : null;
            var o = new Options(r.GetValue(emaOnly), r.GetValue(noEma), r.GetValue(drop) ?? [], r.GetValue(keep) ?? [], cast, r.GetValue(vae), r.GetValue(prune), r.GetValue(fixClip), r.GetValue(overwrite), r.GetValue(json), r.GetValue(dryRun), r.GetValue(format), r.GetValue(quiet), r.GetValue(maxExpansion) is int n ? new OpenOptions { MaxViewExpansion = n } : OpenOptions.Default) { Provenance = !r.GetValue(noProvenance), Quant = r.GetValue(quant) };
            string inputPath = r.GetValue(input)!;
            string? outputPath = r.GetValue(outputArgument) ?? r.GetValue(output);
            if (Directory.Exists(inputPath))
            {
                string? folderOnly = o.DryRun ? "--dry-run" : o.Json ? "--json" : r.GetValue(yaml) ? "--yaml" : null;
                if (folderOnly is not null)
                {
                    throw new UsageException($"{folderOnly} applies to one file; convert a folder without it");
                }

                return BatchConvert.Run(terminal, inputPath, outputPath ?? throw new UsageException("converting a folder needs an output folder: convert DIR -o DIR2"), r.GetValue(recursive), o, ct);
            }

            if (o.Format is not null)
            {
                throw new UsageException("--format applies to a folder; a single file's format follows OUT's extension (.safetensors, .ckpt, .pt, .pth, .bin, .gguf)");
            }

            return RunOne(terminal, inputPath, outputPath ?? throw new UsageException("convert needs an output: convert IN OUT, or convert IN -o OUT"), r.GetValue(yaml), o, ct);
        });
        return command;
    }

    private static int RunOne(Terminal terminal, string input, string output, bool writeYaml, Options o, CancellationToken cancellationToken)
    {
        bool ckpt = !IsGguf(output) && OutputIsCkpt(output);
        using ModelFile model = ModelFile.Open(input, o.Open);
        using ModelFile? vae = o.VaePath is { } vaePath ? ModelFile.Open(vaePath) : null;
        ModelPipeline p = o.Build(model, vae);

        // --yaml: decided on the source before anything is written, so a model without a config fails up front.
        Models.ArchitectureReport? architecture = writeYaml ? model.DetectArchitecture() : null;
        if (architecture is not null && !Models.ConfigYaml.IsSupported(architecture.Id))
        {
            throw new ConversionException(SafeCkptErrorCode.UnsupportedFormat, input, $"{input}: is {architecture.Id} ({architecture.Name}); no config yaml exists for it, so --yaml cannot write one. Convert without --yaml.");
        }

        if (o.DryRun)
        {
            DryRun.Print(p.Plan(), model, output, ckpt, o.Json, terminal.Out);
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
        ConversionResult r;
        using (ProgressDisplay progress = ProgressDisplay.Start(terminal, Path.GetFileName(output), 0, ProgressUnit.Bytes, o.Json || o.Quiet))
        {
            r = Save(p, output, ckpt, o, progress.ForSave(), cancellationToken);
        }

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
            WriteJson(terminal.Out, model, r);
        }
        else
        {
            foreach (string note in o.Quiet ? [] : r.Plan.Notes.Concat(r.Findings))
            {
                terminal.Out.WriteLine(note);
            }

            terminal.Out.WriteLine(Summary(input, r));
            if (yaml is not null)
            {
                terminal.Out.WriteLine($"Wrote {yaml}: the config for {architecture!.Id} ({architecture.Name}).");
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

    internal static ConversionResult Save(ModelPipeline p, string output, bool ckpt, Options o, IProgress<SaveProgress>? progress, CancellationToken cancellationToken)
    {
        var options = new SaveOptions { Overwrite = o.Overwrite, Progress = progress, Provenance = o.Provenance };
        if (IsGguf(output))
        {
            return p.SaveGguf(output, o.Quant ?? DefaultQuant(p.Source), options, cancellationToken);
        }

        return ckpt ? p.SaveCkpt(output, options, cancellationToken) : p.SaveSafetensors(output, options, cancellationToken);
    }

    internal static string Summary(string input, ConversionResult r) =>
        $"Wrote {r.OutputPath}: {Format.Count(r.Plan.Tensors.Count)} tensors ({Format.Count(r.Plan.CastCount)} cast, {Format.Count(r.Plan.Dropped.Count)} dropped), {Format.Bytes(new FileInfo(input).Length)} -> {Format.Bytes(r.OutputFileBytes)} in {r.Elapsed.TotalSeconds:0.0} s.";

    /// <summary>The conversion options of one command line, turned into a pipeline per model.</summary>
    internal sealed record Options(bool EmaOnly, bool NoEma, ModelComponent[] Drop, ModelComponent[] Keep, CastChoice? DType, string? VaePath, bool Prune, bool FixClip, bool Overwrite, bool Json, bool DryRun, string? Format, bool Quiet, OpenOptions Open)
    {
        /// <summary>The GGUF type (<c>--quant</c>); null for the default.</summary>
        public GgufQuantization? Quant { get; init; }

        /// <summary>Record the output's provenance (off with --no-provenance).</summary>
        public bool Provenance { get; init; } = true;

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

            if (DType is { Scaled: true } scaled)
            {
                p = p.Apply(new ScaledFloat8Transform(scaled.Target, scaled.Legacy ? ScaledFloat8Layout.LegacyScaledFp8 : ScaledFloat8Layout.ComfyQuant));
            }
            else if (DType is { IsFloat8: true } fp8)
            {
                p = p.Apply(CastTransform.DiffusionModel(fp8.Target));
            }
            else if (DType is { } plain)
            {
                ModelComponent[] cast = Keep.Length == 0 ? [] : Enum.GetValues<ModelComponent>().Except(Keep).ToArray();
                p = p.Apply(new CastTransform(plain.Target, cast));
            }

            return p;
        }
    }

    /// <summary>What <c>--dtype</c> asks for: a plain cast to <paramref name="Target"/>, or (<paramref name="Scaled"/>) ComfyUI's scaled fp8 in that format.</summary>
    internal sealed record CastChoice(DType Target, bool Scaled = false, bool Legacy = false)
    {
        public bool IsFloat8 => Target is DType.Float8E4M3 or DType.Float8E5M2;
    }

    internal static bool OutputIsCkpt(string output) => Path.GetExtension(output).ToLowerInvariant() switch
    {
        ".safetensors" => false,
        ".ckpt" or ".pt" or ".pth" or ".bin" => true,
        string ext => throw new UsageException($"cannot tell the output format from '{ext}': use .safetensors, .ckpt/.pt/.pth/.bin for a PyTorch checkpoint, or .gguf"),
    };

    internal static bool IsGguf(string output) => string.Equals(Path.GetExtension(output), ".gguf", StringComparison.OrdinalIgnoreCase);

    /// <summary>convert.py's choice: BF16 when most tensors are bf16, else F16.</summary>
    private static GgufQuantization DefaultQuant(ModelFile model) =>
        model.Tensors.Entries().GroupBy(e => e.Info.DType).MaxBy(g => g.Count())?.Key == DType.BFloat16 ? GgufQuantization.BF16 : GgufQuantization.F16;

    private static GgufQuantization? ParseQuant(System.CommandLine.Parsing.ArgumentResult r)
    {
        string text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : string.Empty;
        GgufQuantization? q = text.ToLowerInvariant() switch
        {
            "q8_0" => GgufQuantization.Q8_0,
            "q5_1" => GgufQuantization.Q5_1,
            "q5_0" => GgufQuantization.Q5_0,
            "q4_1" => GgufQuantization.Q4_1,
            "q4_0" => GgufQuantization.Q4_0,
            "f16" or "fp16" => GgufQuantization.F16,
            "bf16" => GgufQuantization.BF16,
            _ => null,
        };
        if (q is null)
        {
            r.AddError($"--quant takes q8_0, q5_1, q5_0, q4_1, q4_0, f16 or bf16, not '{text}'" + (text.Contains("_k", StringComparison.OrdinalIgnoreCase) ? " (K-quants are not written yet)" : string.Empty));
        }

        return q;
    }

    /// <summary>The components named by an option's values (vae, te, unet).</summary>
    private static ModelComponent[] ParseComponents(System.CommandLine.Parsing.ArgumentResult r, string option)
    {
        var components = new List<ModelComponent>();
        foreach (string s in r.Tokens.Select(t => t.Value))
        {
            ModelComponent? c = s switch
            {
                "vae" => ModelComponent.Vae,
                "te" or "text-encoder" or "clip" => ModelComponent.TextEncoder,
                "unet" => ModelComponent.UNet,
                _ => null,
            };
            if (c is null)
            {
                r.AddError($"{option} takes vae, te or unet, not '{s}'");
                return [];
            }

            components.Add(c.Value);
        }

        return [.. components];
    }

    private static CastChoice? ParseDType(System.CommandLine.Parsing.ArgumentResult r)
    {
        string text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : string.Empty;
        switch (text)
        {
            case "fp16" or "f16" or "half":
                return new CastChoice(DType.Float16);
            case "bf16":
                return new CastChoice(DType.BFloat16);
            case "fp32" or "f32" or "float":
                return new CastChoice(DType.Float32);
            case "fp8" or "fp8-e4m3fn" or "float8_e4m3fn" or "f8_e4m3":
                return new CastChoice(DType.Float8E4M3);
            case "fp8-e5m2" or "float8_e5m2" or "f8_e5m2":
                return new CastChoice(DType.Float8E5M2);
            case "fp8-scaled" or "fp8_scaled" or "fp8-scaled-e4m3fn":
                return new CastChoice(DType.Float8E4M3, Scaled: true);
            case "fp8-scaled-e5m2":
                return new CastChoice(DType.Float8E5M2, Scaled: true);
            default:
                r.AddError($"--dtype takes fp16, bf16, fp32, fp8-e4m3fn, fp8-e5m2 or fp8-scaled, not '{text}'");
                return null;
        }
    }

    private static string ComponentFlag(ModelComponent c) => c switch
    {
        ModelComponent.Vae => "vae",
        ModelComponent.TextEncoder => "te",
        _ => "unet",
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
