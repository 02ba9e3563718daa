using System.Text.Json;
using SafeCkpt.Building;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary>
/// <c>fit</c> on small real files: a model with a few layers of an SD 1.x UNet (narrowed to 32 channels to stay
/// small, cross attention still 768 wide) and one text-encoder layer, and LoRAs written as kohya writes them.
/// </summary>
public class FitCommandTests
{
    private const DType F = DType.Float16;
    private const string M = "model.diffusion_model.";
    private const string Block = "input_blocks.1.1.transformer_blocks.0.";

    private static string Model(TempDir dir)
    {
        string path = dir.File("model.safetensors");
        if (File.Exists(path))
        {
            return path;
        }

        var b = new CheckpointBuilder().WithMetadata("modelspec.architecture", "stable-diffusion-v1");
        foreach (string a in new[] { "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q" })
        {
            b.AddZeros(M + Block + a + ".weight", F, 32, 32);
        }

        b.AddZeros(M + Block + "attn2.to_k.weight", F, 32, 768).AddZeros(M + Block + "attn2.to_v.weight", F, 32, 768)
            .AddZeros(M + "input_blocks.1.0.in_layers.2.weight", F, 32, 32, 3, 3).AddZeros(M + "input_blocks.3.0.op.weight", F, 32, 32, 3, 3)
            .AddZeros(M + "middle_block.0.in_layers.0.weight", F, 128)
            .AddZeros("cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight", F, 768, 768)
            .SaveSafetensors(path);
        return path;
    }

    private static CheckpointBuilder Module(CheckpointBuilder b, string name, long o, long i)
    {
        b.AddZeros(name + ".lora_down.weight", F, 4, i).AddZeros(name + ".lora_up.weight", F, o, 4);
        return b.AddScalar(name + ".alpha", (Half)4);
    }

    private static CheckpointBuilder Sd1Lora() =>
        Module(Module(Module(Module(new CheckpointBuilder(),
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 32, 32),
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 32, 768),
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v", 32, 768),
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768, 768)
        .WithMetadata("ss_base_model_version", "sd_v1").WithMetadata("ss_sd_model_name", "v1-5-pruned-emaonly.safetensors");

    private static string LastLines(string text, int n) => string.Join("\n", text.TrimEnd().Split('\n').TakeLast(n));

    [Fact]
    public void A_lora_that_fits_says_so_per_part_and_exits_0()
    {
        using var dir = new TempDir();
        Sd1Lora().SaveSafetensors(dir.File("lora.safetensors"));
        var r = SafeCkptTool.Run("fit", dir.File("lora.safetensors"), Model(dir));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Kind:     LoRA (lora_down / lora_up), kohya names (lora_unet_..., lora_te...), 4 modules (UNet 3, text encoder 1)", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("Made for: Stable Diffusion 1.x by its weights; Stable Diffusion 1.x by its metadata (ss_base_model_version = sd_v1)", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("Is:       Stable Diffusion 1.x (sd1)", r.StdOut, StringComparison.Ordinal);
        Assert.EndsWith("Verdict: fits: 4 of 4 modules apply (UNet 3, text encoder 1)", r.StdOut.TrimEnd(), StringComparison.Ordinal);
        Assert.Empty(r.StdErr);
    }

    [Fact]
    public void An_sdxl_lora_on_an_sd1_model_does_not_fit_says_why_and_exits_1()
    {
        using var dir = new TempDir();
        var lora = new CheckpointBuilder().WithMetadata("ss_base_model_version", "sdxl_base_v1-0");
        Module(lora, "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", 640, 2048);
        Module(lora, "lora_te2_text_model_encoder_layers_0_self_attn_q_proj", 1280, 1280);
        lora.SaveSafetensors(dir.File("xl.safetensors"));
        var r = SafeCkptTool.Run("fit", dir.File("xl.safetensors"), Model(dir));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("Verdict: SDXL LoRA on an SD 1.x model: 0 of 2 modules apply; 2 have no weight to go to", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("  - The LoRA was made for SDXL: its weights show it and its metadata says so, ss_base_model_version = sdxl_base_v1-0. Use it with an SDXL model, or find a version of it made for SD 1.x.", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Modules_that_land_nowhere_are_listed_twenty_at_a_time_unless_all_is_asked()
    {
        using var dir = new TempDir();
        CheckpointBuilder lora = Sd1Lora();
        for (int n = 0; n < 25; n++)
        {
            Module(lora, $"lora_unet_down_blocks_0_attentions_0_transformer_blocks_{n + 1}_attn1_to_q", 32, 32);
        }

        lora.SaveSafetensors(dir.File("lora.safetensors"));
        var r = SafeCkptTool.Run("fit", dir.File("lora.safetensors"), Model(dir));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("No weight to go to (25; the first 20, --all lists every one):", r.StdOut, StringComparison.Ordinal);
        Assert.Equal(20, r.StdOut.Split('\n').Count(l => l.Contains("no weight of this model has this name", StringComparison.Ordinal)));
        Assert.Contains("Verdict: partly fits: 4 of 29 modules apply (UNet 3, text encoder 1); 25 have no weight to go to", r.StdOut, StringComparison.Ordinal);

        var all = SafeCkptTool.Run("fit", dir.File("lora.safetensors"), Model(dir), "--all");
        Assert.Contains("No weight to go to (25):", all.StdOut, StringComparison.Ordinal);
        Assert.Equal(25, all.StdOut.Split('\n').Count(l => l.Contains("no weight of this model has this name", StringComparison.Ordinal)));
    }

    [Fact]
    public void Json_has_the_verdict_the_counts_and_every_module_that_does_not_apply()
    {
        using var dir = new TempDir();
        CheckpointBuilder lora = Module(Sd1Lora(), "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k", 32, 64);
        lora.SaveSafetensors(dir.File("lora.safetensors"));
        var r = SafeCkptTool.Run("fit", dir.File("lora.safetensors"), Model(dir), "--json");
        Assert.Equal(1, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement root = doc.RootElement;
        Assert.Equal("partly-fits", root.GetProperty("verdict").GetString());
        Assert.Equal("partly fits: 4 of 5 modules apply (UNet 3, text encoder 1); 1 has the wrong shape", root.GetProperty("summary").GetString());
        Assert.Equal(("lora", "kohya", "sd1", "sd1"), (root.GetProperty("loraInfo").GetProperty("kind").GetString(), root.GetProperty("loraInfo").GetProperty("naming").GetString(),
            root.GetProperty("loraInfo").GetProperty("weightsBase").GetString(), root.GetProperty("loraInfo").GetProperty("claimedBase").GetString()));
        Assert.Equal("sd1", root.GetProperty("modelInfo").GetProperty("architecture").GetString());
        Assert.Equal((5, 4, 0), (root.GetProperty("modules").GetInt32(), root.GetProperty("applied").GetInt32(), root.GetProperty("notChecked").GetInt32()));
        JsonElement bad = Assert.Single(root.GetProperty("notApplied").EnumerateArray());
        Assert.Equal("wrong-shape", bad.GetProperty("status").GetString());
        Assert.Equal("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_k.weight", bad.GetProperty("target").GetString());
        Assert.Equal("LoRA 64 → 32 (linear) vs weight model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_k.weight [32, 32] (linear)", bad.GetProperty("why").GetString());
        Assert.Equal(2, root.GetProperty("parts").GetArrayLength());
    }

    [Fact]
    public void Swapped_arguments_are_an_input_error_that_says_so()
    {
        using var dir = new TempDir();
        Sd1Lora().SaveSafetensors(dir.File("lora.safetensors"));
        string model = Model(dir);
        var r = SafeCkptTool.Run("fit", model, dir.File("lora.safetensors"));
        Assert.Equal(2, r.ExitCode);
        Assert.Empty(r.StdOut);
        Assert.Contains($"{model}: is not a LoRA but a Stable Diffusion 1.x file; fit takes the LoRA first, then the model (are LORA and MODEL the other way round?)", r.StdErr, StringComparison.Ordinal);

        var json = SafeCkptTool.Run("fit", model, dir.File("lora.safetensors"), "-j");
        Assert.Equal("NotALora", JsonDocument.Parse(json.StdOut).RootElement.GetProperty("code").GetString());
    }

    [Fact]
    public void A_missing_argument_is_a_usage_error()
    {
        var r = SafeCkptTool.Run("fit", "lora.safetensors");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("fit needs MODEL", r.StdErr, StringComparison.Ordinal);
    }
}
