using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary><c>convert IN OUT.gguf --quant</c>: the format from the extension, the parts left out said, the misuses refused.</summary>
public class ConvertGgufTests
{
    [Fact]
    public void Convert_to_gguf_writes_the_diffusion_model_and_says_what_was_left_out()
    {
        using var dir = new TempDir();
        string output = dir.File("sd1-Q8_0.gguf");
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("gguf-write", "sd1.safetensors"), output, "--quant", "q8_0");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("GGUF holds the diffusion model only: left out 2 VAE, 2 text encoder, 1 EMA weights, 1 other tensors", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("GGUF sd1, Q8_0: 14 Q8_0, 12 F32, 4 F16; 14 reshaped to rows of 256", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("30 tensors (0 cast, 6 dropped)", r.StdOut, StringComparison.Ordinal);
        using var back = ModelFile.Open(output);
        Assert.Equal(30, back.Tensors.Count);
    }

    [Fact]
    public void Without_quant_a_bf16_model_becomes_a_bf16_gguf_as_convert_py_does()
    {
        using var dir = new TempDir();
        string output = dir.File("sdxl.gguf");
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("gguf-write", "sdxl.safetensors"), output);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("GGUF sdxl, BF16: 20 BF16, 12 F32", r.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("out.safetensors", "--quant", "q8_0", "--quant goes with a .gguf output")]
    [InlineData("out.gguf", "--dtype", "fp16", "a .gguf output takes --quant, not --dtype")]
    [InlineData("out.gguf", "--quant", "q4_k", "(K-quants are not written yet)")]
    [InlineData("out.gguf", "--dry-run", null, "--dry-run does not go with a .gguf output")]
    public void Misuses_are_usage_errors(string output, string option, string? value, string message)
    {
        using var dir = new TempDir();
        string[] args = value is null
            ? ["convert", Fixtures.Path_("gguf-write", "sd1.safetensors"), dir.File(output), option]
            : ["convert", Fixtures.Path_("gguf-write", "sd1.safetensors"), dir.File(output), option, value];
        var r = SafeCkptTool.Run(args);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.StdErr, StringComparison.Ordinal);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void A_vae_file_is_refused_with_exit_2_and_no_output()
    {
        using var dir = new TempDir();
        string vae = dir.File("vae.safetensors");
        new SafeCkpt.Building.CheckpointBuilder()
            .Add("encoder.conv_in.weight", new float[64 * 9 * 3], 64, 3, 3, 3)
            .Add("decoder.conv_out.weight", new float[3 * 9 * 64], 3, 64, 3, 3)
            .SaveSafetensors(vae);
        var r = SafeCkptTool.Run("convert", vae, dir.File("vae.gguf"), "--quant", "q8_0");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("none of the architectures ComfyUI-GGUF loads", r.StdErr, StringComparison.Ordinal);
        Assert.Equal(["vae.safetensors"], dir.Files());
    }
}
