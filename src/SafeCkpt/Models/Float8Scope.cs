using SafeCkpt.Tensors;

namespace SafeCkpt.Models;

/// <summary>
/// Which tensors the fp8 conversions touch: the one rule behind <c>ToFloat8</c> / <c>--dtype fp8-e4m3fn|fp8-e5m2</c>
/// and <c>ToScaledFloat8</c> / <c>--dtype fp8-scaled</c> (README, "fp8").
/// <list type="bullet">
/// <item>Plain fp8: every floating tensor of the diffusion model (UNet / DiT: norms, biases and 1-D tensors too). That
/// is what ComfyUI stores when its diffusion model runs in fp8 (its <c>weight_dtype</c> builds every layer of the
/// diffusion model, norms included, in fp8; <c>comfy/ldm/.../openaimodel.py</c> passes the dtype to GroupNorm and
/// LayerNorm alike) and what the A1111 model-converter extension writes for its <c>unet</c> part. The VAE, the text
/// encoders and everything else keep their dtype, as ComfyUI keeps them (its fp8 weight dtype is the diffusion
/// model's only) and as the extension does with those parts set to <c>copy</c> (its default, <c>convert</c>, casts
/// them to fp8 too: <c>CastTo(DType.Float8E4M3)</c> does that here).</item>
/// <item>Scaled fp8: the diffusion model's linear weights only, <c>*.weight</c> of rank 2 in F32, F16, BF16 or F64:
/// the layers ComfyUI's <c>MixedPrecisionOps.Linear</c> loads quantized. Convolutions, norms, biases and embeddings
/// stay in their dtype (ComfyUI loads any layer without a config as a plain tensor).</item>
/// </list>
/// The diffusion model is <c>model.diffusion_model.*</c> in a single-file checkpoint; a file with none of the
/// checkpoint prefixes (UNet, VAE, text encoders, EMA) holds one model alone (a Flux or SD3 transformer, a UNet) and
/// is taken whole.
/// </summary>
internal static class Float8Scope
{
    /// <summary>A predicate for the diffusion model's tensors among <paramref name="names"/>.</summary>
    public static Func<string, bool> DiffusionModel(IEnumerable<string> names)
    {
        bool prefixed = names.Any(n => Components.Classify(n) != ModelComponent.Other);
        return prefixed ? n => Components.Classify(n) == ModelComponent.UNet : _ => true;
    }

    /// <summary>Whether a diffusion-model tensor is a linear weight that scaled fp8 quantizes.</summary>
    public static bool IsLinearWeight(string name, DType dtype, IReadOnlyList<long> shape) =>
        name.EndsWith(QuantizedFormats.Weight, StringComparison.Ordinal) && shape.Count == 2
        && dtype is DType.Float32 or DType.Float16 or DType.BFloat16 or DType.Float64;

    /// <summary>
    /// Where the legacy <c>scaled_fp8</c> marker goes: the prefix ComfyUI's <c>unet_prefix_from_state_dict</c> finds
    /// and strips before it looks for <c>scaled_fp8</c> (<c>model.diffusion_model.</c>, <c>model.model.</c>, <c>net.</c>)
    /// when every quantized layer has it, else none.
    /// </summary>
    public static string MarkerPrefix(IReadOnlyCollection<string> layers) =>
        new[] { KeyPrefixes.UNet, "model.model.", "net." }.FirstOrDefault(p => layers.Count > 0 && layers.All(l => l.StartsWith(p, StringComparison.Ordinal))) ?? string.Empty;
}
