namespace SafeCkpt.Tensors;

/// <summary>The two 8-bit float formats SafeCkpt writes, as PyTorch names them.</summary>
public enum Float8Format
{
    /// <summary><c>torch.float8_e4m3fn</c> (safetensors <c>F8_E4M3</c>): 4 exponent bits, 3 mantissa bits, ±448, no infinity. What fp8 checkpoints use.</summary>
    E4M3FN,

    /// <summary><c>torch.float8_e5m2</c> (safetensors <c>F8_E5M2</c>): 5 exponent bits, 2 mantissa bits, ±57344 and infinities.</summary>
    E5M2,
}

/// <summary>The <see cref="DType"/> of a <see cref="Float8Format"/>.</summary>
internal static class Float8Formats
{
    /// <summary>The dtype the format is stored as.</summary>
    public static DType ToDType(this Float8Format format) => format switch
    {
        Float8Format.E4M3FN => DType.Float8E4M3,
        Float8Format.E5M2 => DType.Float8E5M2,
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not a Float8Format"),
    };
}
