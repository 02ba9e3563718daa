using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace SafeCkpt.Tensors;

/// <summary>Sizes, names and classification of <see cref="DType"/> values.</summary>
public static class DTypeExtensions
{
    // One table, indexed by the enum value: safetensors name, bits per element, floating point or not.
    private static readonly (string Name, int Bits, bool Floating)[] Table =
    [
        ("BOOL", 8, false),
        ("U8", 8, false),
        ("I8", 8, false),
        ("I16", 16, false),
        ("U16", 16, false),
        ("I32", 32, false),
        ("U32", 32, false),
        ("I64", 64, false),
        ("U64", 64, false),
        ("F16", 16, true),
        ("BF16", 16, true),
        ("F32", 32, true),
        ("F64", 64, true),
        ("C64", 64, false),
        ("F8_E4M3", 8, true),
        ("F8_E5M2", 8, true),
        ("F8_E8M0", 8, true),
        ("F8_E4M3FNUZ", 8, true),
        ("F8_E5M2FNUZ", 8, true),
        ("F4", 4, true),
        ("F6_E2M3", 6, true),
        ("F6_E3M2", 6, true),
    ];

    private static readonly FrozenDictionary<string, DType> ByName =
        Enum.GetValues<DType>().ToFrozenDictionary(d => Table[(int)d].Name, StringComparer.Ordinal);

    /// <summary>Every dtype, in declaration order.</summary>
    public static IReadOnlyList<DType> All { get; } = Enum.GetValues<DType>();

    /// <summary>The size of one element in bits (4 for <c>F4</c>, 6 for the F6 types, 8 for <c>BOOL</c>).</summary>
    /// <param name="dtype">The dtype.</param>
    /// <returns>The number of bits per element.</returns>
    public static int BitSize(this DType dtype) => Row(dtype).Bits;

    /// <summary>The dtype's name in a safetensors header, e.g. <c>F16</c> or <c>F8_E4M3</c>.</summary>
    /// <param name="dtype">The dtype.</param>
    /// <returns>The safetensors spelling.</returns>
    public static string ToSafetensorsName(this DType dtype) => Row(dtype).Name;

    /// <summary>Whether the dtype holds real floating-point numbers (the types precision casts apply to).</summary>
    /// <param name="dtype">The dtype.</param>
    /// <returns><see langword="true"/> for F16, BF16, F32, F64 and the F8/F6/F4 types.</returns>
    public static bool IsFloatingPoint(this DType dtype) => Row(dtype).Floating;

    /// <summary>Parses a safetensors dtype name (case-sensitive, exactly as the format spells it).</summary>
    /// <param name="name">The name, e.g. <c>BF16</c>.</param>
    /// <param name="dtype">The dtype, when the name is known.</param>
    /// <returns><see langword="true"/> when the name is a known dtype.</returns>
    public static bool TryParseSafetensorsName([NotNullWhen(true)] string? name, out DType dtype)
    {
        if (name is not null && ByName.TryGetValue(name, out dtype))
        {
            return true;
        }

        dtype = default;
        return false;
    }

    private static (string Name, int Bits, bool Floating) Row(DType dtype)
    {
        uint i = (uint)dtype;
        if (i >= (uint)Table.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a defined DType value.");
        }

        return Table[i];
    }
}
