namespace SafeCkpt.Models;

/// <summary>The part of a Stable Diffusion checkpoint a tensor belongs to, from its key prefix.</summary>
public enum ModelComponent
{
    /// <summary>Anything else: schedule buffers, markers such as <c>v_pred</c>, leftovers.</summary>
    Other = 0,

    /// <summary>The diffusion model (<c>model.diffusion_model.</c>).</summary>
    UNet,

    /// <summary>The autoencoder (<c>first_stage_model.</c>, or <c>vae.</c> in newer single files).</summary>
    Vae,

    /// <summary>The text encoder(s) (<c>cond_stage_model.</c>, <c>conditioner.embedders.</c>, <c>text_encoders.</c>).</summary>
    TextEncoder,

    /// <summary>The EMA copy of the UNet kept by training checkpoints (<c>model_ema.</c>).</summary>
    Ema,
}
