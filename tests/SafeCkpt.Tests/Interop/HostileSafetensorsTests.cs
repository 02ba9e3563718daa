using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Interop;

/// <summary>The independently made malformed safetensors files (Fixtures/hostile/st_*) are each refused with the expected rule.</summary>
public class HostileSafetensorsTests
{
    public static TheoryData<string, SafeCkptErrorCode> Cases() => new()
    {
        { "st_too_small.safetensors", SafeCkptErrorCode.UnsupportedFormat },
        { "st_header_len_beyond_file.safetensors", SafeCkptErrorCode.HeaderOutsideFile },
        { "st_header_too_large.safetensors", SafeCkptErrorCode.HeaderTooLarge },
        { "st_not_json.safetensors", SafeCkptErrorCode.HeaderNotJson },
        { "st_invalid_utf8.safetensors", SafeCkptErrorCode.HeaderNotUtf8 },
        { "st_header_array.safetensors", SafeCkptErrorCode.UnsupportedFormat },
        { "st_nul_padded.safetensors", SafeCkptErrorCode.HeaderTrailingBytes },
        { "st_duplicate_key.safetensors", SafeCkptErrorCode.DuplicateKey },
        { "st_overlap.safetensors", SafeCkptErrorCode.DataOverlap },
        { "st_gap.safetensors", SafeCkptErrorCode.DataGap },
        { "st_trailing_bytes.safetensors", SafeCkptErrorCode.TrailingData },
        { "st_truncated.safetensors", SafeCkptErrorCode.Truncated },
        { "st_size_mismatch.safetensors", SafeCkptErrorCode.ByteLengthMismatch },
        { "st_shape_overflow.safetensors", SafeCkptErrorCode.ShapeOverflow },
        { "st_bad_dtype.safetensors", SafeCkptErrorCode.UnknownDType },
        { "st_metadata_not_string.safetensors", SafeCkptErrorCode.InvalidMetadata },
        { "st_offsets_malformed.safetensors", SafeCkptErrorCode.InvalidOffsets },
        { "st_negative_offset.safetensors", SafeCkptErrorCode.InvalidOffsets },
        { "st_end_before_begin.safetensors", SafeCkptErrorCode.InvalidOffsets },
        { "st_shape_float.safetensors", SafeCkptErrorCode.InvalidShape },
        { "st_offset_beyond_file.safetensors", SafeCkptErrorCode.Truncated },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_malformed_file_is_refused_with_its_rule(string name, SafeCkptErrorCode code)
    {
        string path = Fixtures.Path_("hostile", name);
        var ex = Assert.ThrowsAny<InvalidCheckpointException>(() => ModelFile.Open(path));
        Assert.Equal(code, ex.Code);
        Assert.StartsWith(path + ": ", ex.Message, StringComparison.Ordinal);
    }
}
