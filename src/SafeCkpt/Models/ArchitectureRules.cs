using SafeCkpt.Tensors;
using static SafeCkpt.Models.DetectionConfidence;

namespace SafeCkpt.Models;

/// <summary>
/// What a rule decided. <paramref name="Variant"/> names the flavour inside a kind (LoRA: <c>locon</c>, <c>loha</c>,
/// <c>oft</c>, ...; ControlNet: <c>diffusers</c>, <c>xlabs</c>, ...); <paramref name="Alternatives"/> are other ids with
/// the same layout, and the evidence then says what would tell them apart.
/// </summary>
internal sealed record RuleMatch(string Id, DetectionConfidence Confidence, PredictionType Prediction = PredictionType.Unknown, string? Base = null, string? Reason = null, string? Variant = null, IReadOnlyList<string>? Alternatives = null);

/// <summary>One row of the rule table: a name for the docs and the test that returns a match or null.</summary>
internal sealed record ArchitectureRule(string Family, Func<LayoutProbe, RuleMatch?> Match);

/// <summary>
/// The architecture rules, in the order they are tried; the first that matches wins. Sources: A1111
/// <c>guess_model_config_from_state_dict</c> and its Lora extension, ComfyUI <c>detect_unet_config</c>,
/// <c>supported_models</c>, <c>controlnet.load_controlnet_state_dict</c>, <c>load_t2i_adapter</c>, the LoRA weight
/// adapters and <c>sd1_clip.load_embed</c>; sd.cpp, diffusers, SwarmUI (research/converters.md sections 2.4, 3.3,
/// 5.5, 6, 7). Kinds of file with unmistakable keys (LoRA, embedding, ControlNet and adapters) come first, then the
/// DiTs by their unique keys in ComfyUI's order (<see cref="Dits"/>), then diffusers-layout files, then the LDM
/// UNets from the most specific to the fallback (SD 1.x), then lone VAEs and text encoders. Model keys are looked
/// up with or without the file's diffusion-model prefix (<see cref="KeyPrefixes.DiffusionModel"/>). Every id is a
/// record of <see cref="ArchitectureCatalog"/>.
/// </summary>
internal static class ArchitectureRules
{
    /// <summary>The rules in the order they are tried.</summary>
    public static IReadOnlyList<ArchitectureRule> All { get; } =
    [
        new("lora", LoraRules.Match),
        new("embedding", Embedding),
        new("controlnet / control-lora / t2i-adapter / ip-adapter", ControlRules.Match),
        .. Dits,
        new("diffusers-layout", Diffusers),
        new("svd / sv3d (temporal UNet)", Svd),
        new("alt-diffusion m9 / m18", AltDiffusion),
        new("sdxl / sdxl-inpaint / sdxl-pix2pix / ssd-1b / segmind-vega / koala", Sdxl),
        new("sdxl-refiner", Refiner),
        new("sd2-depth", p => p.Unet.Present && p.Has("depth_model.model.pretrained.act_postprocess3.0.project.0.bias")
            ? new RuleMatch("sd2-depth", Unet(p, inCh: 5, context: 1024, channels: 320) ? High : Medium, PredictionType.Epsilon)
            : null),
        new("sd2-unclip", Unclip),
        new("lotus-d / sd-x4-upscaler", Sd2Derived),
        new("sd2 / sd2-v / sd2-inpaint (LDM or SGM layout)", Sd2),
        new("sd1 / sd1-inpaint / sd1-pix2pix / stable-zero123 (the fallback for LDM UNets)", Sd1),
        new("vae", Vae),
        new("taesd / vae-approx", TinyAutoencoder),
        new("text-encoder", TextEncoder),
    ];

    /// <summary>
    /// The DiT families, each by the key ComfyUI's <c>detect_unet_config</c> tests, in its order (an earlier marker
    /// can occur in a later family's files, never the reverse).
    /// </summary>
    private static ArchitectureRule[] Dits =>
    [
        new("sd3 / sd3.5 (MMDiT)", Sd3),
        new("stable cascade", Cascade),
        Marker("stable-audio", "transformer.rotary_pos_emb.inv_freq", p => new RuleMatch("stable-audio", p.HasPrefix(p.ModelPrefix + "transformer.layers.") ? High : Medium, PredictionType.V)),
        Marker("auraflow", "double_layers.0.attn.w1q.weight", p =>
            new RuleMatch("auraflow", LayoutProbe.Dim(p.M("cond_seq_linear.weight"), 1) == 2048 ? High : Medium, PredictionType.Flow)),
        Marker("hunyuan-dit", "mlp_t5.0.weight", p =>
        {
            bool v10 = LayoutProbe.Dim(p.M("extra_embedder.0.weight"), 1) == 3968;
            return new RuleMatch(v10 ? "hunyuan-dit-1.0" : "hunyuan-dit", p.HasM("x_embedder.proj.weight") ? High : Medium, PredictionType.V);
        }),
        Marker("hunyuan-video / hunyuan-image-2.1", "txt_in.individual_token_refiner.blocks.0.norm1.weight", HunyuanVideo),
        new("flux / flux2 / chroma", Flux),
        Marker("mochi", "t5_yproj.weight", p => new RuleMatch("mochi", p.HasM("x_embedder.proj.weight") ? High : Medium, PredictionType.Flow)),
        new("ltxv", p => p.HasM("adaln_single.emb.timestep_embedder.linear_1.bias") && p.LacksM("pos_embed.proj.bias")
            ? new RuleMatch("ltxv", p.HasM("transformer_blocks.0.attn2.to_k.weight") ? High : Medium, PredictionType.Flow)
            : null),
        Marker("ace-step", "genre_embedder.weight", p => new RuleMatch("ace-step", High, PredictionType.Flow)),
        new("pixart", p => p.HasM("t_block.1.weight")
            ? (p.HasM("ar_embedder.mlp.0.weight") ? new RuleMatch("pixart-alpha", High, PredictionType.Epsilon)
                : new RuleMatch("pixart-sigma", p.LacksM("ar_embedder.mlp.0.weight") && p.HasM("y_embedder.y_proj.fc1.weight") && p.CountIndexed(p.ModelPrefix + "blocks.") == 28 ? High : Medium, PredictionType.Epsilon))
            : null),
        Marker("cosmos 1.0", "blocks.block0.blocks.0.block.attn.to_q.0.weight", p => Cosmos(p, "cosmos-t2v", "cosmos-i2v", PredictionType.Edm)),
        Marker("lumina2", "cap_embedder.1.weight", p => new RuleMatch("lumina2", p.HasM("layers.0.attention.qkv.weight") || p.HasPrefix(p.ModelPrefix + "layers.0.") ? High : Medium, PredictionType.Flow)),
        Marker("wan 2.1 / 2.2", "head.modulation", Wan),
        Marker("hunyuan3d 2.0", "latent_in.weight", p =>
            new RuleMatch(p.CountIndexed(p.ModelPrefix + "double_blocks.") == 8 ? "hunyuan3d2-mini" : "hunyuan3d2", p.HasM("cond_in.weight") ? High : Medium, PredictionType.Flow)),
        Marker("hunyuan3d 2.1", "t_embedder.mlp.2.weight", p => p.HasM("x_embedder.weight")
            ? new RuleMatch("hunyuan3d2.1", p.HasPrefix(p.ModelPrefix + "blocks.0.") ? High : Medium, PredictionType.Flow)
            : null),
        Marker("hidream", "caption_projection.0.linear.weight", p => new RuleMatch("hidream", p.HasPrefix(p.ModelPrefix + "double_stream_blocks.") ? High : Medium, PredictionType.Flow)),
        Marker("cosmos predict2", "blocks.0.mlp.layer1.weight", p => Cosmos(p, "cosmos-predict2-t2i", "cosmos-predict2-i2v", PredictionType.Flow)),
        Marker("omnigen2", "time_caption_embed.timestep_embedder.linear_1.bias", p => new RuleMatch("omnigen2", High, PredictionType.Flow)),
        Marker("qwen-image", "txt_norm.weight", p =>
        {
            p.Note("Qwen-Image and Qwen-Image-Edit share this layout; only metadata or the file name tells the edit model apart");
            return new RuleMatch("qwen-image", p.HasM("img_in.weight") ? High : Medium, PredictionType.Flow, Alternatives: ["qwen-image-edit"]);
        }),
        Marker("kandinsky5", "visual_embeddings.in_layer.bias", p => new RuleMatch("kandinsky5", p.HasM("time_embeddings.in_layer.bias") ? High : Medium, PredictionType.Flow)),
    ];

    /// <summary>A rule that fires on one diffusion-model key and lets <paramref name="decide"/> pick the id.</summary>
    private static ArchitectureRule Marker(string family, string key, Func<LayoutProbe, RuleMatch?> decide) =>
        new(family, p => p.HasM(key) ? decide(p) : null);

    private static bool Unet(LayoutProbe p, long inCh, long context, long channels)
    {
        UnetFacts u = p.Unet;
        p.Note(u.ToString());
        return u.InChannels == inCh && u.ContextDim == context && u.ModelChannels == channels && u.HasOut;
    }

    private static RuleMatch? Embedding(LayoutProbe p)
    {
        static string? BaseOf(long width) => width switch { 768 => "sd1", 1024 => "sd2", _ => null };
        if (p.Store.Tensors.FirstOrDefault(t => t.Name.StartsWith("string_to_param", StringComparison.Ordinal)) is { } ti)
        {
            p.Note($"{ti.Name} {ti.FormatShape()} (A1111 textual inversion)");
            return new RuleMatch("embedding", High, Base: BaseOf(LayoutProbe.Dim(ti, -1)), Variant: "a1111");
        }

        if (p.Get("emb_params") is { } e)
        {
            return new RuleMatch("embedding", High, Base: BaseOf(LayoutProbe.Dim(e, -1)), Variant: "emb_params");
        }

        if (p.Store.Count <= 4 && p.Get("clip_l") is { } l && p.Get("clip_g") is { } g)
        {
            return new RuleMatch("embedding", LayoutProbe.Dim(l, -1) == 768 && LayoutProbe.Dim(g, -1) == 1280 ? High : Medium, Base: "sdxl", Variant: "sdxl");
        }

        // diffusers' learned_embeds: the placeholder token itself is the key, its vector the value (one or two tokens).
        if (p.Store.Count is 1 or 2 && p.Store.Tensors.All(t => t.Shape.Count is 1 or 2 && LayoutProbe.Dim(t, -1) is 768 or 1024 && (t.Shape.Count == 1 || t.Shape[0] <= 75) && !t.Name.Contains('.', StringComparison.Ordinal)))
        {
            TensorInfo t = p.Store.Tensors[0];
            p.Note($"{t.Name} {t.FormatShape()} (diffusers learned_embeds: the token is the key)");
            return new RuleMatch("embedding", Medium, Base: BaseOf(LayoutProbe.Dim(t, -1)), Variant: "diffusers");
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
        // ComfyUI accepts the q/k norm as .scale (BFL) or .weight (converted files).
        if (!p.HasM("double_blocks.0.img_attn.norm.key_norm.scale") && !p.HasM("double_blocks.0.img_attn.norm.key_norm.weight"))
        {
            return null;
        }

        TensorInfo? imgIn = p.M("img_in.weight");
        bool chroma = p.HasM("distilled_guidance_layer.0.norms.0.scale") || p.HasM("distilled_guidance_layer.norms.0.scale") || p.HasPrefix(p.ModelPrefix + "distilled_guidance_layer.");
        if (imgIn is null && !chroma)
        {
            return new RuleMatch("unknown", Low, PredictionType.Flow, Reason: "Flux double blocks without img_in.weight: an incomplete Flux file");
        }

        if (p.HasM("double_stream_modulation_img.lin.weight"))
        {
            p.Note("double_stream_modulation_img (FLUX.2's shared modulation; FLUX.1 has per-block img_mod)");
            return new RuleMatch("flux2", imgIn is not null && p.HasPrefix(p.ModelPrefix + "single_blocks.0.") ? High : Medium, PredictionType.Flow);
        }

        if (chroma)
        {
            p.Note("distilled_guidance_layer (Chroma)");
            return p.HasM("nerf_blocks.0.norm.scale")
                ? new RuleMatch("chroma-radiance", High, PredictionType.Flow)
                : new RuleMatch("chroma", imgIn is not null ? High : Medium, PredictionType.Flow);
        }

        long inCh = LayoutProbe.Dim(imgIn, 1);
        bool full = LayoutProbe.Dim(imgIn, 0) == 3072 && p.CountIndexed(p.ModelPrefix + "double_blocks.") == 19 && p.CountIndexed(p.ModelPrefix + "single_blocks.") == 38;
        if (inCh == 384)
        {
            return new RuleMatch("flux-fill", full && p.HasM("guidance_in.in_layer.weight") ? High : Medium, PredictionType.Flow);
        }

        if (p.HasM("guidance_in.in_layer.weight"))
        {
            p.Note("FLUX.1 dev and FLUX.1 Kontext dev share this layout; only metadata or the file name tells Kontext apart");
            return new RuleMatch("flux-dev", full && inCh == 64 ? High : Medium, PredictionType.Flow, Alternatives: ["flux-kontext"]);
        }

        return new RuleMatch("flux-schnell", full && inCh == 64 && p.LacksM("guidance_in.in_layer.weight") ? High : Medium, PredictionType.Flow);
    }

    private static RuleMatch HunyuanVideo(LayoutProbe p)
    {
        TensorInfo? imgIn = p.M("img_in.proj.weight");
        long inCh = LayoutProbe.Dim(imgIn, 1);
        DetectionConfidence c = imgIn is not null && p.HasM("txt_in.input_embedder.weight") ? High : Medium;
        if (!p.HasPrefix(p.ModelPrefix + "vector_in."))
        {
            p.Note("no vector_in (no CLIP pooled input): HunyuanImage 2.1");
            return new RuleMatch(imgIn?.Shape.Count == 5 ? "hunyuan-image-2.1-refiner" : "hunyuan-image-2.1", c, PredictionType.Flow);
        }

        return new RuleMatch(inCh switch { 33 => "hunyuan-video-i2v", 32 => "hunyuan-video-skyreels-i2v", _ => "hunyuan-video" }, c, PredictionType.Flow);
    }

    private static RuleMatch Cosmos(LayoutProbe p, string t2v, string i2v, PredictionType prediction)
    {
        // ComfyUI: in_channels = x_embedder.proj.1.weight.shape[1] / 4 - 1 (the padding mask channel).
        long inCh = LayoutProbe.Dim(p.M("x_embedder.proj.1.weight"), 1) / 4 - 1;
        p.Note($"in_channels {inCh}");
        return inCh switch
        {
            16 => new RuleMatch(t2v, High, prediction),
            17 => new RuleMatch(i2v, High, prediction),
            _ => new RuleMatch(t2v, Low, prediction),
        };
    }

    private static RuleMatch Wan(LayoutProbe p)
    {
        long dim = LayoutProbe.Dim(p.M("head.modulation"), -1);
        long outDim = LayoutProbe.Dim(p.M("head.head.weight"), 0) / 4;
        long inDim = LayoutProbe.Dim(p.M("patch_embedding.weight"), 1);
        bool img = p.HasM("img_emb.proj.0.bias");
        p.Note($"dim {dim}, in_dim {inDim}, out_dim {outDim}, {(img ? "img_emb (CLIP vision input)" : "no img_emb")}");
        DetectionConfidence c = inDim > 0 && p.HasM("blocks.0.ffn.0.weight") ? High : Medium;
        string? special = p.HasM("vace_patch_embedding.weight") ? "wan2.1-vace"
            : p.HasM("control_adapter.conv.weight") ? (img ? "wan2.1-camera" : "wan2.2-camera")
            : p.HasM("casual_audio_encoder.encoder.final_linear.weight") ? "wan2.2-s2v"
            : p.HasM("audio_proj.audio_proj_glob_1.layer.bias") ? "wan2.1-humo"
            : p.HasM("face_adapter.fuser_blocks.0.k_norm.weight") ? "wan2.2-animate"
            : null;
        if (special is not null)
        {
            return new RuleMatch(special, c, PredictionType.Flow);
        }

        if (outDim == 48)
        {
            return new RuleMatch("wan2.2-ti2v-5b", c, PredictionType.Flow);
        }

        if (img)
        {
            return new RuleMatch(inDim == 48 ? "wan2.1-fun-control" : "wan2.1-i2v", c, PredictionType.Flow);
        }

        if (inDim == 36)
        {
            p.Note("image latents concatenated (in_dim 36) without img_emb: Wan 2.2 image to video 14B");
            return new RuleMatch("wan2.2-i2v-14b", c, PredictionType.Flow);
        }

        if (dim == 5120)
        {
            p.Note("Wan 2.1 and Wan 2.2 text to video 14B share this layout; only metadata or the file name (high/low noise) tells them apart");
            return new RuleMatch("wan2.1-t2v", c, PredictionType.Flow, Alternatives: ["wan2.2-t2v-14b"]);
        }

        return new RuleMatch("wan2.1-t2v", c, PredictionType.Flow);
    }

    private static RuleMatch? Svd(LayoutProbe p)
    {
        UnetFacts u = p.Unet;
        if (!u.Present || (!p.HasM("input_blocks.1.1.time_stack.0.attn1.to_q.weight") && !p.HasM("input_blocks.1.1.time_mix_blocks.0.attn1.to_q.weight")))
        {
            return null;
        }

        p.Note(u.ToString());
        string? id = u.AdmInChannels switch { 768 => "svd", 256 => "sv3d-u", 1280 => "sv3d-p", _ => null };
        return id is null
            ? new RuleMatch("unknown", Low, Reason: $"a temporal (video) LDM UNet with adm_in_channels {u.AdmInChannels}, which no SVD variant has")
            : new RuleMatch(id, u.InChannels == 8 && u.ContextDim == 1024 ? High : Medium, PredictionType.VEdm);
    }

    private static RuleMatch? AltDiffusion(LayoutProbe p)
    {
        if (!p.Unet.Present || !p.Has("cond_stage_model.roberta.embeddings.word_embeddings.weight"))
        {
            return null;
        }

        // A1111: the XLM-R projection to 1024 (cond_stage_model.transformation) means m18, with an SD 2.x UNet.
        long proj = LayoutProbe.Dim(p.Get("cond_stage_model.transformation.weight"), 0);
        string id = proj == 1024 ? "alt-diffusion-m18" : "alt-diffusion-m9";
        p.Note(p.Unet.ToString());
        bool agrees = p.Unet.ContextDim == (id == "alt-diffusion-m18" ? 1024 : 768);
        return new RuleMatch(id, agrees && proj > 0 ? High : Medium, PredictionType.Epsilon);
    }

    private static RuleMatch? Sd2Derived(LayoutProbe p)
    {
        UnetFacts u = p.Unet;
        if (!u.Present || u.ContextDim != 1024)
        {
            return null;
        }

        if (u.AdmInChannels == 4)
        {
            p.Note(u.ToString() + " (adm_in_channels 4: Lotus task embedding)");
            return new RuleMatch("lotus-d", u.ModelChannels == 320 ? High : Medium);
        }

        if (u.ModelChannels == 256 && u.InChannels == 7)
        {
            p.Note(u.ToString() + " (4 latent + 3 low-resolution image channels)");
            return new RuleMatch("sd-x4-upscaler", High, PredictionType.V);
        }

        return null;
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
        string variant = u.InChannels switch { 9 => "sdxl-inpaint", 8 => "sdxl-pix2pix", 4 => "sdxl", _ => "unknown" };
        if (variant == "unknown")
        {
            return new RuleMatch("unknown", Low, Reason: $"an SDXL UNet with {u.InChannels} input channels, a variant SafeCkpt has no id for");
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

        // KOALA keeps one resnet per level: depths [0, 2, 5] without a middle block (700M), [0, 2, 6] with a 6-deep middle (1B).
        if (variant == "sdxl" && u.DepthsAre(0, 2, 5) && u.MiddleDepth == -2)
        {
            return new RuleMatch("koala-700m", complete ? High : Medium, PredictionType.Epsilon);
        }

        if (variant == "sdxl" && u.DepthsAre(0, 2, 6) && u.MiddleDepth == 6)
        {
            return new RuleMatch("koala-1b", complete ? High : Medium, PredictionType.Epsilon);
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

        // The refiner's only text encoder is OpenCLIP bigG (1280 wide) as embedder 0; SD 2.x in the SGM layout has OpenCLIP-H (1024) there.
        bool te = LayoutProbe.Dim(p.Get("conditioner.embedders.0.model.ln_final.weight"), 0) == 1280 && p.Lacks("conditioner.embedders.1.model.ln_final.weight");
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

    /// <summary>SD 2.x; saved in the SGM layout (its text encoder as <c>conditioner.embedders.0</c>) it is the <c>sgm</c> variant.</summary>
    private static RuleMatch? Sd2(LayoutProbe p)
    {
        RuleMatch? m = Sd2Layout(p);
        return m is not null && IsSgmSd2(p) ? m with { Variant = "sgm" } : m;
    }

    private static bool IsSgmSd2(LayoutProbe p) => LayoutProbe.Dim(p.Get("conditioner.embedders.0.model.ln_final.weight"), 0) == 1024;

    private static RuleMatch? Sd2Layout(LayoutProbe p)
    {
        UnetFacts u = p.Unet;
        if (!u.Present)
        {
            return null;
        }

        bool sgm = IsSgmSd2(p);
        if (sgm)
        {
            p.Note("OpenCLIP ViT-H (1024 wide) as conditioner.embedders.0: SD 2.x saved in the SGM layout, not an SDXL refiner (bigG, 1280)");
        }

        bool te = sgm || LayoutProbe.Dim(p.Get("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"), 1) == 1024 || p.Has("cond_stage_model.model.ln_final.weight");
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
        // Stable Zero123 has InstructPix2Pix's 8 input channels; its camera projection (cc_projection) tells it apart.
        string id = u.InChannels switch { 9 => "sd1-inpaint", 8 => p.Has("cc_projection.weight") ? "stable-zero123" : "sd1-pix2pix", _ => "sd1" };
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

        TensorInfo? dec = p.Get("decoder.conv_in.weight") ?? p.Get(KeyPrefixes.Vae + "decoder.conv_in.weight") ?? p.Get(KeyPrefixes.VaeAlt + "decoder.conv_in.weight");
        if (LayoutProbe.Dim(dec, 1) is long z and > 0)
        {
            p.Note($"{z} latent channels");
        }

        return new RuleMatch("vae", dec is null ? Medium : High);
    }

    /// <summary>
    /// TAESD (madebyollin/taesd: a Sequential, so bare numeric keys; the decoder's first conv takes the latent
    /// channels, the encoder's the 3 image channels) and A1111's VAE-approx (conv1..conv8, conv1 taking 4 latent
    /// channels). The latent width tells the base family apart only roughly (4: SD 1.x/SDXL, 16: SD3/Flux, 32: FLUX.2,
    /// Sana), so it goes to the evidence, not the base.
    /// </summary>
    private static RuleMatch? TinyAutoencoder(LayoutProbe p)
    {
        if (p.Get("conv1.weight") is { Shape: [8, var latent, 7, 7] } && p.Has("conv8.weight") && p.Store.Count <= 32)
        {
            p.Note($"conv1..conv8, conv1 takes {latent} latent channels: A1111's VAE-approx");
            return new RuleMatch("vae-approx", High, Base: latent == 4 ? "sd1" : null);
        }

        bool decoder = p.Get("1.weight") is { Shape: [_, _, 3, 3] } && p.Has("3.conv.0.weight");
        bool encoder = p.Get("0.weight") is { Shape: [_, 3, 3, 3] } && (p.Has("1.conv.0.weight") || p.Has("2.weight"));
        if (!(decoder || encoder) || p.Store.Tensors.Any(t => !char.IsAsciiDigit(t.Name[0])))
        {
            return null;
        }

        long channels = decoder ? LayoutProbe.Dim(p.Get("1.weight"), 1) : LayoutProbe.Dim(p.Get(p.Store.Tensors[^1].Name), 0);
        p.Note($"TAESD {(decoder ? "decoder" : "encoder")}: bare Sequential keys, {channels} latent channels");
        return new RuleMatch("taesd", High, Variant: decoder ? "decoder" : "encoder");
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
}
