namespace SafeCkpt.Tensors;

/// <summary>
/// An element type of a tensor: every dtype the safetensors format defines (spelled in safetensors as shown in
/// each member's remarks). See <see cref="DTypeExtensions"/> for sizes and names.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "The members are the tensor dtype names users know from PyTorch and NumPy.")]
public enum DType
{
    /// <summary>Boolean, one byte per element (<c>BOOL</c>).</summary>
    Bool,

    /// <summary>Unsigned 8-bit integer (<c>U8</c>).</summary>
    UInt8,

    /// <summary>Signed 8-bit integer (<c>I8</c>).</summary>
    Int8,

    /// <summary>Signed 16-bit integer (<c>I16</c>).</summary>
    Int16,

    /// <summary>Unsigned 16-bit integer (<c>U16</c>).</summary>
    UInt16,

    /// <summary>Signed 32-bit integer (<c>I32</c>).</summary>
    Int32,

    /// <summary>Unsigned 32-bit integer (<c>U32</c>).</summary>
    UInt32,

    /// <summary>Signed 64-bit integer (<c>I64</c>).</summary>
    Int64,

    /// <summary>Unsigned 64-bit integer (<c>U64</c>).</summary>
    UInt64,

    /// <summary>IEEE 754 half precision (<c>F16</c>).</summary>
    Float16,

    /// <summary>Brain floating point, the top 16 bits of a float32 (<c>BF16</c>).</summary>
    BFloat16,

    /// <summary>IEEE 754 single precision (<c>F32</c>).</summary>
    Float32,

    /// <summary>IEEE 754 double precision (<c>F64</c>).</summary>
    Float64,

    /// <summary>Complex number of two float32 (<c>C64</c>).</summary>
    Complex64,

    /// <summary>8-bit float, 4 exponent and 3 mantissa bits, finite only (<c>F8_E4M3</c>, torch <c>float8_e4m3fn</c>).</summary>
    Float8E4M3,

    /// <summary>8-bit float, 5 exponent and 2 mantissa bits (<c>F8_E5M2</c>).</summary>
    Float8E5M2,

    /// <summary>8-bit exponent-only scale (<c>F8_E8M0</c>, torch <c>float8_e8m0fnu</c>).</summary>
    Float8E8M0,

    /// <summary>8-bit float E4M3, finite, unsigned zero (<c>F8_E4M3FNUZ</c>).</summary>
    Float8E4M3Fnuz,

    /// <summary>8-bit float E5M2, finite, unsigned zero (<c>F8_E5M2FNUZ</c>).</summary>
    Float8E5M2Fnuz,

    /// <summary>4-bit float E2M1, two elements per byte (<c>F4</c>).</summary>
    Float4E2M1,

    /// <summary>6-bit float E2M3 (<c>F6_E2M3</c>).</summary>
    Float6E2M3,

    /// <summary>6-bit float E3M2 (<c>F6_E3M2</c>).</summary>
    Float6E3M2,
}
