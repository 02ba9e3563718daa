using SafeCkpt.Building;
using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Models;

/// <summary>The cldm yamls the A1111 ControlNet extension reads beside ControlNet 1.x files (formats.md 5.1-5.4).</summary>
public class ControlNetYamlTests
{
    private static ArchitectureReport Detect(string prefix, long contextDim, bool sdxl = false)
    {
        var b = new CheckpointBuilder()
            .AddZeros(prefix + "time_embed.0.weight", DType.Float16, 1280, 320)
            .AddZeros(prefix + "input_hint_block.0.weight", DType.Float16, 16, 3, 3, 3)
            .AddZeros(prefix + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", DType.Float16, 320, contextDim)
            .AddZeros(prefix + "zero_convs.0.0.weight", DType.Float16, 320, 320, 1, 1);
        if (sdxl)
        {
            b.AddZeros(prefix + "label_emb.0.0.weight", DType.Float16, 1280, 2816);
        }

        return ArchitectureDetector.Detect(b.Build());
    }

    [Theory]
    [InlineData("control_model.")]
    [InlineData("")]
    public void An_SD15_ControlNet_gets_the_cldm_v15_facts(string prefix)
    {
        var doc = MiniYaml.Parse(ConfigYaml.For(Detect(prefix, 768), "control_v11p_sd15_canny"));
        Assert.Equal("cldm.cldm.ControlLDM", MiniYaml.Get(doc, "model.target"));
        Assert.Equal("hint", MiniYaml.Get(doc, "model.params.control_key"));
        Assert.Equal("cldm.cldm.ControlNet", MiniYaml.Get(doc, "model.params.control_stage_config.target"));
        Assert.Equal("3", MiniYaml.Get(doc, "model.params.control_stage_config.params.hint_channels"));
        Assert.Equal("768", MiniYaml.Get(doc, "model.params.control_stage_config.params.context_dim"));
        Assert.Equal("8", MiniYaml.Get(doc, "model.params.control_stage_config.params.num_heads"));
        Assert.Equal("cldm.cldm.ControlledUnetModel", MiniYaml.Get(doc, "model.params.unet_config.target"));
        Assert.Equal("4", MiniYaml.Get(doc, "model.params.unet_config.params.out_channels"));
        Assert.Equal("ldm.modules.encoders.modules.FrozenCLIPEmbedder", MiniYaml.Get(doc, "model.params.cond_stage_config.target"));
        Assert.Equal("0.18215", MiniYaml.Get(doc, "model.params.scale_factor"));
        Assert.Throws<KeyNotFoundException>(() => MiniYaml.Get(doc, "model.params.global_average_pooling"));
    }

    [Fact]
    public void An_SD21_ControlNet_gets_the_cldm_v21_facts()
    {
        var doc = MiniYaml.Parse(ConfigYaml.For(Detect("control_model.", 1024), "controlnet_sd21_canny"));
        Assert.Equal("1024", MiniYaml.Get(doc, "model.params.control_stage_config.params.context_dim"));
        Assert.Equal("64", MiniYaml.Get(doc, "model.params.control_stage_config.params.num_head_channels"));
        Assert.Equal("true", MiniYaml.Get(doc, "model.params.control_stage_config.params.use_linear_in_transformer"));
        Assert.Equal("true", MiniYaml.Get(doc, "model.params.unet_config.params.use_linear_in_transformer"));
        Assert.Equal("ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder", MiniYaml.Get(doc, "model.params.cond_stage_config.target"));
        Assert.Equal("penultimate", MiniYaml.Get(doc, "model.params.cond_stage_config.params.layer"));
    }

    [Fact]
    public void The_shuffle_model_gets_global_average_pooling_from_its_file_name() =>
        Assert.Equal("true", MiniYaml.Get(MiniYaml.Parse(ConfigYaml.For(Detect("", 768), "control_v11e_sd15_shuffle")), "model.params.global_average_pooling"));

    [Fact]
    public void Without_a_file_name_the_yaml_says_which_variant_needs_global_average_pooling() =>
        Assert.Contains("shuffle", ConfigYaml.For(Detect("", 768)), StringComparison.Ordinal);

    [Fact]
    public void An_SDXL_ControlNet_gets_no_yaml_and_the_reason() =>
        Assert.Contains("SDXL", Assert.Throws<ConversionException>(() => ConfigYaml.For(Detect("control_model.", 2048, sdxl: true))).Message, StringComparison.Ordinal);

    [Fact]
    public void The_yaml_command_writes_a_ControlNet_yaml_beside_the_model()
    {
        using var dir = new TestSupport.TempDir();
        string model = dir.File("control_v11e_sd15_shuffle.safetensors");
        new CheckpointBuilder()
            .AddZeros("input_hint_block.0.weight", DType.Float16, 16, 3, 3, 3)
            .AddZeros("time_embed.0.weight", DType.Float16, 1280, 320)
            .AddZeros("input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", DType.Float16, 320, 768)
            .AddZeros("zero_convs.0.0.weight", DType.Float16, 320, 320, 1, 1)
            .SaveSafetensors(model);
        using ModelFile file = ModelFile.Open(model);
        string written = file.WriteConfigYaml();
        Assert.EndsWith("control_v11e_sd15_shuffle.yaml", written, StringComparison.Ordinal);
        Assert.Equal("true", MiniYaml.Get(MiniYaml.Parse(File.ReadAllText(written)), "model.params.global_average_pooling"));
    }
}
