using System.Text;
using System.Text.Json;
using SafeCkpt.Building;
using SafeCkpt.Models;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;
using SafeCkpt.Transforms;

namespace SafeCkpt.Tests.Transforms;

/// <summary>
/// ComfyUI's scaled fp8, written and read back: against make_scaled_fp8_fixtures.py (ComfyUI's formulas run with torch
/// ops) bit for bit, on every kernel tier, in both layouts; what stays unquantized; dequantization to F32/F16/BF16 and
/// what it drops; the refusals.
/// </summary>
[Collection(nameof(CastTierOverride))]
public class ScaledFloat8TransformTests
{
    private static readonly string Source = Fixtures.Path_("scaled_fp8", "source.safetensors");
    private static readonly string Expected = Fixtures.Path_("scaled_fp8", "expected.safetensors");

    public static TheoryData<string, string> TiersAndLayouts()
    {
        var data = new TheoryData<string, string>();
        foreach (string tier in Enum.GetNames<VectorTier>())
        {
            foreach (string layout in Enum.GetNames<ScaledFloat8Layout>())
            {
                data.Add(tier, layout);
            }
        }

        return data;
    }

    private static string[] Layers(ModelFile expected) =>
        [.. expected.Tensors.Tensors.Select(t => t.Name).Where(n => n.EndsWith(".q", StringComparison.Ordinal)).Select(n => n[..^2])];

    [Theory]
    [MemberData(nameof(TiersAndLayouts))]
    public void The_quantized_weights_and_scales_equal_ComfyUIs_formula_bit_for_bit_and_dequantize_to_it(string tier, string layout)
    {
        using var dir = new TempDir();
        var l = Enum.Parse<ScaledFloat8Layout>(layout);
        bool legacy = l == ScaledFloat8Layout.LegacyScaledFp8;
        string scaled = dir.File("scaled.safetensors");
        using var forced = new ForcedTier(Enum.Parse<VectorTier>(tier));
        using (ModelFile src = ModelFile.Open(Source))
        {
            src.ToScaledFloat8(Float8Format.E4M3FN, l).SaveSafetensors(scaled);
        }

        using ModelFile exp = ModelFile.Open(Expected);
        using ModelFile source = ModelFile.Open(Source);
        string[] layers = Layers(exp);
        Assert.Equal(8, layers.Length);
        using (ModelFile o = ModelFile.Open(scaled))
        {
            foreach (string layer in layers)
            {
                Assert.True(o.Tensors.TryGet(layer + ".weight", out TensorInfo? w));
                Assert.Equal(DType.Float8E4M3, w.DType);
                Assert.Equal(source.Tensors.Tensors.Single(t => t.Name == layer + ".weight").Shape, w.Shape);
                Assert.Equal(exp.Tensors.ReadTensor(layer + ".q"), o.Tensors.ReadTensor(layer + ".weight"));
                string scaleName = layer + (legacy ? ".scale_weight" : ".weight_scale");
                Assert.True(o.Tensors.TryGet(scaleName, out TensorInfo? s));
                Assert.Equal(DType.Float32, s.DType);
                Assert.Empty(s.Shape);
                Assert.Equal(exp.Tensors.ReadTensor(layer + ".scale"), o.Tensors.ReadTensor(scaleName));
                if (legacy)
                {
                    Assert.False(o.Tensors.Contains(layer + ".comfy_quant"));
                }
                else
                {
                    Assert.Equal("{\"format\": \"float8_e4m3fn\"}", Encoding.UTF8.GetString(o.Tensors.ReadTensor(layer + ".comfy_quant")));
                }
            }

            // Everything else is the source's, byte for byte.
            foreach (TensorInfo t in source.Tensors.Tensors.Where(t => !layers.Any(x => t.Name == x + ".weight")))
            {
                Assert.True(o.Tensors.TryGet(t.Name, out TensorInfo? kept), t.Name);
                Assert.Equal(t.DType, kept.DType);
                Assert.Equal(source.Tensors.ReadTensor(t.Name), o.Tensors.ReadTensor(t.Name));
            }

            if (legacy)
            {
                Assert.True(o.Tensors.TryGet("model.diffusion_model.scaled_fp8", out TensorInfo? marker));
                Assert.Equal(DType.Float8E4M3, marker.DType);
                Assert.Equal([0L], marker.Shape);
                Assert.False(o.Metadata.ContainsKey(QuantizedFormats.MetadataKey));
            }
            else
            {
                using JsonDocument meta = JsonDocument.Parse(o.Metadata[QuantizedFormats.MetadataKey]);
                Assert.Equal("1.0", meta.RootElement.GetProperty("format_version").GetString());
                Assert.Equal(layers.Order(), meta.RootElement.GetProperty("layers").EnumerateObject().Select(p => p.Name).Order());
                Assert.All(meta.RootElement.GetProperty("layers").EnumerateObject(), p => Assert.Equal("float8_e4m3fn", p.Value.GetProperty("format").GetString()));
            }

            Assert.Equal("fp8-scaled", QuantizedFormats.Describe(o.Tensors)!.Id);
        }

        foreach ((DType to, string tag) in new[] { (DType.Float32, "f32"), (DType.Float16, "f16"), (DType.BFloat16, "bf16") })
        {
            string back = dir.File($"back-{tag}.safetensors");
            using (ModelFile o = ModelFile.Open(scaled))
            {
                ConversionResult r = o.CastTo(to).SaveSafetensors(back);
                Assert.Contains(r.Plan.Notes, n => n.Contains("8 layers dequantized", StringComparison.Ordinal));
            }

            using ModelFile b = ModelFile.Open(back);
            foreach (string layer in layers)
            {
                Assert.Equal(to, b.Tensors.Tensors.Single(t => t.Name == layer + ".weight").DType);
                Assert.Equal(exp.Tensors.ReadTensor(layer + ".dq_" + tag), b.Tensors.ReadTensor(layer + ".weight"));
            }

            Assert.DoesNotContain(b.Tensors.Tensors, t => t.Name.EndsWith("scale_weight", StringComparison.Ordinal) || t.Name.EndsWith(".weight_scale", StringComparison.Ordinal) || t.Name.EndsWith(".comfy_quant", StringComparison.Ordinal) || t.Name.EndsWith("scaled_fp8", StringComparison.Ordinal));
            Assert.False(b.Metadata.ContainsKey(QuantizedFormats.MetadataKey));
            Assert.Equal(source.Tensors.Count, b.Tensors.Count);
            Assert.Null(QuantizedFormats.Describe(b.Tensors));
        }
    }

    [Fact]
    public void SafeCkpt_gives_what_ComfyUIs_own_quantizer_loader_and_dequantizer_gave_for_the_same_file()
    {
        // comfyui_expectations.json: tests/consumers/comfyui_scaled_fp8_check.py ran ComfyUI's convert_old_quants,
        // _load_quantized_module, the quantizer and comfy-kitchen's eager kernels (ComfyUI 4f874c5e, comfy-kitchen
        // 7d86acf6) on SafeCkpt's files; the two documented differences are asserted as such.
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("scaled_fp8", "comfyui_expectations.json")));
        using var dir = new TempDir();
        var none = new SaveOptions { Provenance = false };
        foreach ((string layout, ScaledFloat8Layout l) in new[] { ("current", ScaledFloat8Layout.ComfyQuant), ("legacy", ScaledFloat8Layout.LegacyScaledFp8) })
        {
            string scaled = dir.File(layout + ".safetensors");
            using (ModelFile src = ModelFile.Open(Source))
            {
                src.ToScaledFloat8(layout: l).SaveSafetensors(scaled, none);
            }

            using ModelFile s = ModelFile.Open(scaled);
            var back = new Dictionary<string, ModelFile>();
            foreach ((string tag, DType to) in new[] { ("fp32", DType.Float32), ("fp16", DType.Float16), ("bf16", DType.BFloat16) })
            {
                s.CastTo(to).SaveSafetensors(dir.File($"{layout}-{tag}.safetensors"), none);
                back[tag] = ModelFile.Open(dir.File($"{layout}-{tag}.safetensors"));
            }

            try
            {
                foreach (JsonProperty layer in doc.RootElement.GetProperty("layers").EnumerateObject())
                {
                    JsonElement e = layer.Value;
                    string scaleName = layer.Name + (l == ScaledFloat8Layout.ComfyQuant ? ".weight_scale" : ".scale_weight");
                    Assert.Equal(e.GetProperty("weight_sha256").GetString(), Sha(s.Tensors.ReadTensor(layer.Name + ".weight")));
                    Assert.Equal(e.GetProperty("scale_f32").GetString(), Convert.ToHexString(s.Tensors.ReadTensor(scaleName)).ToLowerInvariant());
                    foreach ((string tag, ModelFile b) in back)
                    {
                        Assert.Equal(e.GetProperty($"dequantized_{tag}_sha256").GetString(), Sha(b.Tensors.ReadTensor(layer.Name + ".weight")));
                    }

                    JsonElement comfy = e.GetProperty("comfyui_quantize");
                    if (e.GetProperty("safeckpt_equals_comfyui_quantize").GetBoolean())
                    {
                        Assert.Equal(comfy.GetProperty("weight_sha256").GetString(), e.GetProperty("weight_sha256").GetString());
                    }
                    else if (layer.Name.EndsWith("ff.net.2", StringComparison.Ordinal))
                    {
                        // The all-zero weight: ComfyUI's scale is 0 and every code NaN; SafeCkpt's scale 1 and zeros.
                        Assert.Equal("00000000", comfy.GetProperty("scale_f32").GetString());
                        Assert.Equal(48 * 32, comfy.GetProperty("nan_codes").GetInt32());
                    }
                    else
                    {
                        // The float64 weight: torch refuses ComfyUI's float16-range clamp of a float32 scale.
                        Assert.Contains("overflow", comfy.GetProperty("error").GetString(), StringComparison.Ordinal);
                    }
                }
            }
            finally
            {
                foreach (ModelFile b in back.Values)
                {
                    b.Dispose();
                }
            }
        }
    }

    private static string Sha(byte[] bytes) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)).ToLowerInvariant();

    [Fact]
    public void The_dequantized_weights_are_within_fp8_precision_of_the_source()
    {
        using var dir = new TempDir();
        string scaled = dir.File("scaled.safetensors");
        string back = dir.File("back.safetensors");
        using (ModelFile src = ModelFile.Open(Source))
        {
            src.ToScaledFloat8().SaveSafetensors(scaled);
        }

        using (ModelFile o = ModelFile.Open(scaled))
        {
            o.ToFloat32().SaveSafetensors(back);
        }

        using ModelFile source = ModelFile.Open(Source);
        using ModelFile b = ModelFile.Open(back);
        using ModelFile s = ModelFile.Open(scaled);
        foreach (string layer in Layers(ModelFile.Open(Expected)))
        {
            double[] w = source.Tensors.ReadTensorAs<double>(layer + ".weight");
            float[] dq = b.Tensors.ReadTensorAs<float>(layer + ".weight");
            float scale = s.Tensors.ReadTensorAs<float>(layer + ".weight_scale")[0];
            for (int i = 0; i < w.Length; i++)
            {
                // Half an e4m3 step (2^-4 relative; 2^-10 of the scale among subnormals), plus the source dtype's roundings.
                double bound = Math.Max(Math.Abs(w[i]) * (1.0 / 16 + 1.0 / 128), scale * ((1.0 / 1024) + (1.0 / 8192)));
                Assert.True(Math.Abs(dq[i] - w[i]) <= bound, $"{layer}[{i}]: {w[i]} came back as {dq[i]} (scale {scale})");
            }
        }
    }

    [Fact]
    public void E5M2_scales_by_57344_and_the_legacy_layout_refuses_it()
    {
        float[] w = [1f, -3f, 0.001f, 1e-7f];
        using ModelFile m = new CheckpointBuilder().Add("model.diffusion_model.proj.weight", w, 2, 2).Add("first_stage_model.x", new[] { 1f }).Build();
        ConversionPlan plan = m.ToScaledFloat8(Float8Format.E5M2).Plan();
        Assert.Equal(DType.Float8E5M2, plan.Tensors.Single(t => t.Name == "model.diffusion_model.proj.weight").DType);
        using var dir = new TempDir();
        m.ToScaledFloat8(Float8Format.E5M2).SaveSafetensors(dir.File("a.safetensors"));
        using ModelFile o = ModelFile.Open(dir.File("a.safetensors"));
        Assert.Equal(3f / 57344f, o.Tensors.ReadTensorAs<float>("model.diffusion_model.proj.weight_scale")[0]);
        Assert.Contains("float8_e5m2", o.Metadata[QuantizedFormats.MetadataKey], StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => m.ToScaledFloat8(Float8Format.E5M2, ScaledFloat8Layout.LegacyScaledFp8));
    }

    [Fact]
    public void Only_the_diffusion_models_rank_2_weights_are_quantized_and_a_model_alone_is_taken_whole()
    {
        using ModelFile ckpt = new CheckpointBuilder()
            .AddZeros("model.diffusion_model.a.weight", DType.Float16, 4, 4)
            .AddZeros("model.diffusion_model.a.bias", DType.Float16, 4)
            .AddZeros("model.diffusion_model.conv.weight", DType.Float16, 4, 4, 3, 3)
            .AddZeros("model.diffusion_model.emb", DType.Float16, 4, 4)
            .AddZeros("cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight", DType.Float16, 4, 4)
            .AddZeros("first_stage_model.decoder.mid.attn_1.q.weight", DType.Float16, 4, 4)
            .Build();
        ConversionPlan p = ckpt.ToScaledFloat8().Plan();
        Assert.Equal(["model.diffusion_model.a.weight"], p.Tensors.Where(t => t.DType == DType.Float8E4M3).Select(t => t.Name));
        Assert.Equal(["model.diffusion_model.a.comfy_quant", "model.diffusion_model.a.weight_scale"], p.Tensors.Where(t => t.Source.Name.StartsWith("model.diffusion_model.a.", StringComparison.Ordinal) && !t.Name.EndsWith("weight", StringComparison.Ordinal) && !t.Name.EndsWith("bias", StringComparison.Ordinal)).Select(t => t.Name).Order());

        using ModelFile alone = new CheckpointBuilder()
            .AddZeros("double_blocks.0.img_attn.qkv.weight", DType.BFloat16, 6, 4)
            .AddZeros("double_blocks.0.img_attn.qkv.bias", DType.BFloat16, 6)
            .AddZeros("img_in.weight", DType.BFloat16, 4, 2)
            .Build();
        ConversionPlan q = alone.ToScaledFloat8(layout: ScaledFloat8Layout.LegacyScaledFp8).Plan();
        Assert.Equal(["double_blocks.0.img_attn.qkv.weight", "img_in.weight"], q.Tensors.Where(t => t.DType == DType.Float8E4M3 && t.Shape.Count == 2).Select(t => t.Name).Order());
        PlannedTensor marker = q.Tensors.Single(t => t.Name == "scaled_fp8");
        Assert.Equal([0L], marker.Shape);
    }

    [Fact]
    public void An_all_zero_weight_gets_scale_one_and_zeros_not_nan()
    {
        using ModelFile m = new CheckpointBuilder().AddZeros("model.diffusion_model.z.weight", DType.BFloat16, 3, 5).Build();
        using var dir = new TempDir();
        m.ToScaledFloat8().SaveSafetensors(dir.File("z.safetensors"));
        using ModelFile o = ModelFile.Open(dir.File("z.safetensors"));
        Assert.Equal(1f, o.Tensors.ReadTensorAs<float>("model.diffusion_model.z.weight_scale")[0]);
        Assert.All(o.Tensors.ReadTensor("model.diffusion_model.z.weight"), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Quantizing_a_quantized_file_or_casting_scaled_fp8_to_fp8_is_refused()
    {
        using var dir = new TempDir();
        using (ModelFile src = ModelFile.Open(Source))
        {
            src.ToScaledFloat8().SaveSafetensors(dir.File("s.safetensors"));
        }

        using ModelFile s = ModelFile.Open(dir.File("s.safetensors"));
        Assert.Equal(SafeCkptErrorCode.UnsupportedQuantization, Assert.Throws<ConversionException>(() => s.ToScaledFloat8().Plan()).Code);
        ConversionException e = Assert.Throws<ConversionException>(() => s.ToFloat8().Plan());
        Assert.Equal(SafeCkptErrorCode.UnsupportedQuantization, e.Code);
        Assert.Contains("already scaled fp8", e.Message, StringComparison.Ordinal);

        // A cast that does not reach the quantized layers leaves them alone.
        ConversionPlan vaeOnly = s.ToHalf(ModelComponent.Vae).Plan();
        Assert.Contains(vaeOnly.Tensors, t => t.Name.EndsWith(".weight_scale", StringComparison.Ordinal));
        Assert.True(vaeOnly.Metadata.ContainsKey(QuantizedFormats.MetadataKey));

        // Quantize, then cast, in one pipeline: dequantized as from the file.
        using ModelFile src2 = ModelFile.Open(Source);
        ConversionPlan both = src2.ToScaledFloat8().ToBFloat16().Plan();
        Assert.DoesNotContain(both.Tensors, t => t.Name.EndsWith(".weight_scale", StringComparison.Ordinal));
        Assert.False(both.Metadata.ContainsKey(QuantizedFormats.MetadataKey));
    }

    [Theory]
    [InlineData("model.diffusion_model.a.weight.quant_state.bitsandbytes__nf4", "bnb-nf4")]
    [InlineData("model.diffusion_model.a.weight.quant_state.bitsandbytes__fp4", "bnb-fp4")]
    [InlineData("transformer_blocks.0.mlp_fc1.wscales", "nunchaku")]
    [InlineData("single_transformer_blocks.0.mlp_fc1.wtscale", "nunchaku-fp4")]
    public void Formats_SafeCkpt_cannot_dequantize_are_refused_on_a_cast_and_copied_without_one(string key, string id)
    {
        using ModelFile m = new CheckpointBuilder().AddZeros("model.diffusion_model.a.weight", DType.UInt8, 8, 2).AddZeros(key, DType.UInt8, 4).AddZeros("model.diffusion_model.a.bias", DType.Float32, 8).Build();
        Assert.Equal(id, QuantizedFormats.Describe(m.Tensors)!.Id);
        ConversionException e = Assert.Throws<ConversionException>(() => m.ToHalf().Plan());
        Assert.Equal(SafeCkptErrorCode.UnsupportedQuantization, e.Code);
        Assert.Contains("without --dtype", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, m.Convert().Plan().Tensors.Count);
    }

    [Theory]
    [InlineData(DType.Int8, 1, "int8_tensorwise")]
    [InlineData(DType.UInt8, 1, "nvfp4")]
    [InlineData(DType.Float8E4M3, 4, "mxfp8")]
    public void ComfyUI_formats_other_than_per_tensor_fp8_are_refused_naming_the_format(DType weight, int scales, string format)
    {
        using ModelFile m = new CheckpointBuilder()
            .AddZeros("model.diffusion_model.a.weight", weight, 4, 4)
            .AddZeros("model.diffusion_model.a.weight_scale", DType.Float32, scales)
            .Build();
        ConversionException e = Assert.Throws<ConversionException>(() => m.ToBFloat16().Plan());
        Assert.Equal(SafeCkptErrorCode.UnsupportedQuantization, e.Code);
        Assert.Contains(format, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plain_fp8_casts_the_diffusion_model_only_and_widens_back_exactly()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        ConversionPlan p = m.ToFloat8(Float8Format.E5M2).Plan();
        Assert.All(p.Tensors.Where(t => t.Component == ModelComponent.UNet), t => Assert.Equal(DType.Float8E5M2, t.DType));
        Assert.All(p.Tensors.Where(t => t.Component != ModelComponent.UNet), t => Assert.False(t.IsCast));
        m.ToFloat8().SaveSafetensors(dir.File("f8.safetensors"));
        using ModelFile f8 = ModelFile.Open(dir.File("f8.safetensors"));
        byte[] q = f8.Tensors.ReadTensor("model.diffusion_model.out.2.bias");
        Assert.Equal([CastKernels.SingleToFloat8(0.25f, DType.Float8E4M3), CastKernels.SingleToFloat8(-0.5f, DType.Float8E4M3), (byte)0x7F], q); // 65536 overflows e4m3fn: NaN
        Assert.Equal("fp8", QuantizedFormats.Describe(f8.Tensors)!.Id);
        f8.ToFloat32().SaveSafetensors(dir.File("back.safetensors"));
        using ModelFile back = ModelFile.Open(dir.File("back.safetensors"));
        Assert.Equal(TinySd.UNetA, back.Tensors.ReadTensorAs<float>("model.diffusion_model.input_blocks.0.0.weight"));
        Assert.Equal(m.Tensors.ReadTensor("first_stage_model.decoder.conv_in.weight"), back.Tensors.ReadTensor("first_stage_model.decoder.conv_in.weight"));
    }

    [Fact]
    public void Scales_without_any_config_are_applied_and_the_plan_says_ComfyUI_would_not()
    {
        using ModelFile m = new CheckpointBuilder()
            .Add("model.diffusion_model.a.weight", DType.Float8E4M3, [2], [0x38, 0xC0])
            .AddScalar("model.diffusion_model.a.weight_scale", 0.25f)
            .Build();
        ConversionPlan p = m.ToFloat32().Plan();
        Assert.Contains(p.Notes, n => n.Contains("would use these weights without their scales", StringComparison.Ordinal));
        using var dir = new TempDir();
        m.ToFloat32().SaveSafetensors(dir.File("f.safetensors"));
        using ModelFile f = ModelFile.Open(dir.File("f.safetensors"));
        Assert.Equal([0.25f, -0.5f], f.Tensors.ReadTensorAs<float>("model.diffusion_model.a.weight"));
        Assert.Single(f.Tensors.Tensors);
    }

    [Fact]
    public void Dequantizing_part_of_the_layers_keeps_the_rest_in_the_metadata()
    {
        string meta = QuantizedFormats.Metadata(["model.diffusion_model.a", "first_stage_model.b"], "float8_e4m3fn");
        using ModelFile m = new CheckpointBuilder()
            .Add("model.diffusion_model.a.weight", DType.Float8E4M3, [2], [0x38, 0xC0])
            .AddScalar("model.diffusion_model.a.weight_scale", 0.5f)
            .Add("first_stage_model.b.weight", DType.Float8E4M3, [2], [0x38, 0x38])
            .AddScalar("first_stage_model.b.weight_scale", 2f)
            .WithMetadata(QuantizedFormats.MetadataKey, meta)
            .Build();
        ConversionPlan p = m.ToHalf(ModelComponent.UNet).Plan();
        using JsonDocument rest = JsonDocument.Parse(p.Metadata[QuantizedFormats.MetadataKey]);
        Assert.Equal(["first_stage_model.b"], rest.RootElement.GetProperty("layers").EnumerateObject().Select(x => x.Name));
        Assert.Contains(p.Tensors, t => t.Name == "first_stage_model.b.weight_scale");
        Assert.DoesNotContain(p.Tensors, t => t.Name == "model.diffusion_model.a.weight_scale");
        using var dir = new TempDir();
        m.ToHalf(ModelComponent.UNet).SaveSafetensors(dir.File("h.safetensors"));
        using ModelFile h = ModelFile.Open(dir.File("h.safetensors"));
        Assert.Equal([(Half)0.5f, (Half)(-1f)], h.Tensors.ReadTensorAs<Half>("model.diffusion_model.a.weight"));
    }
}
