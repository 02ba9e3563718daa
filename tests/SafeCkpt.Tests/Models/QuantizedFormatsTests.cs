using SafeCkpt.Building;
using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Models;

/// <summary>What the keys, dtypes and metadata say about quantized weights (ComfyUI's layouts, SwarmUI's special formats).</summary>
public class QuantizedFormatsTests
{
    private static QuantizationReport? Describe(CheckpointBuilder b)
    {
        using ModelFile m = b.Build();
        return QuantizedFormats.Describe(m.Tensors);
    }

    [Fact]
    public void Plain_weights_have_no_report_and_plain_fp8_says_so()
    {
        Assert.Null(Describe(new CheckpointBuilder().AddZeros("a.weight", DType.Float16, 2, 2)));
        QuantizationReport r = Describe(new CheckpointBuilder().AddZeros("a.weight", DType.Float8E4M3, 2, 2).AddZeros("b", DType.Float16, 2))!;
        Assert.Equal("fp8", r.Id);
        Assert.Contains("plain F8_E4M3", r.Description, StringComparison.Ordinal);
        Assert.True(r.Convertible);
    }

    [Fact]
    public void The_current_layout_is_read_from_the_metadata_or_from_comfy_quant_tensors()
    {
        QuantizationReport a = Describe(new CheckpointBuilder()
            .AddZeros("m.a.weight", DType.Float8E4M3, 2, 2).AddScalar("m.a.weight_scale", 1f)
            .WithMetadata(QuantizedFormats.MetadataKey, QuantizedFormats.Metadata(["m.a"], "float8_e4m3fn")))!;
        Assert.Equal("fp8-scaled", a.Id);
        Assert.Contains("comfy_quant layout (_quantization_metadata metadata, no .comfy_quant tensors", a.Description, StringComparison.Ordinal);
        Assert.True(a.Convertible);

        byte[] config = "{\"format\": \"int8_tensorwise\"}"u8.ToArray();
        QuantizationReport b = Describe(new CheckpointBuilder()
            .AddZeros("m.a.weight", DType.Int8, 2, 2).AddScalar("m.a.weight_scale", 1f).Add("m.a.comfy_quant", DType.UInt8, [config.Length], config))!;
        Assert.Equal("int8-tensorwise", b.Id);
        Assert.False(b.Convertible);
        Assert.Contains("cannot dequantize int8_tensorwise", b.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void The_legacy_layout_needs_its_marker_and_names_it()
    {
        CheckpointBuilder b = new CheckpointBuilder()
            .AddZeros("model.diffusion_model.a.weight", DType.Float8E4M3, 2, 2).AddScalar("model.diffusion_model.a.scale_weight", 2f)
            .AddZeros("model.diffusion_model.scaled_fp8", DType.Float8E4M3, 0);
        QuantizationReport r = Describe(b)!;
        Assert.Equal("fp8-scaled", r.Id);
        Assert.Contains("legacy scaled_fp8 layout (marker model.diffusion_model.scaled_fp8", r.Description, StringComparison.Ordinal);

        // Without the marker ComfyUI's loader sees no quantization in scale_weight: neither does SafeCkpt.
        using ModelFile noMarker = new CheckpointBuilder().AddZeros("model.diffusion_model.a.weight", DType.Float8E4M3, 2, 2).AddScalar("model.diffusion_model.a.scale_weight", 2f).Build();
        Assert.Equal("fp8", QuantizedFormats.Describe(noMarker.Tensors)!.Id);
    }

    [Fact]
    public void Metadata_wins_over_the_legacy_marker_as_in_ComfyUIs_loader()
    {
        using ModelFile m = new CheckpointBuilder()
            .AddZeros("x.a.weight", DType.Float8E4M3, 2, 2).AddScalar("x.a.weight_scale", 1f).AddScalar("x.b.scale_weight", 1f)
            .AddZeros("x.b.weight", DType.Float8E4M3, 2, 2).AddZeros("x.scaled_fp8", DType.Float8E4M3, 0)
            .WithMetadata(QuantizedFormats.MetadataKey, QuantizedFormats.Metadata(["x.a"], "float8_e4m3fn"))
            .Build();
        QuantAnalysis a = QuantizedFormats.Analyze(m.Tensors.Tensors, m.Metadata);
        Assert.Equal(QuantLayout.ComfyQuant, a.Layout);
        Assert.Equal(["x.a"], a.Layers.Select(l => l.Name));
    }

    [Theory]
    [InlineData(DType.Float8E5M2, 1, "fp8-scaled")]
    [InlineData(DType.Float8E4M3, 32, "mxfp8")]
    [InlineData(DType.UInt8, 1, "nvfp4")]
    [InlineData(DType.Int8, 1, "int8-tensorwise")]
    public void Scales_without_a_config_are_named_from_the_weights_dtype(DType weight, int scales, string id)
    {
        QuantizationReport r = Describe(new CheckpointBuilder().AddZeros("a.weight", weight, 4, 8).AddZeros("a.weight_scale", DType.Float32, scales))!;
        Assert.Equal(id, r.Id);
        Assert.Contains("no comfy_quant config", r.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_metadata_is_reported_not_thrown()
    {
        QuantizationReport r = Describe(new CheckpointBuilder().AddZeros("a.weight", DType.Float8E4M3, 2).WithMetadata(QuantizedFormats.MetadataKey, "{not json"))!;
        Assert.False(r.Convertible);
        Assert.Contains("unreadable", r.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Metadata_written_and_trimmed_keeps_other_keys_and_layers()
    {
        string all = QuantizedFormats.Metadata(["a", "b.c"], "float8_e5m2");
        Assert.Equal("{\"format_version\":\"1.0\",\"layers\":{\"a\":{\"format\":\"float8_e5m2\"},\"b.c\":{\"format\":\"float8_e5m2\"}}}", all);
        Assert.Equal("{\"format_version\":\"1.0\",\"layers\":{\"b.c\":{\"format\":\"float8_e5m2\"}}}", QuantizedFormats.WithoutLayers(all, new HashSet<string> { "a" }));
        Assert.Null(QuantizedFormats.WithoutLayers(all, new HashSet<string> { "a", "b.c" }));
        Assert.True(QuantizedFormats.IsMarker("scaled_fp8"));
        Assert.True(QuantizedFormats.IsMarker("net.scaled_fp8"));
        Assert.False(QuantizedFormats.IsMarker("notscaled_fp8"));
    }
}
