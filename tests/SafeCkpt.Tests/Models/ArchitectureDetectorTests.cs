using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Building;
using SafeCkpt.Models;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Models;

public class ArchitectureDetectorTests
{
    private static readonly HashSet<string> ValidIds = [.. Layouts.AllIds, "unknown"];

    public static TheoryData<string> Ids => [.. Layouts.AllIds];

    private static ArchitectureReport Detect(CheckpointBuilder b) => ArchitectureDetector.Detect(b.Build().Tensors);

    [Theory]
    [MemberData(nameof(Ids))]
    public void The_published_layout_of_each_architecture_is_detected_as_its_id(string id)
    {
        ArchitectureReport r = Detect(Layouts.For(id));
        Assert.True(id == r.Id, $"expected {id}, got {r.Id} ({r.Reason}); evidence: {string.Join(" | ", r.Evidence)}");
        Assert.NotEmpty(r.Evidence);
        Assert.False(r.HasMetadataConflict);
    }

    [Theory]
    [InlineData("sd1")]
    [InlineData("sd1-inpaint")]
    [InlineData("sdxl")]
    [InlineData("ssd-1b")]
    [InlineData("segmind-vega")]
    [InlineData("sdxl-refiner")]
    [InlineData("sd3")]
    [InlineData("flux-dev")]
    [InlineData("auraflow")]
    public void Complete_published_layouts_are_detected_with_high_confidence(string id) =>
        Assert.Equal(DetectionConfidence.High, Detect(Layouts.For(id)).Confidence);

    [Fact]
    public void Ssd1b_is_told_from_sdxl_by_the_missing_middle_transformer_and_its_depths()
    {
        ArchitectureReport r = Detect(Layouts.For("ssd-1b"));
        Assert.Contains(r.Evidence, e => e.Contains("middle_block.1.transformer_blocks.0.attn1.to_q.weight absent", StringComparison.Ordinal));
        Assert.Contains(r.Evidence, e => e.Contains("transformer depth [0, 0, 2, 2, 4, 4]", StringComparison.Ordinal));
    }

    [Fact]
    public void An_sdxl_layout_without_its_middle_transformer_but_with_sdxl_depths_is_not_called_ssd1b()
    {
        CheckpointBuilder b = Layouts.Sdxl(4, [0, 2, 10], -1);
        ArchitectureReport r = Detect(b);
        Assert.Equal("sdxl", r.Id);
        Assert.Equal(DetectionConfidence.Low, r.Confidence);
    }

    [Fact]
    public void Sdxl_keys_without_the_model_diffusion_model_prefix_are_detected_as_a_unet_only_sdxl()
    {
        ArchitectureReport r = Detect(Layouts.Unet(new CheckpointBuilder(), string.Empty, 4, 320, [1, 2, 4], [0, 2, 10], 2048, 2816, true, 10));
        Assert.Equal("unet", r.Id);
        Assert.Equal("sdxl", r.BaseArchitecture);
        Assert.False(r.HasVae);
        Assert.Empty(r.TextEncoders);
    }

    [Fact]
    public void Flux_with_the_model_diffusion_model_prefix_is_detected_like_bare_flux()
    {
        var b = new CheckpointBuilder();
        foreach (TensorInfo t in Layouts.Flux(64, guidance: false).Build().Tensors.Tensors)
        {
            b.AddZeros("model.diffusion_model." + t.Name, t.DType, [.. t.Shape]);
        }

        Assert.Equal("flux-schnell", Detect(b).Id);
    }

    [Fact]
    public void A_lora_is_a_lora_with_its_base_from_the_text_encoder_width_not_a_checkpoint()
    {
        ArchitectureReport r = Detect(Layouts.Lora());
        Assert.Equal("lora", r.Id);
        Assert.Equal("sd1", r.BaseArchitecture);
        Assert.False(r.HasVae);
        Assert.Equal(PredictionType.Unknown, r.PredictionType);
    }

    [Fact]
    public void Half_the_keys_of_an_sdxl_checkpoint_are_not_a_confident_sdxl()
    {
        TensorStore full = Layouts.For("sdxl").Build().Tensors;
        var b = new CheckpointBuilder();
        foreach (TensorInfo t in full.Tensors.Where((_, i) => i % 2 == 0))
        {
            b.AddZeros(t.Name, t.DType, [.. t.Shape]);
        }

        ArchitectureReport r = Detect(b);
        Assert.True(r.Id != "sdxl" || r.Confidence < DetectionConfidence.High, $"{r.Id} {r.Confidence}");
    }

    [Fact]
    public void The_second_half_of_an_sdxl_without_input_blocks_is_unknown_with_a_reason()
    {
        TensorStore full = Layouts.For("sdxl").Build().Tensors;
        var b = new CheckpointBuilder();
        foreach (TensorInfo t in full.Tensors.Where(t => !t.Name.Contains("input_blocks", StringComparison.Ordinal)))
        {
            b.AddZeros(t.Name, t.DType, [.. t.Shape]);
        }

        ArchitectureReport r = Detect(b);
        Assert.Equal("unknown", r.Id);
        Assert.False(string.IsNullOrEmpty(r.Reason));
    }

    [Fact]
    public void Modelspec_metadata_that_disagrees_with_the_weights_wins_but_is_reported_as_a_conflict()
    {
        ArchitectureReport r = Detect(Layouts.For("sd1").WithMetadata("modelspec.architecture", "stable-diffusion-xl-v1-base"));
        Assert.Equal("sdxl", r.Id);
        Assert.Equal("sd1", r.WeightsId);
        Assert.True(r.HasMetadataConflict);
        Assert.Equal(DetectionConfidence.Low, r.Confidence);
    }

    [Fact]
    public void Modelspec_metadata_that_agrees_is_no_conflict_and_refines_sd2_into_sd2_v()
    {
        ArchitectureReport agree = Detect(Layouts.For("sdxl").WithMetadata("modelspec.architecture", "stable-diffusion-xl-v1-base"));
        Assert.False(agree.HasMetadataConflict);
        ArchitectureReport v = Detect(Layouts.For("sd2").WithMetadata("modelspec.architecture", "stable-diffusion-v2-768-v"));
        Assert.Equal("sd2-v", v.Id);
        Assert.False(v.HasMetadataConflict);
    }

    [Fact]
    public void A_lora_modelspec_with_a_kind_suffix_agrees_with_lora_weights()
    {
        ArchitectureReport r = Detect(Layouts.Lora().WithMetadata("modelspec.architecture", "stable-diffusion-v1/lora"));
        Assert.Equal("lora", r.Id);
        Assert.False(r.HasMetadataConflict);
        Assert.Equal("sd1", r.BaseArchitecture);
        ArchitectureReport xl = Detect(Layouts.Lora().WithMetadata("modelspec.architecture", "stable-diffusion-xl-v1-base/lora"));
        Assert.True(xl.HasMetadataConflict); // its text-encoder weights are 768 wide: an SD 1.x LoRA
        Assert.Equal("sdxl", xl.BaseArchitecture);
    }

    [Fact]
    public void A_v_pred_marker_on_sdxl_keeps_the_id_and_makes_the_prediction_v()
    {
        ArchitectureReport r = Detect(Layouts.For("sdxl").AddZeros("v_pred", DType.Float32, 0).AddZeros("ztsnr", DType.Float32, 0));
        Assert.Equal("sdxl", r.Id);
        Assert.Equal(PredictionType.V, r.PredictionType);
        Assert.Equal(["v_pred", "ztsnr"], r.Markers.Order());
    }

    [Fact]
    public void Edm_markers_decide_the_prediction_type()
    {
        Assert.Equal(PredictionType.Edm, Detect(Layouts.For("sdxl").AddZeros("edm_mean", DType.Float32, 1, 4, 1, 1).AddZeros("edm_std", DType.Float32, 1, 4, 1, 1)).PredictionType);
        Assert.Equal(PredictionType.VEdm, Detect(Layouts.For("sdxl").AddScalar("edm_vpred.sigma_max", 120f).AddScalar("edm_vpred.sigma_min", 0.002f)).PredictionType);
    }

    [Fact]
    public void Sd2_v_is_decided_by_the_spread_of_the_last_norm_bias()
    {
        Assert.Equal(PredictionType.V, Detect(Layouts.For("sd2-v")).PredictionType);
        Assert.Equal(PredictionType.Epsilon, Detect(Layouts.For("sd2")).PredictionType);
    }

    [Fact]
    public void Flow_models_report_flow_prediction() => Assert.Equal(PredictionType.Flow, Detect(Layouts.For("sd3.5-large")).PredictionType);

    [Fact]
    public void Sdxl_reports_both_text_encoders_a_vae_and_healthy_position_ids()
    {
        ArchitectureReport r = Detect(Layouts.For("sdxl"));
        Assert.Equal(["clip-l", "clip-g"], r.TextEncoders);
        Assert.True(r.HasVae);
        Assert.Equal(EmaState.None, r.Ema);
        PositionIdsCheck ids = Assert.Single(r.PositionIds);
        Assert.False(ids.IsBroken);
    }

    [Fact]
    public void Float_position_ids_with_a_wrong_value_are_reported_broken()
    {
        float[] ids = Enumerable.Range(0, 77).Select(i => (float)i).ToArray();
        ids[5] = 4.9999f;
        ArchitectureReport r = ArchitectureDetector.Detect(TinySd.Builder(positionIds: ids).Build().Tensors);
        Assert.True(r.HasBrokenPositionIds);
        Assert.Equal([5], r.PositionIds.Single().WrongPositions);
    }

    [Fact]
    public void Component_summaries_count_parameters_and_dtypes()
    {
        ArchitectureReport r = Detect(Layouts.For("flux-dev"));
        ComponentSummary other = Assert.Single(r.Components);
        Assert.Equal(DType.BFloat16, other.MainDType);
        Assert.Equal(r.Parameters, other.Parameters);
        Assert.Equal(r.Bytes, r.Parameters * 2);
    }

    [Fact]
    public void The_tiny_sd1_training_checkpoint_fixture_is_sd1_with_both_weight_sets()
    {
        using ModelFile model = ModelFile.Open(Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"));
        ArchitectureReport r = model.DetectArchitecture();
        Assert.Equal("sd1", r.Id);
        Assert.Equal(EmaState.BothSets, r.Ema);
        Assert.True(r.HasVae);
        Assert.Equal(["clip-l"], r.TextEncoders);
        Assert.False(r.HasBrokenPositionIds);
        Assert.Equal(DetectionConfidence.Low, r.Confidence); // its cross-attention is 8 wide, not SD 1.x's 768
    }

    [Fact]
    public void The_tiny_sd_safetensors_fixture_is_sd1_without_ema()
    {
        using ModelFile model = ModelFile.Open(Fixtures.Path_("safetensors", "sd_tiny.safetensors"));
        ArchitectureReport r = model.DetectArchitecture();
        Assert.Equal("sd1", r.Id);
        Assert.Equal(EmaState.None, r.Ema);
        Assert.Equal(DType.Float16, r.Components.Single(c => c.Component == ModelComponent.UNet).MainDType);
    }

    [Fact]
    public void The_textual_inversion_fixture_is_an_sd1_embedding()
    {
        using ModelFile model = ModelFile.Open(Fixtures.Path_("ckpt", "textual_inversion.pt"));
        ArchitectureReport r = model.DetectArchitecture();
        Assert.Equal("embedding", r.Id);
        Assert.Equal("sd1", r.BaseArchitecture);
    }

    [Fact]
    public void A_yaml_beside_the_model_declaring_v_makes_an_sd2_file_sd2_v()
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        Layouts.For("sd2").SaveSafetensors(path);
        File.WriteAllText(dir.File("m.yaml"), "model:\n  params:\n    parameterization: \"v\"\n");
        using ModelFile model = ModelFile.Open(path);
        Assert.Equal("sd2-v", model.DetectArchitecture().Id);
    }

    [Fact]
    public void An_empty_store_is_unknown_with_a_reason()
    {
        ArchitectureReport r = Detect(new CheckpointBuilder());
        Assert.Equal("unknown", r.Id);
        Assert.Equal("the file has no tensors", r.Reason);
    }

    private static readonly string[] KeyVocabulary =
        [.. Layouts.AllIds.SelectMany(id => Layouts.For(id).Build().Tensors.Tensors.Select(t => t.Name)).Distinct().Where((_, i) => i % 7 == 0), "v_pred", "edm_mean", "edm_vpred.sigma_max", "model.diffusion_model.input_blocks.0.0.weight", "string_to_param.*"];

    private static Gen<CheckpointBuilder> RandomLayouts =>
        from names in Gen.OneOf(Gen.Elements(KeyVocabulary), Gens.Name).ArrayOf().Select(n => n.Distinct(StringComparer.Ordinal).Where(x => x.Length > 0).Take(40).ToArray())
        from shapes in Gen.Choose(0, 3).SelectMany(rank => Gen.Elements(0L, 1L, 4L, 8L, 9L, 77L, 320L, 768L, 1024L, 2048L, 2816L).ArrayOf(rank)).ArrayOf(names.Length)
        from dtypes in Gen.Elements(DType.Float16, DType.Float32, DType.Int64, DType.BFloat16, DType.Bool).ArrayOf(names.Length)
        from spec in Gen.Elements<string?>(null, "stable-diffusion-v1", "flux-1-dev/lora", "nonsense", "")
        select Build(names, shapes, dtypes, spec);

    private static CheckpointBuilder Build(string[] names, long[][] shapes, DType[] dtypes, string? spec)
    {
        var b = new CheckpointBuilder();
        for (int i = 0; i < names.Length; i++)
        {
            b.AddZeros(names[i], dtypes[i], shapes[i]);
        }

        return spec is null ? b : b.WithMetadata("modelspec.architecture", spec);
    }

    [Property(MaxTest = 300)]
    public Property Detection_never_throws_and_always_returns_a_valid_id_on_random_layouts() =>
        Prop.ForAll(RandomLayouts.ToArbitrary(), b =>
        {
            ArchitectureReport r = Detect(b);
            return ValidIds.Contains(r.Id) && (r.Id != "unknown" || r.Reason is not null) && ArchitectureCatalog.Contains(r.Id);
        });
}
