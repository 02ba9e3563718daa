namespace SafeCkpt.Models;

/// <summary>The lowercase names the tool prints and provenance records for formats, components and dtypes (one table each).</summary>
internal static class DisplayNames
{
    /// <summary>A format's name: <c>safetensors</c>, <c>pytorch-zip</c>, <c>pytorch-legacy</c>, <c>pickle</c>, <c>unknown</c>.</summary>
    public static string Of(ModelFormat f) => f switch
    {
        ModelFormat.Safetensors => "safetensors",
        ModelFormat.TorchZip => "pytorch-zip",
        ModelFormat.TorchLegacy => "pytorch-legacy",
        ModelFormat.Pickle => "pickle",
        ModelFormat.Gguf => "gguf",
        _ => "unknown",
    };

    /// <summary>A component's name: <c>unet</c>, <c>vae</c>, <c>text-encoder</c>, <c>ema</c>, <c>other</c>.</summary>
    public static string Of(ModelComponent c) => c switch
    {
        ModelComponent.UNet => "unet",
        ModelComponent.Vae => "vae",
        ModelComponent.TextEncoder => "text-encoder",
        ModelComponent.Ema => "ema",
        _ => "other",
    };

    /// <summary>
    /// A floating dtype's short name, as <c>convert --dtype</c> takes it and provenance records it: <c>fp16</c>,
    /// <c>bf16</c>, <c>fp32</c>, <c>fp64</c>, <c>fp8-e4m3fn</c>, <c>fp8-e5m2</c>; any other dtype by its lowercase safetensors name.
    /// </summary>
    public static string Of(Tensors.DType d) => d switch
    {
        Tensors.DType.Float16 => "fp16",
        Tensors.DType.BFloat16 => "bf16",
        Tensors.DType.Float32 => "fp32",
        Tensors.DType.Float64 => "fp64",
        Tensors.DType.Float8E4M3 => "fp8-e4m3fn",
        Tensors.DType.Float8E5M2 => "fp8-e5m2",
        _ => Tensors.DTypeExtensions.ToSafetensorsName(d).ToLowerInvariant(),
    };
}
