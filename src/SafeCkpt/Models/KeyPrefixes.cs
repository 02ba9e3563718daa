namespace SafeCkpt.Models;

/// <summary>
/// The one place for the key names and prefixes of LDM/SGM single-file checkpoints that detection,
/// <see cref="Components"/>, prune, VAE bake/extract, EMA selection and the config yaml writer read.
/// </summary>
internal static class KeyPrefixes
{
    /// <summary>The UNet / DiT of an LDM/SGM single file.</summary>
    public const string UNet = "model.diffusion_model.";

    /// <summary>The autoencoder of an LDM/SGM single file.</summary>
    public const string Vae = "first_stage_model.";

    /// <summary>The autoencoder in newer single files (SD3, some Flux files).</summary>
    public const string VaeAlt = "vae.";

    /// <summary>The VAE's training loss module (LDM's <c>loss</c>: discriminator, LPIPS, logvar).</summary>
    private const string LossModule = "loss";

    /// <summary>The EMA copy of the UNet in training checkpoints.</summary>
    public const string Ema = "model_ema.";

    /// <summary>The two EMA bookkeeping tensors: counters, not weights.</summary>
    public static IReadOnlyList<string> EmaCounters { get; } = [Ema + "decay", Ema + "num_updates"];

    /// <summary>The training loss of the VAE, inside a checkpoint and in a lone VAE file.</summary>
    public static IReadOnlyList<string> VaeLoss { get; } = [Vae + LossModule + ".", LossModule + "."];

    /// <summary>The text encoder of an LDM single file (SD 1.x, 2.x).</summary>
    public const string LdmTextEncoder = "cond_stage_model.";

    /// <summary>The text encoders of an SGM single file (SDXL): <c>conditioner.embedders.N.</c>.</summary>
    public const string SgmEmbedders = "conditioner.embedders.";

    /// <summary>The text encoders of SD3 / Flux single files (<c>text_encoders.clip_l.</c>, <c>.clip_g.</c>, <c>.t5xxl.</c>).</summary>
    public const string SingleFileTextEncoders = "text_encoders.";

    /// <summary>The text encoder prefixes: LDM (<c>cond_stage_model.</c>), SGM (<c>conditioner.embedders.</c>), SD3/Flux single files.</summary>
    public static IReadOnlyList<string> TextEncoders { get; } = [LdmTextEncoder, SgmEmbedders, SingleFileTextEncoders];

    /// <summary>Where the diffusion model's keys may start, most specific first (ComfyUI's <c>unet_prefix_from_state_dict</c> plus the bare forms).</summary>
    public static IReadOnlyList<string> DiffusionModel { get; } = [UNet, "diffusion_model.", "model.model.", "net.", "model.", string.Empty];

    /// <summary>The prefix of a file's diffusion-model keys: the first of <see cref="DiffusionModel"/> more than 5 keys start with (ComfyUI's rule), else none.</summary>
    /// <param name="count">How many of the file's keys start with a prefix.</param>
    /// <returns>The prefix; empty for bare keys.</returns>
    public static string DiffusionModelPrefix(Func<string, int> count) => DiffusionModel.FirstOrDefault(p => p.Length > 0 && count(p) > 5) ?? string.Empty;

    /// <summary>The CLIP <c>position_ids</c> of SD 1.x and SDXL checkpoints, which <c>--fix-clip</c> repairs.</summary>
    public static IReadOnlyList<string> FixablePositionIds { get; } =
    [
        "cond_stage_model.transformer.text_model.embeddings.position_ids",
        "conditioner.embedders.0.transformer.text_model.embeddings.position_ids",
    ];

    /// <summary>Every CLIP <c>position_ids</c> key the report checks.</summary>
    public static IReadOnlyList<string> PositionIds { get; } =
    [
        .. FixablePositionIds,
        "text_encoders.clip_l.transformer.text_model.embeddings.position_ids",
        "text_model.embeddings.position_ids",
    ];

    /// <summary>The diffusion schedule buffers of LDM checkpoints (every UI recomputes them).</summary>
    public static IReadOnlyList<string> ScheduleBuffers { get; } =
    [
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
        "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "logvar",
    ];

    /// <summary>Training leftovers: embedding manager, LoRA and ControlNet remains, the VAE loss, LCM's cond_proj.</summary>
    public static IReadOnlyList<string> Leftovers { get; } =
    [
        "embedding_manager.", "lora_te_text_model", "lora_unet_", "control_model.", .. VaeLoss, UNet + "time_embedding.cond_proj.weight",
    ];

    /// <summary>Whether a key is a VAE loss tensor (any key starting with the loss module's name, with or without the VAE prefix).</summary>
    public static bool IsVaeLoss(string name) => name.StartsWith(LossModule, StringComparison.Ordinal) || name.StartsWith(Vae + LossModule, StringComparison.Ordinal);

    /// <summary>Whether a key is an EMA counter rather than an EMA weight.</summary>
    public static bool IsEmaCounter(string name) => EmaCounters.Contains(name, StringComparer.Ordinal);
}
