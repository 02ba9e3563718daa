using System.Globalization;
using SafeCkpt.IO;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// Reads GGUF files lazily and strictly (llama.cpp's <c>gguf.cpp</c> rules): only the header, metadata and tensor
/// infos are read when opening. Plain tensors (F32, F16, BF16, F64, I8-I64) are file ranges; quantized ones are
/// read as their float32 dequantization. ComfyUI-GGUF's <c>comfy.gguf.orig_shape.&lt;name&gt;</c> restores a
/// reshaped tensor's torch shape; otherwise the torch shape is the reversed GGUF dims.
/// </summary>
internal static class GgufReader
{
    /// <summary>The four bytes a GGUF file starts with.</summary>
    public static ReadOnlySpan<byte> Magic => "GGUF"u8;

    /// <summary>The alignment when <c>general.alignment</c> is absent (<c>GGUF_DEFAULT_ALIGNMENT</c>).</summary>
    public const uint DefaultAlignment = 32;

    /// <summary>The longest key or tensor name SafeCkpt reads (ggml allows 64-byte names; stable-diffusion.cpp 160).</summary>
    public const int MaxNameBytes = 65_535;

    /// <summary>The longest string value kept in the metadata; longer ones are skipped.</summary>
    public const int MaxKeptValueBytes = 1 << 20;

    /// <summary>The most elements an array value may declare (<c>GGUF_MAX_ARRAY_ELEMENTS</c>).</summary>
    public const ulong MaxArrayElements = 1UL << 30;

    /// <summary>The most metadata keys SafeCkpt reads (real files hold a few dozen; a tokenizer is one array key).</summary>
    public const long MaxKeys = 1_000_000;

    /// <summary>The most dimensions a tensor may have (<c>GGML_MAX_DIMS</c>).</summary>
    public const int MaxDims = 4;

    /// <summary>The prefix of ComfyUI-GGUF's original-shape keys.</summary>
    public const string OrigShapePrefix = "comfy.gguf.orig_shape.";

    private const string AlignmentKey = "general.alignment";
    /// <summary>The key naming the model's architecture.</summary>
    internal const string ArchitectureKey = "general.architecture";

    /// <summary>GGUF's metadata value type ids (<c>gguf_type</c>).</summary>
    internal enum ValueType : uint
    {
        UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
    }

    /// <summary>Validates the header of a source and builds the store; the store takes ownership of the source.</summary>
    internal static TensorStore Open(ByteSource file)
    {
        string path = file.Name;
        var cursor = new GgufCursor(file);
        Span<byte> magic = stackalloc byte[4];
        if (file.Length < 4 || !ReadMagic(file, magic))
        {
            throw Fail(SafeCkptErrorCode.UnsupportedFormat, path, 0, "the file does not start with the GGUF magic \"GGUF\".");
        }

        cursor.Skip(4, "the magic");
        uint version = cursor.U32("the version");
        if ((version & 0xFFFF) == 0)
        {
            throw Fail(SafeCkptErrorCode.GgufUnsupportedVersion, path, 4, $"the version field reads 0x{version:x8}: this is a big-endian GGUF (or a corrupt one). SafeCkpt reads little-endian GGUF only; convert it with gguf-py's gguf_convert_endian.py.");
        }

        if (version is not (2 or 3))
        {
            string why = version == 1 ? "GGUF version 1 (32-bit counts) is no longer supported by llama.cpp either; re-convert the model" : "SafeCkpt reads GGUF versions 2 and 3; the file is newer or corrupt";
            throw Fail(SafeCkptErrorCode.GgufUnsupportedVersion, path, 4, $"GGUF version {version}: {why}.");
        }

        long tensorCount = Count(cursor, "the tensor count", 8 + 4 + 4 + 8, path);
        if (tensorCount > TensorStore.MaxTensors)
        {
            throw Fail(SafeCkptErrorCode.ResourceLimitExceeded, path, 8, $"the header lists {tensorCount:N0} tensors, above SafeCkpt's limit of {TensorStore.MaxTensors:N0}. The file is crafted or not a model.");
        }

        long keyCount = Count(cursor, "the key-value count", 8 + 1 + 4 + 1, path);
        if (keyCount > MaxKeys)
        {
            throw Fail(SafeCkptErrorCode.ResourceLimitExceeded, path, 16, $"the header lists {keyCount:N0} metadata keys, above SafeCkpt's limit of {MaxKeys:N0}. Real files hold a few dozen; this file is crafted or corrupt.");
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var origShapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        uint alignment = DefaultAlignment;
        string? architecture = null;
        for (long i = 0; i < keyCount; i++)
        {
            long at = cursor.Position;
            string key = cursor.Text($"key #{i}", MaxNameBytes);
            if (key.Length == 0)
            {
                throw Fail(SafeCkptErrorCode.GgufInvalidString, path, at, $"key #{i} is empty; every metadata key needs a name. The file is corrupt.");
            }

            if (!keys.Add(key))
            {
                throw Fail(SafeCkptErrorCode.DuplicateKey, path, at, $"the metadata key \"{key}\" appears twice; two readers could see two different values here: do not trust this file.");
            }

            uint type = cursor.U32($"the type of \"{key}\"");
            if (key == AlignmentKey)
            {
                alignment = ReadAlignment(cursor, type, at, path);
                metadata[key] = alignment.ToString(CultureInfo.InvariantCulture);
            }
            else if (key.StartsWith(OrigShapePrefix, StringComparison.Ordinal))
            {
                origShapes[key[OrigShapePrefix.Length..]] = ReadOrigShape(cursor, key, type, at, path);
            }
            else
            {
                string? value = ReadValue(cursor, key, type, at, path);
                if (value is not null)
                {
                    metadata[key] = value;
                    if (key == ArchitectureKey && type == (uint)ValueType.String)
                    {
                        architecture = value;
                    }
                }
            }
        }

        var infos = new List<(string Name, long[] Ne, GgmlType Type, ulong Offset, long Elements, long Bytes, long At)>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < tensorCount; i++)
        {
            infos.Add(ReadTensorInfo(cursor, i, names, path));
        }

        long dataStart = Pad(cursor.Position, alignment);
        var entries = new List<(TensorInfo, TensorSource)>(infos.Count);
        var types = new Dictionary<string, GgmlType>(StringComparer.Ordinal);
        var reshaped = new HashSet<string>(StringComparer.Ordinal);
        long expected = 0;
        string? previous = null;
        foreach (var t in infos)
        {
            if (t.Offset % alignment != 0)
            {
                throw Fail(SafeCkptErrorCode.GgufMisaligned, path, t.At, $"tensor \"{t.Name}\" starts at data offset {t.Offset:N0}, not a multiple of the alignment {alignment}. The writer is broken or the file crafted.", t.Name);
            }

            if (t.Offset < (ulong)expected)
            {
                throw Fail(SafeCkptErrorCode.DataOverlap, path, t.At, $"tensor \"{t.Name}\" starts at data offset {t.Offset:N0}, inside tensor \"{previous}\", which ends at {expected:N0}. Overlapping tensors are corrupt or crafted; do not trust this file.", t.Name);
            }

            if (t.Offset > (ulong)expected)
            {
                string after = previous is null ? "the data section starts at offset 0" : $"tensor \"{previous}\" ends (padded) at {expected:N0}";
                throw Fail(SafeCkptErrorCode.DataGap, path, t.At, $"tensor \"{t.Name}\" starts at data offset {t.Offset:N0} but {after}: GGUF tensors lie back to back in info order, and llama.cpp refuses this file. Hidden bytes make polyglot files; do not trust this file.", t.Name);
            }

            if (t.Bytes > file.Length - dataStart - expected)
            {
                throw Fail(SafeCkptErrorCode.Truncated, path, t.At, $"tensor \"{t.Name}\" needs {t.Bytes:N0} bytes from file offset {dataStart + expected:N0}, but the file is {file.Length:N0} bytes long. The file is truncated; download it again.", t.Name);
            }

            long start = dataStart + expected;
            expected = Pad(expected + t.Bytes, alignment);
            previous = t.Name;

            long[] shape = TorchShape(t.Name, t.Ne, t.Elements, origShapes, reshaped, t.At, path);
            DType dtype = GgmlTypes.LogicalDType(t.Type);
            TensorSource source = GgmlTypes.IsPlain(t.Type)
                ? new RangeTensorSource(file, start, t.Bytes)
                : new DequantizingTensorSource(file, start, t.Type, t.Elements, t.Name);
            entries.Add((new TensorInfo(t.Name, dtype, shape), source));
            types[t.Name] = t.Type;
        }

        var layout = new GgufLayout(version, alignment, keyCount, architecture, types, reshaped);
        return new TensorStore(entries, metadata, file) { Gguf = layout };
    }

    /// <summary>An error naming the file, the byte offset and, when known, the tensor.</summary>
    internal static InvalidGgufException Fail(SafeCkptErrorCode code, string path, long offset, string what, string? tensor = null) =>
        new(code, path, $"{path}: {what}") { Offset = offset, TensorName = tensor };

    private static bool ReadMagic(ByteSource file, Span<byte> magic)
    {
        file.ReadExactly(0, magic);
        return magic.SequenceEqual(Magic);
    }

    private static long Pad(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;

    private static long Count(GgufCursor cursor, string what, int minBytesEach, string path)
    {
        long at = cursor.Position;
        ulong raw = cursor.U64(what);
        if (raw > long.MaxValue)
        {
            throw Fail(SafeCkptErrorCode.ResourceLimitExceeded, path, at, $"{what} is negative ({(long)raw}). The file is corrupt.");
        }

        // Each item takes at least minBytesEach bytes: a count the rest of the file cannot hold is refused before any loop.
        if ((long)raw > cursor.Remaining / minBytesEach)
        {
            throw Fail(SafeCkptErrorCode.Truncated, path, at, $"{what} is {raw:N0}, more than the {cursor.Remaining:N0} bytes left in the file can hold. The file is truncated or corrupt.");
        }

        return (long)raw;
    }

    private static uint ReadAlignment(GgufCursor cursor, uint type, long at, string path)
    {
        if (type != (uint)ValueType.UInt32)
        {
            throw Fail(SafeCkptErrorCode.GgufInvalidValue, path, at, $"\"{AlignmentKey}\" has value type {TypeName(type)}; it must be UINT32 (llama.cpp aborts on any other).");
        }

        uint alignment = cursor.U32($"the value of \"{AlignmentKey}\"");
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            throw Fail(SafeCkptErrorCode.GgufMisaligned, path, at, $"\"{AlignmentKey}\" is {alignment}; it must be a non-zero power of two. The file is corrupt.");
        }

        return alignment;
    }

    private static long[] ReadOrigShape(GgufCursor cursor, string key, uint type, long at, string path)
    {
        uint element = type == (uint)ValueType.Array ? cursor.U32($"the element type of \"{key}\"") : uint.MaxValue;
        if (element != (uint)ValueType.Int32)
        {
            throw Fail(SafeCkptErrorCode.GgufInvalidValue, path, at, $"\"{key}\" must be an ARRAY of INT32 (ComfyUI-GGUF's original torch shape), not {(type == (uint)ValueType.Array ? $"an ARRAY of {TypeName(element)}" : TypeName(type))}.");
        }

        ulong count = cursor.U64($"the length of \"{key}\"");
        if (count > TensorInfo.MaxRank)
        {
            throw Fail(SafeCkptErrorCode.GgufInvalidValue, path, at, $"\"{key}\" lists {count:N0} dimensions; at most {TensorInfo.MaxRank} are allowed.");
        }

        var shape = new long[(int)count];
        for (int i = 0; i < shape.Length; i++)
        {
            int d = (int)cursor.U32($"dimension {i} of \"{key}\"");
            if (d < 0)
            {
                throw Fail(SafeCkptErrorCode.GgufInvalidValue, path, at, $"\"{key}\" has the negative dimension {d}.");
            }

            shape[i] = d;
        }

        return shape;
    }

    /// <summary>Reads (or skips) a value; returns its text for scalars and short strings, null for arrays and long strings.</summary>
    private static string? ReadValue(GgufCursor cursor, string key, uint type, long at, string path)
    {
        string what = $"the value of \"{key}\"";
        CultureInfo c = CultureInfo.InvariantCulture;
        switch ((ValueType)type)
        {
            case ValueType.UInt8: return cursor.U8(what).ToString(c);
            case ValueType.Int8: return ((sbyte)cursor.U8(what)).ToString(c);
            case ValueType.UInt16: return cursor.U16(what).ToString(c);
            case ValueType.Int16: return ((short)cursor.U16(what)).ToString(c);
            case ValueType.UInt32: return cursor.U32(what).ToString(c);
            case ValueType.Int32: return ((int)cursor.U32(what)).ToString(c);
            case ValueType.Float32: return BitConverter.UInt32BitsToSingle(cursor.U32(what)).ToString("R", c);
            case ValueType.UInt64: return cursor.U64(what).ToString(c);
            case ValueType.Int64: return ((long)cursor.U64(what)).ToString(c);
            case ValueType.Float64: return BitConverter.UInt64BitsToDouble(cursor.U64(what)).ToString("R", c);
            case ValueType.Bool:
                byte b = cursor.U8(what);
                if (b > 1)
                {
                    throw Fail(SafeCkptErrorCode.GgufInvalidValue, path, at, $"\"{key}\" is a BOOL holding {b}; a bool is 0 or 1. The file is corrupt.");
                }

                return b == 1 ? "true" : "false";
            case ValueType.String:
                return cursor.TextOrSkip(what, MaxKeptValueBytes);
            case ValueType.Array:
                SkipArray(cursor, key, at, path);
                return null;
            default:
                throw Fail(SafeCkptErrorCode.GgufInvalidValue, path, at, $"\"{key}\" has the unknown value type {type}; GGUF defines 0 to 12. The file is corrupt or from a newer GGUF.");
        }
    }

    private static void SkipArray(GgufCursor cursor, string key, long at, string path)
    {
        uint element = cursor.U32($"the element type of \"{key}\"");
        ulong count = cursor.U64($"the length of \"{key}\"");
        if (element == (uint)ValueType.Array)
        {
            throw Fail(SafeCkptErrorCode.GgufInvalidValue, path, at, $"\"{key}\" is an array of arrays; GGUF readers (llama.cpp) refuse nested arrays. The file is corrupt or crafted.");
        }

        int size = element switch
        {
            (uint)ValueType.UInt8 or (uint)ValueType.Int8 or (uint)ValueType.Bool => 1,
            (uint)ValueType.UInt16 or (uint)ValueType.Int16 => 2,
            (uint)ValueType.UInt32 or (uint)ValueType.Int32 or (uint)ValueType.Float32 => 4,
            (uint)ValueType.UInt64 or (uint)ValueType.Int64 or (uint)ValueType.Float64 or (uint)ValueType.String => 8,
            _ => throw Fail(SafeCkptErrorCode.GgufInvalidValue, path, at, $"\"{key}\" is an array of the unknown value type {element}; GGUF defines 0 to 12. The file is corrupt."),
        };
        if (count > MaxArrayElements || count * (ulong)size > (ulong)cursor.Remaining)
        {
            throw Fail(SafeCkptErrorCode.ResourceLimitExceeded, path, at, $"\"{key}\" declares {count:N0} elements, more than {(count > MaxArrayElements ? $"the format's limit of {MaxArrayElements:N0}" : $"the {cursor.Remaining:N0} bytes left in the file can hold")}. The file is corrupt or crafted.");
        }

        if (element != (uint)ValueType.String)
        {
            cursor.Skip(count * (ulong)size, $"the elements of \"{key}\"");
            return;
        }

        for (ulong i = 0; i < count; i++)
        {
            ulong length = cursor.U64($"string {i} of \"{key}\"");
            cursor.Skip(length, $"string {i} of \"{key}\"");
        }
    }

    private static (string Name, long[] Ne, GgmlType Type, ulong Offset, long Elements, long Bytes, long At) ReadTensorInfo(GgufCursor cursor, long index, HashSet<string> names, string path)
    {
        long at = cursor.Position;
        string name = cursor.Text($"the name of tensor #{index}", MaxNameBytes);
        if (name.Length == 0)
        {
            throw Fail(SafeCkptErrorCode.GgufInvalidString, path, at, $"tensor #{index} has an empty name. The file is corrupt.");
        }

        if (!names.Add(name))
        {
            throw Fail(SafeCkptErrorCode.DuplicateKey, path, at, $"the tensor name \"{name}\" appears twice; two readers could load two different tensors here: do not trust this file.", name);
        }

        uint dims = cursor.U32($"the dimension count of \"{name}\"");
        if (dims > MaxDims)
        {
            throw Fail(SafeCkptErrorCode.GgufInvalidTensorInfo, path, at, $"tensor \"{name}\" has {dims} dimensions; GGUF (ggml) allows at most {MaxDims}.", name);
        }

        var ne = new long[dims];
        long elements = 1;
        for (int j = 0; j < ne.Length; j++)
        {
            ulong d = cursor.U64($"dimension {j} of \"{name}\"");
            if (d > long.MaxValue)
            {
                throw Fail(SafeCkptErrorCode.GgufInvalidTensorInfo, path, at, $"tensor \"{name}\" has the negative dimension {(long)d}.", name);
            }

            ne[j] = (long)d;
            if (ne[j] != 0 && elements > long.MaxValue / sizeof(float) / ne[j])
            {
                throw Fail(SafeCkptErrorCode.ShapeOverflow, path, at, $"tensor \"{name}\" has dims [{string.Join(", ", ne.Take(j + 1))}], whose size overflows 64 bits. The file is corrupt or crafted.", name);
            }

            elements *= ne[j];
        }

        uint typeId = cursor.U32($"the type of \"{name}\"");
        if (!GgmlTypes.TryGetBlock(typeId, out int blockElements, out int blockBytes))
        {
            throw Fail(SafeCkptErrorCode.GgufUnknownTensorType, path, at, $"tensor \"{name}\" has the ggml type id {typeId}, which does not exist (unknown, or removed from ggml). The file is corrupt or from a newer llama.cpp.", name);
        }

        var type = (GgmlType)typeId;
        long rowLength = ne.Length > 0 ? ne[0] : 1;
        if (rowLength % blockElements != 0)
        {
            throw Fail(SafeCkptErrorCode.GgufInvalidTensorInfo, path, at, $"tensor \"{name}\" is {GgmlTypes.Name(type)} with rows of {rowLength} elements, not a multiple of its {blockElements}-element block. The file is corrupt.", name);
        }

        // elements * 4 fits in a long (checked above), and a block is never more bytes than 4 per element times its elements.
        long bytes = elements / blockElements * blockBytes;
        ulong offset = cursor.U64($"the data offset of \"{name}\"");
        return (name, ne, type, offset, elements, bytes, at);
    }

    private static long[] TorchShape(string name, long[] ne, long elements, Dictionary<string, long[]> origShapes, HashSet<string> reshaped, long at, string path)
    {
        if (!origShapes.TryGetValue(name, out long[]? orig))
        {
            long[] shape = (long[])ne.Clone();
            Array.Reverse(shape);
            return shape;
        }

        long product = 1;
        foreach (long d in orig)
        {
            product = product < 0 || (d != 0 && product > long.MaxValue / d) ? -1 : product * d;
        }

        if (product != elements)
        {
            throw Fail(SafeCkptErrorCode.GgufInvalidTensorInfo, path, at, $"tensor \"{name}\" holds {elements:N0} elements but \"{OrigShapePrefix}{name}\" gives the shape [{string.Join(", ", orig)}]. The file is corrupt.", name);
        }

        reshaped.Add(name);
        return orig;
    }

    private static string TypeName(uint type) => type <= 12 ? ((ValueType)type).ToString().ToUpperInvariant() : $"type {type}";
}
