using System.Text;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Safetensors;

/// <summary>One hand-made failing file per validation rule, and the legal oddities the reader must accept.</summary>
public class SafetensorsReaderTests
{
    private static InvalidCheckpointException Rejects(byte[] file, SafeCkptErrorCode code)
    {
        var ex = Assert.ThrowsAny<InvalidCheckpointException>(() => SafetensorsReader.Open(file, "bad.safetensors"));
        Assert.Equal(code, ex.Code);
        Assert.StartsWith("bad.safetensors: ", ex.Message, StringComparison.Ordinal);
        Assert.Equal("bad.safetensors", ex.FilePath);
        return ex;
    }

    private static InvalidCheckpointException Rejects(string header, int dataLength, SafeCkptErrorCode code) =>
        Rejects(StBytes.Make(header, dataLength), code);

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void A_file_shorter_than_the_length_prefix_is_rejected(int length)
    {
        var ex = Rejects(new byte[length], SafeCkptErrorCode.HeaderTooSmall);
        Assert.Contains("shorter than the 8-byte header length", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_header_longer_than_100_million_bytes_is_rejected_before_allocating()
    {
        var ex = Rejects(StBytes.Make(100_000_001UL, "{}"u8.ToArray(), []), SafeCkptErrorCode.HeaderTooLarge);
        Assert.Contains("100,000,000", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, ex.Offset);
    }

    [Fact]
    public void A_header_length_of_2_to_the_64_minus_1_is_rejected() =>
        Rejects(StBytes.Make(ulong.MaxValue, [], []), SafeCkptErrorCode.HeaderTooLarge);

    [Fact]
    public void A_header_reaching_past_the_end_of_the_file_is_rejected()
    {
        var ex = Rejects(StBytes.Make(60UL, "{}"u8.ToArray(), []), SafeCkptErrorCode.HeaderOutsideFile);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_header_that_is_not_utf8_is_rejected()
    {
        var ex = Rejects(StBytes.Make([(byte)'{', (byte)'"', 0xff, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []), SafeCkptErrorCode.HeaderNotUtf8);
        Assert.Equal(8 + 2, ex.Offset);
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{\"a\":}")]
    [InlineData("{'a':1}")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],}}")]
    [InlineData("{/*c*/}")]
    [InlineData("")]
    public void A_header_that_is_not_json_is_rejected(string header) =>
        Rejects(header, 4, SafeCkptErrorCode.HeaderNotJson);

    [Theory]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    [InlineData("42")]
    [InlineData("{\"w\":[1,2]}")]
    [InlineData("{\"w\":null}")]
    public void A_header_or_entry_that_is_not_an_object_is_rejected(string header) =>
        Rejects(header, 0, SafeCkptErrorCode.HeaderNotObject);

    [Fact]
    public void Nul_padding_after_the_header_object_is_rejected_with_a_specific_message()
    {
        var ex = Rejects(StBytes.Make("{}\0\0\0\0\0\0"u8.ToArray(), []), SafeCkptErrorCode.HeaderTrailingBytes);
        Assert.Contains("NUL (0x00) padding", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_after_the_header_object_is_rejected() =>
        Rejects("{} x", 0, SafeCkptErrorCode.HeaderTrailingBytes);

    [Fact]
    public void A_second_json_value_after_the_header_object_is_rejected() =>
        Rejects("{} {}", 0, SafeCkptErrorCode.HeaderTrailingBytes);

    [Fact]
    public void A_tensor_named_twice_is_rejected_even_with_identical_entries()
    {
        const string e = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
        var ex = Rejects($"{{\"w\":{e},\"w\":{e}}}", 4, SafeCkptErrorCode.DuplicateKey);
        Assert.Equal("w", ex.TensorName);
    }

    [Fact]
    public void A_metadata_key_given_twice_is_rejected() =>
        Rejects("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, SafeCkptErrorCode.DuplicateKey);

    [Fact]
    public void A_field_given_twice_in_one_entry_is_rejected() =>
        Rejects("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SafeCkptErrorCode.DuplicateKey);

    [Fact]
    public void The_metadata_key_given_twice_is_rejected() =>
        Rejects("{\"__metadata__\":{},\"__metadata__\":{}}", 0, SafeCkptErrorCode.DuplicateKey);

    [Theory]
    [InlineData("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "no \"dtype\"")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "no \"shape\"")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", "no \"data_offsets\"")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", "unknown field \"extra\"")]
    [InlineData("{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", "dtype must be a string")]
    public void An_incomplete_or_unexpected_entry_is_rejected(string header, string expected)
    {
        var ex = Rejects(header, 4, SafeCkptErrorCode.InvalidTensorEntry);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Equal("w", ex.TensorName);
    }

    [Theory]
    [InlineData("F17")]
    [InlineData("f32")]
    [InlineData("float32")]
    public void An_unknown_dtype_is_rejected_and_named(string dtype)
    {
        var ex = Rejects($"{{\"w\":{{\"dtype\":\"{dtype}\",\"shape\":[1],\"data_offsets\":[0,4]}}}}", 4, SafeCkptErrorCode.UnknownDType);
        Assert.Contains($"\"{dtype}\"", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[-1]", "negative")]
    [InlineData("[1.5]", "not an integer")]
    [InlineData("[1e2]", "not an integer")]
    [InlineData("[\"2\"]", "must hold integers")]
    [InlineData("3", "must be an array")]
    public void A_shape_that_is_not_non_negative_integers_is_rejected(string shape, string expected)
    {
        var ex = Rejects($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[0,4]}}}}", 4, SafeCkptErrorCode.InvalidShape);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_shape_of_more_than_64_dimensions_is_rejected()
    {
        string dims = string.Join(",", Enumerable.Repeat("1", 65));
        Rejects($"{{\"w\":{{\"dtype\":\"U8\",\"shape\":[{dims}],\"data_offsets\":[0,1]}}}}", 1, SafeCkptErrorCode.InvalidShape);
    }

    [Theory]
    [InlineData("[2,9223372036854775807]")]
    [InlineData("[4294967296,4294967296]")]
    [InlineData("[1152921504606846976,8]")]
    [InlineData("[18446744073709551616]")]
    public void A_shape_whose_size_overflows_is_rejected(string shape) =>
        Rejects($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[0,4]}}}}", 4, SafeCkptErrorCode.ShapeOverflow);

    [Theory]
    [InlineData("[4,0]", "end before they begin")]
    [InlineData("[0,4,8]", "not 3 numbers")]
    [InlineData("[0]", "not 1 numbers")]
    [InlineData("[-4,0]", "negative")]
    [InlineData("[0,\"4\"]", "must hold integers")]
    public void Malformed_data_offsets_are_rejected(string offsets, string expected)
    {
        var ex = Rejects($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{offsets}}}}}", 4, SafeCkptErrorCode.InvalidOffsets);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_span_that_does_not_match_shape_and_dtype_is_rejected()
    {
        var ex = Rejects("{\"w\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4, SafeCkptErrorCode.ByteLengthMismatch);
        Assert.Contains("needs 16 bytes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sub_byte_tensor_that_ends_mid_byte_is_rejected() =>
        Rejects("{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, SafeCkptErrorCode.MisalignedSubByte);

    [Fact]
    public void Data_that_does_not_start_at_offset_zero_is_a_gap() =>
        Rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SafeCkptErrorCode.DataGap);

    [Fact]
    public void A_hole_between_two_tensors_is_rejected()
    {
        var ex = Rejects("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, SafeCkptErrorCode.DataGap);
        Assert.Equal("b", ex.TensorName);
    }

    [Fact]
    public void Overlapping_tensors_are_rejected()
    {
        var ex = Rejects("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SafeCkptErrorCode.DataOverlap);
        Assert.Contains("overlaps", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ten_tensors_sharing_one_span_are_rejected_as_overlap()
    {
        string entries = string.Join(",", Enumerable.Range(0, 10).Select(i => $"\"t{i}\":{{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"));
        Rejects("{" + entries + "}", 16, SafeCkptErrorCode.DataOverlap);
    }

    [Fact]
    public void Bytes_after_the_last_tensor_are_rejected_as_a_possible_polyglot()
    {
        byte[] header = Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        byte[] data = [0, 0, 128, 63, .. "extra_bogus_data_for_polyglot_file"u8];
        var ex = Rejects(StBytes.Make(header, data), SafeCkptErrorCode.TrailingData);
        Assert.Contains("polyglot", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_cut_short_inside_the_data_is_rejected() =>
        Rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 14, SafeCkptErrorCode.Truncated);

    [Theory]
    [InlineData("{\"__metadata__\":{\"a\":1}}")]
    [InlineData("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}")]
    [InlineData("{\"__metadata__\":{\"a\":null}}")]
    [InlineData("{\"__metadata__\":[\"a\"]}")]
    [InlineData("{\"__metadata__\":\"a\"}")]
    public void Metadata_that_is_not_strings_to_strings_is_rejected(string header) =>
        Rejects(header, 0, SafeCkptErrorCode.InvalidMetadata);

    [Fact]
    public void A_lone_surrogate_escape_in_a_name_is_rejected() =>
        Rejects("{\"\\ud800\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, SafeCkptErrorCode.HeaderNotJson);

    [Fact]
    public void An_empty_header_object_with_space_padding_is_a_valid_empty_file()
    {
        using TensorStore s = SafetensorsReader.Open(StBytes.Make("{}      ", 0));
        Assert.Empty(s);
        Assert.Empty(s.Metadata);
    }

    [Fact]
    public void Leading_and_trailing_json_whitespace_is_accepted_as_in_the_reference_reader()
    {
        using TensorStore s = SafetensorsReader.Open(StBytes.Make(" \n\t{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}\r\n  ", 2));
        Assert.Equal(2, s["w"].ByteLength);
    }

    [Fact]
    public void Zero_sized_and_zero_rank_tensors_are_accepted()
    {
        byte[] data = [1, 2, 3, 4];
        using TensorStore s = SafetensorsReader.Open(StBytes.Make(Encoding.UTF8.GetBytes("{\"empty\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[0,0]},\"scalar\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}}"), data));
        Assert.Equal(0, s["empty"].ByteLength);
        Assert.Empty(s.ReadTensor("empty"));
        Assert.Empty(s["scalar"].Shape);
        Assert.Equal(data, s.ReadTensor("scalar"));
    }

    [Fact]
    public void Entries_in_any_json_order_are_read_in_data_order_with_the_right_bytes()
    {
        byte[] data = [1, 1, 1, 1, 2, 2];
        using TensorStore s = SafetensorsReader.Open(StBytes.Make(Encoding.UTF8.GetBytes("{\"second\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},\"__metadata__\":{\"format\":\"pt\"},\"first\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}"), data));
        Assert.Equal(["first", "second"], s.Tensors.Select(t => t.Name));
        Assert.Equal(new byte[] { 2, 2 }, s.ReadTensor("second"));
        Assert.Equal("pt", s.Metadata["format"]);
    }

    [Fact]
    public void Reading_a_chunk_returns_the_requested_slice_and_stops_at_the_end()
    {
        byte[] data = Enumerable.Range(0, 10).Select(i => (byte)i).ToArray();
        using TensorStore s = SafetensorsReader.Open(StBytes.Make(Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[0,10]}}"), data));
        var buffer = new byte[4];
        Assert.Equal(4, s.ReadTensorChunk("w", 3, buffer));
        Assert.Equal(new byte[] { 3, 4, 5, 6 }, buffer);
        Assert.Equal(2, s.ReadTensorChunk("w", 8, buffer));
        Assert.Equal(0, s.ReadTensorChunk("w", 10, buffer));
    }

    [Fact]
    public void Reading_a_tensor_that_does_not_exist_names_it_with_a_typed_error()
    {
        var ex = Assert.Throws<SafeCkptException>(() => SafetensorsReader.Open(StBytes.Make("{}", 0)).ReadTensor("nope"));
        Assert.Equal(SafeCkptErrorCode.TensorNotFound, ex.Code);
        Assert.Contains("'nope'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Opening_reads_only_the_header_so_a_file_truncated_later_fails_only_when_its_tensor_is_read()
    {
        using var dir = new TempDir();
        string path = dir.File("lazy.safetensors");
        byte[] header = Encoding.UTF8.GetBytes("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}");
        File.WriteAllBytes(path, StBytes.Make(header, [1, 2, 3, 4, 5, 6, 7, 8]));
        using TensorStore s = SafetensorsReader.Open(path);
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            f.SetLength(8 + header.Length + 4);
        }

        Assert.Equal(new byte[] { 1, 2, 3, 4 }, s.ReadTensor("a"));
        var ex = Assert.Throws<InvalidCheckpointException>(() => s.ReadTensor("b"));
        Assert.Equal(SafeCkptErrorCode.Truncated, ex.Code);
    }

    [Fact]
    public void Reading_after_dispose_is_an_object_disposed_error()
    {
        TensorStore s = SafetensorsReader.Open(StBytes.Make(Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}"), [7]));
        s.Dispose();
        Assert.Equal(1, s["w"].ByteLength);
        Assert.Throws<ObjectDisposedException>(() => s.ReadTensor("w"));
    }
}
