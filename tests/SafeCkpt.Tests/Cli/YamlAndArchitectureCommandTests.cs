using System.Text.Json;
using SafeCkpt.Building;
using SafeCkpt.Tests.Models;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

public class YamlAndArchitectureCommandTests
{
    [Fact]
    public void Inspect_starts_with_a_summary_of_what_the_model_is_and_what_convert_would_save()
    {
        var r = SafeCkptTool.Run("inspect", Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"));
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("Model:    Stable Diffusion 1.x [sd1]", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("EMA:      both sets", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("Text encoders: clip-l", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("Convert:  convert --dtype fp16 --no-ema would write ~", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("Format:   pytorch-zip", r.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("lora", "lora")]
    [InlineData("vae", "vae")]
    [InlineData("te", "text-encoder")]
    public void Inspect_json_carries_the_architecture_id_for_loras_vaes_and_text_encoders(string kind, string id)
    {
        using var dir = new TempDir();
        string path = dir.File(kind + ".safetensors");
        (kind switch
        {
            "lora" => Layouts.Lora(),
            "vae" => Layouts.Vae(new CheckpointBuilder(), string.Empty, 4),
            _ => Layouts.ClipL(new CheckpointBuilder(), "cond_stage_model.transformer.text_model.", 8),
        }).SaveSafetensors(path);
        var r = SafeCkptTool.Run("inspect", path, "--json");
        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        Assert.Equal(id, doc.RootElement.GetProperty("architecture").GetProperty("id").GetString());
        Assert.Equal("safetensors", doc.RootElement.GetProperty("format").GetString());
        Assert.True(doc.RootElement.GetProperty("tensors").GetArrayLength() > 0);
    }

    [Fact]
    public void Inspect_json_reports_ema_vae_position_ids_and_the_estimate_for_a_training_checkpoint()
    {
        var r = SafeCkptTool.Run("inspect", Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), "--json");
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement root = doc.RootElement;
        Assert.Equal("sd1", root.GetProperty("architecture").GetProperty("id").GetString());
        Assert.Equal("both", root.GetProperty("ema").GetString());
        Assert.True(root.GetProperty("vae").GetBoolean());
        Assert.False(root.GetProperty("positionIds")[0].GetProperty("broken").GetBoolean());
        Assert.Equal("convert --dtype fp16 --no-ema", root.GetProperty("convertEstimate").GetProperty("command").GetString());
        Assert.True(root.GetProperty("checkpoint").GetProperty("values").ValueKind == JsonValueKind.Object);
    }

    [Fact]
    public void Yaml_writes_model_yaml_beside_the_model_and_refuses_to_overwrite_without_the_flag()
    {
        using var dir = new TempDir();
        string model = dir.File("tiny.safetensors");
        File.Copy(Fixtures.Path_("safetensors", "sd_tiny.safetensors"), model);
        var first = SafeCkptTool.Run("yaml", model);
        Assert.Equal(0, first.ExitCode);
        Assert.Contains("for sd1", first.StdOut, StringComparison.Ordinal);
        Assert.StartsWith("# Config for sd1", File.ReadAllText(dir.File("tiny.yaml")), StringComparison.Ordinal);
        Assert.Equal(4, SafeCkptTool.Run("yaml", model).ExitCode);
        Assert.Equal(0, SafeCkptTool.Run("yaml", model, "--overwrite").ExitCode);
        Assert.Equal(0, SafeCkptTool.Run("yaml", model, "--out", dir.File("other.yaml")).ExitCode);
        Assert.True(File.Exists(dir.File("other.yaml")));
    }

    [Fact]
    public void Yaml_out_never_replaces_the_model_reached_through_a_symlinked_folder()
    {
        using var dir = new TempDir();
        string model = dir.File("tiny.safetensors");
        File.Copy(Fixtures.Path_("safetensors", "sd_tiny.safetensors"), model);
        byte[] before = File.ReadAllBytes(model);
        Directory.CreateSymbolicLink(dir.File("linked"), dir.Path);
        string output = Path.Combine(dir.Path, "linked", "tiny.safetensors");
        var r = SafeCkptTool.Run("yaml", model, "--out", output, "--overwrite");
        Assert.Equal(4, r.ExitCode);
        Assert.Contains(output, r.StdErr, StringComparison.Ordinal);
        Assert.Contains(model, r.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(model));
        Assert.Equal(["tiny.safetensors"], dir.Files());
    }

    [Fact]
    public void Yaml_refuses_a_lora_with_one_readable_line()
    {
        using var dir = new TempDir();
        string path = dir.File("lora.safetensors");
        Layouts.Lora().SaveSafetensors(path);
        var r = SafeCkptTool.Run("yaml", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("No config yaml for 'lora'", r.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("lora.yaml")));
    }
}

public class YamlJsonTests
{
    [Fact]
    public void Yaml_json_names_the_written_file_and_the_architecture()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("yaml", Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), "--out", dir.File("m.yaml"), "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = System.Text.Json.JsonDocument.Parse(r.StdOut);
        Assert.Equal(dir.File("m.yaml"), doc.RootElement.GetProperty("yaml").GetString());
        Assert.Equal("sd1", doc.RootElement.GetProperty("architecture").GetProperty("id").GetString());
        Assert.True(File.Exists(dir.File("m.yaml")));
    }
}
