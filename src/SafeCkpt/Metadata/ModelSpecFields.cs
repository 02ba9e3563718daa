using SafeCkpt.Models;

namespace SafeCkpt.Metadata;

/// <summary>
/// The Stability AI Model Metadata spec ("ModelSpec", <c>modelspec.*</c> keys; Stability-AI/ModelSpec README,
/// version 1.0.1): the keys SafeCkpt fills, what it fills them with, and the fill rule.
/// </summary>
internal static class ModelSpecFields
{
    /// <summary>The prefix of every ModelSpec key.</summary>
    public const string Prefix = "modelspec.";

    /// <summary>The spec version SafeCkpt writes (the README's "This is specification version 1.0.1"; kohya's sd-scripts writes the same).</summary>
    public const string SpecVersion = "1.0.1";

    public const string Version = Prefix + "sai_model_spec";
    public const string Architecture = Prefix + "architecture";
    public const string Implementation = Prefix + "implementation";
    public const string Title = Prefix + "title";
    public const string Resolution = Prefix + "resolution";
    public const string PredictionType = Prefix + "prediction_type";
    public const string HashSha256 = Prefix + "hash_sha256";
    public const string TriggerPhrase = Prefix + "trigger_phrase";

    /// <summary>kohya's <c>IMPL_STABILITY_AI</c>: the implementation of single-file SD checkpoints (LDM/SGM key names).</summary>
    private const string Sgm = "https://github.com/Stability-AI/generative-models";

    /// <summary>
    /// <c>modelspec.implementation</c> by architecture id, then by family, as kohya's sd-scripts writes it
    /// (library/sai_model_spec.py <c>IMPL_*</c>). Other families have no agreed value and are not filled.
    /// </summary>
    private static readonly (string IdOrFamily, string Implementation)[] Implementations =
    [
        ("chroma", "https://huggingface.co/lodestones/Chroma"),
        ("hunyuan-image-2.1", "https://github.com/Tencent-Hunyuan/HunyuanImage-2.1"),
        ("sd1", Sgm), ("sd2", Sgm), ("sdxl", Sgm), ("sd3", Sgm), ("svd", Sgm),
        ("flux", "https://github.com/black-forest-labs/flux"),
        ("lumina", "https://github.com/Alpha-VLLM/Lumina-Image-2.0"),
    ];

    /// <summary>The keys names people see for ModelSpec fields, in the spec's order (MUST, SHOULD, CAN, image-model keys).</summary>
    public static IReadOnlyList<(string Key, string Label)> Labels { get; } =
    [
        (Title, "Title"), (Architecture, "Architecture"), (Implementation, "Implementation"), (Version, "Spec version"),
        (Resolution, "Resolution"), (PredictionType, "Prediction"), (TriggerPhrase, "Trigger phrase"),
        (Prefix + "description", "Description"), (Prefix + "author", "Author"), (Prefix + "date", "Date"), (HashSha256, "Tensor hash"),
        (Prefix + "implementation_version", "Impl. version"), (Prefix + "license", "License"), (Prefix + "usage_hint", "Usage hint"),
        (Prefix + "thumbnail", "Thumbnail"), (Prefix + "tags", "Tags"), (Prefix + "merged_from", "Merged from"),
        (Prefix + "timestep_range", "Timesteps"), (Prefix + "encoder_layer", "Encoder layer"), (Prefix + "preprocessor", "Preprocessor"),
        (Prefix + "is_negative_embedding", "Negative emb."), (Prefix + "unet_dtype", "UNet dtype"), (Prefix + "vae_dtype", "VAE dtype"),
    ];

    /// <summary>
    /// What SafeCkpt would write for a model: the spec version, the architecture and implementation from detection,
    /// resolution and prediction type where the architecture has them, the tensor hash (<paramref name="dataSha256"/>,
    /// the SHA-256 of everything after the header = AutoV3) and the title (the file name without its extension).
    /// Keys SafeCkpt cannot know are left out.
    /// </summary>
    public static Dictionary<string, string> Propose(ArchitectureReport report, string path, string dataSha256)
    {
        var spec = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [Version] = SpecVersion,
            [Title] = System.IO.Path.GetFileNameWithoutExtension(path),
            [HashSha256] = "0x" + dataSha256.ToLowerInvariant(),
        };
        string id = report.WeightsId == "unknown" ? report.Id : report.WeightsId;
        string? baseId = report.BaseArchitecture;
        if (ArchitectureCatalog.ModelSpecIdOf(id, baseId) is { } architecture)
        {
            spec[Architecture] = architecture;
        }

        bool isModel = !ArchitectureCatalog.IsKind(id);
        ArchitectureInfo? model = ArchitectureCatalog.Get(isModel ? id : baseId ?? string.Empty);
        if (model is not null && (isModel || id is "lora" or "embedding" or "unet" or "vae" or "controlnet"))
        {
            // kohya writes "diffusers" for SD 1.x/2.x LoRAs: their module names are diffusers'.
            string? impl = id == "lora" && model.Family is "sd1" or "sd2" ? "diffusers" : ImplementationOf(model);
            if (impl is not null)
            {
                spec[Implementation] = impl;
            }

            if (model.Resolution > 0 && (isModel || id is "lora" or "embedding" or "unet"))
            {
                spec[Resolution] = $"{model.Resolution}x{model.Resolution}";
            }
        }

        if (isModel || id == "unet")
        {
            string? prediction = report.PredictionType switch
            {
                Models.PredictionType.Epsilon => "epsilon",
                Models.PredictionType.V => "v",
                _ => null,
            };
            if (prediction is not null)
            {
                spec[PredictionType] = prediction;
            }
        }

        return spec;
    }

    /// <summary>
    /// The fill rule: a proposed key is written when the file has no value for it (or an empty one); values already
    /// there are kept. The exception is <c>hash_sha256</c>, a checksum of the tensor bytes rather than a choice: it is
    /// always set to the computed value. Returns the keys written.
    /// </summary>
    public static IReadOnlyList<string> Fill(IDictionary<string, string> metadata, IReadOnlyDictionary<string, string> proposed)
    {
        var written = new List<string>();
        foreach ((string key, string value) in proposed.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            bool missing = !metadata.TryGetValue(key, out string? existing) || existing.Length == 0;
            if ((missing || key == HashSha256) && existing != value)
            {
                metadata[key] = value;
                written.Add(key);
            }
        }

        return written;
    }

    private static string? ImplementationOf(ArchitectureInfo model)
    {
        foreach ((string key, string impl) in Implementations)
        {
            if (key == model.Id)
            {
                return impl;
            }
        }

        foreach ((string key, string impl) in Implementations)
        {
            if (key == model.Family)
            {
                return impl;
            }
        }

        return null;
    }
}
