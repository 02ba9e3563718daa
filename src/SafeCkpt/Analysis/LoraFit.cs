using System.Globalization;
using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Analysis;

/// <summary>
/// Whether a LoRA fits a model, decided as ComfyUI's loader decides it (comfy/lora.py <c>load_lora</c> with the key
/// map of <see cref="LoraKeyMap"/>, then the weight adapters' shape arithmetic), from names and shapes only: no
/// tensor bytes are read. The verdict also weighs the base architecture the LoRA was made for, so that a LoRA whose
/// few layers happen to share names and shapes with another architecture is not called a partial fit.
/// </summary>
internal static class LoraFit
{
    /// <summary>Short names of architecture families for the verdict line.</summary>
    private static readonly Dictionary<string, string> FamilyNames = new(StringComparer.Ordinal)
    {
        ["sd1"] = "SD 1.x",
        ["sd2"] = "SD 2.x",
        ["sdxl"] = "SDXL",
        ["flux"] = "Flux",
        ["flux2"] = "FLUX.2",
        ["sd3"] = "SD3",
        ["cascade"] = "Stable Cascade",
        ["pixart"] = "PixArt",
        ["hunyuan-video"] = "HunyuanVideo",
        ["wan"] = "Wan",
        ["lumina"] = "Lumina",
        ["qwen-image"] = "Qwen-Image",
        ["hidream"] = "HiDream",
        ["auraflow"] = "AuraFlow",
    };

    /// <summary>Module-name prefixes and the naming they show.</summary>
    private static readonly (string Prefix, string Naming)[] Namings =
    [
        ("lora_unet_", "kohya"), ("lora_te", "kohya"), ("lora_prior_", "kohya"), ("lycoris_", "lycoris"), ("lora_transformer_", "onetrainer"),
        ("unet.", "diffusers"), ("text_encoder", "diffusers"), ("transformer.", "diffusers"), ("base_model.model.", "peft"),
        ("diffusion_model.", "comfyui"),
    ];

    /// <summary>The modules of a LoRA matched against a model: the core, on names and shapes.</summary>
    /// <param name="Modules">Every module, in the LoRA's key order.</param>
    /// <param name="Unknown">Keys that belong to no module ComfyUI reads.</param>
    /// <param name="Map">The model's key map.</param>
    internal sealed record LoraMatch(IReadOnlyList<LoraModuleFit> Modules, IReadOnlyList<string> Unknown, LoraKeyMap Map);

    /// <summary>Matches a LoRA's modules against a model's weights by ComfyUI's rules.</summary>
    /// <param name="lora">The LoRA's tensors (names and shapes).</param>
    /// <param name="model">The model's tensors (names and shapes).</param>
    /// <returns>Every module and what happens to it.</returns>
    public static LoraMatch Match(IReadOnlyList<TensorInfo> lora, IReadOnlyList<TensorInfo> model)
    {
        ArgumentNullException.ThrowIfNull(lora);
        ArgumentNullException.ThrowIfNull(model);
        LoraKeyMap map = LoraKeyMap.For(model);
        (IReadOnlyList<LoraModule> modules, IReadOnlyList<string> unknown) = LoraModule.Parse(lora);
        return new LoraMatch(modules.Select(m => Fit(m, map)).ToList(), unknown, map);
    }

    /// <summary>Checks a LoRA against a model and writes the verdict.</summary>
    /// <param name="lora">The LoRA's tensors and metadata.</param>
    /// <param name="loraName">The LoRA's file name, for errors.</param>
    /// <param name="model">The model's tensors.</param>
    /// <param name="modelName">The model's file name, for errors.</param>
    /// <param name="modelArchitecture">What the model is.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ConversionException">The LoRA is not a LoRA, or the model is one.</exception>
    public static LoraFitReport Check(TensorStore lora, string loraName, TensorStore model, string modelName, ArchitectureReport modelArchitecture)
    {
        ArgumentNullException.ThrowIfNull(lora);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(modelArchitecture);
        RuleMatch? rule = LoraRules.Match(new LayoutProbe(lora));
        if (rule is null)
        {
            ArchitectureReport what = ArchitectureDetector.Detect(lora);
            string swapped = what.Id != "unknown" && !ArchitectureCatalog.IsKind(what.Id) ? " (are LORA and MODEL the other way round?)" : string.Empty;
            throw new ConversionException(SafeCkptErrorCode.NotALora, loraName, $"{loraName}: is not a LoRA but {Describe(what)}; fit takes the LoRA first, then the model{swapped}.");
        }

        if (modelArchitecture.Id == "lora")
        {
            throw new ConversionException(SafeCkptErrorCode.NotALora, modelName, $"{modelName}: is a LoRA too, not a model to apply one to; fit takes the LoRA first, then the model (a checkpoint or diffusion model).");
        }

        LoraMatch match = Match(lora.Tensors, model.Tensors);
        (string? claimed, string? claimedBy) = LoraBaseClaims.Of(lora.Metadata);
        string kind = rule.Variant ?? "lora";
        if (kind == "lora" && lora.Tensors.Any(t => t.Name.EndsWith(".lora_down.weight", StringComparison.Ordinal) && t.Shape.Count == 4 && t.Shape[2] * t.Shape[3] > 1))
        {
            kind = "locon"; // 3x3 conv modules: LyCORIS LoCon, kohya's LoRA-C3Lier
        }

        string? trainedOn = lora.Metadata.TryGetValue("ss_sd_model_name", out string? n) && n.Trim().Length > 0 ? n.Trim() : null;
        return Judge(match, kind, NamingOf(match.Modules), rule.Base, claimed, claimedBy, trainedOn, modelArchitecture);
    }

    /// <summary>The verdict, its line and the advice, from the matched modules.</summary>
    internal static LoraFitReport Judge(LoraMatch match, string kind, string naming, string? weightsBase, string? claimed, string? claimedBy, string? trainedOn, ArchitectureReport model)
    {
        IReadOnlyList<LoraModuleFit> all = match.Modules;
        var checkedModules = all.Where(m => m.Status != LoraModuleStatus.NotChecked).ToList();
        int total = checkedModules.Count;
        int applied = checkedModules.Count(m => m.Status == LoraModuleStatus.Applies);
        int mismatched = checkedModules.Count(m => m.Status == LoraModuleStatus.ShapeMismatch);
        int nowhere = total - applied - mismatched;
        int notChecked = all.Count - total;
        string dmPart = match.Map.Layout == DiffusionLayout.LdmUNet ? "UNet" : "diffusion model";

        string? loraBase = weightsBase ?? claimed;
        string modelId = model.BaseArchitecture ?? model.Id;
        string? loraFamily = FamilyOf(loraBase);
        string? modelFamily = FamilyOf(modelId);
        bool otherBase = loraFamily is not null && modelFamily is not null && loraFamily != modelFamily;

        LoraFitVerdict verdict = total == 0 || applied == 0 || otherBase ? LoraFitVerdict.DoesNotFit
            : applied == total ? LoraFitVerdict.Fits
            : LoraFitVerdict.PartlyFits;

        string Part(LoraPart p) => p == LoraPart.DiffusionModel ? dmPart : "text encoder";
        string parts = string.Join(", ", checkedModules.Where(m => m.Status == LoraModuleStatus.Applies).GroupBy(m => m.Part).OrderBy(g => g.Key).Select(g => $"{Part(g.Key)} {Count(g.Count())}"));
        var tails = new List<string>();
        if (nowhere > 0)
        {
            tails.Add($"{Count(nowhere)} {(nowhere == 1 ? "has" : "have")} no weight to go to");
        }

        if (mismatched > 0)
        {
            tails.Add($"{Count(mismatched)} {(mismatched == 1 ? "has" : "have")} the wrong shape");
        }

        string tail = tails.Count > 0 ? "; " + string.Join(", ", tails) : string.Empty;
        string counts = $"{Count(applied)} of {Count(total)} modules apply";
        string notCheckedTail = notChecked == 0 ? string.Empty
            : "; " + string.Join("; ", all.Where(m => m.Status == LoraModuleStatus.NotChecked).GroupBy(m => m.Part).OrderBy(g => g.Key)
                .Select(g => $"{Count(g.Count())} {Part(g.Key)} modules not checked (the model file has no {Part(g.Key)})"));
        string summary = verdict switch
        {
            _ when all.Count == 0 => $"does not fit: none of its {Count(match.Unknown.Count)} keys is a LoRA weight ComfyUI reads",
            _ when total == 0 => "not checked: the model file holds no part this LoRA is for" + notCheckedTail,
            LoraFitVerdict.Fits => $"fits: {counts} ({parts}){notCheckedTail}",
            LoraFitVerdict.PartlyFits => $"partly fits: {counts} ({parts}){tail}{notCheckedTail}",
            _ when otherBase => $"{NameOf(loraBase!)} LoRA on {Article(NameOf(modelId))} {NameOf(modelId)} model: {counts}{tail}{notCheckedTail}",
            _ => $"does not fit: {counts}{tail}{notCheckedTail}",
        };

        var advice = new List<string>();
        string trained = trainedOn is null ? string.Empty : $" (it was trained on {trainedOn})";
        if (otherBase)
        {
            string why = weightsBase is not null ? "its weights show it" + (claimed is not null && FamilyOf(claimed) == loraFamily ? $" and its metadata says so, {claimedBy}" : string.Empty) : $"its metadata says so, {claimedBy}";
            advice.Add($"The LoRA was made for {NameOf(loraBase!)}{trained}: {why}. Use it with {Article(NameOf(loraBase!))} {NameOf(loraBase!)} model, or find a version of it made for {NameOf(modelId)}."
                + (applied > 0 ? $" The {Count(applied)} modules that would load share only a name and a shape with this model's layers." : string.Empty));
        }
        else if (total > 0 && applied == 0)
        {
            string made = loraBase is not null ? $"for {ArchitectureCatalog.NameOf(loraBase)}" : "for another model";
            advice.Add($"Nothing of it applies to this {ArchitectureCatalog.NameOf(modelId)} model: the LoRA was made {made}{trained}; use it with that model.");
        }

        if (claimed is not null && weightsBase is not null && FamilyOf(claimed) is { } cf && FamilyOf(weightsBase) is { } wf && cf != wf)
        {
            advice.Add($"Its metadata says {NameOf(claimed)} ({claimedBy}) but its weights are {NameOf(weightsBase)}'s; the weights decide what loads.");
        }

        int diffusers = all.Count(m => m.Status == LoraModuleStatus.NoTarget && m.Detail == DiffusersNameReason);
        if (diffusers > 0)
        {
            advice.Add($"{Count(diffusers)} modules use diffusers' UNet names (unet.<layer>.to_q.lora.down.weight and the like), which ComfyUI does not read: "
                + "diffusers loads them as they are; for ComfyUI convert the LoRA to kohya names (e.g. diffusers' scripts/convert_diffusers_sdxl_lora_to_webui.py).");
        }

        if (!otherBase && nowhere - diffusers > 0 && applied > 0)
        {
            advice.Add($"ComfyUI skips the {Count(nowhere - diffusers)} modules with no weight to go to (\"lora key not loaded\"): the LoRA may be for a variant of this architecture (a distilled, pruned or refiner model) or trained with other layer names.");
        }

        if (!otherBase && mismatched > 0)
        {
            advice.Add($"ComfyUI logs an ERROR for each of the {Count(mismatched)} modules with the wrong shape and leaves those weights unchanged.");
        }

        foreach (IGrouping<LoraPart, LoraModuleFit> g in all.Where(m => m.Status == LoraModuleStatus.NotChecked).GroupBy(m => m.Part))
        {
            advice.Add(g.Key == LoraPart.TextEncoder
                ? $"The model file has no text encoder: the {Count(g.Count())} text-encoder modules land on the one loaded beside it (a CLIP loader in ComfyUI), which this check does not see."
                : $"The model file has no diffusion model: the {Count(g.Count())} {dmPart} modules land on the one loaded beside it, which this check does not see.");
        }

        int unknownNames = all.Count(m => m.Status == LoraModuleStatus.NoTarget && m.Part == LoraPart.DiffusionModel);
        if (match.Map.Layout == DiffusionLayout.Other && match.Map.HasDiffusionModel && unknownNames > 0 && model.Id != "diffusers-layout")
        {
            advice.Add($"For {ArchitectureCatalog.NameOf(modelId)} SafeCkpt knows only ComfyUI's generic names (lora_unet_<key>, diffusion_model.<key>); "
                + $"ComfyUI reads some architectures' own LoRA names too (diffusers, SimpleTuner, OneTrainer), so some of the {Count(unknownNames)} modules reported without a weight may load there.");
        }

        if (model.Id == "diffusers-layout")
        {
            advice.Add("The model is in diffusers layout (down_blocks.*, not model.diffusion_model.*): ComfyUI converts it to the LDM layout before applying a LoRA, which this check does not do; convert the model to a single file, or check the LoRA against the checkpoint it came from.");
        }

        if (match.Unknown.Count > 0)
        {
            advice.Add(kind == "cloneofsimo"
                ? "This is the early cloneofsimo LoRA format (unet:N:up, text_encoder:N:down keys), which ComfyUI does not load; convert it to kohya's format first."
                : $"{Count(match.Unknown.Count)} keys are no LoRA weight ComfyUI reads (e.g. {string.Join(", ", match.Unknown.Take(3))}); it reports them as \"lora key not loaded\".");
        }

        return new LoraFitReport
        {
            Verdict = verdict,
            Summary = summary,
            Advice = advice,
            LoraKind = kind,
            LoraNaming = naming,
            ClaimedBase = claimed,
            ClaimedBy = claimedBy,
            WeightsBase = weightsBase,
            ModelArchitecture = model.Id,
            Modules = total,
            Applied = applied,
            NotChecked = notChecked,
            NotApplied = checkedModules.Where(m => m.LandsNowhere).Select(m => m.Module).ToList(),
            ShapeMismatches = checkedModules.Where(m => m.Status == LoraModuleStatus.ShapeMismatch).Select(m => $"{m.Module}: {m.Detail}").ToList(),
            Details = all,
            UnknownKeys = match.Unknown,
            DiffusionPart = dmPart,
        };
    }

    /// <summary>The reason given for a diffusers-named UNet module ComfyUI does not map.</summary>
    internal const string DiffusersNameReason = "a diffusers UNet name, which ComfyUI reads only as kohya's lora_unet_... or the old ...processor.to_q_lora form";

    private static LoraModuleFit Fit(LoraModule m, LoraKeyMap map)
    {
        var keys = m.Keys.ToList();
        if (!map.Names.TryGetValue(m.Name, out LoraTarget? target))
        {
            LoraPart part = IsTextEncoderName(m.Name) ? LoraPart.TextEncoder : LoraPart.DiffusionModel;
            bool absent = part == LoraPart.TextEncoder ? !map.HasTextEncoder : !map.HasDiffusionModel;
            return new LoraModuleFit(m.Name, absent ? LoraModuleStatus.NotChecked : LoraModuleStatus.NoTarget, part, null,
                absent ? $"the model file has no {(part == LoraPart.TextEncoder ? "text encoder" : "diffusion model")}" : NoTargetReason(m.Name, map), [], keys);
        }

        LoraPart at = target.Weight.StartsWith("diffusion_model.", StringComparison.Ordinal) ? LoraPart.DiffusionModel : LoraPart.TextEncoder;
        (IReadOnlySet<string> read, LoraPatch? weight, LoraPatch? bias) = m.Load();
        var loaded = m.Tensors.Keys.Where(read.Contains).Select(s => m.Name + s).ToList();
        var notLoaded = m.Tensors.Keys.Where(s => !read.Contains(s)).Select(s => m.Name + s).ToList();
        string? targetName = map.Weights.TryGetValue(target.Weight, out ModelWeight? w) ? w.Describe(target.Start, target.Rows) : null;
        if (weight is null && bias is null)
        {
            return new LoraModuleFit(m.Name, LoraModuleStatus.Incomplete, at, targetName, "its keys make no change ComfyUI knows", loaded, notLoaded);
        }

        LoraModuleStatus status = LoraModuleStatus.Applies;
        string? detail = null;
        foreach (LoraPatch p in new[] { weight, bias }.OfType<LoraPatch>())
        {
            LoraTarget? t = p.Bias ? BiasOf(target) : target;
            IReadOnlyList<long>? shape = t is null ? null : map.ShapeOf(t);
            if (shape is null)
            {
                if (status == LoraModuleStatus.Applies)
                {
                    status = LoraModuleStatus.TargetMissing;
                    detail = $"ComfyUI knows the name, but this model has no {(t ?? target).Weight} (\"NOT LOADED\")";
                }
            }
            else if (p.MismatchWith(shape) is not null)
            {
                status = LoraModuleStatus.ShapeMismatch;
                string file = map.Weights[t!.Weight].Describe(t.Start, t.Rows);
                detail = p.Broken ?? $"LoRA {Change(p.Shape!)} vs weight {file} {Weight(shape)}";
            }
        }

        return new LoraModuleFit(m.Name, status, at, targetName, detail, loaded, notLoaded);
    }

    private static LoraTarget? BiasOf(LoraTarget t) =>
        t.Rows is null && t.Weight.EndsWith(".weight", StringComparison.Ordinal) ? new LoraTarget(t.Weight[..^".weight".Length] + ".bias") : null;

    private static string NoTargetReason(string module, LoraKeyMap map)
    {
        if (map.Layout == DiffusionLayout.LdmUNet)
        {
            string bare = module.StartsWith("unet.", StringComparison.Ordinal) ? module["unet.".Length..] : module;
            if (map.DiffusersLayers.Contains(bare))
            {
                return DiffusersNameReason;
            }
        }

        return "no weight of this model has this name";
    }

    /// <summary>Whether a module name is a text encoder's in the naming schemes ComfyUI reads.</summary>
    internal static bool IsTextEncoderName(string module) =>
        module.StartsWith("lora_te", StringComparison.Ordinal) || module.StartsWith("lora_prior_te", StringComparison.Ordinal) || module.StartsWith("text_encoder", StringComparison.Ordinal);

    /// <summary>The naming most modules follow.</summary>
    internal static string NamingOf(IReadOnlyList<LoraModuleFit> modules) =>
        modules.Select(m => Namings.FirstOrDefault(n => m.Module.StartsWith(n.Prefix, StringComparison.Ordinal)).Naming ?? "other")
            .GroupBy(n => n).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault() ?? "other";

    private static string? FamilyOf(string? id) =>
        id is not null && ArchitectureCatalog.Get(id) is { Kind: ArchitectureKind.Model } a ? a.Family : null;

    private static string NameOf(string id) => FamilyOf(id) is { } f && FamilyNames.TryGetValue(f, out string? n) ? n : ArchitectureCatalog.NameOf(id);

    /// <summary>"an SD 1.x", "an SDXL", "a Flux": SD is read letter by letter.</summary>
    private static string Article(string name) =>
        (name.StartsWith("SD", StringComparison.Ordinal) && (name.Length == 2 || !char.IsLower(name[2]))) || "AEIOU".Contains(name[0], StringComparison.Ordinal) ? "an" : "a";

    private static string Describe(ArchitectureReport r) => r.Id == "unknown" ? "no kind of file SafeCkpt knows" : $"{Article(r.Name)} {r.Name} file";

    /// <summary>A change as widths: "768 → 320 (linear)", "320 → 640 (3×3 conv)".</summary>
    private static string Change(IReadOnlyList<long> s) => s.Count switch
    {
        2 => Inv($"{s[1]} → {s[0]} (linear)"),
        4 => Inv($"{s[1]} → {s[0]} ({s[2]}×{s[3]} conv)"),
        _ => "[" + string.Join(", ", s) + "]",
    };

    private static string Weight(IReadOnlyList<long> s) => "[" + string.Join(", ", s) + "]" + (s.Count == 4 ? Inv($" ({s[2]}×{s[3]} conv)") : s.Count == 2 ? " (linear)" : string.Empty);

    private static string Count(int n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
