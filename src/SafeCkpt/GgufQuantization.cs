using System.Diagnostics.CodeAnalysis;

namespace SafeCkpt;

/// <summary>
/// The tensor type a GGUF file is written in (<see cref="ModelConversions.SaveGguf"/>, <c>convert OUT.gguf --quant</c>).
/// The block types quantize the diffusion model's 2-D weights with ggml's reference rounding (bit-identical to llama.cpp's
/// gguf-py); the tensors ComfyUI-GGUF keeps at high precision stay F32/F16 whatever the type.
/// </summary>
[SuppressMessage("Naming", "CA1707:Identifiers should not contain underscores", Justification = "llama.cpp's type names (Q8_0, Q4_K), as users type them.")]
public enum GgufQuantization
{
    /// <summary>IEEE half precision (ComfyUI-GGUF's <c>convert.py</c> output for F32/F16 sources).</summary>
    F16,

    /// <summary>bfloat16 (ComfyUI-GGUF's <c>convert.py</c> output for BF16 sources).</summary>
    BF16,

    /// <summary>8-bit blocks of 32 with an fp16 scale: 8.5 bits per weight.</summary>
    Q8_0,

    /// <summary>5-bit blocks of 32 with an fp16 scale and minimum: 6 bits per weight.</summary>
    Q5_1,

    /// <summary>5-bit blocks of 32 with an fp16 scale: 5.5 bits per weight.</summary>
    Q5_0,

    /// <summary>4-bit blocks of 32 with an fp16 scale and minimum: 5 bits per weight.</summary>
    Q4_1,

    /// <summary>4-bit blocks of 32 with an fp16 scale: 4.5 bits per weight.</summary>
    Q4_0,
}
