namespace SafeCkpt.Models;

/// <summary>How a scaled fp8 file marks its quantized layers for ComfyUI (see README, "fp8").</summary>
public enum ScaledFloat8Layout
{
    /// <summary>
    /// ComfyUI's current layout (its QUANTIZATION.md): per layer <c>LAYER.weight</c> in fp8, <c>LAYER.weight_scale</c>
    /// (float32 scalar) and <c>LAYER.comfy_quant</c> (U8 JSON <c>{"format": "float8_e4m3fn"}</c>), and the same configs
    /// in the header metadata <c>_quantization_metadata</c>.
    /// </summary>
    ComfyQuant,

    /// <summary>
    /// ComfyUI's legacy <c>scaled_fp8</c> layout, which older loaders read: per layer <c>LAYER.weight</c> in
    /// <c>F8_E4M3</c> and <c>LAYER.scale_weight</c> (float32 scalar), and an empty <c>F8_E4M3</c> marker tensor
    /// <c>PREFIX.scaled_fp8</c>. E4M3FN only: the current loader reads every legacy layer as e4m3fn.
    /// </summary>
    LegacyScaledFp8,
}
