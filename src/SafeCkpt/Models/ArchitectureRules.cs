using SafeCkpt.Tensors;
using static SafeCkpt.Models.DetectionConfidence;

namespace SafeCkpt.Models;

/// <summary>What a rule decided.</summary>
internal sealed record RuleMatch(string Id, DetectionConfidence Confidence, PredictionType Prediction = PredictionType.Unknown, string? Base = null, string? Reason = null);

/// <summary>One row of the rule table: a name for the docs and the test that returns a match or null.</summary>
internal sealed record ArchitectureRule(string Family, Func<LayoutProbe, RuleMatch?> Match);

/// <summary>
/// The architecture rules, in the order they are tried; the first that matches wins. Sources: A1111
/// <c>guess_model_config_from_state_dict</c> and <c>set_model_type</c>, ComfyUI <c>detect_unet_config</c> and
/// <c>supported_models</c>, sd.cpp, diffusers, SwarmUI (research/converters.md sections 2.4, 3.3, 5.5, 6, 7).
/// Kinds of file with unmistakable keys (LoRA, embedding, ControlNet) come first, then the DiTs by their unique
/// block names, then diffusers-layout files, then the LDM UNets from the most specific (SDXL) to the fallback
/// (SD 1.x), then lone VAEs and text encoders. Model keys are looked up with or without the
/// <c>model.diffusion_model.</c> prefix.
/// </summary>
internal static class ArchitectureRules
{
    /// <summary>The people's name of every id.</summary>
    public static IReadOnlyDictionary<string, string> Names { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["sd1"] = "Stable Diffusion 1.x",
        ["sd1-inpaint"] = "Stable Diffusion 1.x inpainting",
        ["sd1-pix2pix"] = "Stable Diffusion 1.x InstructPix2Pix",
        ["sd2"] = "Stable Diffusion 2.x (512, epsilon)",
        ["sd2-v"] = "Stable Diffusion 2.x (768, v-prediction)",
        ["sd2-inpaint"] = "Stable Diffusion 2.x inpainting",
        ["sd2-depth"] = "Stable Diffusion 2 depth-to-image",
        ["sd2-unclip-l"] = "Stable Diffusion 2.1 unCLIP (CLIP ViT-L)",
        ["sd2-unclip-h"] = "Stable Diffusion 2.1 unCLIP (OpenCLIP ViT-H)",
        ["sdxl"] = "Stable Diffusion XL base",
        ["sdxl-refiner"] = "Stable Diffusion XL refiner",
        ["sdxl-inpaint"] = "Stable Diffusion XL inpainting",
        ["ssd-1b"] = "Segmind SSD-1B (distilled SDXL)",
        ["segmind-vega"] = "Segmind Vega (distilled SDXL)",
        ["sd3"] = "Stable Diffusion 3 medium",
        ["sd3.5-medium"] = "Stable Diffusion 3.5 medium",
        ["sd3.5-large"] = "Stable Diffusion 3.5 large",
        ["flux-dev"] = "FLUX.1 dev",
        ["flux-schnell"] = "FLUX.1 schnell",
        ["flux-fill"] = "FLUX.1 Fill (inpainting)",
        ["cascade-c"] = "Stable Cascade stage C",
        ["cascade-b"] = "Stable Cascade stage B",
        ["pixart-alpha"] = "PixArt-α",
        ["pixart-sigma"] = "PixArt-Σ",
        ["auraflow"] = "AuraFlow",
        ["hunyuan-dit"] = "Hunyuan-DiT",
        ["vae"] = "VAE (autoencoder only)",
        ["text-encoder"] = "Text encoder(s) only",
        ["unet"] = "UNet only (no VAE, no text encoder)",
        ["lora"] = "LoRA / LyCORIS network",
        ["controlnet"] = "ControlNet",
        ["embedding"] = "Textual-inversion embedding",
        ["diffusers-layout"] = "Diffusers-layout weights (not an LDM single file)",
        ["unknown"] = "Unknown",
    };

    /// <summary>The ids that are LDM UNet checkpoints: reported as <c>unet</c> when the file has no VAE and no text encoder.</summary>
    public static IReadOnlySet<string> UNetIds { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "sd1", "sd1-inpaint", "sd1-pix2pix", "sd2", "sd2-v", "sd2-inpaint", "sd2-depth", "sd2-unclip-l", "sd2-unclip-h",
        "sdxl", "sdxl-refiner", "sdxl-inpaint", "ssd-1b", "segmind-vega",
    };

    /// <summary>The rules in the order they are tried.</summary>
    public static IReadOnlyList<ArchitectureRule> All { get; } =
    [
        new("lora", Lora),
        new("embedding", Embedding),
        new("controlnet", ControlNet),
        new("sd3 / sd3.5 (MMDiT)", Sd3),
        new("stable cascade", Cascade),
        new("auraflow", p => p.HasM("double_layers.0.attn.w1q.weight")
            ? new RuleMatch("auraflow", LayoutProbe.Dim(p.M("cond_seq_linear.weight"), 1) == 2048 ? High : Medium, PredictionType.Flow)
            : null),
        new("hunyuan-dit", p => p.HasM("mlp_t5.0.weight")
            ? new RuleMatch("hunyuan-dit", p.HasM("x_embedder.proj.weight") ? High : Medium, PredictionType.V)
            : null),
        new("flux", Flux),
        new("pixart", p => p.HasM("t_block.1.weight")
            ? (p.HasM("ar_embedder.mlp.0.weight") ? new RuleMatch("pixart-alpha", High, PredictionType.Epsilon)
                : new RuleMatch("pixart-sigma", p.LacksM("ar_embedder.mlp.0.weight") && p.HasM("y_embedder.y_proj.fc1.weight") && p.CountIndexed(p.ModelPrefix + "blocks.") == 28 ? High : Medium, PredictionType.Epsilon))
            : null),
        new("diffusers-layout", Diffusers),
        new("sdxl / sdxl-inpaint / ssd-1b / segmind-vega", Sdxl),
        new("sdxl-refiner", Refiner),
        new("sd2-depth", p => p.Unet.Present && p.Has("depth_model.model.pretrained.act_postprocess3.0.project.0.bias")
            ? new RuleMatch("sd2-depth", Unet(p, inCh: 5, context: 1024, channels: 320) ? High : Medium, PredictionType.Epsilon)
            : null),
        new("sd2-unclip", Unclip),
        new("sd2 / sd2-v / sd2-inpaint", Sd2),
        new("sd1 / sd1-inpaint / sd1-pix2pix (the fallback for LDM UNets)", Sd1),
        new("vae", Vae),
        new("text-encoder", TextEncoder),
    ];

    private static bool Unet(LayoutProbe p, long inCh, long context, long channels)
    {
        UnetFacts u = p.Unet;
        p.Note(u.ToString());
        return u.InChannels == inCh && u.ContextDim == context && u.ModelChannels == channels && u.HasOut;
    }

    private static RuleMatch? Lora(LayoutProbe p)
    {
        string? key = p.AnyKeyContaining(".lora_down.") ?? p.AnyKeyContaining(".lora_up.") ?? p.AnyKeyContaining(".lora_A.")
            ?? p.AnyKeyContaining(".lora_B.") ?? p.AnyKeyContaining(".hada_w1_a") ?? p.AnyKeyContaining(".lokr_w1");
        if (key is null)
        {
            return null;
        }

        p.Note($"{key} (LoRA weight naming)");
        string? baseId = null;
        if (p.HasPrefix("lora_te2_") || p.HasPrefix("lora_te1_"))
        {
            p.Note("lora_te1_/lora_te2_ keys: two text encoders");
            baseId = "sdxl";
        }
        else if (p.Get("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight") is { } q)
        {
            baseId = LayoutProbe.Dim(q, 1) switch { 768 => "sd1", 1024 => "sd2", _ => null };
        }
        else if (p.HasPrefix("lora_unet_double_blocks_") || p.HasPrefix("lora_transformer_") || p.HasPrefix("transformer.single_transformer_blocks."))
        {
            p.Note("Flux block names");
            baseId = "flux-dev";
        }

        return new RuleMatch("lora", High, Base: baseId);
    }

    private static RuleMatch? Embedding(LayoutProbe p)
    {
        if (p.Store.Tensors.FirstOrDefault(t => t.Name.StartsWith("string_to_param", StringComparison.Ordinal)) is { } ti)
        {
            p.Note($"{ti.Name} {ti.FormatShape()} (textual inversion)");
            return new RuleMatch("embedding", High, Base: LayoutProbe.Dim(ti, -1) switch { 768 => "sd1", 1024 => "sd2", _ => null });
        }

        if (p.Get("emb_params") is { } e)
        {
            return new RuleMatch("embedding", High, Base: LayoutProbe.Dim(e, -1) switch { 768 => "sd1", 1024 => "sd2", _ => null });
        }

        return p.Store.Count <= 4 && p.Has("clip_l") && p.Has("clip_g") ? new RuleMatch("embedding", High, Base: "sdxl") : null;
    }

    private static RuleMatch? ControlNet(LayoutProbe p)
    {
        if (p.Has("control_model.time_embed.0.weight") || p.Has("control_model.input_hint_block.0.weight"))
        {
            long ctx = LayoutProbe.Dim(p.Get("control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight") ?? p.Get("control_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"), 1);
            return new RuleMatch("controlnet", High, Base: ctx switch { 768 => "sd1", 1024 => "sd2", 2048 => "sdxl", _ => null });
        }

        if (p.Has("controlnet_cond_embedding.conv_in.weight") || (p.Has("input_hint_block.0.weight") && p.Has("zero_convs.0.0.weight")))
        {
            return new RuleMatch("controlnet", High, Base: p.Has("add_embedding.linear_1.weight") || p.Has("label_emb.0.0.weight") ? "sdxl" : null);
        }

        return null;
    }

    private static RuleMatch? Sd3(LayoutProbe p)
    {
        if (!p.HasM("joint_blocks.0.context_block.attn.qkv.weight"))
        {
            return null;
        }

        long hidden = LayoutProbe.Dim(p.M("x_embedder.proj.weight"), 0);
        int depth = p.CountIndexed(p.ModelPrefix + "joint_blocks.");
        p.Note($"{depth} joint blocks, hidden size {hidden}");
        if (p.HasM("joint_blocks.0.x_block.attn2.qkv.weight"))
        {
            return new RuleMatch("sd3.5-medium", hidden == 1536 && depth == 24 ? High : Medium, PredictionType.Flow);
        }

        if (hidden == 2432)
        {
            return new RuleMatch("sd3.5-large", depth == 38 ? High : Medium, PredictionType.Flow);
        }

        return new RuleMatch("sd3", hidden == 1536 && depth == 24 && p.LacksM("joint_blocks.0.x_block.attn2.qkv.weight") ? High : Low, PredictionType.Flow);
    }

    private static RuleMatch? Cascade(LayoutProbe p)
    {
        if (!p.HasM("clf.1.weight"))
        {
            return null;
        }

        if (p.HasM("clip_txt_mapper.weight"))
        {
            return new RuleMatch("cascade-c", High);
        }

        return p.HasM("clip_mapper.weight")
            ? new RuleMatch("cascade-b", High)
            : new RuleMatch("unknown", Low, Reason: "Stable Cascade-like (clf.1.weight) but neither clip_txt_mapper (stage C) nor clip_mapper (stage B) is present");
    }

    private static RuleMatch? Flux(LayoutProbe p)
    {
        if (!p.HasM("double_blocks.0.img_attn.norm.key_norm.scale"))
        {
            return null;
        }

        TensorInfo? imgIn = p.M("img_in.weight");
        if (p.HasPrefix(p.ModelPrefix + "distilled_guidance_layer."))
        {
            p.Note("distilled_guidance_layer.* (Chroma)");
            return new RuleMatch("unknown", Low, PredictionType.Flow, Reason: "a Flux-derived model (Chroma: distilled_guidance_layer) that SafeCkpt has no id for");
        }

        if (imgIn is null)
        {
            return new RuleMatch("unknown", Low, PredictionType.Flow, Reason: "Flux double blocks without img_in.weight: an incomplete Flux file");
        }

        long inCh = LayoutProbe.Dim(imgIn, 1);
        bool full = LayoutProbe.Dim(imgIn, 0) == 3072 && p.CountIndexed(p.ModelPrefix + "double_blocks.") == 19 && p.CountIndexed(p.ModelPrefix + "single_blocks.") == 38;
        if (inCh == 384)
        {
            return new RuleMatch("flux-fill", full && p.HasM("guidance_in.in_layer.weight") ? High : Medium, PredictionType.Flow);
        }

        if (p.HasM("guidance_in.in_layer.weight"))
        {
            return new RuleMatch("flux-dev", full && inCh == 64 ? High : Medium, PredictionType.Flow);
        }

        return new RuleMatch("flux-schnell", full && inCh == 64 && p.LacksM("guidance_in.in_layer.weight") ? High : Medium, PredictionType.Flow);
    }

    private static RuleMatch? Diffusers(LayoutProbe p)
    {
        foreach (string prefix in new[] { string.Empty, "unet.", "transformer." })
        {
            TensorInfo? conv = p.Get(prefix + "conv_in.weight");
            if (conv is not null && (p.HasPrefix(prefix + "down_blocks.") || p.HasPrefix(prefix + "time_embedding.")))
            {
                long ctx = LayoutProbe.Dim(p.Get(prefix + "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"), 1);
                string? b = ctx switch { 768 => "sd1", 1024 => "sd2", 2048 => "sdxl", 1280 => "sdxl-refiner", _ => null };
                return new RuleMatch("diffusers-layout", High, Base: b);
            }

            if (p.Has(prefix + "transformer_blocks.0.attn.add_q_proj.weight"))
            {
                return new RuleMatch("diffusers-layout", High, Base: p.Has(prefix + "x_embedder.weight") ? "flux-dev" : p.Has(prefix + "pos_embed.proj.weight") ? "sd3" : null);
            }

            if (p.HasPrefix(prefix + "joint_transformer_blocks.") || (p.Has(prefix + "adaln_single.emb.timestep_embedder.linear_1.bias") && p.Has(prefix + "pos_embed.proj.bias")))
            {
                return new RuleMatch("diffusers-layout", High);
            }
        }

        return null;
    }

    private static RuleMatch? Sdxl(LayoutProbe p)
    {
        UnetFacts u = p.Unet;
        if (!u.Present)
        {
            return null;
        }

        bool te = p.Has("conditioner.embedders.1.model.ln_final.weight");
        bool dims = u.ContextDim == 2048 && u.AdmInChannels == 2816;
        if (!te && !dims)
        {
            return null;
        }

        p.Note(u.ToString());
        string variant = u.InChannels switch { 9 => "sdxl-inpaint", 4 => "sdxl", _ => "unknown" };
        if (variant == "unknown")
        {
            return new RuleMatch("unknown", Low, Reason: $"an SDXL UNet with {u.InChannels} input channels (SDXL InstructPix2Pix or another variant SafeCkpt has no id for)");
        }

        bool complete = dims && u.ModelChannels == 320 && u.Linear == true && u.HasOut;
        if (u.DepthsAre(0, 0, 2, 2, 10, 10) && u.MiddleDepth == 10)
        {
            return new RuleMatch(variant, complete ? High : Medium, PredictionType.Epsilon);
        }

        // SSD-1B and Vega drop the middle transformer (A1111 tests absence of its attn1.to_q); the depths confirm it.
        if (u.MiddleDepth == -1 && p.LacksM("middle_block.1.transformer_blocks.0.attn1.to_q.weight") && variant == "sdxl")
        {
            if (u.DepthsAre(0, 0, 2, 2, 4, 4))
            {
                return new RuleMatch("ssd-1b", complete ? High : Medium, PredictionType.Epsilon);
            }

            if (u.DepthsAre(0, 0, 1, 1, 2, 2))
            {
                return new RuleMatch("segmind-vega", complete ? High : Medium, PredictionType.Epsilon);
            }
        }

        p.Note("the UNet does not have SDXL's published transformer depths [0, 0, 2, 2, 10, 10] with a middle transformer (incomplete file?)");
        return new RuleMatch(variant, Low, PredictionType.Epsilon);
    }

    private static RuleMatch? Refiner(LayoutProbe p)
    {
        UnetFacts u = p.Unet;
        if (!u.Present)
        {
            return null;
        }

        bool te = p.Has("conditioner.embedders.0.model.ln_final.weight") && p.Lacks("conditioner.embedders.1.model.ln_final.weight");
        bool dims = u.ModelChannels == 384 && u.ContextDim == 1280 && u.AdmInChannels == 2560;
        if (!te && !dims)
        {
            return null;
        }

        p.Note(u.ToString());
        return new RuleMatch("sdxl-refiner", dims && u.DepthsAre(0, 0, 4, 4, 4, 4, 0, 0) && u.HasOut ? High : te && dims ? Medium : Low, PredictionType.Epsilon);
    }

    private static RuleMatch? Unclip(LayoutProbe p)
    {
        UnetFacts u = p.Unet;
        if (!u.Present)
        {
            return null;
        }

        long width = LayoutProbe.Dim(p.Get("embedder.model.ln_final.weight"), 0);
        string? id = width switch { 768 => "sd2-unclip-l", 1024 => "sd2-unclip-h", _ => null };
        id ??= u.ContextDim == 1024 ? u.AdmInChannels switch { 1536 => "sd2-unclip-l", 2048 => "sd2-unclip-h", _ => null } : null;
        if (id is null)
        {
            return null;
        }

        long adm = id == "sd2-unclip-l" ? 1536 : 2048;
        return new RuleMatch(id, Unet(p, 4, 1024, 320) && u.AdmInChannels == adm ? High : Medium, PredictionType.V);
    }

    private static RuleMatch? Sd2(LayoutProbe p)
    {
        UnetFacts u = p.Unet;
        if (!u.Present)
        {
            return null;
        }

        bool te = LayoutProbe.Dim(p.Get("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"), 1) == 1024 || p.Has("cond_stage_model.model.ln_final.weight");
        bool dims = u.ContextDim == 1024 && u.ModelChannels == 320;
        if (!te && !dims)
        {
            return null;
        }

        p.Note(u.ToString());
        bool complete = dims && u.Linear == true && u.DepthsAre(1, 1, 1, 1, 1, 1, 0, 0) && u.HasOut;
        if (u.InChannels == 9)
        {
            return new RuleMatch("sd2-inpaint", complete ? High : Medium, PredictionType.Epsilon);
        }

        if (u.InChannels != 4)
        {
            return new RuleMatch("unknown", Low, Reason: $"an SD 2.x UNet with {u.InChannels} input channels, a variant SafeCkpt has no id for");
        }

        // ComfyUI's heuristic; A1111 runs the UNet instead. Never better than Medium.
        double? std = OutputNormStd(p);
        bool v = std > 0.09;
        p.Note(std is null ? "output_blocks.11.1.transformer_blocks.0.norm1.bias not readable: assumed epsilon" : $"std(output_blocks.11.1.transformer_blocks.0.norm1.bias) = {std:0.####} ({(v ? "> 0.09: v-prediction" : "<= 0.09: epsilon")})");
        return new RuleMatch(v ? "sd2-v" : "sd2", complete ? Medium : Low, v ? PredictionType.V : PredictionType.Epsilon);
    }

    private static RuleMatch? Sd1(LayoutProbe p)
    {
        UnetFacts u = p.Unet;
        if (!u.Present)
        {
            return null;
        }

        bool te = p.Has("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight") || p.Has("cond_stage_model.transformer.embeddings.token_embedding.weight");
        bool dims = u.ContextDim == 768 && u.ModelChannels == 320;
        p.Note(u.ToString());
        string id = u.InChannels switch { 9 => "sd1-inpaint", 8 => "sd1-pix2pix", _ => "sd1" };
        bool complete = dims && u.Linear == false && u.DepthsAre(1, 1, 1, 1, 1, 1, 0, 0) && u.HasOut;
        DetectionConfidence confidence = complete && (te || !p.HasPrefix("cond_stage_model.")) ? High
            : (te || dims) && u.ContextDim is 768 or -1 ? Medium : Low;
        if (!te && !dims)
        {
            p.Note("no SD 1.x text encoder and no 768-wide cross-attention: SD 1.x is only the fallback");
        }

        if (u.InChannels is not (4 or 8 or 9))
        {
            return new RuleMatch("unknown", Low, Reason: $"an LDM UNet with {u.InChannels} input channels that matches no known architecture");
        }

        return new RuleMatch(id, confidence, PredictionType.Epsilon);
    }

    private static RuleMatch? Vae(LayoutProbe p)
    {
        bool onlyVae = p.Store.Tensors.All(t => Components.Classify(t.Name) is ModelComponent.Vae or ModelComponent.Other)
            && p.Store.Tensors.Any(t => Components.Classify(t.Name) == ModelComponent.Vae);
        bool bare = p.Has("encoder.conv_in.weight") && p.Has("decoder.conv_in.weight");
        bool diffusers = p.Has("encoder.down_blocks.0.resnets.0.norm1.weight") || p.Has("decoder.up_blocks.0.resnets.0.norm1.weight");
        if (!onlyVae && !bare && !diffusers)
        {
            return null;
        }

        if (onlyVae)
        {
            p.Note("only first_stage_model./vae. keys");
        }

        TensorInfo? dec = p.Get("decoder.conv_in.weight") ?? p.Get(Components.VaePrefix + "decoder.conv_in.weight") ?? p.Get("vae.decoder.conv_in.weight");
        if (LayoutProbe.Dim(dec, 1) is long z and > 0)
        {
            p.Note($"{z} latent channels");
        }

        return new RuleMatch("vae", dec is null ? Medium : High);
    }

    private static RuleMatch? TextEncoder(LayoutProbe p)
    {
        bool onlyTe = p.Store.Tensors.All(t => Components.Classify(t.Name) is ModelComponent.TextEncoder or ModelComponent.Other)
            && p.Store.Tensors.Any(t => Components.Classify(t.Name) == ModelComponent.TextEncoder);
        bool bare = p.HasPrefix("text_model.encoder.layers.0.") || p.HasPrefix("encoder.block.0.layer.0.") || p.HasPrefix("transformer.resblocks.0.")
            || p.HasPrefix("encoder.layers.0.") || p.HasPrefix("shared.weight");
        if (!onlyTe && !bare)
        {
            return null;
        }

        p.Note(onlyTe ? "only text encoder keys (cond_stage_model., conditioner.embedders., text_encoders.)" : "bare CLIP / T5 text encoder keys");
        return new RuleMatch("text-encoder", High);
    }

    /// <summary>
    /// The population standard deviation of the SD 2.x UNet's last <c>norm1.bias</c>: ComfyUI's v-prediction test
    /// (above 0.09 means v). Reads only that one tensor; null when it is missing or not a float tensor.
    /// </summary>
    private static double? OutputNormStd(LayoutProbe p)
    {
        TensorInfo? t = p.M("output_blocks.11.1.transformer_blocks.0.norm1.bias");
        if (t is null || !Numerics.ElementCast.IsCastable(t.DType) || t.ElementCount is 0 or > 1 << 16)
        {
            return null;
        }

        byte[] raw = p.Store.ReadTensor(t.Name);
        var f = new float[t.ElementCount];
        Numerics.ElementCast.Convert(t.DType, DType.Float32, raw, System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.AsSpan()), f.Length);
        double mean = f.Average(x => (double)x);
        return Math.Sqrt(f.Average(x => (x - mean) * (x - mean)));
    }

    /// <summary><c>modelspec.architecture</c> values (kohya / ComfyUI / SAI model spec) and the id each means.</summary>
    public static IReadOnlyDictionary<string, string> ModelSpec { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["stable-diffusion-v1"] = "sd1",
        ["stable-diffusion-v1-inpainting"] = "sd1-inpaint",
        ["stable-diffusion-v2-512"] = "sd2",
        ["stable-diffusion-v2-768-v"] = "sd2-v",
        ["stable-diffusion-v2-inpainting"] = "sd2-inpaint",
        ["stable-diffusion-v2-depth"] = "sd2-depth",
        ["stable-diffusion-v2-unclip-l"] = "sd2-unclip-l",
        ["stable-diffusion-v2-unclip-h"] = "sd2-unclip-h",
        ["stable-diffusion-xl-v1-base"] = "sdxl",
        ["stable-diffusion-xl-v1-refiner"] = "sdxl-refiner",
        ["stable-diffusion-xl-v1-inpainting"] = "sdxl-inpaint",
        ["stable-diffusion-xl-v1-edit"] = "sdxl",
        ["segmind-ssd-1b"] = "ssd-1b",
        ["segmind-vega"] = "segmind-vega",
        ["stable-diffusion-3-medium"] = "sd3",
        ["stable-diffusion-v3-medium"] = "sd3",
        ["stable-diffusion-3.5-medium"] = "sd3.5-medium",
        ["stable-diffusion-v3.5-medium"] = "sd3.5-medium",
        ["stable-diffusion-3.5-large"] = "sd3.5-large",
        ["stable-diffusion-v3.5-large"] = "sd3.5-large",
        ["flux-1-dev"] = "flux-dev",
        ["flux-1-schnell"] = "flux-schnell",
        ["flux-1-fill-dev"] = "flux-fill",
        ["stable-cascade-v1-stage-c"] = "cascade-c",
        ["stable-cascade-v1-stage-b"] = "cascade-b",
        ["pixart-alpha"] = "pixart-alpha",
        ["pixart-sigma"] = "pixart-sigma",
        ["auraflow"] = "auraflow",
        ["auraflow-v0.1"] = "auraflow",
        ["hunyuan-dit"] = "hunyuan-dit",
    };

    /// <summary>The <c>/suffix</c> of a <c>modelspec.architecture</c> value and the kind of file it means.</summary>
    public static IReadOnlyDictionary<string, string> ModelSpecKinds { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["lora"] = "lora",
        ["lycoris"] = "lora",
        ["textual-inversion"] = "embedding",
        ["controlnet"] = "controlnet",
        ["vae"] = "vae",
    };
}
