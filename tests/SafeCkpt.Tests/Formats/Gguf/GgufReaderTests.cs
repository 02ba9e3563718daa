using System.Security.Cryptography;
using System.Text.Json;
using SafeCkpt.Formats.Gguf;
using SafeCkpt.IO;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Gguf;

/// <summary>
/// The GGUF reader against files written by llama.cpp's gguf-py (Fixtures/gguf, made by make_gguf_fixtures.py): every
/// tensor's float32 values equal gguf.quants.dequantize bit for bit; and hand-made hostile headers, each refused
/// with its named error.
/// </summary>
public class GgufReaderTests
{
    public static TheoryData<string, string> FixtureTensors()
    {
        var data = new TheoryData<string, string>();
        foreach (JsonProperty file in Expected.RootElement.EnumerateObject())
        {
            foreach (JsonProperty tensor in file.Value.EnumerateObject())
            {
                data.Add(file.Name, tensor.Name);
            }
        }

        return data;
    }

    private static JsonDocument Expected { get; } = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("gguf", "expected.json")));

    private static TensorStore OpenBytes(byte[] bytes) => GgufReader.Open(new MemoryByteSource(bytes, "hostile.gguf"));

    /// <summary>A tensor's values as float32 little-endian bytes (F16/BF16 widened exactly, as gguf-py does).</summary>
    internal static byte[] Float32Bytes(TensorStore store, string name)
    {
        TensorInfo info = store[name];
        byte[] raw = store.ReadTensor(name);
        return info.DType switch
        {
            DType.Float32 => raw,
            DType.Float16 => Enumerable.Range(0, raw.Length / 2).SelectMany(i => BitConverter.GetBytes((float)BitConverter.ToHalf(raw, 2 * i))).ToArray(),
            DType.BFloat16 => Enumerable.Range(0, raw.Length / 2).SelectMany(i => BitConverter.GetBytes(BitConverter.ToUInt16(raw, 2 * i) << 16)).ToArray(),
            _ => throw new InvalidOperationException(info.DType.ToString()),
        };
    }

    [Theory]
    [MemberData(nameof(FixtureTensors))]
    public void Every_fixture_tensor_dequantizes_bit_exactly_to_the_reference(string file, string name)
    {
        JsonElement e = Expected.RootElement.GetProperty(file).GetProperty(name);
        using ModelFile model = ModelFile.Open(Fixtures.Path_("gguf", file));
        Assert.Equal(ModelFormat.Gguf, model.Format);
        TensorInfo info = model.Tensors[name];
        Assert.Equal(e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()), info.Shape);
        Assert.Equal(e.GetProperty("type").GetString(), GgmlTypes.Name(model.Tensors.Gguf!.Types[name]));
        byte[] values = Float32Bytes(model.Tensors, name);
        uint[] first = e.GetProperty("first").EnumerateArray().Select(x => x.GetUInt32()).ToArray();
        Assert.Equal(first, Enumerable.Range(0, first.Length).Select(i => BitConverter.ToUInt32(values, 4 * i)));
        Assert.Equal(e.GetProperty("sha256").GetString(), Convert.ToHexString(SHA256.HashData(values)).ToLowerInvariant());
    }

    [Fact]
    public void Quantized_tensors_are_read_as_f32_and_plain_ones_keep_their_dtype()
    {
        using ModelFile model = ModelFile.Open(Fixtures.Path_("gguf", "types.gguf"));
        Assert.Equal(DType.Float32, model.Tensors["q4_k"].DType);
        Assert.Equal(DType.Float32, model.Tensors["q8_0"].DType);
        Assert.Equal(DType.Float16, model.Tensors["f16"].DType);
        Assert.Equal(DType.BFloat16, model.Tensors["bf16"].DType);
        Assert.Equal(4 * 256 * 4, model.Tensors["q2_k"].ByteLength);
    }

    [Fact]
    public void The_header_is_described_version_alignment_architecture_and_metadata()
    {
        using ModelFile model = ModelFile.Open(Fixtures.Path_("gguf", "sd1.gguf"));
        GgufLayout g = model.Tensors.Gguf!;
        Assert.Equal(3u, g.Version);
        Assert.Equal(32u, g.Alignment);
        Assert.Equal("sd1", g.Architecture);
        Assert.Equal(5, g.KeyCount);
        Assert.Equal(["input_blocks.1.0.in_layers.2.weight", "input_blocks.1.1.proj_in.weight"], g.Reshaped.Order(StringComparer.Ordinal));
        Assert.Equal("sd1", model.Metadata["general.architecture"]);
        Assert.Equal("2", model.Metadata["general.quantization_version"]);
        Assert.DoesNotContain(model.Metadata.Keys, k => k.StartsWith(GgufReader.OrigShapePrefix, StringComparison.Ordinal));
        Assert.Equal(ModelFormat.Gguf, ModelFile.DetectFormat(Fixtures.Path_("gguf", "sd1.gguf")));
    }

    [Fact]
    public void Comfy_gguf_architecture_is_used_for_detection()
    {
        using ModelFile sdxl = ModelFile.Open(Fixtures.Path_("gguf", "sdxl.gguf"));
        Assert.Equal("sdxl", sdxl.DetectArchitecture().Id);
        using ModelFile flux = ModelFile.Open(Fixtures.Path_("gguf", "flux.gguf"));
        Assert.Equal("flux-dev", flux.DetectArchitecture().Id);
    }

    [Fact]
    public void Without_orig_shape_the_torch_shape_is_the_reversed_gguf_dims()
    {
        byte[] bytes = new GgufBytes { Data = new byte[2 * 3 * 4 * 4] }.Tensor("w", 0, 0, 4, 3, 2).Build();
        using TensorStore s = OpenBytes(bytes);
        Assert.Equal([2L, 3, 4], s["w"].Shape);
    }

    [Fact]
    public void A_version_2_file_is_read()
    {
        byte[] bytes = new GgufBytes { Version = 2, Data = new byte[8] }.Tensor("w", 0, 0, 2).Build();
        using TensorStore s = OpenBytes(bytes);
        Assert.Equal(2u, s.Gguf!.Version);
    }

    [Fact]
    public void A_custom_alignment_places_the_data()
    {
        byte[] bytes = new GgufBytes { Alignment = 64, Data = [0, 0, 0x80, 0x3F, .. new byte[60], 0, 0, 0, 0x40] }
            .KvU32("general.alignment", 64).Tensor("a", 0, 0, 1).Tensor("b", 0, 64, 1).Build();
        using TensorStore s = OpenBytes(bytes);
        Assert.Equal([1f], s.ReadTensorAs<float>("a"));
        Assert.Equal([2f], s.ReadTensorAs<float>("b"));
    }

    [Theory]
    [InlineData(1u, "no longer supported")]
    [InlineData(4u, "versions 2 and 3")]
    [InlineData(0x00030000u, "big-endian")]
    public void Unsupported_versions_are_refused(uint version, string text)
    {
        var ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes { Version = version }.Build()));
        Assert.Equal(SafeCkptErrorCode.GgufUnsupportedVersion, ex.Code);
        Assert.Contains(text, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tensor_count_past_the_file_is_refused_before_any_allocation()
    {
        var ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes { TensorCountOverride = 200_000 }.Build()));
        Assert.Equal(SafeCkptErrorCode.Truncated, ex.Code);
        ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes { TensorCountOverride = ulong.MaxValue }.Build()));
        Assert.Equal(SafeCkptErrorCode.ResourceLimitExceeded, ex.Code);
        ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes { KvCountOverride = long.MaxValue }.Build()));
        Assert.Equal(SafeCkptErrorCode.Truncated, ex.Code);
    }

    [Fact]
    public void More_tensors_than_the_limit_are_refused()
    {
        var ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes { TensorCountOverride = TensorStore.MaxTensors + 1UL, Data = new byte[7_000_000] }.Build()));
        Assert.Equal(SafeCkptErrorCode.ResourceLimitExceeded, ex.Code);
    }

    [Fact]
    public void More_keys_than_the_limit_are_refused()
    {
        var ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes { KvCountOverride = GgufReader.MaxKeys + 1, Data = new byte[15_000_000] }.Build()));
        Assert.Equal(SafeCkptErrorCode.ResourceLimitExceeded, ex.Code);
    }

    [Fact]
    public void A_string_longer_than_the_file_is_refused()
    {
        byte[] bytes = new GgufBytes().Kv("k", 8, BitConverter.GetBytes(ulong.MaxValue - 3)).Build();
        var ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(bytes));
        Assert.Equal(SafeCkptErrorCode.GgufInvalidString, ex.Code);
    }

    [Fact]
    public void Keys_must_be_utf8_non_empty_and_unique()
    {
        Assert.Equal(SafeCkptErrorCode.GgufInvalidString, Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes().KvU32(string.Empty, 1).Build())).Code);
        Assert.Equal(SafeCkptErrorCode.DuplicateKey, Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes().KvU32("a", 1).KvU32("a", 2).Build())).Code);
        byte[] bad = new GgufBytes().KvU32("ab", 1).Build();
        bad[24 + 8] = 0xFF;
        Assert.Equal(SafeCkptErrorCode.GgufInvalidString, Assert.Throws<InvalidGgufException>(() => OpenBytes(bad)).Code);
    }

    [Theory]
    [InlineData(13u)]
    [InlineData(0xFFFFFFFFu)]
    public void Unknown_value_types_are_refused(uint type)
    {
        var ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes().Kv("k", type, new byte[8]).Build()));
        Assert.Equal(SafeCkptErrorCode.GgufInvalidValue, ex.Code);
    }

    [Fact]
    public void Nested_arrays_are_refused()
    {
        byte[] value = [.. BitConverter.GetBytes(9u), .. BitConverter.GetBytes(1UL), .. BitConverter.GetBytes(4u), .. BitConverter.GetBytes(0UL)];
        var ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes().Kv("k", 9, value).Build()));
        Assert.Equal(SafeCkptErrorCode.GgufInvalidValue, ex.Code);
        Assert.Contains("nested", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_array_longer_than_the_file_is_refused_without_a_loop()
    {
        byte[] value = [.. BitConverter.GetBytes(8u), .. BitConverter.GetBytes(1UL << 29)];
        var ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes().Kv("tokens", 9, value).Build()));
        Assert.Equal(SafeCkptErrorCode.ResourceLimitExceeded, ex.Code);
    }

    [Fact]
    public void Arrays_of_strings_are_skipped_and_scalars_kept_as_text()
    {
        byte[] strings = [.. BitConverter.GetBytes(8u), .. BitConverter.GetBytes(2UL), .. GgufBytes.Str("a"), .. GgufBytes.Str("bc")];
        byte[] bytes = new GgufBytes().Kv("tokenizer.ggml.tokens", 9, strings).Kv("f", 6, BitConverter.GetBytes(0.5f)).Kv("b", 7, [1]).Kv("i", 11, BitConverter.GetBytes(-3L)).Build();
        using TensorStore s = OpenBytes(bytes);
        Assert.False(s.Metadata.ContainsKey("tokenizer.ggml.tokens"));
        Assert.Equal("0.5", s.Metadata["f"]);
        Assert.Equal("true", s.Metadata["b"]);
        Assert.Equal("-3", s.Metadata["i"]);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(48u)]
    public void Alignment_must_be_a_power_of_two(uint alignment)
    {
        var ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes().KvU32("general.alignment", alignment).Build()));
        Assert.Equal(SafeCkptErrorCode.GgufMisaligned, ex.Code);
    }

    [Fact]
    public void Alignment_must_be_uint32()
    {
        var ex = Assert.Throws<InvalidGgufException>(() => OpenBytes(new GgufBytes().Kv("general.alignment", 10, BitConverter.GetBytes(32UL)).Build()));
        Assert.Equal(SafeCkptErrorCode.GgufInvalidValue, ex.Code);
    }

    [Fact]
    public void Tensor_info_rules_each_have_their_error()
    {
        SafeCkptErrorCode Code(GgufBytes b) => Assert.Throws<InvalidGgufException>(() => OpenBytes(b.Build())).Code;
        Assert.Equal(SafeCkptErrorCode.GgufInvalidTensorInfo, Code(new GgufBytes().Tensor("w", 0, 0, 1, 1, 1, 1, 1)));
        Assert.Equal(SafeCkptErrorCode.GgufInvalidTensorInfo, Code(new GgufBytes().Tensor("w", 0, 0, -1)));
        Assert.Equal(SafeCkptErrorCode.ShapeOverflow, Code(new GgufBytes().Tensor("w", 0, 0, long.MaxValue / 2, 4)));
        Assert.Equal(SafeCkptErrorCode.GgufUnknownTensorType, Code(new GgufBytes().Tensor("w", 4, 0, 32)));
        Assert.Equal(SafeCkptErrorCode.GgufUnknownTensorType, Code(new GgufBytes().Tensor("w", 43, 0, 32)));
        Assert.Equal(SafeCkptErrorCode.GgufInvalidTensorInfo, Code(new GgufBytes { Data = new byte[64] }.Tensor("w", 8, 0, 16)));
        Assert.Equal(SafeCkptErrorCode.DuplicateKey, Code(new GgufBytes { Data = new byte[64] }.Tensor("w", 0, 0, 1).Tensor("w", 0, 32, 1)));
        Assert.Equal(SafeCkptErrorCode.GgufInvalidString, Code(new GgufBytes().Tensor(string.Empty, 0, 0, 1)));
    }

    [Fact]
    public void Offsets_must_be_aligned_contiguous_and_inside_the_file()
    {
        SafeCkptErrorCode Code(GgufBytes b) => Assert.Throws<InvalidGgufException>(() => OpenBytes(b.Build())).Code;
        Assert.Equal(SafeCkptErrorCode.GgufMisaligned, Code(new GgufBytes { Data = new byte[64] }.Tensor("a", 0, 4, 1)));
        Assert.Equal(SafeCkptErrorCode.DataOverlap, Code(new GgufBytes { Data = new byte[128] }.Tensor("a", 0, 0, 16).Tensor("b", 0, 32, 16).Tensor("c", 0, 64, 16)));
        Assert.Equal(SafeCkptErrorCode.DataGap, Code(new GgufBytes { Data = new byte[128] }.Tensor("a", 0, 0, 1).Tensor("b", 0, 64, 1)));
        Assert.Equal(SafeCkptErrorCode.DataGap, Code(new GgufBytes { Data = new byte[128] }.Tensor("a", 0, 32, 1)));
        Assert.Equal(SafeCkptErrorCode.Truncated, Code(new GgufBytes { Data = new byte[10] }.Tensor("a", 0, 0, 4)));
        Assert.Equal(SafeCkptErrorCode.Truncated, Code(new GgufBytes().Tensor("a", 0, 0, 1L << 40)));
    }

    [Fact]
    public void Orig_shape_must_be_an_int32_array_matching_the_element_count()
    {
        SafeCkptErrorCode Code(GgufBytes b) => Assert.Throws<InvalidGgufException>(() => OpenBytes(b.Build())).Code;
        Assert.Equal(SafeCkptErrorCode.GgufInvalidTensorInfo, Code(new GgufBytes { Data = new byte[1024] }.KvI32Array("comfy.gguf.orig_shape.w", 3, 3).Tensor("w", 0, 0, 256)));
        Assert.Equal(SafeCkptErrorCode.GgufInvalidValue, Code(new GgufBytes { Data = new byte[1024] }.KvU32("comfy.gguf.orig_shape.w", 256).Tensor("w", 0, 0, 256)));
        Assert.Equal(SafeCkptErrorCode.GgufInvalidValue, Code(new GgufBytes().KvI32Array("comfy.gguf.orig_shape.w", -1)));
        using TensorStore s = OpenBytes(new GgufBytes { Data = new byte[1024] }.KvI32Array("comfy.gguf.orig_shape.w", 4, 8, 8).Tensor("w", 0, 0, 256).Build());
        Assert.Equal([4L, 8, 8], s["w"].Shape);
    }

    [Fact]
    public void A_type_safeckpt_cannot_dequantize_opens_but_refuses_its_values_by_name()
    {
        byte[] bytes = new GgufBytes { Data = new byte[96] }.Tensor("iq", 16, 0, 256).Build();
        using TensorStore s = OpenBytes(bytes);
        Assert.Equal(GgmlType.IQ2_XXS, s.Gguf!.Types["iq"]);
        var ex = Assert.Throws<InvalidGgufException>(() => s.ReadTensor("iq"));
        Assert.Equal(SafeCkptErrorCode.GgufUnsupportedTensorType, ex.Code);
        Assert.Equal("iq", ex.TensorName);
        Assert.Contains("IQ2_XXS", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plain_integer_and_f64_types_are_read_as_their_dtype()
    {
        byte[] bytes = new GgufBytes { Data = [.. BitConverter.GetBytes(7), .. new byte[28], .. BitConverter.GetBytes(1.5)] }.Tensor("i", 26, 0, 1).Tensor("d", 28, 32, 1).Build();
        using TensorStore s = OpenBytes(bytes);
        Assert.Equal([7], s.ReadTensorAs<int>("i"));
        Assert.Equal([1.5], s.ReadTensorAs<double>("d"));
    }

    [Fact]
    public void A_gguf_cut_inside_its_header_is_opened_as_gguf_and_called_truncated()
    {
        var ex = Assert.Throws<InvalidGgufException>(() => ModelFile.Open("GGUF\u0003\0\0\0"u8.ToArray(), "cut.gguf"));
        Assert.Equal(SafeCkptErrorCode.Truncated, ex.Code);
        Assert.StartsWith("cut.gguf: the file ends inside the tensor count", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Scan_calls_a_gguf_clean()
    {
        SafeCkpt.Safety.ScanReport r = SafeCkpt.Safety.CheckpointScanner.Scan(Fixtures.Path_("gguf", "flux.gguf"));
        Assert.Equal(ModelFormat.Gguf, r.Format);
        Assert.Equal(SafeCkpt.Safety.ScanVerdict.Clean, r.Verdict);
    }

    [Fact]
    public void Scan_reports_a_broken_gguf_as_invalid()
    {
        using var dir = new TempDir();
        string path = dir.File("broken.gguf");
        File.WriteAllBytes(path, new GgufBytes { Version = 9 }.Build());
        SafeCkpt.Safety.ScanReport r = SafeCkpt.Safety.CheckpointScanner.Scan(path);
        Assert.Equal(SafeCkptErrorCode.GgufUnsupportedVersion, r.ErrorCode);
    }
}
