using SafeCkpt.Building;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Models;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;
using SafeCkpt.Transforms;

namespace SafeCkpt.Tests.Transforms;

public class PipelineTests
{
    private static PlannedTensor Get(ConversionPlan plan, string name) => plan.Tensors.Single(t => t.Name == name);

    [Fact]
    public void Transforms_queue_in_order_and_leave_the_original_pipeline_unchanged()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        ModelPipeline a = m.SelectEma(false);
        ModelPipeline b = a.ToHalf(ModelComponent.UNet).Prune();
        Assert.Single(a.Transforms);
        Assert.Collection(b.Transforms,
            t => Assert.False(Assert.IsType<EmaSelection>(t).UseEma),
            t => Assert.Equal([ModelComponent.UNet], Assert.IsType<CastTransform>(t).Components),
            t => Assert.IsType<PruneTransform>(t));
    }

    [Fact]
    public void ToHalf_casts_every_floating_tensor_including_empty_markers_as_torch_does()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        ConversionPlan plan = m.ToHalf().Plan();
        Assert.Equal(DType.Float16, Get(plan, "model.diffusion_model.out.2.bias").DType);
        Assert.Equal(DType.Float16, Get(plan, "alphas_cumprod").DType);
        Assert.Equal(DType.Int64, Get(plan, "cond_stage_model.transformer.text_model.embeddings.position_ids").DType);
        Assert.Equal(DType.Int32, Get(plan, "model_ema.num_updates").DType);
        Assert.Equal(DType.Float16, Get(plan, "v_pred").DType);
        Assert.False(Get(plan, "cond_stage_model.transformer.text_model.final_layer_norm.weight").IsCast);
    }

    [Fact]
    public void A_cast_limited_to_components_keeps_the_others()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        ConversionPlan plan = m.ToHalf(ModelComponent.UNet, ModelComponent.TextEncoder).Plan();
        Assert.Equal(DType.Float16, Get(plan, "model.diffusion_model.out.2.bias").DType);
        Assert.Equal(DType.Float32, Get(plan, "first_stage_model.decoder.conv_in.weight").DType);
    }

    [Fact]
    public void ToFloat32_is_a_real_upcast()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        Assert.Equal(DType.Float32, Get(m.ToFloat32().Plan(), "cond_stage_model.transformer.text_model.final_layer_norm.weight").DType);
    }

    [Fact]
    public void SelectEma_true_swaps_in_the_ema_weights_and_drops_every_ema_key()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        ConversionPlan plan = m.SelectEma(true).Plan();
        Assert.Equal(2, plan.EmaSwapped);
        PlannedTensor w = Get(plan, "model.diffusion_model.input_blocks.0.0.weight");
        Assert.Equal("ema", w.Origin);
        Assert.Equal("model_ema.diffusion_modelinput_blocks00weight", w.Source.Name);
        Assert.DoesNotContain(plan.Tensors, t => t.Name.StartsWith("model_ema.", StringComparison.Ordinal));
        Assert.Contains(plan.Dropped, d => d.Name == "model_ema.decay");
        Assert.Contains(plan.Notes, n => n.Contains("2 UNet tensors replaced", StringComparison.Ordinal));
    }

    [Fact]
    public void SelectEma_false_drops_the_ema_keys_and_keeps_the_unet()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        ConversionPlan plan = m.SelectEma(false).Plan();
        Assert.Equal("model", Get(plan, "model.diffusion_model.input_blocks.0.0.weight").Origin);
        Assert.Equal(4, plan.Dropped.Count(d => d.Name.StartsWith("model_ema.", StringComparison.Ordinal)));
    }

    [Fact]
    public void Asking_for_ema_weights_in_a_file_without_them_is_an_error_not_a_no_op()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir, ema: false));
        var ex = Assert.Throws<ConversionException>(() => m.SelectEma(true).Plan());
        Assert.Equal(SafeCkptErrorCode.EmaNotFound, ex.Code);
        Assert.Contains("no EMA weights", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ema_candidates_cover_the_litema_names_and_the_known_variants() =>
        Assert.Equal(
            ["model_ema.diffusion_modelinput_blocks00weight", "model_ema.input_blocks00weight", "model_ema.diffusion_model.input_blocks.0.0.weight"],
            EmaSelection.EmaCandidates("model.diffusion_model.input_blocks.0.0.weight"));

    [Fact]
    public void Prune_removes_junk_and_keeps_markers()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        ConversionPlan plan = m.Prune().Plan();
        Assert.Equal(["alphas_cumprod", "betas", "first_stage_model.loss.logvar"], plan.Dropped.Select(d => d.Name).Order(StringComparer.Ordinal));
        Assert.Contains(plan.Tensors, t => t.Name == "v_pred");
        Assert.True(PruneTransform.IsJunk("embedding_manager.embedder.x"));
        Assert.False(PruneTransform.IsJunk("ztsnr"));
    }

    [Fact]
    public void Drop_removes_whole_components()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        ConversionPlan plan = m.Convert().Drop(ModelComponent.Vae).Plan();
        Assert.DoesNotContain(plan.Tensors, t => t.Component == ModelComponent.Vae);
        Assert.Contains(plan.Tensors, t => t.Component == ModelComponent.UNet);
    }

    [Fact]
    public void ReplaceVae_replaces_existing_keys_from_a_prefixless_vae_and_ignores_its_loss()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        new SafeCkpt.Building.CheckpointBuilder()
            .Add("decoder.conv_in.weight", new[] { 7f, 8f }, 2)
            .Add("encoder.conv_in.weight", new[] { 5f, 6f }, 2)
            .AddScalar("loss.logvar", 1f)
            .SaveSafetensors(dir.File("vae.safetensors"));
        using ModelFile vae = ModelFile.Open(dir.File("vae.safetensors"));
        ConversionPlan plan = m.ReplaceVae(vae).Plan();
        Assert.Equal("vae", Get(plan, "first_stage_model.decoder.conv_in.weight").Origin);
        Assert.Equal("vae", Get(plan, "first_stage_model.encoder.conv_in.weight").Origin);
        Assert.Equal("model", Get(plan, "first_stage_model.loss.logvar").Origin);
        Assert.Contains(dir.File("vae.safetensors"), plan.Inputs);

        m.ReplaceVae(vae).SaveSafetensors(dir.File("out.safetensors"));
        using TensorStore s = SafetensorsReader.Open(dir.File("out.safetensors"));
        Assert.Equal([7f, 8f], s.ReadTensorAs<float>("first_stage_model.decoder.conv_in.weight"));
    }

    [Fact]
    public void ReplaceVae_by_path_opens_the_vae_for_the_save_and_closes_it_afterwards()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        string vaePath = dir.File("vae-by-path.safetensors");
        new SafeCkpt.Building.CheckpointBuilder().Add("decoder.conv_in.weight", new[] { 7f, 8f }, 2).Add("encoder.conv_in.weight", new[] { 5f, 6f }, 2).SaveSafetensors(vaePath);
        ConversionResult r = m.ReplaceVae(vaePath).ToHalf().SaveSafetensors(dir.File("out.safetensors"));
        Assert.Contains(vaePath, r.Plan.Inputs);
        using (TensorStore s = SafetensorsReader.Open(dir.File("out.safetensors")))
        {
            Assert.Equal(DType.Float16, s["first_stage_model.decoder.conv_in.weight"].DType);
        }

        if (OperatingSystem.IsLinux())
        {
            string[] open = Directory.GetFiles("/proc/self/fd").Select(fd => new FileInfo(fd).LinkTarget ?? string.Empty).ToArray();
            Assert.DoesNotContain(vaePath, open);
        }
    }

    [Fact]
    public void ReplaceVae_with_another_shape_names_the_tensor()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        new SafeCkpt.Building.CheckpointBuilder().Add("first_stage_model.decoder.conv_in.weight", new float[3]).SaveSafetensors(dir.File("vae.safetensors"));
        using ModelFile vae = ModelFile.Open(dir.File("vae.safetensors"));
        var ex = Assert.Throws<ConversionException>(() => m.ReplaceVae(vae).Plan());
        Assert.Equal(SafeCkptErrorCode.ShapeMismatch, ex.Code);
        Assert.Equal("first_stage_model.decoder.conv_in.weight", ex.TensorName);
    }

    [Fact]
    public void A_file_without_a_vae_decoder_is_not_accepted_as_a_vae()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        using ModelFile notVae = ModelFile.Open(TinySd.Save(dir, "other.safetensors", ema: false));
        new SafeCkpt.Building.CheckpointBuilder().Add("lora_unet_down.weight", new float[3]).SaveSafetensors(dir.File("lora.safetensors"));
        using ModelFile lora = ModelFile.Open(dir.File("lora.safetensors"));
        Assert.Equal(SafeCkptErrorCode.NotAVae, Assert.Throws<ConversionException>(() => m.ReplaceVae(lora).Plan()).Code);
    }

    [Fact]
    public void ExtractVae_keeps_only_the_vae_without_its_prefix_or_loss()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        ConversionPlan plan = m.Convert().ExtractVae().Plan();
        Assert.Equal(["decoder.conv_in.weight", "encoder.conv_in.weight"], plan.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void FixClipPositionIds_reports_and_resets_broken_float_ids()
    {
        using var dir = new TempDir();
        float[] broken = Enumerable.Range(0, 77).Select(i => (float)i).ToArray();
        broken[5] = 4.9999f;
        broken[40] = 39.99f;
        using ModelFile m = ModelFile.Open(TinySd.Save(dir, positionIds: broken));
        ConversionPlan plan = m.FixClipPositionIds().Plan();
        PlannedTensor ids = Get(plan, "cond_stage_model.transformer.text_model.embeddings.position_ids");
        Assert.Equal(DType.Int64, ids.DType);
        Assert.Equal([1L, 77L], ids.Shape);
        Assert.DoesNotContain(plan.Notes, n => n.Contains("wrong positions (", StringComparison.Ordinal));

        ConversionResult r = m.FixClipPositionIds().SaveSafetensors(dir.File("fixed.safetensors"));
        Assert.Contains(r.Findings, n => n.Contains("2 wrong positions (5, 40)", StringComparison.Ordinal));
        using TensorStore s = SafetensorsReader.Open(dir.File("fixed.safetensors"));
        Assert.Equal(Enumerable.Range(0, 77).Select(i => (long)i), s.ReadTensorAs<long>(ids.Name));
    }

    [Fact]
    public void FixClipPositionIds_writes_correct_ids_unchanged_and_says_so()
    {
        using var dir = new TempDir();
        string path = TinySd.Save(dir);
        using ModelFile m = ModelFile.Open(path);
        ConversionResult r = m.FixClipPositionIds().SaveSafetensors(dir.File("out.safetensors"));
        Assert.Equal(["CLIP: cond_stage_model.transformer.text_model.embeddings.position_ids is correct."], r.Findings);
        using ModelFile o = ModelFile.Open(dir.File("out.safetensors"));
        Assert.Equal(m.Tensors.ReadTensor("cond_stage_model.transformer.text_model.embeddings.position_ids"), o.Tensors.ReadTensor("cond_stage_model.transformer.text_model.embeddings.position_ids"));
    }

    public static TheoryData<string> EveryStep => ["SelectEma(true)", "SelectEma(false)", "ToHalf", "ToBFloat16", "ToFloat32", "CastTo(F64)", "Prune", "Drop(Vae)", "ReplaceVae(path)", "ReplaceVae(file)", "ExtractVae", "FixClipPositionIds", "Rename", "Where", "all"];

    private static ModelPipeline Step(ModelFile m, string step, string vaePath, ModelFile vae) => step switch
    {
        "SelectEma(true)" => m.SelectEma(true),
        "SelectEma(false)" => m.SelectEma(false),
        "ToHalf" => m.ToHalf(),
        "ToBFloat16" => m.ToBFloat16(),
        "ToFloat32" => m.ToFloat32(),
        "CastTo(F64)" => m.CastTo(DType.Float64),
        "Prune" => m.Prune(),
        "Drop(Vae)" => m.Drop(ModelComponent.Vae),
        "ReplaceVae(path)" => m.ReplaceVae(vaePath),
        "ReplaceVae(file)" => m.ReplaceVae(vae),
        "ExtractVae" => m.ExtractVae(),
        "FixClipPositionIds" => m.FixClipPositionIds(),
        "Rename" => m.Rename(n => n.Replace("betas", "b2", StringComparison.Ordinal)),
        "Where" => m.Where(t => t.Name != "betas"),
        _ => m.SelectEma(true).ToHalf().Prune().FixClipPositionIds().ReplaceVae(vaePath).Rename(n => n).Where(_ => true).CastTo(DType.BFloat16, ModelComponent.Vae),
    };

    [Theory]
    [MemberData(nameof(EveryStep))]
    public void Planning_reads_no_tensor_bytes_so_every_step_plans_on_a_truncated_file_and_only_the_save_fails(string step)
    {
        using var dir = new TempDir();
        string path = TinySd.Save(dir, positionIds: [.. Enumerable.Range(0, 77).Select(i => i == 5 ? 5.5f : i)]);
        string vaePath = dir.File("vae.safetensors");
        new CheckpointBuilder().Add("decoder.conv_in.weight", new[] { 7f, 8f }, 2).Add("encoder.conv_in.weight", new[] { 9f, 10f }, 2).SaveSafetensors(vaePath);
        using ModelFile m = ModelFile.Open(path);
        using ModelFile vae = ModelFile.Open(vaePath);
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..100]);

        ConversionPlan plan = Step(m, step, vaePath, vae).Plan();

        Assert.NotEmpty(plan.Tensors);
        File.WriteAllBytes(vaePath, File.ReadAllBytes(vaePath)[..100]); // a VAE given by path is opened (its header read) while planning
        Assert.Throws<InvalidCheckpointException>(() => Step(m, step, vaePath, vae).SaveSafetensors(dir.File("out.safetensors")));
        Assert.DoesNotContain("out.safetensors", dir.Files());
    }

    [Fact]
    public void Wrong_clip_position_ids_are_found_while_saving_and_reported_with_the_result()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir, positionIds: [.. Enumerable.Range(0, 77).Select(i => i == 5 ? 5.5f : i)]));
        ConversionPlan plan = m.FixClipPositionIds().Plan();
        Assert.Contains(plan.Notes, n => n.Contains("wrong positions reported while saving", StringComparison.Ordinal));
        ConversionResult r = m.FixClipPositionIds().SaveSafetensors(dir.File("out.safetensors"));
        Assert.Equal(["CLIP: cond_stage_model.transformer.text_model.embeddings.position_ids had 1 wrong positions (5); reset to int64 0..76."], r.Findings);
    }

    [Fact]
    public void A_step_that_gives_two_tensors_one_name_is_refused_naming_the_step()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        var ex = Assert.Throws<ConversionException>(() => m.Rename(n => n.StartsWith("first_stage_model.", StringComparison.Ordinal) ? "vae" : n).Plan());
        Assert.Equal(SafeCkptErrorCode.DuplicateKey, ex.Code);
        Assert.Contains("two tensors are named 'vae'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("after the step 'rename tensors'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tensor_renamed_to_the_metadata_key_is_refused_when_writing_safetensors_and_nothing_is_written()
    {
        using var dir = new TempDir();
        using ModelFile m = ModelFile.Open(TinySd.Save(dir));
        var ex = Assert.Throws<OutputException>(() => m.Rename(n => n == "betas" ? "__metadata__" : n).SaveSafetensors(dir.File("out.safetensors")));
        Assert.Equal(SafeCkptErrorCode.DuplicateKey, ex.Code);
        Assert.Equal("__metadata__", ex.TensorName);
        Assert.Contains("rename it", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("out.safetensors", dir.Files());
    }

    [Fact]
    public void A_save_after_the_model_is_closed_is_an_ObjectDisposedException_and_writes_nothing()
    {
        using var dir = new TempDir();
        ModelFile m = ModelFile.Open(TinySd.Save(dir));
        ModelPipeline p = m.ToHalf().FixClipPositionIds();
        m.Dispose();
        Assert.Throws<ObjectDisposedException>(() => p.SaveSafetensors(dir.File("out.safetensors")));
        Assert.Throws<ObjectDisposedException>(() => m.DetectArchitecture());
        Assert.DoesNotContain("out.safetensors", dir.Files());
    }

    [Fact]
    public void A_saved_conversion_holds_the_casts_of_the_selected_weights_and_keeps_metadata()
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        TinySd.Builder().WithMetadata("modelspec.title", "tiny").SaveSafetensors(path);
        using ModelFile m = ModelFile.Open(path);
        ConversionResult r = m.SelectEma(true).ToHalf().SaveSafetensors(dir.File("out.safetensors"));
        Assert.Equal(new FileInfo(dir.File("out.safetensors")).Length, r.OutputFileBytes);
        using TensorStore s = SafetensorsReader.Open(dir.File("out.safetensors"));
        var expected = new ushort[6];
        CastKernels.SingleToHalf(TinySd.EmaA, expected);
        Assert.Equal(expected, s.ReadTensorAs<ushort>("model.diffusion_model.input_blocks.0.0.weight"));
        Assert.Equal(Enumerable.Range(0, 77).Select(i => (long)i), s.ReadTensorAs<long>("cond_stage_model.transformer.text_model.embeddings.position_ids"));
        Assert.Equal("tiny", s.Metadata["modelspec.title"]);
        Assert.False(s.Contains("model_ema.decay"));
    }
}
