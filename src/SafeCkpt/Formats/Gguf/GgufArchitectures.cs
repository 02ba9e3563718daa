namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// ComfyUI-GGUF's <c>general.architecture</c> values (<c>tools/convert.py</c>) and the <c>modelspec.architecture</c>
/// each stands for, so detection can trust them as it trusts ModelSpec metadata. A GGUF from ComfyUI-GGUF holds the
/// diffusion model only; stable-diffusion.cpp files have no such key.
/// </summary>
internal static class GgufArchitectures
{
    private static readonly Dictionary<string, string> ModelSpecs = new(StringComparer.Ordinal)
    {
        ["sd1"] = "stable-diffusion-v1",
        ["sdxl"] = "stable-diffusion-xl-v1-base",
        ["sd3"] = "stable-diffusion-3-medium",
        ["flux"] = "flux-1-dev",
        ["aura"] = "auraflow",
        ["ltxv"] = "lightricks-ltx-video",
        ["hyvid"] = "hunyuan-video",
        ["lumina2"] = "lumina-2",
    };

    /// <summary>The ModelSpec architecture for a GGUF architecture name, or null for one SafeCkpt does not map (LLMs, wan, pig, ...).</summary>
    public static string? ModelSpecOf(string? ggufArchitecture) => ggufArchitecture is null ? null : ModelSpecs.GetValueOrDefault(ggufArchitecture);
}
