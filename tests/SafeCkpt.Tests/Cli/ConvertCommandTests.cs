using System.Text.Json;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.IO;
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
        Assert.Contains("omit --ema-only", r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("SelectEma", r.StdErr, StringComparison.Ordinal);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void An_existing_output_exits_4_and_is_left_untouched()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("o.safetensors"), "mine");
        var r = SafeCkptTool.Run("convert", Tiny, dir.File("o.safetensors"));
        Assert.Equal(4, r.ExitCode);
        Assert.Contains("--overwrite", r.StdErr, StringComparison.Ordinal);
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
    [InlineData("--dtype", "fp4")]
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
    public void Dash_o_names_the_output_of_a_single_file()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Tiny, "-o", dir.File("o.safetensors"), "--dtype", "fp16");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Wrote " + dir.File("o.safetensors"), r.StdOut, StringComparison.Ordinal);
        using ModelFile m = ModelFile.Open(dir.File("o.safetensors"));
        Assert.Equal(DType.Float16, m.Tensors["model.diffusion_model.out.2.weight"].DType);
    }

    [Fact]
    public void Quiet_prints_only_the_summary_line_and_no_progress()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Tiny, "-o", dir.File("o.safetensors"), "--prune", "-q");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("Wrote ", Assert.Single(r.StdOut.TrimEnd().Split('\n')), StringComparison.Ordinal);
        Assert.Empty(r.StdErr);
    }

    [Theory]
    [InlineData("--drop vae --vae VAE", "--drop vae and --vae FILE contradict each other")]
    [InlineData("--drop unet --ema-only", "--drop unet and --ema-only contradict each other")]
    [InlineData("--drop te --fix-clip", "--drop te and --fix-clip contradict each other")]
    [InlineData("--dtype fp16 --drop vae --keep-fp32 vae", "--drop vae and --keep-fp32 vae contradict each other")]
    [InlineData("--ema-only --no-ema", "--ema-only and --no-ema exclude each other")]
    [InlineData("--keep-fp32 vae", "--keep-fp32 goes with --dtype")]
    [InlineData("-o OTHER", "give the output once: convert IN OUT, or convert IN -o OUT")]
    [InlineData("--format ckpt", "--format applies to a folder")]
    [InlineData("--drop lora", "--drop takes vae, te or unet, not 'lora'")]
    public void Contradictory_options_are_usage_errors_that_write_nothing(string options, string message)
    {
        using var dir = new TempDir();
        string[] extra = options.Replace("VAE", Fixtures.Path_("safetensors", "sd_tiny.safetensors"), StringComparison.Ordinal).Replace("OTHER", dir.File("other.safetensors"), StringComparison.Ordinal).Split(' ');
        var r = SafeCkptTool.Run(["convert", Tiny, dir.File("o.safetensors"), .. extra]);
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("safeckpt: " + message, r.StdErr, StringComparison.Ordinal);
        Assert.EndsWith("see 'safeckpt convert --help'", r.StdErr.TrimEnd(), StringComparison.Ordinal);
        Assert.Empty(dir.Files());
    }

    [Theory]
    [InlineData("--dry-run")]
    [InlineData("--json")]
    [InlineData("--yaml")]
    public void One_file_options_on_a_folder_are_usage_errors(string option)
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("ckpt"), "-o", dir.File("out"), option);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{option} applies to one file", r.StdErr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void An_output_extension_that_names_no_format_exits_1()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Tiny, dir.File("o.xyz"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(".safetensors", r.StdErr, StringComparison.Ordinal);
    }
}

/// <summary>The output is never one of the inputs, however it is reached; each refusal comes before anything is written.</summary>
public class ConvertOutputSafetyTests
{
    private static string Copy(TempDir dir, string name)
    {
        File.Copy(Fixtures.Path_("safetensors", "sd_tiny.safetensors"), dir.File(name));
        return dir.File(name);
    }

    private static void AssertRefused(SafeCkptTool.Result r, string input, string output, byte[] before)
    {
        Assert.Equal(4, r.ExitCode);
        Assert.Contains(output, r.StdErr, StringComparison.Ordinal);
        Assert.Contains(input, r.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(input));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_input_reached_through_a_symlinked_folder_is_refused(bool overwrite)
    {
        using var dir = new TempDir();
        string input = Copy(dir, "model.safetensors");
        byte[] before = File.ReadAllBytes(input);
        Directory.CreateSymbolicLink(dir.File("linked"), dir.Path);
        string output = Path.Combine(dir.Path, "linked", "model.safetensors");
        var r = SafeCkptTool.Run(["convert", input, output, "--dtype", "fp16", .. overwrite ? ["--overwrite"] : Array.Empty<string>()]);
        AssertRefused(r, input, output, before);
        Assert.Equal(["model.safetensors"], dir.Files());
    }

    [Fact]
    public void A_hard_link_to_the_input_at_the_output_path_is_refused()
    {
        using var dir = new TempDir();
        string input = Copy(dir, "model.safetensors");
        byte[] before = File.ReadAllBytes(input);
        string output = dir.File("out.safetensors");
        FileIdentityTests.HardLink(input, output);
        AssertRefused(SafeCkptTool.Run("convert", input, output, "--dtype", "fp16", "--overwrite"), input, output, before);
        Assert.Equal(before, File.ReadAllBytes(output));
        Assert.Equal(["model.safetensors", "out.safetensors"], dir.Files().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_symlink_to_the_input_planted_at_the_output_path_is_refused()
    {
        using var dir = new TempDir();
        string input = Copy(dir, "model.safetensors");
        byte[] before = File.ReadAllBytes(input);
        string output = dir.File("out.ckpt");
        File.CreateSymbolicLink(output, input);
        AssertRefused(SafeCkptTool.Run("convert", input, output, "--overwrite"), input, output, before);
        Assert.NotNull(new FileInfo(output).LinkTarget);
        Assert.Equal(["model.safetensors", "out.ckpt"], dir.Files().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_vae_file_is_an_input_too()
    {
        using var dir = new TempDir();
        string model = TinySd.Save(dir);
        string vae = dir.File("vae.safetensors");
        new SafeCkpt.Building.CheckpointBuilder().Add("decoder.conv_in.weight", new[] { 7f, 8f }, 2).Add("encoder.conv_in.weight", new[] { 5f, 6f }, 2).SaveSafetensors(vae);
        byte[] before = File.ReadAllBytes(vae);
        Directory.CreateSymbolicLink(dir.File("linked"), dir.Path);
        string output = Path.Combine(dir.Path, "linked", "vae.safetensors");
        AssertRefused(SafeCkptTool.Run("convert", model, output, "--vae", vae, "--overwrite"), vae, output, before);
        Assert.Equal(["tiny.safetensors", "vae.safetensors"], dir.Files().Order(StringComparer.Ordinal));
    }
}

public class ConvertYamlTests
{
    [Fact]
    public void The_yaml_beside_the_output_may_not_be_the_input_and_nothing_is_written()
    {
        using var dir = new TempDir();
        string input = dir.File("model.yaml");
        File.Copy(Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), input);
        byte[] before = File.ReadAllBytes(input);
        var r = SafeCkptTool.Run("convert", input, dir.File("model.safetensors"), "--yaml", "--overwrite");
        Assert.Equal(4, r.ExitCode);
        Assert.Contains("same file as the input", r.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(input));
        Assert.Equal(["model.yaml"], dir.Files());
    }

    [Fact]
    public void An_existing_yaml_without_overwrite_fails_before_the_model_is_written()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tiny.yaml"), "mine");
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), dir.File("tiny.safetensors"), "--yaml");
        Assert.Equal(4, r.ExitCode);
        Assert.Contains(dir.File("tiny.yaml"), r.StdErr, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(dir.File("tiny.yaml")));
        Assert.Equal(["tiny.yaml"], dir.Files());
    }

    [Fact]
    public void Overwrite_replaces_both_the_model_and_the_yaml_and_leaves_no_temporary_file()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tiny.yaml"), "old");
        File.WriteAllText(dir.File("tiny.safetensors"), "old");
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), dir.File("tiny.safetensors"), "--yaml", "--overwrite");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("# Config for sd1", File.ReadAllText(dir.File("tiny.yaml")), StringComparison.Ordinal);
        using (ModelFile m = ModelFile.Open(dir.File("tiny.safetensors")))
        {
            Assert.NotEmpty(m.Tensors.Tensors);
        }

        Assert.Equal(["tiny.safetensors", "tiny.yaml"], dir.Files().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_yaml_that_is_a_link_to_the_model_output_is_refused()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tiny.safetensors"), "old");
        File.CreateSymbolicLink(dir.File("tiny.yaml"), dir.File("tiny.safetensors"));
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), dir.File("tiny.safetensors"), "--yaml", "--overwrite");
        Assert.Equal(4, r.ExitCode);
        Assert.Contains("same file as the model output", r.StdErr, StringComparison.Ordinal);
        Assert.Equal("old", File.ReadAllText(dir.File("tiny.safetensors")));
    }

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
