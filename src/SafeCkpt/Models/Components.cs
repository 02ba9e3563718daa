namespace SafeCkpt.Models;

/// <summary>A tensor's <see cref="ModelComponent"/> by its key prefix (the prefixes live in <see cref="KeyPrefixes"/>).</summary>
internal static class Components
{
    /// <summary>The prefix of the UNet's keys in an LDM/SGM single-file checkpoint.</summary>
    public const string UNetPrefix = KeyPrefixes.UNet;

    /// <summary>The prefix of the VAE's keys in an LDM/SGM single-file checkpoint.</summary>
    public const string VaePrefix = KeyPrefixes.Vae;

    /// <summary>The prefix of the EMA weights in a training checkpoint.</summary>
    public const string EmaPrefix = KeyPrefixes.Ema;

    private static readonly (string Prefix, ModelComponent Component)[] Prefixes =
    [
        (KeyPrefixes.UNet, ModelComponent.UNet),
        (KeyPrefixes.Vae, ModelComponent.Vae),
        (KeyPrefixes.VaeAlt, ModelComponent.Vae),
        .. KeyPrefixes.TextEncoders.Select(p => (p, ModelComponent.TextEncoder)),
        (KeyPrefixes.Ema, ModelComponent.Ema),
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
