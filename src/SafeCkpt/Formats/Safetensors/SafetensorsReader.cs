using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using SafeCkpt.IO;
using SafeCkpt.Tensors;
using static SafeCkpt.Formats.Safetensors.SafetensorsLayout;

namespace SafeCkpt.Formats.Safetensors;

/// <summary>
/// Reads <c>.safetensors</c> files lazily and strictly: only the header is read when opening; every rule of the
/// reference implementation is checked (and a few more: duplicate keys, unknown fields, NUL padding), each with
/// its own <see cref="SafeCkptErrorCode"/> and message.
/// </summary>
internal static class SafetensorsReader
{
    /// <summary>The largest header the format allows, in bytes (100,000,000, as in the reference implementation).</summary>
    public const long MaxHeaderLength = SafetensorsLayout.MaxHeaderLength;

    /// <summary>The key of the free-form metadata object in a header.</summary>
    public const string MetadataKey = SafetensorsLayout.MetadataKey;

    /// <summary>Opens a safetensors file: reads and validates its header; tensor bytes are read on demand.</summary>
    /// <param name="path">The file to open.</param>
    /// <returns>A store that reads from the open file; dispose it to close the file.</returns>
    /// <exception cref="InvalidCheckpointException">The file breaks a rule of the format.</exception>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static TensorStore Open(string path) => FileByteSource.OpenWith(path, file => Open(file));

    /// <summary>Opens safetensors bytes held in memory (tests, downloads kept in memory).</summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="name">A name for error messages.</param>
    /// <returns>A store over the bytes.</returns>
    /// <exception cref="InvalidCheckpointException">The bytes break a rule of the format.</exception>
    public static TensorStore Open(ReadOnlyMemory<byte> bytes, string name = "<memory>") => Open(new MemoryByteSource(bytes, name));

    /// <summary>Validates the header of a source and builds the store; the store takes ownership of the source.</summary>
    internal static TensorStore Open(ByteSource file)
    {
        Tar.TarHeader.RefuseIfTar(file);
        return OpenChecked(file);
    }

    /// <summary>Opens a source the caller has already checked is no tar (<see cref="ModelFile"/> checks every format once).</summary>
    internal static TensorStore OpenChecked(ByteSource file)
    {
        Header header = ReadHeader(file);
        var entries = new List<(TensorInfo, TensorSource)>(header.Tensors.Count);
        foreach (Entry e in header.Tensors)
        {
            entries.Add((e.Info, new RangeTensorSource(file, header.DataStart + e.Begin, e.End - e.Begin)));
        }

        return new TensorStore(entries, header.Metadata, file);
    }

    /// <summary>Reads and validates the header of <paramref name="file"/>, including the tiling of the data section.</summary>
    internal static Header ReadHeader(ByteSource file)
    {
        string path = file.Name;
        long fileLength = file.Length;
        if (fileLength < PrefixLength)
        {
            throw Fail(SafeCkptErrorCode.HeaderTooSmall, path, 0, $"the file is {fileLength} bytes long, shorter than the 8-byte header length a safetensors file starts with. It is truncated or not a safetensors file.");
        }

        Span<byte> prefix = stackalloc byte[PrefixLength];
        file.ReadExactly(0, prefix);
        ulong declared = ReadPrefix(prefix);
        if (declared > MaxHeaderLength)
        {
            throw Fail(SafeCkptErrorCode.HeaderTooLarge, path, 0, $"the header length is {declared:N0} bytes, above the format's limit of {MaxHeaderLength:N0}. The file is corrupt or not a safetensors file.");
        }

        if ((long)declared > fileLength - PrefixLength)
        {
            throw Fail(SafeCkptErrorCode.HeaderOutsideFile, path, 0, $"the header length is {declared:N0} bytes but only {fileLength - PrefixLength:N0} bytes follow the length prefix. The file is truncated; download it again.");
        }

        var headerBytes = new byte[(int)declared];
        file.ReadExactly(PrefixLength, headerBytes);
        long dataLength = fileLength - PrefixLength - (long)declared;
        return Parse(headerBytes, dataLength, path);
    }

    /// <summary>Parses and validates header JSON against a data section of <paramref name="dataLength"/> bytes.</summary>
    internal static Header Parse(ReadOnlySpan<byte> json, long dataLength, string path)
    {
        if (!Utf8.IsValid(json))
        {
            int bad = FirstInvalidUtf8(json);
            throw Fail(SafeCkptErrorCode.HeaderNotUtf8, path, PrefixLength + bad, $"the header is not valid UTF-8 (bad byte 0x{json[bad]:x2} at header byte {bad}). The file is corrupt.");
        }

        var tensors = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false, MaxDepth = 64 });
        try
        {
            if (!reader.Read())
            {
                throw Fail(SafeCkptErrorCode.HeaderNotJson, path, PrefixLength, "the header is empty; it must be a JSON object.");
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw Fail(SafeCkptErrorCode.HeaderNotObject, path, PrefixLength + reader.TokenStartIndex, $"the header must be a JSON object but starts with a {Describe(reader.TokenType)}.");
            }

            while (true)
            {
                Require(ref reader, path);
                if (reader.TokenType == JsonTokenType.EndObject)
                {
                    break;
                }

                long keyOffset = PrefixLength + reader.TokenStartIndex;
                string key = reader.GetString()!;
                if (!seen.Add(key))
                {
                    throw Fail(SafeCkptErrorCode.DuplicateKey, path, keyOffset, $"the key \"{key}\" appears twice in the header; a file must name each tensor once. Two readers could see two different tensors here: do not trust this file.", key);
                }

                Require(ref reader, path);
                if (key == MetadataKey)
                {
                    ReadMetadata(ref reader, metadata, path);
                }
                else
                {
                    if (tensors.Count >= Tensors.TensorStore.MaxTensors)
                    {
                        throw Fail(SafeCkptErrorCode.ResourceLimitExceeded, path, keyOffset, $"the header lists more than {Tensors.TensorStore.MaxTensors:N0} tensors. Real models hold a few thousand; this file is crafted or not a model.", key);
                    }

                    tensors.Add(ReadEntry(ref reader, key, path));
                }
            }

            // Anything after the object must be JSON whitespace; Utf8JsonReader reports other bytes as an error.
            if (reader.Read())
            {
                throw Fail(SafeCkptErrorCode.HeaderTrailingBytes, path, PrefixLength + reader.TokenStartIndex, "the header has more JSON after its object.");
            }
        }
        catch (JsonException ex)
        {
            long at = PrefixLength + reader.BytesConsumed;
            if (reader.CurrentDepth == 0 && reader.TokenType == JsonTokenType.EndObject && reader.BytesConsumed < json.Length)
            {
                int pos = (int)reader.BytesConsumed;
                while (pos < json.Length && json[pos] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
                {
                    pos++;
                }

                string what = json[pos] == 0 ? "NUL (0x00) padding" : $"byte 0x{json[pos]:x2}";
                throw Fail(SafeCkptErrorCode.HeaderTrailingBytes, path, PrefixLength + pos, $"the header has {what} after its JSON object at header byte {pos}; only spaces may pad a header. The writer that made it is broken; re-save the file with a conforming tool.");
            }

            throw Fail(SafeCkptErrorCode.HeaderNotJson, path, at, $"the header is not valid JSON near header byte {reader.BytesConsumed} ({ex.Message.Split('.')[0]}). The file is corrupt or not a safetensors file.");
        }
        catch (InvalidOperationException)
        {
            // A string escape that does not decode to valid UTF-16 (a lone surrogate such as \ud800).
            throw Fail(SafeCkptErrorCode.HeaderNotJson, path, PrefixLength + reader.TokenStartIndex, $"the header has a string with an invalid escape near header byte {reader.TokenStartIndex}. The file is corrupt.");
        }

        ValidateTiling(tensors, dataLength, path);
        return new Header(tensors, metadata, PrefixLength + json.Length);
    }

    private static void ReadMetadata(ref Utf8JsonReader reader, Dictionary<string, string> metadata, string path)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Fail(SafeCkptErrorCode.InvalidMetadata, path, PrefixLength + reader.TokenStartIndex, $"\"{MetadataKey}\" must be an object mapping strings to strings, not a {Describe(reader.TokenType)}.");
        }

        while (true)
        {
            Require(ref reader, path);
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                return;
            }

            long at = PrefixLength + reader.TokenStartIndex;
            string key = reader.GetString()!;
            Require(ref reader, path);
            if (reader.TokenType != JsonTokenType.String)
            {
                throw Fail(SafeCkptErrorCode.InvalidMetadata, path, PrefixLength + reader.TokenStartIndex, $"metadata value \"{key}\" is a {Describe(reader.TokenType)}; \"{MetadataKey}\" may only map strings to strings.");
            }

            if (!metadata.TryAdd(key, reader.GetString()!))
            {
                throw Fail(SafeCkptErrorCode.DuplicateKey, path, at, $"the metadata key \"{key}\" appears twice; do not trust this file.");
            }
        }
    }

    private static Entry ReadEntry(ref Utf8JsonReader reader, string name, string path)
    {
        long entryOffset = PrefixLength + reader.TokenStartIndex;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Fail(SafeCkptErrorCode.HeaderNotObject, path, entryOffset, $"the entry of tensor \"{name}\" must be an object with dtype, shape and data_offsets, not a {Describe(reader.TokenType)}.", name);
        }

        string? dtypeName = null;
        List<long>? shape = null;
        (long Begin, long End)? offsets = null;
        while (true)
        {
            Require(ref reader, path);
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                break;
            }

            string field = reader.GetString()!;
            long fieldOffset = PrefixLength + reader.TokenStartIndex;
            Require(ref reader, path);
            switch (field)
            {
                case "dtype" when dtypeName is null:
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw Fail(SafeCkptErrorCode.InvalidTensorEntry, path, fieldOffset, $"tensor \"{name}\": dtype must be a string such as \"F16\", not a {Describe(reader.TokenType)}.", name);
                    }

                    dtypeName = reader.GetString()!;
                    break;
                case "shape" when shape is null:
                    shape = ReadIntegers(ref reader, name, "shape", path, SafeCkptErrorCode.InvalidShape);
                    if (shape.Count > TensorInfo.MaxRank)
                    {
                        throw Fail(SafeCkptErrorCode.InvalidShape, path, fieldOffset, $"tensor \"{name}\" has {shape.Count} dimensions; at most {TensorInfo.MaxRank} are allowed.", name);
                    }

                    break;
                case "data_offsets" when offsets is null:
                    List<long> o = ReadIntegers(ref reader, name, "data_offsets", path, SafeCkptErrorCode.InvalidOffsets);
                    if (o.Count != 2)
                    {
                        throw Fail(SafeCkptErrorCode.InvalidOffsets, path, fieldOffset, $"tensor \"{name}\": data_offsets must be [begin, end], not {o.Count} numbers.", name);
                    }

                    if (o[1] < o[0])
                    {
                        throw Fail(SafeCkptErrorCode.InvalidOffsets, path, fieldOffset, $"tensor \"{name}\": data_offsets [{o[0]}, {o[1]}] end before they begin.", name);
                    }

                    offsets = (o[0], o[1]);
                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw Fail(SafeCkptErrorCode.DuplicateKey, path, fieldOffset, $"tensor \"{name}\" has the field \"{field}\" twice; do not trust this file.", name);
                default:
                    throw Fail(SafeCkptErrorCode.InvalidTensorEntry, path, fieldOffset, $"tensor \"{name}\" has an unknown field \"{field}\"; an entry has only dtype, shape and data_offsets.", name);
            }
        }

        if (dtypeName is null || shape is null || offsets is null)
        {
            string missing = dtypeName is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw Fail(SafeCkptErrorCode.InvalidTensorEntry, path, entryOffset, $"tensor \"{name}\" has no \"{missing}\" field.", name);
        }

        if (!DTypeExtensions.TryParseSafetensorsName(dtypeName, out DType dtype))
        {
            throw Fail(SafeCkptErrorCode.UnknownDType, path, entryOffset, $"tensor \"{name}\" has the unknown dtype \"{dtypeName}\". Known: {string.Join(", ", DTypeExtensions.All.Select(d => d.ToSafetensorsName()))}.", name);
        }

        if (!TensorInfo.TryComputeSizes(dtype, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(shape), out _, out long bytes, out bool wholeBytes))
        {
            throw Fail(SafeCkptErrorCode.ShapeOverflow, path, entryOffset, $"tensor \"{name}\": shape [{string.Join(", ", shape)}] of {dtypeName} overflows 64-bit sizes.", name);
        }

        if (!wholeBytes)
        {
            throw Fail(SafeCkptErrorCode.MisalignedSubByte, path, entryOffset, $"tensor \"{name}\": {dtypeName} shape [{string.Join(", ", shape)}] does not fill a whole number of bytes.", name);
        }

        long span = offsets.Value.End - offsets.Value.Begin;
        if (span != bytes)
        {
            throw Fail(SafeCkptErrorCode.ByteLengthMismatch, path, entryOffset, $"tensor \"{name}\": {dtypeName} shape [{string.Join(", ", shape)}] needs {bytes:N0} bytes but data_offsets [{offsets.Value.Begin}, {offsets.Value.End}] span {span:N0}.", name);
        }

        return new Entry(new TensorInfo(name, dtype, shape), offsets.Value.Begin, offsets.Value.End, entryOffset);
    }

    private static List<long> ReadIntegers(ref Utf8JsonReader reader, string name, string field, string path, SafeCkptErrorCode code)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw Fail(code, path, PrefixLength + reader.TokenStartIndex, $"tensor \"{name}\": {field} must be an array of integers, not a {Describe(reader.TokenType)}.", name);
        }

        var values = new List<long>();
        while (true)
        {
            Require(ref reader, path);
            if (reader.TokenType == JsonTokenType.EndArray)
            {
                return values;
            }

            if (values.Count > TensorInfo.MaxRank)
            {
                throw Fail(code, path, PrefixLength + reader.TokenStartIndex, $"tensor \"{name}\": {field} has more than {TensorInfo.MaxRank} numbers.", name);
            }

            if (reader.TokenType != JsonTokenType.Number)
            {
                throw Fail(code, path, PrefixLength + reader.TokenStartIndex, $"tensor \"{name}\": {field} must hold integers, not a {Describe(reader.TokenType)}.", name);
            }

            if (!reader.TryGetInt64(out long v))
            {
                string text = Encoding.UTF8.GetString(reader.ValueSpan);
                string why = text.StartsWith('-') ? "is negative" : text.IndexOfAny(['.', 'e', 'E']) >= 0 ? "is not an integer" : "is too large";
                // A dimension past 2^63 - 1 overflows every size computed from it, as the reference reader reports.
                SafeCkptErrorCode c = why == "is too large" && code == SafeCkptErrorCode.InvalidShape ? SafeCkptErrorCode.ShapeOverflow : code;
                throw Fail(c, path, PrefixLength + reader.TokenStartIndex, $"tensor \"{name}\": {field} value {text} {why}.", name);
            }

            if (v < 0)
            {
                throw Fail(code, path, PrefixLength + reader.TokenStartIndex, $"tensor \"{name}\": {field} value {v} is negative.", name);
            }

            values.Add(v);
        }
    }

    private static void ValidateTiling(List<Entry> tensors, long dataLength, string path)
    {
        var sorted = tensors.ToArray();
        Array.Sort(sorted, static (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        string? previous = null;
        foreach (Entry e in sorted)
        {
            if (e.Begin > expected)
            {
                string after = previous is null ? "the start of the data section" : $"tensor \"{previous}\"";
                throw Fail(SafeCkptErrorCode.DataGap, path, e.HeaderOffset, $"tensor \"{e.Info.Name}\" starts at data byte {e.Begin} but {after} ends at {expected}: {e.Begin - expected:N0} bytes are unaccounted for. Hidden bytes make polyglot files; do not trust this file.", e.Info.Name);
            }

            if (e.Begin < expected)
            {
                throw Fail(SafeCkptErrorCode.DataOverlap, path, e.HeaderOffset, $"tensor \"{e.Info.Name}\" (data bytes {e.Begin}..{e.End}) overlaps tensor \"{previous}\", which ends at {expected}. The file is corrupt or crafted.", e.Info.Name);
            }

            expected = e.End;
            previous = e.Info.Name;
        }

        if (expected < dataLength)
        {
            throw Fail(SafeCkptErrorCode.TrailingData, path, PrefixLength, $"the tensors end at data byte {expected:N0} but the file has {dataLength - expected:N0} more bytes after them. Extra bytes can hide another file (a polyglot); do not trust this file.");
        }

        if (expected > dataLength)
        {
            throw Fail(SafeCkptErrorCode.Truncated, path, PrefixLength, $"the tensors need {expected:N0} data bytes but the file holds only {dataLength:N0}. The file is truncated; download it again.");
        }

        // Keep the order of the data for lazy reads that walk the file forwards.
        tensors.Clear();
        tensors.AddRange(sorted);
    }

    private static void Require(ref Utf8JsonReader reader, string path)
    {
        if (!reader.Read())
        {
            throw Fail(SafeCkptErrorCode.HeaderNotJson, path, PrefixLength + reader.BytesConsumed, "the header's JSON ends before its object is closed. The file is truncated or corrupt.");
        }
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int offset = 0;
        while (offset < bytes.Length)
        {
            System.Buffers.OperationStatus status = System.Text.Rune.DecodeFromUtf8(bytes[offset..], out _, out int consumed);
            if (status != System.Buffers.OperationStatus.Done)
            {
                return offset;
            }

            offset += consumed;
        }

        return 0;
    }

    private static string Describe(JsonTokenType t) => t switch
    {
        JsonTokenType.StartObject => "object",
        JsonTokenType.StartArray => "array",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => t.ToString(),
    };

    private static InvalidCheckpointException Fail(SafeCkptErrorCode code, string path, long offset, string what, string? tensor = null) =>
        new(code, path, $"{path}: {what}") { Offset = offset, TensorName = tensor };

    /// <summary>A validated header: tensors in data order, metadata, and where the data section starts.</summary>
    internal sealed record Header(IReadOnlyList<Entry> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart);

    /// <summary>One validated tensor entry: its description and its span in the data section.</summary>
    internal sealed record Entry(TensorInfo Info, long Begin, long End, long HeaderOffset);
}
