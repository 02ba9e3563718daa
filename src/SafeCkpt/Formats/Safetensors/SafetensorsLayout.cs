using System.Buffers.Binary;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Safetensors;

/// <summary>
/// The safetensors file layout in one place: the 8-byte little-endian header length that starts the file, the
/// header limits and padding, the metadata key, and the order in which the reference writer lays out tensors. The
/// reader, the writer, the format sniffer and the hashes read it from here.
/// </summary>
internal static class SafetensorsLayout
{
    /// <summary>The length of the header-length prefix: a little-endian u64.</summary>
    public const int PrefixLength = 8;

    /// <summary>The largest header the format allows, in bytes (the reference's <c>MAX_HEADER_SIZE</c>).</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>The key of the free-form metadata object in a header.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>The reference writer pads the header with spaces to a multiple of this, so the data section starts aligned.</summary>
    public const int HeaderAlignment = 8;

    // The reference Dtype enum in declaration order; its writer sorts by it, descending. huggingface/safetensors safetensors/src/tensor.rs @ 24b0b2857fef49be734b9ab72ce97c09bb25f5b9
    private static readonly DType[] ReferenceDeclarationOrder =
    [
        DType.Bool,             // BOOL
        DType.Float4E2M1,       // F4
        DType.Float6E2M3,       // F6_E2M3
        DType.Float6E3M2,       // F6_E3M2
        DType.UInt8,            // U8
        DType.Int8,             // I8
        DType.Float8E5M2,       // F8_E5M2
        DType.Float8E4M3,       // F8_E4M3
        DType.Float8E8M0,       // F8_E8M0
        DType.Float8E4M3Fnuz,   // F8_E4M3FNUZ
        DType.Float8E5M2Fnuz,   // F8_E5M2FNUZ
        DType.Int16,            // I16
        DType.UInt16,           // U16
        DType.Float16,          // F16
        DType.BFloat16,         // BF16
        DType.Int32,            // I32
        DType.UInt32,           // U32
        DType.Float32,          // F32
        DType.Complex64,        // C64
        DType.Float64,          // F64
        DType.Int64,            // I64
        DType.UInt64,           // U64
    ];

    private static readonly int[] Ranks = BuildRanks();

    /// <summary>
    /// The reference writer's tensor order (<c>prepare</c>): dtype descending in the reference enum's declaration
    /// order (which is also descending alignment), then name ascending as Rust compares strings (by code point).
    /// </summary>
    public static IComparer<TensorInfo> TensorOrder { get; } = Comparer<TensorInfo>.Create(static (a, b) =>
    {
        int byType = ReferenceRank(b.DType).CompareTo(ReferenceRank(a.DType));
        return byType != 0 ? byType : CompareNames(a.Name, b.Name);
    });

    /// <summary>The dtype's position in the reference enum's declaration order (0 for <c>BOOL</c>).</summary>
    public static int ReferenceRank(DType dtype) => (uint)dtype < (uint)Ranks.Length && Ranks[(int)dtype] >= 0
        ? Ranks[(int)dtype]
        : throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "The dtype has no place in the reference writer's order.");

    /// <summary>Rust's <c>str</c> order: by Unicode code point (the UTF-8 byte order), which differs from UTF-16 ordinal order only for surrogate pairs against U+E000..U+FFFF.</summary>
    public static int CompareNames(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            char x = a[i], y = b[i];
            if (x != y)
            {
                return CodePointKey(x) - CodePointKey(y);
            }
        }

        return a.Length.CompareTo(b.Length);

        // Surrogates (supplementary code points) move above U+E000..U+FFFF; everything else keeps its order.
        static int CodePointKey(char c) => c < 0xD800 ? c : c < 0xE000 ? c + 0x2000 : c - 0x800;
    }

    /// <summary>Reads the header length from the first <see cref="PrefixLength"/> bytes of a file.</summary>
    public static ulong ReadPrefix(ReadOnlySpan<byte> head) => BinaryPrimitives.ReadUInt64LittleEndian(head);

    /// <summary>Writes the header length as the file's first <see cref="PrefixLength"/> bytes.</summary>
    public static void WritePrefix(Span<byte> destination, ulong headerLength) => BinaryPrimitives.WriteUInt64LittleEndian(destination, headerLength);

    /// <summary>The header's length once padded with spaces to <see cref="HeaderAlignment"/>.</summary>
    public static int PaddedHeaderLength(int jsonLength) => (jsonLength + HeaderAlignment - 1) & ~(HeaderAlignment - 1);

    /// <summary>Where the data section starts in a file whose prefix declares <paramref name="headerLength"/> bytes, or -1 when that header does not fit in <paramref name="fileLength"/> bytes.</summary>
    public static long DataStart(ulong headerLength, long fileLength) =>
        fileLength >= PrefixLength && headerLength <= (ulong)(fileLength - PrefixLength) ? PrefixLength + (long)headerLength : -1;

    private static int[] BuildRanks()
    {
        var ranks = new int[DTypeExtensions.All.Count];
        Array.Fill(ranks, -1);
        for (int i = 0; i < ReferenceDeclarationOrder.Length; i++)
        {
            ranks[(int)ReferenceDeclarationOrder[i]] = i;
        }

        return ranks;
    }
}
