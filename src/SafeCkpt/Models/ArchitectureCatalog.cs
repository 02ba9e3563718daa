namespace SafeCkpt.Models;

/// <summary>What a catalog entry is: a whole model, a part of one, or an add-on that needs a base model.</summary>
internal enum ArchitectureKind
{
    /// <summary>A model architecture (a checkpoint or a diffusion-model-only file of it).</summary>
    Model,

    /// <summary>A kind of file, not an architecture: VAE, text encoder, UNet-only, LoRA, ControlNet, embedding, ...</summary>
    FileKind,
}

/// <summary>
/// One architecture SafeCkpt can name: its id, the name people use, the family it belongs to, the architecture it
/// derives from, its <c>modelspec.architecture</c> id, default prediction, native resolution, the published LDM/SGM
/// config yaml SafeCkpt writes for it, and the ComfyUI <c>models/</c> folder its files go in.
/// </summary>
internal sealed record ArchitectureInfo(
    string Id,
    string Name,
    string Family,
    string? Base,
    string? ModelSpec,
    PredictionType Prediction,
    int Resolution,
    string? ConfigYaml,
    string ComfyFolder,
    ArchitectureKind Kind = ArchitectureKind.Model,
    bool LdmUNet = false);

/// <summary>
/// Every id SafeCkpt reports, one record each (the knowledge of ComfyUI's <c>supported_models.py</c>, A1111's
/// <c>sd_models_config.py</c> and the ModelSpec ids as data). Detection, the report, the yaml writer and the README
/// table read it; nothing else lists ids.
/// </summary>
internal static class ArchitectureCatalog
{
    private const PredictionType Eps = PredictionType.Epsilon;
    private const PredictionType V = PredictionType.V;
    private const PredictionType Flow = PredictionType.Flow;
    private const PredictionType VEdm = PredictionType.VEdm;
    private const PredictionType Edm = PredictionType.Edm;
    private const PredictionType None = PredictionType.Unknown;
    private const string Ckpt = "checkpoints";
    private const string Dm = "diffusion_models";

    private static ArchitectureInfo Ldm(string id, string name, string family, string? baseId, string? spec, PredictionType p, int res, string? yaml = null) =>
        new(id, name, family, baseId, spec, p, res, yaml, Ckpt, LdmUNet: true);

    private static ArchitectureInfo Dit(string id, string name, string family, string? baseId, string? spec, PredictionType p, int res, string folder = Dm) =>
        new(id, name, family, baseId, spec, p, res, null, folder);

    private static ArchitectureInfo Kind(string id, string name, string folder) => new(id, name, "file", null, null, None, 0, null, folder, ArchitectureKind.FileKind);

    /// <summary>All entries, in the order of the README table.</summary>
    public static IReadOnlyList<ArchitectureInfo> All { get; } =
    [
        Ldm("sd1", "Stable Diffusion 1.x", "sd1", null, "stable-diffusion-v1", Eps, 512, "v1-inference.yaml"),
        Ldm("sd1-inpaint", "Stable Diffusion 1.x inpainting", "sd1", "sd1", "stable-diffusion-v1-inpainting", Eps, 512, "v1-inpainting-inference.yaml"),
        Ldm("sd1-pix2pix", "Stable Diffusion 1.x InstructPix2Pix", "sd1", "sd1", null, Eps, 512, "instruct-pix2pix.yaml"),
        Ldm("stable-zero123", "Stable Zero123 (novel views)", "sd1", "sd1", null, Eps, 256),
        Ldm("alt-diffusion-m9", "AltDiffusion m9 (XLM-R text encoder, SD 1.x UNet)", "alt-diffusion", "sd1", null, Eps, 512),
        Ldm("alt-diffusion-m18", "AltDiffusion m18 (XLM-R text encoder, SD 2.x UNet)", "alt-diffusion", "sd2", null, Eps, 512),
        Ldm("sd2", "Stable Diffusion 2.x (512, epsilon)", "sd2", null, "stable-diffusion-v2-512", Eps, 512, "v2-inference.yaml"),
        Ldm("sd2-v", "Stable Diffusion 2.x (768, v-prediction)", "sd2", "sd2", "stable-diffusion-v2-768-v", V, 768, "v2-inference-v.yaml"),
        Ldm("sd2-inpaint", "Stable Diffusion 2.x inpainting", "sd2", "sd2", "stable-diffusion-v2-inpainting", Eps, 512, "v2-inpainting-inference.yaml"),
        Ldm("sd2-depth", "Stable Diffusion 2 depth-to-image", "sd2", "sd2", "stable-diffusion-v2-depth", Eps, 512, "v2-midas-inference.yaml"),
        Ldm("sd2-unclip-l", "Stable Diffusion 2.1 unCLIP (CLIP ViT-L)", "sd2", "sd2", "stable-diffusion-v2-unclip-l", V, 768, "v2-1-stable-unclip-l-inference.yaml"),
        Ldm("sd2-unclip-h", "Stable Diffusion 2.1 unCLIP (OpenCLIP ViT-H)", "sd2", "sd2", "stable-diffusion-v2-unclip-h", V, 768, "v2-1-stable-unclip-h-inference.yaml"),
        Ldm("sd-x4-upscaler", "Stable Diffusion x4 upscaler", "sd2", "sd2", null, V, 512),
        Ldm("lotus-d", "Lotus-D (depth / normal from an SD 2 UNet)", "sd2", "sd2", null, None, 768),
        Ldm("sdxl", "Stable Diffusion XL base", "sdxl", null, "stable-diffusion-xl-v1-base", Eps, 1024, "sd_xl_base.yaml"),
        Ldm("sdxl-refiner", "Stable Diffusion XL refiner", "sdxl", "sdxl", "stable-diffusion-xl-v1-refiner", Eps, 1024, "sd_xl_refiner.yaml"),
        Ldm("sdxl-inpaint", "Stable Diffusion XL inpainting", "sdxl", "sdxl", "stable-diffusion-xl-v1-inpainting", Eps, 1024, "sd_xl_inpaint.yaml"),
        Ldm("sdxl-pix2pix", "Stable Diffusion XL InstructPix2Pix / CosXL edit", "sdxl", "sdxl", "stable-diffusion-xl-v1-edit", Eps, 1024),
        Ldm("ssd-1b", "Segmind SSD-1B (distilled SDXL)", "sdxl", "sdxl", "segmind-ssd-1b", Eps, 1024),
        Ldm("segmind-vega", "Segmind Vega (distilled SDXL)", "sdxl", "sdxl", "segmind-vega", Eps, 1024),
        Ldm("koala-700m", "KOALA 700M (distilled SDXL)", "sdxl", "sdxl", null, Eps, 1024),
        Ldm("koala-1b", "KOALA 1B (distilled SDXL)", "sdxl", "sdxl", null, Eps, 1024),
        Ldm("svd", "Stable Video Diffusion img2vid", "svd", null, "stable-video-diffusion-img2vid-v1", VEdm, 1024),
        Ldm("sv3d-u", "SV3D_u (orbit video)", "svd", "svd", null, VEdm, 576),
        Ldm("sv3d-p", "SV3D_p (orbit video with camera poses)", "svd", "svd", null, VEdm, 576),
        new("sd3", "Stable Diffusion 3 medium", "sd3", null, "stable-diffusion-3-medium", Flow, 1024, null, Ckpt),
        new("sd3.5-medium", "Stable Diffusion 3.5 medium", "sd3", "sd3", "stable-diffusion-3.5-medium", Flow, 1024, null, Ckpt),
        new("sd3.5-large", "Stable Diffusion 3.5 large", "sd3", "sd3", "stable-diffusion-3.5-large", Flow, 1024, null, Ckpt),
        Dit("flux-dev", "FLUX.1 dev", "flux", null, "flux-1-dev", Flow, 1024),
        Dit("flux-schnell", "FLUX.1 schnell", "flux", "flux-dev", "flux-1-schnell", Flow, 1024),
        Dit("flux-fill", "FLUX.1 Fill (inpainting)", "flux", "flux-dev", "flux-1-fill-dev", Flow, 1024),
        Dit("flux-kontext", "FLUX.1 Kontext dev (same layout as FLUX.1 dev)", "flux", "flux-dev", "flux-1-kontext-dev", Flow, 1024),
        Dit("flux2", "FLUX.2", "flux2", null, "flux-2-dev", Flow, 1024),
        Dit("chroma", "Chroma (Flux-derived)", "flux", "flux-schnell", "chroma", Flow, 1024),
        Dit("chroma-radiance", "Chroma Radiance (pixel space)", "flux", "chroma", null, Flow, 1024),
        Dit("cascade-c", "Stable Cascade stage C", "cascade", null, "stable-cascade-v1-stage-c", Eps, 1024, "unet"),
        Dit("cascade-b", "Stable Cascade stage B", "cascade", null, "stable-cascade-v1-stage-b", Eps, 1024, "unet"),
        new("pixart-alpha", "PixArt-α", "pixart", null, "pixart-alpha", Eps, 1024, null, Ckpt),
        new("pixart-sigma", "PixArt-Σ", "pixart", null, "pixart-sigma", Eps, 1024, null, Ckpt),
        new("auraflow", "AuraFlow", "auraflow", null, "auraflow", Flow, 1024, null, Ckpt),
        new("hunyuan-dit", "Hunyuan-DiT 1.2", "hunyuan-dit", null, "hunyuan-dit", V, 1024, null, Ckpt),
        new("hunyuan-dit-1.0", "Hunyuan-DiT 1.0 / 1.1 (size and style conditioning)", "hunyuan-dit", "hunyuan-dit", null, V, 1024, null, Ckpt),
        Dit("hunyuan-video", "HunyuanVideo (text to video)", "hunyuan-video", null, "hunyuan-video", Flow, 720),
        Dit("hunyuan-video-i2v", "HunyuanVideo image to video", "hunyuan-video", "hunyuan-video", null, Flow, 720),
        Dit("hunyuan-video-skyreels-i2v", "SkyReels V1 image to video (HunyuanVideo)", "hunyuan-video", "hunyuan-video", null, Flow, 720),
        Dit("hunyuan-image-2.1", "HunyuanImage 2.1", "hunyuan-video", null, "hunyuan-image-2.1", Flow, 2048),
        Dit("hunyuan-image-2.1-refiner", "HunyuanImage 2.1 refiner", "hunyuan-video", "hunyuan-image-2.1", null, Flow, 2048),
        Dit("mochi", "Genmo Mochi 1 preview", "mochi", null, "genmo-mochi-1", Flow, 848),
        Dit("ltxv", "Lightricks LTX-Video", "ltxv", null, "lightricks-ltx-video", Flow, 768),
        Dit("cosmos-t2v", "NVIDIA Cosmos 1.0 text to world", "cosmos", null, null, Edm, 1280),
        Dit("cosmos-i2v", "NVIDIA Cosmos 1.0 video to world", "cosmos", "cosmos-t2v", null, Edm, 1280),
        Dit("cosmos-predict2-t2i", "NVIDIA Cosmos Predict2 text to image", "cosmos", null, null, Flow, 1024),
        Dit("cosmos-predict2-i2v", "NVIDIA Cosmos Predict2 video to world", "cosmos", "cosmos-predict2-t2i", null, Flow, 1280),
        Dit("lumina2", "Lumina Image 2.0", "lumina", null, "lumina-2", Flow, 1024),
        Dit("wan2.1-t2v", "Wan 2.1 text to video", "wan", null, "wan-2_1-text2video-14b", Flow, 832),
        Dit("wan2.1-i2v", "Wan 2.1 image to video (also first/last frame)", "wan", "wan2.1-t2v", "wan-2_1-image2video-14b", Flow, 832),
        Dit("wan2.1-fun-control", "Wan 2.1 Fun control", "wan", "wan2.1-t2v", null, Flow, 832),
        Dit("wan2.1-vace", "Wan 2.1 VACE", "wan", "wan2.1-t2v", "wan-2_1-vace-14b", Flow, 832),
        Dit("wan2.1-camera", "Wan 2.1 Fun camera", "wan", "wan2.1-t2v", null, Flow, 832),
        Dit("wan2.1-humo", "Wan HuMo (human video)", "wan", "wan2.1-t2v", null, Flow, 832),
        Dit("wan2.2-t2v-14b", "Wan 2.2 text to video 14B (same layout as Wan 2.1 14B)", "wan", "wan2.1-t2v", "wan-2_2-text2video-14b", Flow, 1280),
        Dit("wan2.2-i2v-14b", "Wan 2.2 image to video 14B (same layout as Wan 2.1 14B i2v)", "wan", "wan2.1-i2v", "wan-2_2-image2video-14b", Flow, 1280),
        Dit("wan2.2-ti2v-5b", "Wan 2.2 text/image to video 5B", "wan", null, "wan-2_2-ti2v-5b", Flow, 1280),
        Dit("wan2.2-camera", "Wan 2.2 Fun camera", "wan", "wan2.2-i2v-14b", null, Flow, 1280),
        Dit("wan2.2-s2v", "Wan 2.2 speech to video", "wan", "wan2.2-i2v-14b", null, Flow, 1280),
        Dit("wan2.2-animate", "Wan 2.2 Animate", "wan", "wan2.2-i2v-14b", null, Flow, 1280),
        Dit("hunyuan3d2", "Hunyuan3D 2.0 (shape)", "hunyuan3d", null, null, Flow, 0),
        Dit("hunyuan3d2-mini", "Hunyuan3D 2.0 mini (shape)", "hunyuan3d", "hunyuan3d2", null, Flow, 0),
        Dit("hunyuan3d2.1", "Hunyuan3D 2.1 (shape)", "hunyuan3d", null, null, Flow, 0),
        Dit("hidream", "HiDream-I1", "hidream", null, "hidream-i1", Flow, 1024),
        Dit("omnigen2", "OmniGen2", "omnigen", null, "omnigen-2", Flow, 1024),
        Dit("qwen-image", "Qwen-Image", "qwen-image", null, "qwen-image", Flow, 1328),
        Dit("qwen-image-edit", "Qwen-Image-Edit (same layout as Qwen-Image)", "qwen-image", "qwen-image", "qwen-image-edit", Flow, 1328),
        Dit("kandinsky5", "Kandinsky 5", "kandinsky", null, null, Flow, 1024),
        Dit("stable-audio", "Stable Audio Open 1.0", "audio", null, "stable-audio-open-1", V, 0, Ckpt),
        Dit("ace-step", "ACE-Step (music)", "audio", null, null, Flow, 0, Ckpt),
        Kind("vae", "VAE (autoencoder only)", "vae"),
        Kind("taesd", "TAESD tiny autoencoder (encoder or decoder; live previews, fast decoding)", "vae_approx"),
        Kind("vae-approx", "A1111 VAE-approx latent previewer", "vae_approx"),
        Kind("text-encoder", "Text encoder(s) only", "text_encoders"),
        Kind("unet", "UNet only (no VAE, no text encoder)", Dm),
        Kind("lora", "LoRA / LyCORIS network", "loras"),
        Kind("controlnet", "ControlNet", "controlnet"),
        Kind("control-lora", "Control-LoRA (a ControlNet stored as LoRA deltas)", "controlnet"),
        Kind("t2i-adapter", "T2I-Adapter", "controlnet"),
        Kind("ip-adapter", "IP-Adapter", "ipadapter"),
        Kind("embedding", "Textual-inversion embedding", "embeddings"),
        Kind("diffusers-layout", "Diffusers-layout weights (not an LDM single file)", "diffusers"),
        Kind("unknown", "Unknown", "-"),
    ];

    private static readonly Dictionary<string, ArchitectureInfo> ById = All.ToDictionary(a => a.Id, StringComparer.Ordinal);

    /// <summary>Extra <c>modelspec.architecture</c> spellings seen in files, and the id each means.</summary>
    private static readonly (string Spec, string Id)[] SpecAliases =
    [
        ("stable-diffusion-v3-medium", "sd3"), ("stable-diffusion-v3.5-medium", "sd3.5-medium"), ("stable-diffusion-v3.5-large", "sd3.5-large"),
        ("auraflow-v0.1", "auraflow"), ("wan-2_1-text2video-1_3b", "wan2.1-t2v"), ("wan-2_1-image2video-1_3b", "wan2.1-i2v"),
        ("wan-2_1-flf2v-14b", "wan2.1-i2v"), ("wan-2_1-vace-1_3b", "wan2.1-vace"), ("lumina-2.0", "lumina2"),
    ];

    /// <summary><c>modelspec.architecture</c> values (kohya / ComfyUI / SAI model spec) and the id each means.</summary>
    public static IReadOnlyDictionary<string, string> ModelSpec { get; } =
        All.Where(a => a.ModelSpec is not null).Select(a => (Spec: a.ModelSpec!, a.Id)).Concat(SpecAliases)
            .ToDictionary(x => x.Spec, x => x.Id, StringComparer.OrdinalIgnoreCase);

    /// <summary>The <c>/suffix</c>es of <c>modelspec.architecture</c> values and the kind of file each means; the first suffix of a kind is the one SafeCkpt writes.</summary>
    private static readonly (string Suffix, string Kind)[] SpecSuffixes =
    [
        ("lora", "lora"), ("lycoris", "lora"), ("textual-inversion", "embedding"), ("controlnet", "controlnet"),
        ("control-lora", "control-lora"), ("t2i-adapter", "t2i-adapter"), ("ip-adapter", "ip-adapter"), ("vae", "vae"),
    ];

    /// <summary>The <c>/suffix</c> of a <c>modelspec.architecture</c> value and the kind of file it means.</summary>
    public static IReadOnlyDictionary<string, string> ModelSpecKinds { get; } = SpecSuffixes.ToDictionary(x => x.Suffix, x => x.Kind, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The <c>modelspec.architecture</c> value for a detected id: the entry's ModelSpec id; for a kind of file with a
    /// known base, the base's ModelSpec id and the kind's suffix (<c>stable-diffusion-xl-v1-base/lora</c>; a UNet-only
    /// file takes the base's id as it is). Null when the id or its base has no ModelSpec id.
    /// </summary>
    public static string? ModelSpecIdOf(string id, string? baseId)
    {
        ArchitectureInfo? entry = Get(id);
        if (entry is { Kind: ArchitectureKind.Model })
        {
            return entry.ModelSpec;
        }

        string? baseSpec = baseId is null ? null : Get(baseId) is { Kind: ArchitectureKind.Model } b ? b.ModelSpec : null;
        if (baseSpec is null)
        {
            return null;
        }

        if (id == "unet")
        {
            return baseSpec;
        }

        foreach ((string suffix, string kind) in SpecSuffixes)
        {
            if (kind == id)
            {
                return baseSpec + "/" + suffix;
            }
        }

        return null;
    }

    /// <summary>The entry of an id, or null.</summary>
    public static ArchitectureInfo? Get(string id) => ById.GetValueOrDefault(id);

    /// <summary>Whether SafeCkpt knows the id.</summary>
    public static bool Contains(string id) => ById.ContainsKey(id);

    /// <summary>The people's name of an id (the id itself when unknown).</summary>
    public static string NameOf(string id) => ById.TryGetValue(id, out ArchitectureInfo? a) ? a.Name : id;

    /// <summary>Whether an id is a kind of file rather than an architecture.</summary>
    public static bool IsKind(string id) => !ById.TryGetValue(id, out ArchitectureInfo? a) || a.Kind == ArchitectureKind.FileKind;

    /// <summary>Whether an id is an LDM UNet checkpoint (reported as <c>unet</c> when the file has no VAE and no text encoder).</summary>
    public static bool IsLdmUNet(string id) => ById.TryGetValue(id, out ArchitectureInfo? a) && a.LdmUNet;

    /// <summary>The published config yaml SafeCkpt writes for an id, or null.</summary>
    public static string? ConfigYamlOf(string id) => ById.GetValueOrDefault(id)?.ConfigYaml;

    /// <summary>The ids SafeCkpt writes a config yaml for.</summary>
    public static IEnumerable<string> ConfigYamlIds => All.Where(a => a.ConfigYaml is not null).Select(a => a.Id);
}
