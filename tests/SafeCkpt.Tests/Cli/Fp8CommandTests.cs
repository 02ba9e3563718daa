using System.Text.Json;
using SafeCkpt.Building;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary><c>convert --dtype fp8-e4m3fn|fp8-e5m2|fp8-scaled [--legacy-scaled-fp8]</c>, back out of fp8, and what <c>inspect</c> says of quantized files.</summary>
public class Fp8CommandTests
{
    private static string Source => Fixtures.Path_("scaled_fp8", "source.safetensors");

    private const string Layer = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q";

    [Fact]
    public void Fp8_scaled_round_trips_through_inspect_and_back_to_bf16_as_ComfyUI_dequantizes()
    {
        using var dir = new TempDir();
        string scaled = dir.File("s.safetensors");
        var w = SafeCkptTool.Run("convert", Source, scaled, "--dtype", "fp8-scaled");
        Assert.Equal(0, w.ExitCode);
        Assert.Contains("8 linear weights of the diffusion model quantized to F8_E4M3", w.StdOut, StringComparison.Ordinal);

        var text = SafeCkptTool.Run("inspect", scaled);
        Assert.Contains("Quantized: fp8 scaled: ComfyUI comfy_quant layout", text.StdOut, StringComparison.Ordinal);
        var json = SafeCkptTool.Run("inspect", scaled, "--json");
        using (JsonDocument doc = JsonDocument.Parse(json.StdOut))
        {
            JsonElement q = doc.RootElement.GetProperty("quantization");
            Assert.Equal("fp8-scaled", q.GetProperty("id").GetString());
            Assert.True(q.GetProperty("convertible").GetBoolean());
        }

        string back = dir.File("b.safetensors");
        var b = SafeCkptTool.Run("convert", scaled, back, "--dtype", "bf16");
        Assert.Equal(0, b.ExitCode);
        Assert.Contains("8 layers dequantized to BF16", b.StdOut, StringComparison.Ordinal);
        using ModelFile expected = ModelFile.Open(Fixtures.Path_("scaled_fp8", "expected.safetensors"));
        using ModelFile o = ModelFile.Open(back);
        Assert.Equal(expected.Tensors.ReadTensor(Layer + ".dq_bf16"), o.Tensors.ReadTensor(Layer + ".weight"));
        Assert.Contains("null", SafeCkptTool.Run("inspect", back, "--json").StdOut.Split("\"quantization\":")[1][..8], StringComparison.Ordinal);
    }

    [Fact]
    public void The_legacy_layout_is_written_on_request()
    {
        using var dir = new TempDir();
        Assert.Equal(0, SafeCkptTool.Run("convert", Source, dir.File("l.safetensors"), "--dtype", "fp8-scaled", "--legacy-scaled-fp8").ExitCode);
        using ModelFile o = ModelFile.Open(dir.File("l.safetensors"));
        Assert.Equal(DType.Float8E4M3, o.Tensors["model.diffusion_model.scaled_fp8"].DType);
        Assert.True(o.Tensors.Contains(Layer + ".scale_weight"));
        Assert.False(o.Tensors.Contains(Layer + ".weight_scale"));
        Assert.Contains("legacy scaled_fp8 layout", SafeCkptTool.Run("inspect", dir.File("l.safetensors")).StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("fp8-e4m3fn", DType.Float8E4M3, "l.safetensors")]
    [InlineData("fp8-e5m2", DType.Float8E5M2, "l.safetensors")]
    [InlineData("fp8", DType.Float8E4M3, "l.safetensors")]
    public void Plain_fp8_casts_the_unet_and_keeps_the_vae_and_text_encoder(string dtype, DType expected, string name)
    {
        using var dir = new TempDir();
        Assert.Equal(0, SafeCkptTool.Run("convert", Source, dir.File(name), "--dtype", dtype).ExitCode);
        using ModelFile o = ModelFile.Open(dir.File(name));
        using ModelFile s = ModelFile.Open(Source);
        Assert.All(o.Tensors.Tensors.Where(t => t.Name.StartsWith("model.diffusion_model.", StringComparison.Ordinal)), t => Assert.Equal(expected, t.DType));
        Assert.Equal(s.Tensors.ReadTensor("first_stage_model.decoder.conv_in.weight"), o.Tensors.ReadTensor("first_stage_model.decoder.conv_in.weight"));
        Assert.Equal(DType.Float16, o.Tensors["cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight"].DType);
        Assert.Contains("Quantized: fp8 (plain", SafeCkptTool.Run("inspect", dir.File(name)).StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--legacy-scaled-fp8 goes with --dtype fp8-scaled", "--dtype", "fp16", "--legacy-scaled-fp8")]
    [InlineData("--legacy-scaled-fp8 holds F8_E4M3 only", "--dtype", "fp8-scaled-e5m2", "--legacy-scaled-fp8")]
    [InlineData("--keep-fp32 does not go with the fp8 types", "--dtype", "fp8-e4m3fn", "--keep-fp32", "vae")]
    [InlineData("--dtype takes fp16, bf16, fp32, fp8-e4m3fn, fp8-e5m2 or fp8-scaled", "--dtype", "int8")]
    public void Contradictory_fp8_options_are_usage_errors(string message, params string[] options)
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run(["convert", Source, dir.File("o.safetensors"), .. options]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.StdErr, StringComparison.Ordinal);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void A_format_SafeCkpt_cannot_dequantize_is_named_by_inspect_refused_by_a_cast_and_copied_without_one()
    {
        using var dir = new TempDir();
        string nf4 = dir.File("nf4.safetensors");
        new CheckpointBuilder()
            .AddZeros("model.diffusion_model.a.weight", DType.UInt8, 8, 2)
            .AddZeros("model.diffusion_model.a.weight.absmax", DType.Float32, 1)
            .AddZeros("model.diffusion_model.a.weight.quant_state.bitsandbytes__nf4", DType.UInt8, 4)
            .SaveSafetensors(nf4);
        Assert.Contains("Quantized: bitsandbytes NF4", SafeCkptTool.Run("inspect", nf4).StdOut, StringComparison.Ordinal);
        var r = SafeCkptTool.Run("convert", nf4, dir.File("o.safetensors"), "--dtype", "fp16", "--json");
        Assert.Equal(2, r.ExitCode);
        using (JsonDocument doc = JsonDocument.Parse(r.StdOut))
        {
            Assert.Equal("UnsupportedQuantization", doc.RootElement.GetProperty("code").GetString());
        }

        Assert.False(File.Exists(dir.File("o.safetensors")));
        Assert.Equal(0, SafeCkptTool.Run("convert", nf4, dir.File("copy.safetensors")).ExitCode);
    }
}
