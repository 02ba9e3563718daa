using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Analysis;
using SafeCkpt.Building;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Analysis;

/// <summary>
/// <see cref="ModelFile.CheckLora"/>: the verdict, its line and advice on the real layouts of Fixtures/lora-fit
/// (SD 1.x, 2.x, SDXL, SSD-1B, the refiner, Flux; kohya, LyCORIS, diffusers and PEFT LoRAs), and on small hand-made
/// LoRAs for the cases the fixtures do not show (partial fits, shape mismatches, LyCORIS kinds, broken modules).
/// </summary>
public class LoraFitTests
{
    private const DType F = DType.Float16;

    /// <summary>A fixture as an in-memory file (zero tensors, no memory), with its metadata.</summary>
    private static ModelFile Fixture(string folder, string id)
    {
        using JsonDocument doc = LoraFitOracleTests.Read(Path.Combine(folder, id));
        var b = new CheckpointBuilder();
        foreach (TensorInfo t in LoraFitOracleTests.Tensors(folder, id))
        {
            b.AddZeros(t.Name, F, [.. t.Shape]);
        }

        if (doc.RootElement.TryGetProperty("metadata", out JsonElement meta))
        {
            foreach (JsonProperty p in meta.EnumerateObject())
            {
                b.WithMetadata(p.Name, p.Value.GetString()!);
            }
        }

        return b.Build(id);
    }

    private static LoraFitReport Check(string lora, string model) => Fixture("models", model).CheckLora(Fixture("loras", lora));

    [Fact]
    public void An_sd1_lora_fits_sd1_with_every_module_counted_per_part()
    {
        LoraFitReport r = Check("sd1-kohya", "sd1");
        Assert.Equal(LoraFitVerdict.Fits, r.Verdict);
        Assert.Equal("fits: 264 of 264 modules apply (UNet 192, text encoder 72)", r.Summary);
        Assert.Equal(("lora", "kohya", "sd1", "sd1"), (r.LoraKind, r.LoraNaming, r.WeightsBase, r.ClaimedBase));
        Assert.Equal("modelspec.architecture = stable-diffusion-v1/lora", r.ClaimedBy);
        Assert.Empty(r.Advice);
        Assert.Empty(r.NotApplied);
    }

    [Fact]
    public void An_sdxl_lora_on_sd1_does_not_fit_though_some_layers_share_names_and_shapes()
    {
        LoraFitReport r = Check("sdxl-kohya-unet", "sd1");
        Assert.Equal(LoraFitVerdict.DoesNotFit, r.Verdict);
        Assert.Equal("SDXL LoRA on an SD 1.x model: 50 of 722 modules apply; 626 have no weight to go to, 46 have the wrong shape", r.Summary);
        Assert.StartsWith("The LoRA was made for SDXL (it was trained on sd_xl_base_1.0.safetensors): its weights show it and its metadata says so", r.Advice[0], StringComparison.Ordinal);
        Assert.Contains("share only a name and a shape", r.Advice[0], StringComparison.Ordinal);
        Assert.Contains("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k: LoRA 2048 → 640 (linear) vs weight model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight [640, 768] (linear)", r.ShapeMismatches);
    }

    [Fact]
    public void A_flux_lora_on_sdxl_applies_nothing_of_its_transformer()
    {
        LoraFitReport r = Check("flux-kohya", "sdxl");
        Assert.Equal(LoraFitVerdict.DoesNotFit, r.Verdict);

        // Its CLIP-L modules land on SDXL's CLIP-L, as in ComfyUI; its 304 transformer modules nowhere.
        Assert.StartsWith("Flux LoRA on an SDXL model: 72 of 376 modules apply; 304 have no weight to go to", r.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void An_sd1_lora_on_sd2_misses_the_text_encoder_and_the_cross_attention_widths()
    {
        LoraFitReport r = Check("sd1-kohya", "sd2");
        Assert.Equal(LoraFitVerdict.DoesNotFit, r.Verdict);
        Assert.Equal("SD 1.x LoRA on an SD 2.x model: 160 of 264 modules apply; 104 have the wrong shape", r.Summary);
        Assert.Equal(72 + 32, r.ShapeMismatches.Count);
        Assert.Equal(72, r.ShapeMismatches.Count(m => m.StartsWith("lora_te_", StringComparison.Ordinal)));
        Assert.All(r.ShapeMismatches.Where(m => m.StartsWith("lora_unet_", StringComparison.Ordinal)), m => Assert.Matches(@"attn2_to_[kv]: LoRA 768 → \d+ \(linear\) vs weight .* \[\d+, 1024\] \(linear\)$", m));

        // SD 1.x's proj_in is a 1x1 conv and SD 2.x's a linear layer of the same size: ComfyUI reshapes, so it applies.
        Assert.DoesNotContain(r.ShapeMismatches, m => m.Contains("proj_in", StringComparison.Ordinal));
    }

    [Fact]
    public void An_sdxl_lora_partly_fits_a_distilled_sdxl()
    {
        LoraFitReport r = Check("sdxl-kohya", "ssd-1b");
        Assert.Equal(LoraFitVerdict.PartlyFits, r.Verdict);
        Assert.Equal("partly fits: 624 of 986 modules apply (UNet 360, text encoder 264); 362 have no weight to go to", r.Summary);
        Assert.Contains(r.Advice, a => a.StartsWith("ComfyUI skips the 362 modules with no weight to go to", StringComparison.Ordinal));
        Assert.Contains("lora_unet_input_blocks_8_1_transformer_blocks_9_attn1_to_q", r.NotApplied);
    }

    [Fact]
    public void An_sdxl_base_lora_does_not_fit_the_refiner_and_says_what_it_was_made_for()
    {
        LoraFitReport r = Check("sdxl-kohya", "sdxl-refiner");
        Assert.Equal(LoraFitVerdict.DoesNotFit, r.Verdict);
        Assert.StartsWith("does not fit: 0 of 986 modules apply", r.Summary, StringComparison.Ordinal);
        Assert.Equal("Nothing of it applies to this Stable Diffusion XL refiner model: the LoRA was made for Stable Diffusion XL base (it was trained on sd_xl_base_1.0.safetensors); use it with that model.", r.Advice[0]);
    }

    [Fact]
    public void A_flux_lora_fits_a_bare_flux_model_and_leaves_its_clip_modules_unchecked()
    {
        LoraFitReport r = Check("flux-kohya", "flux-dev");
        Assert.Equal(LoraFitVerdict.Fits, r.Verdict);
        Assert.Equal("fits: 304 of 304 modules apply (diffusion model 304); 72 text encoder modules not checked (the model file has no text encoder)", r.Summary);
        Assert.Equal(72, r.NotChecked);
        Assert.Contains(r.Advice, a => a.StartsWith("The model file has no text encoder", StringComparison.Ordinal));

        // With the text encoders in the file they are checked, and fit.
        Assert.Equal("fits: 376 of 376 modules apply (diffusion model 304, text encoder 72)", Check("flux-kohya", "flux-dev-ckpt").Summary);
    }

    [Fact]
    public void A_diffusers_flux_lora_lands_on_rows_of_the_fused_weights()
    {
        ModelFile model = Fixture("models", "flux-dev");
        LoraFit.LoraMatch m = LoraFit.Match(Fixture("loras", "flux-peft").Tensors.Tensors, model.Tensors.Tensors);
        Assert.All(m.Modules, x => Assert.Equal(LoraModuleStatus.Applies, x.Status));
        string Target(string module) => m.Modules.Single(x => x.Module == module).Target!;
        Assert.Equal("double_blocks.0.img_attn.qkv.weight[rows 3072:6144]", Target("transformer.transformer_blocks.0.attn.to_k"));
        Assert.Equal("double_blocks.3.txt_attn.qkv.weight[rows 6144:9216]", Target("transformer.transformer_blocks.3.attn.add_v_proj"));
        Assert.Equal("single_blocks.5.linear1.weight[rows 9216:21504]", Target("transformer.single_transformer_blocks.5.proj_mlp"));
        Assert.Equal("single_blocks.5.linear2.weight", Target("transformer.single_transformer_blocks.5.proj_out"));
        Assert.Equal(("peft", "diffusers"), (model.CheckLora(Fixture("loras", "flux-peft")).LoraKind, model.CheckLora(Fixture("loras", "flux-peft")).LoraNaming));
    }

    [Fact]
    public void Diffusers_unet_names_comfyui_does_not_read_are_told_apart_with_what_to_do()
    {
        LoraFitReport r = Check("sdxl-diffusers", "sdxl");
        Assert.Equal(LoraFitVerdict.PartlyFits, r.Verdict);
        Assert.Equal("partly fits: 176 of 736 modules apply (text encoder 176); 560 have no weight to go to", r.Summary);
        Assert.All(r.Details.Where(d => d.Part == LoraPart.DiffusionModel), d => Assert.Equal(LoraFit.DiffusersNameReason, d.Detail));
        Assert.Contains(r.Advice, a => a.Contains("convert_diffusers_sdxl_lora_to_webui.py", StringComparison.Ordinal));

        // The same layers named as diffusers' old attention processors load.
        Assert.Equal(LoraFitVerdict.Fits, Check("sdxl-attn-processor", "sdxl").Verdict);
    }

    [Fact]
    public void A_name_ComfyUI_knows_for_a_layer_the_model_lacks_is_not_loaded_there_either()
    {
        // SSD-1B's middle block has no attention, but ComfyUI's diffusers table names one (and loads, then drops, its keys).
        LoraFitReport r = Check("sd1-locon", "ssd-1b");
        LoraModuleFit mid = r.Details.Single(d => d.Module == "lora_unet_mid_block_attentions_0_proj_in");
        Assert.Equal(LoraModuleStatus.TargetMissing, mid.Status);
        Assert.Equal("ComfyUI knows the name, but this model has no diffusion_model.middle_block.1.proj_in.weight (\"NOT LOADED\")", mid.Detail);
        Assert.Contains("lora_unet_mid_block_attentions_0_proj_in", r.NotApplied);
    }

    [Fact]
    public void A_diffusers_layout_model_is_said_to_be_checked_without_ComfyUI_s_conversion()
    {
        ModelFile model = global::SafeCkpt.Tests.Models.Layouts.For("diffusers-layout").Build("unet.safetensors");
        LoraFitReport r = model.CheckLora(Sd1Lora().Build("l"));
        Assert.Equal("diffusers-layout", r.ModelArchitecture);
        Assert.Contains(r.Advice, a => a.StartsWith("The model is in diffusers layout", StringComparison.Ordinal));
    }

    [Fact]
    public void On_an_architecture_with_only_generic_names_the_report_says_so()
    {
        ModelFile model = global::SafeCkpt.Tests.Models.Layouts.For("sd3").Build("sd3.safetensors");
        var lora = new CheckpointBuilder();
        Lora(lora, "lora_unet_joint_blocks_0_x_block_attn_qkv", 4608, 1536); // kohya's name: the generic rule
        Lora(lora, "transformer.transformer_blocks.0.attn.to_q", 1536, 1536); // diffusers' name: ComfyUI's SD3 table, not SafeCkpt's
        LoraFitReport r = model.CheckLora(lora.Build("l"));
        Assert.Equal(1, r.Applied);
        Assert.Contains(r.Advice, a => a.StartsWith("For Stable Diffusion 3 medium SafeCkpt knows only ComfyUI's generic names", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("sd1-locon", "sd1", "locon", "fits: 350 of 350 modules apply (UNet 278, text encoder 72)")]
    [InlineData("sd1-loha", "sd1", "loha", "fits: 350 of 350 modules apply (UNet 278, text encoder 72)")]
    [InlineData("sdxl-lokr", "sdxl", "lokr", "fits: 560 of 560 modules apply (UNet 560)")]
    [InlineData("sdxl-locon", "sdxl", "locon", "fits: 788 of 788 modules apply (UNet 788)")]
    public void LyCORIS_networks_fit_their_base(string lora, string model, string kind, string summary)
    {
        LoraFitReport r = Check(lora, model);
        Assert.Equal((LoraFitVerdict.Fits, kind, summary), (r.Verdict, r.LoraKind, r.Summary));
    }

    [Fact]
    public void A_lokr_shows_its_base_by_the_kronecker_widths()
    {
        LoraFitReport r = Check("sdxl-lokr", "sd1");
        Assert.Equal("sdxl", r.WeightsBase);
        Assert.Equal(LoraFitVerdict.DoesNotFit, r.Verdict);
    }

    // ------------------------------------------------------------------ small hand-made models and LoRAs

    private const string M = "model.diffusion_model.";
    private const string Block = "input_blocks.1.1.transformer_blocks.0.";

    /// <summary>
    /// An SD 1.x UNet's first transformer block and resnet conv, its first downsampler and middle block (which tell the
    /// block numbering), two text-encoder layers: a UNet by ComfyUI's rule (more than 5 model.diffusion_model. keys).
    /// </summary>
    private static CheckpointBuilder Sd1Part(long context = 768, long te = 768)
    {
        var b = new CheckpointBuilder();
        b.AddZeros(M + "input_blocks.1.1.proj_in.weight", F, 320, 320, 1, 1).AddZeros(M + "input_blocks.1.1.proj_out.weight", F, 320, 320, 1, 1);
        foreach (string a in new[] { "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q" })
        {
            b.AddZeros(M + Block + a + ".weight", F, 320, 320);
        }

        b.AddZeros(M + Block + "attn2.to_k.weight", F, 320, context).AddZeros(M + Block + "attn2.to_v.weight", F, 320, context)
            .AddZeros(M + Block + "ff.net.0.proj.weight", F, 2560, 320).AddZeros(M + "input_blocks.1.0.in_layers.2.weight", F, 320, 320, 3, 3)
            .AddZeros(M + "input_blocks.3.0.op.weight", F, 320, 320, 3, 3).AddZeros(M + "middle_block.0.in_layers.0.weight", F, 1280); // the UNet's block numbering
        for (int l = 0; l < 2; l++)
        {
            b.AddZeros($"cond_stage_model.transformer.text_model.encoder.layers.{l}.self_attn.q_proj.weight", F, te, te);
        }

        return b;
    }

    private static CheckpointBuilder Lora(CheckpointBuilder b, string module, long o, long i, int rank = 4, long k = 1)
    {
        b.AddZeros(module + ".lora_down.weight", F, k > 1 ? [rank, i, k, k] : [rank, i]).AddZeros(module + ".lora_up.weight", F, k > 1 ? [o, rank, 1, 1] : [o, rank]);
        return b.AddScalar(module + ".alpha", (Half)rank);
    }

    private static CheckpointBuilder Sd1Lora()
    {
        var b = new CheckpointBuilder();
        Lora(b, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320, 320);
        Lora(b, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 320, 768);
        Lora(b, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_0_proj", 2560, 320);
        Lora(b, "lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768, 768);
        return b;
    }

    [Fact]
    public void Modules_for_layers_the_model_lacks_make_a_partial_fit_and_are_listed()
    {
        CheckpointBuilder lora = Sd1Lora();
        Lora(lora, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_q", 320, 320);
        Lora(lora, "lora_unet_down_blocks_0_attentions_5_transformer_blocks_0_attn1_to_q", 320, 320); // no such block
        Lora(lora, "lora_te_text_model_encoder_layers_7_self_attn_q_proj", 768, 768); // this model has two layers
        LoraFitReport r = Sd1Part().Build("m").CheckLora(lora.Build("l"));
        Assert.Equal(LoraFitVerdict.PartlyFits, r.Verdict);
        Assert.Equal("partly fits: 5 of 7 modules apply (UNet 4, text encoder 1); 2 have no weight to go to", r.Summary);
        Assert.Equal(["lora_unet_down_blocks_0_attentions_5_transformer_blocks_0_attn1_to_q", "lora_te_text_model_encoder_layers_7_self_attn_q_proj"], r.NotApplied);
        LoraModuleFit missing = r.Details.Single(d => d.Module.Contains("attentions_5", StringComparison.Ordinal));
        Assert.Equal((LoraModuleStatus.NoTarget, "no weight of this model has this name"), (missing.Status, missing.Detail));
        Assert.Equal(3, missing.NotLoaded.Count); // down, up and alpha: "lora key not loaded"
    }

    [Fact]
    public void A_change_of_another_width_is_a_shape_mismatch_with_both_shapes()
    {
        var lora = new CheckpointBuilder();
        Lora(lora, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 320, 1024);
        Lora(lora, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320, 320);
        LoraFitReport r = Sd1Part().Build("m").CheckLora(lora.Build("l"));
        Assert.Equal(LoraFitVerdict.PartlyFits, r.Verdict);
        Assert.Equal(["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k: LoRA 1024 → 320 (linear) vs weight model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight [320, 768] (linear)"], r.ShapeMismatches);
        Assert.Contains(r.Advice, a => a.StartsWith("ComfyUI logs an ERROR for each of the 1 modules", StringComparison.Ordinal));
    }

    [Fact]
    public void A_3x3_conv_change_on_a_linear_layer_does_not_fit_but_a_1x1_conv_does()
    {
        var lora = new CheckpointBuilder();
        Lora(lora, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320, 320, k: 3);
        Lora(lora, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k", 320, 320, k: 1);
        Lora(lora, "lora_unet_down_blocks_0_resnets_0_conv1", 320, 320, k: 3);
        LoraFitReport r = Sd1Part().Build("m").CheckLora(lora.Build("l"));
        Assert.Equal("locon", r.LoraKind);
        Assert.Equal(["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q: LoRA 320 → 320 (3×3 conv) vs weight model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight [320, 320] (linear)"], r.ShapeMismatches);
        Assert.Equal(2, r.Applied); // the resnet's 3x3 conv1 and the 1x1 change on a linear layer of the same size
    }

    [Fact]
    public void LoHa_and_LoKr_changes_are_sized_as_ComfyUI_builds_them()
    {
        var lora = new CheckpointBuilder()
            .AddZeros("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.hada_w1_a", F, 320, 4).AddZeros("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.hada_w1_b", F, 4, 768)
            .AddZeros("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.hada_w2_a", F, 320, 4).AddZeros("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.hada_w2_b", F, 4, 768)
            .AddZeros("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v.lokr_w1", F, 16, 24).AddZeros("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v.lokr_w2", F, 20, 32)
            .AddZeros("lora_unet_down_blocks_0_resnets_0_conv1.lokr_w1", F, 16, 16).AddZeros("lora_unet_down_blocks_0_resnets_0_conv1.lokr_w2_a", F, 20, 4)
            .AddZeros("lora_unet_down_blocks_0_resnets_0_conv1.lokr_w2_b", F, 4, 180);
        Assert.Equal(LoraFitVerdict.Fits, Sd1Part().Build("m").CheckLora(lora.Build("l")).Verdict);

        // The same network on a model whose cross attention reads 1024 wide text (SD 2.x): the two attn2 changes do not fit.
        LoraFitReport r = Sd1Part(context: 1024).Build("m").CheckLora(lora.Build("l"));
        Assert.Equal(2, r.ShapeMismatches.Count);
        Assert.Contains(r.ShapeMismatches, s => s.EndsWith("to_v: LoRA 768 → 320 (linear) vs weight model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_v.weight [320, 1024] (linear)", StringComparison.Ordinal));
    }

    [Fact]
    public void A_down_without_its_up_loads_nothing_and_stray_keys_are_reported()
    {
        CheckpointBuilder lora = Sd1Lora()
            .AddZeros("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v.lora_down.weight", F, 4, 320)
            .AddZeros("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v.scale", F, 1);
        LoraFitReport r = Sd1Part().Build("m").CheckLora(lora.Build("l"));
        LoraModuleFit v = r.Details.Single(d => d.Module.EndsWith("attn1_to_v", StringComparison.Ordinal));
        Assert.Equal(LoraModuleStatus.Incomplete, v.Status);
        Assert.Equal(["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v.lora_down.weight"], v.NotLoaded);
        Assert.Contains(r.Advice, a => a.StartsWith("1 keys are no LoRA weight ComfyUI reads (e.g. lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v.scale)", StringComparison.Ordinal));
    }

    [Fact]
    public void Metadata_that_claims_another_base_than_the_weights_is_pointed_out()
    {
        LoraFitReport r = Sd1Part().Build("m").CheckLora(Sd1Lora().WithMetadata("ss_base_model_version", "sdxl_base_v1-0").Build("l"));
        Assert.Equal(("sd1", "sdxl", "ss_base_model_version = sdxl_base_v1-0"), (r.WeightsBase, r.ClaimedBase, r.ClaimedBy));
        Assert.Equal(LoraFitVerdict.Fits, r.Verdict);
        Assert.Contains("Its metadata says SDXL (ss_base_model_version = sdxl_base_v1-0) but its weights are SD 1.x's; the weights decide what loads.", r.Advice);
    }

    [Fact]
    public void A_file_that_is_no_lora_is_refused_and_so_is_a_lora_given_as_the_model()
    {
        ModelFile model = Sd1Part().Build("model.safetensors");
        ConversionException e = Assert.Throws<ConversionException>(() => model.CheckLora(Sd1Part().Build("other.safetensors")));
        Assert.Equal(SafeCkptErrorCode.NotALora, e.Code);
        Assert.StartsWith("other.safetensors: is not a LoRA but ", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ConversionException>(() => Sd1Lora().Build("a.safetensors").CheckLora(Sd1Lora().Build("b.safetensors")));
        Assert.Equal("a.safetensors: is a LoRA too, not a model to apply one to; fit takes the LoRA first, then the model (a checkpoint or diffusion model).", e.Message);
    }

    // ------------------------------------------------------------------ properties

    private static readonly Lazy<List<TensorInfo>> Sdxl = new(() => LoraFitOracleTests.Tensors("models", "sdxl"));

    /// <summary>The SDXL checkpoint's matrices and convs, and the name kohya gives each (LDM names for the UNet, HF CLIP names, q/k/v split, for bigG).</summary>
    private static readonly Lazy<(string Module, long[] Shape)[]> SdxlTargets = new(() =>
    {
        var all = new List<(string, long[])>();
        foreach (TensorInfo t in Sdxl.Value.Where(t => t.Shape.Count is 2 or 4 && t.Name.EndsWith(".weight", StringComparison.Ordinal)))
        {
            if (t.Name.StartsWith(M, StringComparison.Ordinal))
            {
                all.Add(("lora_unet_" + t.Name[M.Length..^".weight".Length].Replace('.', '_'), [.. t.Shape]));
            }
            else if (t.Name.StartsWith("conditioner.embedders.0.transformer.text_model.encoder.", StringComparison.Ordinal))
            {
                all.Add(("lora_te1_" + t.Name["conditioner.embedders.0.transformer.".Length..^".weight".Length].Replace('.', '_'), [.. t.Shape]));
            }
        }

        foreach (TensorInfo t in Sdxl.Value.Where(t => t.Name.EndsWith(".attn.in_proj_weight", StringComparison.Ordinal)))
        {
            string layer = t.Name.Split('.')[6]; // conditioner.embedders.1.model.transformer.resblocks.N
            foreach (string x in new[] { "q", "k", "v" })
            {
                all.Add(($"lora_te2_text_model_encoder_layers_{layer}_self_attn_{x}_proj", [t.Shape[0] / 3, t.Shape[1]]));
            }
        }

        return all.ToArray();
    });

    [Property(MaxTest = 60)]
    public Property A_lora_made_from_any_subset_of_the_model_s_weights_fully_applies() =>
        Prop.ForAll(Gen.SubListOf(Enumerable.Range(0, SdxlTargets.Value.Length).ToArray()).Where(s => s.Count > 0).ToArbitrary(), picks =>
        {
            var lora = new List<TensorInfo>();
            foreach (int i in picks)
            {
                (string module, long[] s) = SdxlTargets.Value[i];
                long[] kernel = s.Length == 4 ? [s[2], s[3]] : [];
                lora.Add(new TensorInfo(module + ".lora_down.weight", F, [4, s[1], .. kernel]));
                lora.Add(new TensorInfo(module + ".lora_up.weight", F, s.Length == 4 ? [s[0], 4, 1, 1] : [s[0], 4]));
                lora.Add(new TensorInfo(module + ".alpha", F, []));
            }

            LoraFit.LoraMatch m = LoraFit.Match(lora, Sdxl.Value);
            return m.Modules.Count == picks.Count && m.Modules.All(x => x.Status == LoraModuleStatus.Applies && x.NotLoaded.Count == 0) && m.Unknown.Count == 0;
        });

    [Property(MaxTest = 60)]
    public Property A_module_renamed_off_the_model_never_applies_and_the_rest_still_do() =>
        Prop.ForAll(Gen.SubListOf(Enumerable.Range(0, SdxlTargets.Value.Length).ToArray()).Where(s => s.Count > 1).ToArbitrary(), picks =>
        {
            var lora = new List<TensorInfo>();
            for (int n = 0; n < picks.Count; n++)
            {
                (string module, long[] s) = SdxlTargets.Value[picks[n]];
                string name = n == 0 ? module + "_x" : module;
                lora.Add(new TensorInfo(name + ".lora_down.weight", F, [4, s[1], .. s.Skip(2)]));
                lora.Add(new TensorInfo(name + ".lora_up.weight", F, s.Length == 4 ? [s[0], 4, 1, 1] : [s[0], 4]));
            }

            LoraFit.LoraMatch m = LoraFit.Match(lora, Sdxl.Value);
            return m.Modules[0].Status == LoraModuleStatus.NoTarget && m.Modules.Skip(1).All(x => x.Status == LoraModuleStatus.Applies);
        });
}
