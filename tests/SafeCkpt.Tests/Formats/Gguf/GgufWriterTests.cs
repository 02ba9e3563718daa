using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using SafeCkpt.Formats.Gguf;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Gguf;

/// <summary>
/// SaveGguf against what ComfyUI-GGUF's and gguf-py's own code accepted (tests/consumers/comfyui_gguf_check.py wrote
/// Fixtures/gguf-write/expectations.json after its checks passed), read back by SafeCkpt's reader, and its refusals.
/// </summary>
public class GgufWriterTests
{
    public static TheoryData<string> Expected()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("gguf-write", "expectations.json")));
        var data = new TheoryData<string>();
        foreach (JsonProperty p in doc.RootElement.EnumerateObject())
        {
            data.Add(p.Name);
        }

        return data;
    }

    private static GgufQuantization Quant(string q) => Enum.Parse<GgufQuantization>(q, ignoreCase: true);

    [Theory]
    [MemberData(nameof(Expected))]
    public void The_file_is_the_one_comfyui_gguf_and_gguf_py_checked(string file)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("gguf-write", "expectations.json")));
        JsonElement e = doc.RootElement.GetProperty(file);
        using var dir = new TempDir();
        string output = dir.File(file);
        using (var model = ModelFile.Open(Fixtures.Path_("gguf-write", e.GetProperty("source").GetString()!)))
        {
            // The consumer check converts with --no-provenance (convert.py writes no safeckpt.* keys).
            ConversionResult r = model.SaveGguf(output, Quant(e.GetProperty("quant").GetString()!), new SaveOptions { Provenance = false });
            Assert.Equal(e.GetProperty("bytes").GetInt64(), r.OutputFileBytes);
        }

        Assert.Equal(e.GetProperty("sha256").GetString(), Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(output))).ToLowerInvariant());
        Assert.Equal([file], dir.Files());
    }

    [Fact]
    public void A_gguf_records_its_source_and_keeps_every_tensor_where_a_save_without_provenance_puts_it_after_the_header()
    {
        using var dir = new TempDir();
        string source = Fixtures.Path_("gguf-write", "sd1.safetensors");
        string with = dir.File("with.gguf");
        string without = dir.File("without.gguf");
        using (var model = ModelFile.Open(source))
        {
            model.SaveGguf(with, GgufQuantization.Q8_0);
            model.SaveGguf(without, GgufQuantization.Q8_0, new SaveOptions { Provenance = false });
        }

        byte[] sourceBytes = File.ReadAllBytes(source);
        string sha = Convert.ToHexString(SHA256.HashData(sourceBytes)).ToLowerInvariant();
        long n = BitConverter.ToInt64(sourceBytes, 0);
        string dataSha = Convert.ToHexString(SHA256.HashData(sourceBytes.AsSpan((int)(8 + n)))).ToLowerInvariant();
        using (var back = ModelFile.Open(with))
        {
            Assert.Equal("sd1.safetensors", back.Metadata["safeckpt.source.name"]);
            Assert.Equal("safetensors", back.Metadata["safeckpt.source.format"]);
            Assert.Equal(sha, back.Metadata["safeckpt.source.sha256"]);
            Assert.Equal(sha[..10], back.Metadata["safeckpt.source.autov2"]);
            Assert.Equal(dataSha, back.Metadata["safeckpt.source.autov3"]);
            Assert.Contains("converted from sd1.safetensors", string.Join("\n", global::SafeCkpt.Metadata.Provenance.Summary(back.Metadata)), StringComparison.Ordinal);
        }

        using (var back = ModelFile.Open(without))
        {
            Assert.DoesNotContain(back.Metadata.Keys, k => k.StartsWith("safeckpt.", StringComparison.Ordinal));
        }

        // Only the header grew (by whole alignment units); every tensor reads back the same.
        long grown = new FileInfo(with).Length - new FileInfo(without).Length;
        Assert.True(grown > 0 && grown % 32 == 0, $"grown by {grown}");
        using var x = ModelFile.Open(with);
        using var y = ModelFile.Open(without);
        Assert.Equal(y.Tensors.Tensors.Select(t => t.Name), x.Tensors.Tensors.Select(t => t.Name));
        foreach (TensorInfo t in y.Tensors.Tensors)
        {
            Assert.Equal(MemoryMarshal.Cast<float, uint>(y.Tensors.ReadTensorAs<float>(t.Name)).ToArray(), MemoryMarshal.Cast<float, uint>(x.Tensors.ReadTensorAs<float>(t.Name)).ToArray());
        }
    }

    [Theory]
    [InlineData("Q8_0")]
    [InlineData("Q4_1")]
    [InlineData("Q5_0")]
    public void SafeCkpt_reads_its_gguf_back_with_the_source_shapes_and_the_quantize_dequantize_values(string q)
    {
        using var dir = new TempDir();
        string output = dir.File("sd1.gguf");
        using var source = ModelFile.Open(Fixtures.Path_("gguf-write", "sd1.safetensors"));
        ConversionResult r = source.SaveGguf(output, Quant(q));
        using var back = ModelFile.Open(output);
        Assert.Equal(ModelFormat.Gguf, back.Format);
        Assert.Equal("sd1", back.Tensors.Gguf!.Architecture);
        Assert.Equal(r.Plan.Tensors.Count, back.Tensors.Count);
        int quantized = 0;
        foreach (TensorInfo t in back.Tensors.Tensors)
        {
            string name = "model.diffusion_model." + t.Name;
            Assert.Equal(source.Tensors[name].Shape, t.Shape);
            float[] x = source.Tensors.ReadTensorAs<float>(name);
            float[] y = back.Tensors.ReadTensorAs<float>(t.Name);
            GgmlType stored = back.Tensors.Gguf.Types[t.Name];
            float[] expected = x;
            if (stored is GgmlType.F16)
            {
                expected = [.. x.Select(v => (float)(Half)v)];
            }
            else if (stored is not GgmlType.F32)
            {
                GgmlTypes.TryGetBlock((uint)stored, out _, out int size);
                var bytes = new byte[x.Length / 32 * size];
                GgmlQuantizer.Quantize(stored, x, bytes);
                expected = new float[x.Length];
                GgmlDequantizer.Dequantize(stored, bytes, expected);
                quantized++;
            }

            Assert.Equal(MemoryMarshal.Cast<float, uint>(expected).ToArray(), MemoryMarshal.Cast<float, uint>(y).ToArray());
        }

        Assert.True(quantized >= 13, $"{quantized} tensors quantized");
        Assert.Contains(r.Plan.Dropped, d => d.Name == "first_stage_model.decoder.conv_in.weight" && d.Reason.Contains("UNet / transformer only", StringComparison.Ordinal));
        Assert.Contains(r.Plan.Notes, n => n.Contains("left out 2 VAE, 2 text encoder, 1 EMA weights, 1 other tensors", StringComparison.Ordinal));
    }

    [Fact]
    public void The_reshaped_tensors_have_their_torch_shape_in_comfy_gguf_orig_shape_and_rows_of_256()
    {
        using var dir = new TempDir();
        string output = dir.File("sdxl.gguf");
        using (var source = ModelFile.Open(Fixtures.Path_("gguf-write", "sdxl.safetensors")))
        {
            source.SaveGguf(output, GgufQuantization.Q8_0);
        }

        using var back = ModelFile.Open(output);
        Assert.Contains("input_blocks.3.0.op.weight", back.Tensors.Gguf!.Reshaped);
        Assert.Equal([32L, 32, 3, 3], back.Tensors["input_blocks.3.0.op.weight"].Shape);
        Assert.Equal(GgmlType.Q8_0, back.Tensors.Gguf.Types["input_blocks.3.0.op.weight"]);
        Assert.Equal(GgmlType.F32, back.Tensors.Gguf.Types["input_blocks.0.0.bias"]);
        Assert.Equal(GgmlType.BF16, back.Tensors.Gguf.Types["label_emb.0.0.weight"]);
    }

    [Fact]
    public void A_file_without_a_diffusion_model_is_refused_and_nothing_is_written()
    {
        using var dir = new TempDir();
        string vae = dir.File("vae.safetensors");
        new SafeCkpt.Building.CheckpointBuilder()
            .Add("first_stage_model.encoder.conv_in.weight", new float[64 * 9 * 4], 64, 4, 3, 3)
            .Add("first_stage_model.decoder.conv_out.weight", new float[4 * 9 * 64], 4, 64, 3, 3)
            .Add("cond_stage_model.transformer.text_model.final_layer_norm.weight", new float[64], 64)
            .SaveSafetensors(vae);
        using var model = ModelFile.Open(vae);
        var ex = Assert.Throws<ConversionException>(() => model.SaveGguf(dir.File("out.gguf"), GgufQuantization.Q8_0));
        Assert.Equal(SafeCkptErrorCode.GgufNotWritable, ex.Code);
        Assert.Contains("none of the architectures ComfyUI-GGUF loads", ex.Message, StringComparison.Ordinal);
        Assert.Equal(["vae.safetensors"], dir.Files());
    }

    [Fact]
    public void A_model_whose_weights_cannot_take_the_block_type_is_refused_and_f16_is_suggested()
    {
        using var dir = new TempDir();
        string path = dir.File("odd.safetensors");
        new SafeCkpt.Building.CheckpointBuilder()
            .Add("double_blocks.0.img_attn.proj.weight", new float[40 * 40], 40, 40)
            .Add("single_blocks.0.linear1.weight", new float[48 * 40], 48, 40)
            .Add("single_blocks.0.linear1.bias", new float[48], 48)
            .SaveSafetensors(path);
        using var model = ModelFile.Open(path);
        var ex = Assert.Throws<ConversionException>(() => model.SaveGguf(dir.File("out.gguf"), GgufQuantization.Q4_0));
        Assert.Equal(SafeCkptErrorCode.GgufNotWritable, ex.Code);
        Assert.Contains("has no tensor Q4_0 can hold", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--quant f16", ex.Message, StringComparison.Ordinal);
        Assert.Equal(["odd.safetensors"], dir.Files());

        model.SaveGguf(dir.File("out.gguf"), GgufQuantization.F16);
        Assert.Equal(["odd.safetensors", "out.gguf"], dir.Files().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_diffusers_flux_transformer_is_refused_as_comfyui_gguf_refuses_it()
    {
        using var dir = new TempDir();
        string path = dir.File("diffusers.safetensors");
        new SafeCkpt.Building.CheckpointBuilder()
            .Add("transformer_blocks.0.attn.norm_added_k.weight", new float[64], 64)
            .Add("transformer_blocks.0.attn.to_q.weight", new float[64 * 64], 64, 64)
            .SaveSafetensors(path);
        using var model = ModelFile.Open(path);
        var ex = Assert.Throws<ConversionException>(() => model.SaveGguf(dir.File("out.gguf")));
        Assert.Contains("diffusers layout", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Keys_convert_py_does_not_know_take_the_architecture_from_safeckpts_detection()
    {
        using var dir = new TempDir();
        string path = dir.File("qwen.safetensors");
        new SafeCkpt.Building.CheckpointBuilder()
            .Add("txt_norm.weight", new float[64], 64)
            .Add("img_in.weight", new float[64 * 64], 64, 64)
            .Add("transformer_blocks.0.attn.to_q.weight", new float[64 * 64], 64, 64)
            .SaveSafetensors(path);
        string output = dir.File("qwen.gguf");
        using (var model = ModelFile.Open(path))
        {
            ConversionResult r = model.SaveGguf(output, GgufQuantization.Q8_0);
            Assert.Contains(r.Plan.Notes, n => n.Contains("the architecture 'qwen_image' comes from SafeCkpt's detection (qwen-image", StringComparison.Ordinal));
        }

        using var back = ModelFile.Open(output);
        Assert.Equal("qwen_image", back.Tensors.Gguf!.Architecture);
        Assert.Equal(GgmlType.Q8_0, back.Tensors.Gguf.Types["transformer_blocks.0.attn.to_q.weight"]);
        Assert.Equal(GgmlType.F32, back.Tensors.Gguf.Types["txt_norm.weight"]);
    }

    [Fact]
    public void A_scaled_fp8_model_is_dequantized_before_quantizing_and_its_scales_are_not_written()
    {
        using var dir = new TempDir();
        string scaled = dir.File("flux-fp8-scaled.safetensors");
        using (var source = ModelFile.Open(Fixtures.Path_("gguf-write", "flux.ckpt")))
        {
            source.ToScaledFloat8().SaveSafetensors(scaled);
        }

        string output = dir.File("flux.gguf");
        using (var model = ModelFile.Open(scaled))
        {
            ConversionResult r = model.SaveGguf(output, GgufQuantization.Q8_0);
            Assert.Contains(r.Plan.Notes, n => n.Contains("scaled fp8 layers dequantized", StringComparison.Ordinal));
        }

        using var original = ModelFile.Open(Fixtures.Path_("gguf-write", "flux.ckpt"));
        using var back = ModelFile.Open(output);
        Assert.Equal(original.Tensors.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), back.Tensors.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        const string name = "double_blocks.0.img_mlp.0.weight";
        float[] x = [.. original.Tensors.ReadTensorAs<Half>(name).Select(h => (float)h)];
        float[] y = back.Tensors.ReadTensorAs<float>(name);
        float amax = x.Max(Math.Abs);
        Assert.All(x.Zip(y), p => Assert.True(Math.Abs(p.First - p.Second) <= (0.07f * Math.Abs(p.First)) + (amax / 127f), $"{p.First} -> {p.Second}"));
    }

    [Fact]
    public void An_fp8_model_is_widened_exactly_as_convert_py_widens_it()
    {
        using var dir = new TempDir();
        string fp8 = dir.File("flux-fp8.safetensors");
        using (var source = ModelFile.Open(Fixtures.Path_("gguf-write", "flux.ckpt")))
        {
            source.ToFloat8().SaveSafetensors(fp8);
        }

        string output = dir.File("flux.gguf");
        using (var model = ModelFile.Open(fp8))
        {
            model.SaveGguf(output, GgufQuantization.F16);
        }

        using var stored = ModelFile.Open(fp8);
        using var back = ModelFile.Open(output);
        foreach (TensorInfo t in stored.Tensors.Tensors)
        {
            Assert.Equal(DType.Float8E4M3, t.DType);
            Assert.Equal(GgmlType.F16, back.Tensors.Gguf!.Types[t.Name]);
            float[] x = SafeCkpt.Numerics.ElementRead.AsFloat32(stored.Tensors.ReadTensor(t.Name), t.DType);
            float[] y = [.. back.Tensors.ReadTensorAs<Half>(t.Name).Select(h => (float)h)];
            Assert.Equal(x, y);
        }
    }

    [Fact]
    public void A_gguf_model_is_written_again_from_its_dequantized_values()
    {
        using var dir = new TempDir();
        string output = dir.File("sdxl-f16.gguf");
        using var source = ModelFile.Open(Fixtures.Path_("gguf", "sdxl.gguf"));
        source.SaveGguf(output, GgufQuantization.F16);
        using var back = ModelFile.Open(output);
        Assert.Equal("sdxl", back.Tensors.Gguf!.Architecture);
        foreach (TensorInfo t in source.Tensors.Tensors)
        {
            Assert.Equal(t.Shape, back.Tensors[t.Name].Shape);
            float[] x = source.Tensors.ReadTensorAs<float>(t.Name);
            float[] y = back.Tensors.Gguf.Types[t.Name] == GgmlType.F32 ? back.Tensors.ReadTensorAs<float>(t.Name) : [.. back.Tensors.ReadTensorAs<Half>(t.Name).Select(h => (float)h)];
            Assert.Equal(x.Select(v => back.Tensors.Gguf.Types[t.Name] == GgmlType.F32 ? v : (float)(Half)v), y);
        }
    }

    [Fact]
    public void A_cancelled_save_leaves_no_file()
    {
        using var dir = new TempDir();
        using var model = ModelFile.Open(Fixtures.Path_("gguf-write", "sd1.safetensors"));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => model.SaveGguf(dir.File("out.gguf"), GgufQuantization.Q8_0, cancellationToken: cts.Token));
        Assert.Empty(dir.Files());
    }
}
