using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// A ggml tensor type id as stored in a GGUF tensor info (<c>enum ggml_type</c> in llama.cpp's <c>ggml.h</c>). A
/// quantized type is a block layout, not an element type, so it is kept apart from <see cref="DType"/>.
/// </summary>
internal enum GgmlType
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
}

/// <summary>
/// The ggml type table, in one place: elements per block and bytes per block (<c>ggml.c type_traits</c>, gguf-py
/// <c>GGML_QUANT_SIZES</c>), and what SafeCkpt shows a tensor of each type as.
/// </summary>
internal static class GgmlTypes
{
    /// <summary>One past the largest type id llama.cpp knows (<c>GGML_TYPE_COUNT</c>).</summary>
    public const int Count = 43;

    /// <summary>Elements per K-quant super-block (<c>QK_K</c>).</summary>
    public const int QK_K = 256;

    /// <summary>Elements and bytes per block of a type; false for removed or unknown ids (4, 5, 31-33, 36-38, &gt;= 43).</summary>
    public static bool TryGetBlock(uint id, out int blockElements, out int blockBytes)
    {
        (blockElements, blockBytes) = id switch
        {
            0 => (1, 4),
            1 => (1, 2),
            2 => (32, 18),
            3 => (32, 20),
            6 => (32, 22),
            7 => (32, 24),
            8 => (32, 34),
            9 => (32, 40),
            10 => (QK_K, 84),
            11 => (QK_K, 110),
            12 => (QK_K, 144),
            13 => (QK_K, 176),
            14 => (QK_K, 210),
            15 => (QK_K, 292),
            16 => (QK_K, 66),
            17 => (QK_K, 74),
            18 => (QK_K, 98),
            19 => (QK_K, 50),
            20 => (32, 18),
            21 => (QK_K, 110),
            22 => (QK_K, 82),
            23 => (QK_K, 136),
            24 => (1, 1),
            25 => (1, 2),
            26 => (1, 4),
            27 => (1, 8),
            28 => (1, 8),
            29 => (QK_K, 56),
            30 => (1, 2),
            34 => (QK_K, 54),
            35 => (QK_K, 66),
            39 => (32, 17),
            40 => (64, 36),
            41 => (128, 18),
            42 => (64, 18),
            _ => (0, 0),
        };
        return blockElements != 0;
    }

    /// <summary>
    /// The element type a tensor of <paramref name="type"/> is shown and read as: its own for plain types, float32
    /// (the dequantized values) for block-quantized ones.
    /// </summary>
    public static DType LogicalDType(GgmlType type) => type switch
    {
        GgmlType.F16 => DType.Float16,
        GgmlType.BF16 => DType.BFloat16,
        GgmlType.F64 => DType.Float64,
        GgmlType.I8 => DType.Int8,
        GgmlType.I16 => DType.Int16,
        GgmlType.I32 => DType.Int32,
        GgmlType.I64 => DType.Int64,
        _ => DType.Float32,
    };

    /// <summary>Whether the stored bytes are the logical elements themselves (no dequantization).</summary>
    public static bool IsPlain(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.F64 or GgmlType.I8 or GgmlType.I16 or GgmlType.I32 or GgmlType.I64;

    /// <summary>Whether SafeCkpt can dequantize the type (plain types need no dequantization).</summary>
    public static bool CanDequantize(GgmlType type) => type is GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0
        or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    /// <summary>The type's name as llama.cpp prints it (<c>Q4_K</c>, <c>BF16</c>), or <c>type&lt;id&gt;</c>.</summary>
    public static string Name(GgmlType type) => Enum.IsDefined(type) ? type.ToString() : $"type{(int)type}";
}
