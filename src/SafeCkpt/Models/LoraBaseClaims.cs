namespace SafeCkpt.Models;

/// <summary>
/// The base model a LoRA's metadata says it was trained for: <c>modelspec.architecture</c> (SAI model spec, written by
/// kohya, OneTrainer, SwarmUI), kohya's <c>ss_base_model_version</c> (sd-scripts' model version strings) and, in
/// older kohya files, <c>ss_v2</c>.
/// </summary>
internal static class LoraBaseClaims
{
    /// <summary>sd-scripts' <c>ss_base_model_version</c> values (model_util, sdxl_model_util, flux_utils, lumina_util, hunyuan_image_utils).</summary>
    private static readonly Dictionary<string, string> KohyaVersions = new(StringComparer.OrdinalIgnoreCase)
    {
        ["sd_v1"] = "sd1",
        ["sd_v1_v"] = "sd1",
        ["sd_v2"] = "sd2",
        ["sd_v2_v"] = "sd2-v",
        ["sdxl_base_v1-0"] = "sdxl",
        ["flux1"] = "flux-dev",
        ["chroma"] = "chroma",
        ["lumina2"] = "lumina2",
        ["hunyuan-image-2.1"] = "hunyuan-image-2.1",
    };

    /// <summary>The architecture id the metadata claims, and the entry that says so; (null, null) when it says nothing known.</summary>
    /// <param name="metadata">The LoRA's safetensors metadata.</param>
    /// <returns>The id (an <see cref="ArchitectureCatalog"/> id) and the metadata entry, e.g. <c>ss_base_model_version = sdxl_base_v1-0</c>.</returns>
    public static (string? Id, string? Evidence) Of(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (metadata.TryGetValue("modelspec.architecture", out string? spec) && spec.Split('/', 2)[0].Trim() is { Length: > 0 } arch
            && ArchitectureCatalog.ModelSpec.TryGetValue(arch, out string? id))
        {
            return (id, $"modelspec.architecture = {spec}");
        }

        if (metadata.TryGetValue("ss_base_model_version", out string? version) && KohyaVersions.TryGetValue(version.Trim(), out string? v))
        {
            return (v, $"ss_base_model_version = {version}");
        }

        if (!metadata.ContainsKey("ss_base_model_version") && metadata.TryGetValue("ss_v2", out string? v2) && bool.TryParse(v2.Trim(), out bool isV2))
        {
            return (isV2 ? "sd2" : "sd1", $"ss_v2 = {v2}");
        }

        return (null, null);
    }
}
