namespace SafeCkpt.Models;

/// <summary>The lowercase names the tool prints and provenance records for formats and components (one table each).</summary>
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
}
