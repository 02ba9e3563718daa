using SafeCkpt.Building;
using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Models;

/// <summary>The layouts that two families share or that earlier rules got wrong.</summary>
public class ArchitectureRulesTests
{
    private static ArchitectureReport Detect(CheckpointBuilder b) => ArchitectureDetector.Detect(b.Build().Tensors);

    private static string Why(ArchitectureReport r) => $"{r.Id}: {r.Reason}; {string.Join(" | ", r.Evidence)}";

    [Fact]
    public void Flux2_is_not_taken_for_flux1()
    {
        ArchitectureReport r = Detect(Layouts.Flux2());
        Assert.True(r.Id == "flux2", Why(r));
        Assert.Contains(r.Evidence, e => e.Contains("double_stream_modulation_img", StringComparison.Ordinal));
    }

    [Fact]
    public void Flux_files_that_name_the_qk_norm_weight_instead_of_scale_are_flux()
    {
        var b = new CheckpointBuilder();
        foreach (TensorInfo t in Layouts.Flux(64, guidance: true).Build().Tensors.Tensors)
        {
            b.AddZeros(t.Name.Replace("norm.key_norm.scale", "norm.key_norm.weight", StringComparison.Ordinal), t.DType, [.. t.Shape]);
        }

        ArchitectureReport r = Detect(b);
        Assert.True(r.Id == "flux-dev", Why(r));
        Assert.Equal(DetectionConfidence.High, r.Confidence);
    }

    [Fact]
    public void Flux_dev_names_kontext_as_the_other_id_of_its_layout_and_metadata_picks_it_without_conflict()
    {
        ArchitectureReport r = Detect(Layouts.For("flux-dev"));
        Assert.Equal(["flux-kontext"], r.Alternatives);
        Assert.Contains(r.Evidence, e => e.Contains("Kontext", StringComparison.Ordinal));

        ArchitectureReport k = Detect(Layouts.For("flux-dev").WithMetadata("modelspec.architecture", "flux-1-kontext-dev"));
        Assert.Equal("flux-kontext", k.Id);
        Assert.False(k.HasMetadataConflict);
    }

    [Fact]
    public void Sd2_saved_in_the_sgm_layout_is_sd2_not_an_sdxl_refiner()
    {
        ArchitectureReport r = Detect(Layouts.Sd2Sgm());
        Assert.True(r.Id is "sd2" or "sd2-v", Why(r));
        Assert.Contains("openclip-h", r.TextEncoders);
        Assert.DoesNotContain("clip-g", r.TextEncoders);
        Assert.Contains(r.Evidence, e => e.Contains("SGM layout", StringComparison.Ordinal));
        Assert.Equal("sgm", r.Variant);

        // The LDM config would leave its conditioner.* text encoder unloaded: no yaml rather than a wrong one.
        Assert.Contains("SGM layout", Assert.Throws<ConversionException>(() => ConfigYaml.For(r)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_sdxl_refiner_is_still_the_refiner() => Assert.Equal("sdxl-refiner", Detect(Layouts.For("sdxl-refiner")).Id);

    [Theory]
    [InlineData("koala-700m")]
    [InlineData("koala-1b")]
    public void Koala_is_not_sdxl_and_gets_no_sdxl_yaml(string id)
    {
        ArchitectureReport r = Detect(Layouts.For(id));
        Assert.True(r.Id == id, Why(r));
        Assert.Equal("sdxl", ArchitectureCatalog.Get(id)!.Base);
        Assert.False(ConfigYaml.IsSupported(r.Id));
        Assert.Throws<ConversionException>(() => ConfigYaml.For(r));
    }

    [Theory]
    [InlineData("alt-diffusion-m9", "sd1")]
    [InlineData("alt-diffusion-m18", "sd2")]
    public void AltDiffusion_is_told_from_sd1_and_sd2_by_its_xlm_roberta_encoder(string id, string unetOf)
    {
        ArchitectureReport r = Detect(Layouts.For(id));
        Assert.True(r.Id == id, Why(r));
        Assert.Equal(unetOf, ArchitectureCatalog.Get(id)!.Base);
        Assert.Contains("xlm-roberta", r.TextEncoders);
    }

    [Fact]
    public void Stable_zero123_is_told_from_instructpix2pix_by_its_camera_projection()
    {
        Assert.Equal("stable-zero123", Detect(Layouts.For("stable-zero123")).Id);
        Assert.Equal("sd1-pix2pix", Detect(Layouts.For("sd1-pix2pix")).Id);
    }

    [Fact]
    public void Wan_14b_text_to_video_names_wan_2_2_as_the_other_id_of_its_layout()
    {
        ArchitectureReport r = Detect(Layouts.Dit(
            "model.diffusion_model.", ("head.modulation", [1, 2, 5120]), ("head.head.weight", [64, 5120]), ("patch_embedding.weight", [5120, 16, 1, 2, 2]),
            ("blocks.0.ffn.0.weight", [13824, 5120]), ("blocks.0.cross_attn.k.weight", [5120, 5120]), ("text_embedding.0.weight", [5120, 4096])));
        Assert.Equal("wan2.1-t2v", r.Id);
        Assert.Equal(["wan2.2-t2v-14b"], r.Alternatives);
    }

    [Fact]
    public void Qwen_image_names_the_edit_model_as_the_other_id_of_its_layout() =>
        Assert.Equal(["qwen-image-edit"], Detect(Layouts.For("qwen-image")).Alternatives);

    [Fact]
    public void A_diffusion_model_only_svd_file_is_a_unet_with_svd_as_its_base()
    {
        var b = new CheckpointBuilder();
        foreach (TensorInfo t in Layouts.For("svd").Build().Tensors.Tensors.Where(t => t.Name.StartsWith("model.diffusion_model.", StringComparison.Ordinal)))
        {
            b.AddZeros(t.Name, t.DType, [.. t.Shape]);
        }

        ArchitectureReport r = Detect(b);
        Assert.Equal("unet", r.Id);
        Assert.Equal("svd", r.BaseArchitecture);
    }
}
