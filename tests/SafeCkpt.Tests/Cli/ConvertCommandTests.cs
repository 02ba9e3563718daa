using System.Text.Json;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

public class ConvertCommandTests
{
    private static string Tiny => Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt");

    [Fact]
    public void Fp16_no_ema_converts_floats_keeps_integers_drops_ema_and_prints_a_summary()
    {
        using var dir = new TempDir();
        string output = dir.File("out.safetensors");
        var r = SafeCkptTool.Run("convert", Tiny, output, "--dtype", "fp16", "--no-ema");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Wrote " + output, r.StdOut, StringComparison.Ordinal);
        Assert.Contains("cast", r.StdOut, StringComparison.Ordinal);
        using TensorStore s = SafetensorsReader.Open(output);
        Assert.DoesNotContain(s.Tensors, t => t.Name.StartsWith("model_ema.", StringComparison.Ordinal));
        Assert.All(s.Tensors.Where(t => t.Name.StartsWith("model.diffusion_model.", StringComparison.Ordinal)), t => Assert.Equal(DType.Float16, t.DType));
        Assert.Equal(DType.Int64, s["cond_stage_model.transformer.text_model.embeddings.position_ids"].DType);
        Assert.Contains("progress: 100%", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void Ema_only_puts_the_ema_weights_in_place_of_the_unet()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Tiny, dir.File("ema.safetensors"), "--ema-only", "--json");
        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        Assert.True(doc.RootElement.GetProperty("emaSwapped").GetInt32() > 0);
        using ModelFile source = ModelFile.Open(Tiny);
        using TensorStore s = SafetensorsReader.Open(dir.File("ema.safetensors"));
        string key = s.Tensors.First(t => t.Name.StartsWith("model.diffusion_model.", StringComparison.Ordinal)).Name;
        string emaKey = "model_ema." + key["model.".Length..].Replace(".", string.Empty, StringComparison.Ordinal);
        Assert.Equal(source.Tensors.ReadTensor(emaKey), s.ReadTensor(key));
        Assert.NotEqual(source.Tensors.ReadTensor(key), s.ReadTensor(key));
    }

    [Fact]
    public void Converting_to_ckpt_gives_the_same_tensors_as_to_safetensors()
    {
        using var dir = new TempDir();
        Assert.Equal(0, SafeCkptTool.Run("convert", Tiny, dir.File("a.ckpt"), "--dtype", "bf16", "--no-ema", "--keep-fp32", "vae").ExitCode);
        Assert.Equal(0, SafeCkptTool.Run("convert", Tiny, dir.File("a.safetensors"), "--dtype", "bf16", "--no-ema", "--keep-fp32", "vae").ExitCode);
        using ModelFile ckpt = ModelFile.Open(dir.File("a.ckpt"));
        using ModelFile st = ModelFile.Open(dir.File("a.safetensors"));
        Assert.Equal(st.Tensors.Count, ckpt.Tensors.Count);
        foreach (TensorInfo t in st.Tensors.Tensors)
        {
            Assert.Equal(t.DType, ckpt.Tensors[t.Name].DType);
            Assert.Equal(st.Tensors.ReadTensor(t.Name), ckpt.Tensors.ReadTensor(t.Name));
        }

        Assert.All(st.Tensors.Tensors.Where(t => t.Name.StartsWith("first_stage_model.", StringComparison.Ordinal)), t => Assert.Equal(DType.Float32, t.DType));
    }

    [Fact]
    public void Ema_only_on_a_file_without_ema_exits_2_and_writes_nothing()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("ckpt", "zip_basic.ckpt"), dir.File("o.safetensors"), "--ema-only");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no EMA weights", r.StdErr, StringComparison.Ordinal);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void An_existing_output_exits_4_and_is_left_untouched()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("o.safetensors"), "mine");
        var r = SafeCkptTool.Run("convert", Tiny, dir.File("o.safetensors"));
        Assert.Equal(4, r.ExitCode);
        Assert.Equal("mine", File.ReadAllText(dir.File("o.safetensors")));
        Assert.Equal(0, SafeCkptTool.Run("convert", Tiny, dir.File("o.safetensors"), "--overwrite").ExitCode);
    }

    [Fact]
    public void An_unsafe_input_exits_3_and_writes_nothing()
    {
        using var dir = new TempDir();
        string hostile = Fixtures.Path_("hostile", "zip_data_pkl_os_system.ckpt");
        var r = SafeCkptTool.Run("convert", hostile, dir.File("o.safetensors"), "--dtype", "fp16");
        Assert.Equal(3, r.ExitCode);
        Assert.Empty(dir.Files());
    }

    [Theory]
    [InlineData("--ema-only", "--no-ema")]
    [InlineData("--dtype", "fp8")]
    [InlineData("--drop", "lora")]
    [InlineData("--keep-fp32", "vae")]
    public void Contradictory_or_unknown_options_exit_1(params string[] options)
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run(["convert", Tiny, dir.File("o.safetensors"), .. options]);
        Assert.Equal(1, r.ExitCode);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void An_output_extension_that_names_no_format_exits_1()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Tiny, dir.File("o.gguf"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(".safetensors", r.StdErr, StringComparison.Ordinal);
    }
}

public class ConvertYamlTests
{
    [Fact]
    public void Convert_with_yaml_writes_the_config_beside_the_output_named_after_it()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), dir.File("tiny.safetensors"), "--dtype", "fp16", "--no-ema", "--yaml");
        Assert.Equal(0, r.ExitCode);
        string yaml = File.ReadAllText(dir.File("tiny.yaml"));
        Assert.StartsWith("# Config for sd1", yaml, StringComparison.Ordinal);
        Assert.Contains("LatentDiffusion", yaml, StringComparison.Ordinal);
        Assert.Contains("Wrote " + dir.File("tiny.yaml"), r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Convert_with_yaml_of_a_model_that_has_no_config_fails_before_writing_anything()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("ckpt", "textual_inversion.pt"), dir.File("ti.safetensors"), "--yaml");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--yaml", r.StdErr, StringComparison.Ordinal);
        Assert.Empty(dir.Files());
    }
}
