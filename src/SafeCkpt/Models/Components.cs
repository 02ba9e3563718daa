namespace SafeCkpt.Models;

/// <summary>The key prefixes that decide a tensor's <see cref="ModelComponent"/>, in one place.</summary>
public static class Components
{
    /// <summary>The prefix of the UNet's keys in an LDM/SGM single-file checkpoint.</summary>
    public const string UNetPrefix = "model.diffusion_model.";

    /// <summary>The prefix of the VAE's keys in an LDM/SGM single-file checkpoint.</summary>
    public const string VaePrefix = "first_stage_model.";

    /// <summary>The prefix of the EMA weights in a training checkpoint.</summary>
    public const string EmaPrefix = "model_ema.";

    private static readonly (string Prefix, ModelComponent Component)[] Prefixes =
    [
        (UNetPrefix, ModelComponent.UNet),
        (VaePrefix, ModelComponent.Vae),
        ("vae.", ModelComponent.Vae),
        ("cond_stage_model.", ModelComponent.TextEncoder),
        ("conditioner.embedders.", ModelComponent.TextEncoder),
        ("text_encoders.", ModelComponent.TextEncoder),
        (EmaPrefix, ModelComponent.Ema),
    ];

    /// <summary>The component a tensor name belongs to (first matching prefix; <see cref="ModelComponent.Other"/> if none).</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>The component.</returns>
    public static ModelComponent Classify(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach ((string prefix, ModelComponent component) in Prefixes)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                return component;
            }
        }

        return ModelComponent.Other;
    }
}
