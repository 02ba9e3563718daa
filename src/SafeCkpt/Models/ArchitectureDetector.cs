using SafeCkpt.Tensors;

namespace SafeCkpt.Models;

/// <summary>
/// Tells which model architecture (or which kind of file) a set of tensors is, from names and shapes, by the
/// rules of A1111, ComfyUI, sd.cpp, diffusers and SwarmUI tried in one documented order (first match wins):
/// LoRA/LyCORIS, embedding, ControlNet and adapters, the DiTs in ComfyUI's order (SD3, Cascade, Stable Audio,
/// AuraFlow, Hunyuan-DiT, HunyuanVideo, Flux/FLUX.2/Chroma, Mochi, LTXV, ACE-Step, PixArt, Cosmos, Lumina 2, Wan,
/// Hunyuan3D, HiDream, OmniGen2, Qwen-Image, Kandinsky 5), diffusers layout, then the LDM UNets (SVD, AltDiffusion,
/// SDXL and its distillations, refiner, SD2 depth, unCLIP, Lotus, x4 upscaler, SD2, SD1 as the fallback), VAE,
/// text encoder. Every id is a record of <c>ArchitectureCatalog</c>. An LDM UNet without VAE and text encoder is reported as
/// <c>unet</c> with its <see cref="ArchitectureReport.BaseArchitecture"/>. <c>modelspec.architecture</c> metadata,
/// <c>modelspec.prediction_type</c> and marker tensors (<c>v_pred</c>, <c>edm_*</c>) are trusted before the weights;
/// a disagreement is reported as a conflict. Tensor bytes are read only for the CLIP position ids and, for
/// SD 2.x, one norm bias (ComfyUI's v-prediction heuristic).
/// </summary>
internal static class ArchitectureDetector
{
    /// <summary>
    /// A yaml line <c>parameterization: v</c> (quoted or not, a comment after it allowed), read without a regex: a
    /// backtracking pattern over an input file made a yaml of newlines take minutes.
    /// </summary>
    private static bool IsVParameterization(string line)
    {
        ReadOnlySpan<char> s = line.AsSpan().Trim();
        if (!s.StartsWith("parameterization:", StringComparison.Ordinal))
        {
            return false;
        }

        s = s["parameterization:".Length..];
        int hash = s.IndexOf('#');
        if (hash >= 0)
        {
            s = s[..hash];
        }

        return s.Trim().Trim("\"'") is "v";
    }

    /// <summary>Detects the architecture of a set of tensors.</summary>
    /// <param name="tensors">The tensors (names and shapes are read; bytes of two or three small tensors).</param>
    /// <param name="metadata">The file's metadata; null for the store's own.</param>
    /// <param name="path">The model file's path, if any: a <c>.yaml</c> of the same name beside it may declare v-prediction.</param>
    /// <returns>The report; never null, <c>unknown</c> with a reason when nothing matched.</returns>
    public static ArchitectureReport Detect(TensorStore tensors, IReadOnlyDictionary<string, string>? metadata = null, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        metadata ??= tensors.Metadata;
        var probe = new LayoutProbe(tensors);
        RuleMatch? match = null;
        List<string> evidence = [];
        foreach (ArchitectureRule rule in ArchitectureRules.All)
        {
            probe.Reset();
            match = rule.Match(probe);
            if (match is not null)
            {
                evidence.Add($"rule: {rule.Family}");
                evidence.AddRange(probe.Evidence);
                break;
            }
        }

        ComponentSummary[] components = Summarize(tensors);
        bool hasTe = components.Any(c => c.Component == ModelComponent.TextEncoder);
        bool hasVae = components.Any(c => c.Component == ModelComponent.Vae);
        match ??= new RuleMatch("unknown", DetectionConfidence.Low, Reason: tensors.Count == 0 ? "the file has no tensors" : $"no rule matched ({Describe(components)})");
        if (ArchitectureCatalog.IsLdmUNet(match.Id) && !hasTe && !hasVae)
        {
            evidence.Add("no VAE and no text encoder keys: a UNet-only file");
            match = match with { Id = "unet", Base = match.Id };
        }

        string weightsId = match.Id;
        IReadOnlyList<string> alternatives = match.Alternatives ?? [];
        if (alternatives.Count > 0)
        {
            evidence.Add($"the same layout fits {string.Join(", ", alternatives)}: metadata or the file name decides");
        }

        string? baseArch = match.Base ?? (IsKind(match.Id) ? null : match.Id);
        string id = match.Id;
        DetectionConfidence confidence = match.Confidence;

        // Metadata first: a known modelspec.architecture decides the id; a disagreement lowers confidence.
        metadata.TryGetValue("modelspec.architecture", out string? spec);
        if (string.IsNullOrWhiteSpace(spec) && Formats.Gguf.GgufArchitectures.ModelSpecOf(tensors.Gguf?.Architecture) is { } fromGguf)
        {
            evidence.Add($"GGUF general.architecture = {tensors.Gguf!.Architecture} (read as modelspec.architecture {fromGguf})");
            spec = fromGguf;
        }
        bool conflict = false;
        if (!string.IsNullOrWhiteSpace(spec))
        {
            (string? metaArch, string? metaKind) = ParseModelSpec(spec);
            if (metaArch is null && metaKind is null)
            {
                evidence.Add($"metadata modelspec.architecture = {spec} (not an architecture SafeCkpt knows; ignored)");
            }
            else
            {
                string? weightsKind = IsKind(weightsId) && weightsId != "unet" ? weightsId : null;
                bool kindDiffers = metaKind != weightsKind && !(metaKind is null && weightsId == "unet");
                bool archDiffers = metaArch is not null && baseArch is not null && !SameArchitecture(metaArch, baseArch) && !alternatives.Contains(metaArch);
                conflict = weightsId != "unknown" && (kindDiffers || archDiffers);
                evidence.Add($"metadata modelspec.architecture = {spec}{(conflict ? $" (the weights say {weightsId}{(baseArch is not null && baseArch != weightsId ? $" / {baseArch}" : string.Empty)})" : string.Empty)}");
                if (conflict || weightsId == "unknown")
                {
                    id = metaKind ?? metaArch!;
                    baseArch = metaArch ?? baseArch;
                    confidence = DetectionConfidence.Low;
                }
                else if (metaArch is not null && !IsKind(id))
                {
                    id = metaArch; // e.g. sd2 vs sd2-v, which the weights cannot tell reliably
                    baseArch = metaArch;
                }
                else if (metaArch is not null)
                {
                    baseArch = metaArch;
                }
            }
        }

        string[] markers = tensors.Tensors.Select(t => t.Name).Where(n => n is "v_pred" or "ztsnr" || n.StartsWith("edm_", StringComparison.Ordinal)).ToArray();
        PredictionType fromWeights = id != weightsId && id is "sd2-v" or "sd2-unclip-l" or "sd2-unclip-h" ? PredictionType.V
            : id != weightsId && id is "sd2" ? PredictionType.Epsilon : match.Prediction; // the metadata's id carries its prediction
        PredictionType prediction = Prediction(fromWeights, metadata, markers, path, evidence);
        if (id == "sd2" && prediction == PredictionType.V)
        {
            id = "sd2-v";
        }
        else if (id == "sd2-v" && prediction == PredictionType.Epsilon)
        {
            id = "sd2";
        }

        if (baseArch == "sd2" && prediction == PredictionType.V)
        {
            baseArch = "sd2-v";
        }

        return new ArchitectureReport
        {
            Id = id,
            Name = ArchitectureCatalog.NameOf(id),
            Confidence = confidence,
            Evidence = evidence,
            Reason = id == "unknown" ? match.Reason ?? "no rule matched" : null,
            BaseArchitecture = baseArch,
            WeightsId = weightsId,
            MetadataArchitecture = spec,
            HasMetadataConflict = conflict,
            PredictionType = prediction,
            Markers = markers,
            Variant = match.Variant,
            Alternatives = alternatives.Where(a => a != id).ToArray(),
            Components = components,
            Parameters = tensors.Tensors.Sum(t => t.ElementCount),
            Bytes = tensors.TotalBytes,
            Ema = EmaOf(components),
            HasVae = hasVae || id == "vae",
            TextEncoders = TextEncodersOf(probe),
            PositionIds = PositionIdsOf(tensors),
        };
    }

    private static bool IsKind(string id) => ArchitectureCatalog.IsKind(id);

    private static bool SameArchitecture(string a, string b) => a == b || (a is "sd2" or "sd2-v" && b is "sd2" or "sd2-v");

    private static (string? Arch, string? Kind) ParseModelSpec(string spec)
    {
        string[] parts = spec.Trim().Split('/', 2);
        string? arch = ArchitectureCatalog.ModelSpec.GetValueOrDefault(parts[0]);
        string? kind = parts.Length > 1 ? ArchitectureCatalog.ModelSpecKinds.GetValueOrDefault(parts[1]) : null;
        return (arch, kind);
    }

    private static PredictionType Prediction(PredictionType fromRule, IReadOnlyDictionary<string, string> metadata, string[] markers, string? path, List<string> evidence)
    {
        if (metadata.TryGetValue("modelspec.prediction_type", out string? p) && p.Trim().ToUpperInvariant() is { } up)
        {
            PredictionType? meta = up switch
            {
                "V" or "V_PREDICTION" or "V-PREDICTION" => PredictionType.V,
                "EPSILON" or "EPS" => PredictionType.Epsilon,
                "EDM" => PredictionType.Edm,
                "FLOW" or "RECTIFIED_FLOW" => PredictionType.Flow,
                _ => null,
            };
            if (meta is { } m)
            {
                evidence.Add($"metadata modelspec.prediction_type = {p}");
                return m;
            }
        }

        if (markers.Any(m => m.StartsWith("edm_vpred", StringComparison.Ordinal)))
        {
            evidence.Add("marker edm_vpred.*: v-prediction with an EDM schedule");
            return PredictionType.VEdm;
        }

        if (markers.Contains("edm_mean") && markers.Contains("edm_std"))
        {
            evidence.Add("markers edm_mean and edm_std: EDM");
            return PredictionType.Edm;
        }

        if (markers.Contains("v_pred"))
        {
            evidence.Add("marker v_pred: v-prediction");
            return PredictionType.V;
        }

        if (path is not null && fromRule is PredictionType.Epsilon or PredictionType.V)
        {
            string yaml = System.IO.Path.ChangeExtension(path, ".yaml");
            try
            {
                if (File.Exists(yaml) && new FileInfo(yaml).Length < 1 << 20)
                {
                    if (File.ReadLines(yaml).Any(IsVParameterization))
                    {
                        evidence.Add($"{yaml}: parameterization \"v\"");
                        return PredictionType.V;
                    }
                }
            }
            catch (IOException)
            {
                // An unreadable config beside the model is no evidence either way.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return fromRule;
    }

    private static ComponentSummary[] Summarize(TensorStore tensors) =>
        tensors.Tensors.GroupBy(t => Components.Classify(t.Name))
            .OrderBy(g => g.Key)
            .Select(g => new ComponentSummary(
                g.Key,
                g.Count(),
                g.Sum(t => t.ElementCount),
                g.Sum(t => t.ByteLength),
                g.GroupBy(t => t.DType).OrderByDescending(d => d.Sum(t => t.ByteLength)).ToDictionary(d => d.Key, d => d.Sum(t => t.ByteLength))))
            .ToArray();

    private static string Describe(ComponentSummary[] components) =>
        string.Join(", ", components.Select(c => $"{c.TensorCount} {c.Component switch { ModelComponent.UNet => "UNet", ModelComponent.Vae => "VAE", ModelComponent.TextEncoder => "text encoder", ModelComponent.Ema => "EMA", _ => "other" }} tensors"));

    private static EmaState EmaOf(ComponentSummary[] components)
    {
        int ema = components.FirstOrDefault(c => c.Component == ModelComponent.Ema)?.TensorCount ?? 0;
        bool unet = components.Any(c => c.Component == ModelComponent.UNet);
        return ema <= 2 ? EmaState.None : unet ? EmaState.BothSets : EmaState.EmaOnly; // decay and num_updates alone are no weights
    }

    private static string[] TextEncodersOf(LayoutProbe p)
    {
        var found = new List<string>();
        void Add(string name)
        {
            if (!found.Contains(name))
            {
                found.Add(name);
            }
        }

        if (p.HasPrefix("cond_stage_model.transformer.") || p.HasPrefix("conditioner.embedders.0.transformer.") || p.HasPrefix("text_encoders.clip_l."))
        {
            Add("clip-l");
        }

        if (p.HasPrefix("cond_stage_model.model."))
        {
            Add("openclip-h");
        }

        if (p.Store.TryGet("conditioner.embedders.0.model.ln_final.weight", out TensorInfo? h) && LayoutProbe.Dim(h, 0) == 1024)
        {
            Add("openclip-h"); // SD 2.x in the SGM layout
        }
        else if (p.HasPrefix("conditioner.embedders.1.model.") || p.HasPrefix("conditioner.embedders.0.model.") || p.HasPrefix("text_encoders.clip_g."))
        {
            Add("clip-g");
        }

        if (p.HasPrefix("text_encoders.t5xxl."))
        {
            Add("t5xxl");
        }

        if (p.HasPrefix("cond_stage_model.roberta."))
        {
            Add("xlm-roberta");
        }

        if (p.Store.TryGet("text_model.embeddings.token_embedding.weight", out TensorInfo? tok))
        {
            Add(LayoutProbe.Dim(tok, 1) switch { 1280 => "clip-g", 1024 => "openclip-h", _ => "clip-l" });
        }

        if (p.HasPrefix("encoder.block.0.layer.0.SelfAttention."))
        {
            Add(p.Store.TryGet("shared.weight", out TensorInfo? shared) && LayoutProbe.Dim(shared, 0) > 200_000 ? "mt5" : "t5");
        }

        return found.ToArray();
    }

    private static PositionIdsCheck[] PositionIdsOf(TensorStore tensors)
    {
        var checks = new List<PositionIdsCheck>();
        foreach (string key in KeyPrefixes.PositionIds)
        {
            if (tensors.TryGet(key, out TensorInfo? info))
            {
                checks.Add(new PositionIdsCheck(key, info.DType, info.Shape, ClipPositionIds.WrongPositions(info, tensors.SourceAt(key))));
            }
        }

        return checks.ToArray();
    }
}
