using System.IO.Compression;
using System.Text.Json;
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

        return ArchitectureDetector.Detect(b.Build().Tensors);
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

    // Fixtures/yaml-build/controlnet-*.json.gz: the keys and shapes (without the control_model. prefix) of
    // cldm.cldm.ControlNet built from the published control_stage_config (lllyasviel/ControlNet-v1-1-nightly
    // e2b44154, cldm_v15/control_v11p_sd15_canny.yaml and cldm_v21.yaml), recorded by tests/consumers/cldm_build_check.py,
    // which also builds the extension's ControlNet and the whole ControlLDM from SafeCkpt's yaml.
    private static Dictionary<string, long[]> Fixture(string id)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "yaml-build", id + ".json.gz");
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using JsonDocument doc = JsonDocument.Parse(gz);
        Assert.Equal(id, doc.RootElement.GetProperty("arch").GetString());
        return doc.RootElement.GetProperty("keys").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(e => e.GetInt64()).ToArray(), StringComparer.Ordinal);
    }

    /// <summary>A ControlNet file with exactly the recorded keys (zero-filled), as the nightly's models save them.</summary>
    private static TensorStore RealLayout(string id, string prefix)
    {
        var b = new CheckpointBuilder();
        foreach ((string key, long[] shape) in Fixture(id).OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            b.AddZeros(prefix + key, DType.Float16, shape);
        }

        return b.Build().Tensors;
    }

    public static TheoryData<string, string, string, string> RealFiles => new()
    {
        { "controlnet-sd15", "control_model.", "control_v11p_sd15_canny", "sd1" },
        { "controlnet-sd15", "", "control_v11e_sd15_shuffle", "sd1" },
        { "controlnet-sd21", "control_model.", "control_sd21_canny", "sd2" },
        { "controlnet-sd21", "", "control_sd21_canny", "sd2" },
    };

    [Theory]
    [MemberData(nameof(RealFiles))]
    public void A_ControlNet_with_the_built_keys_detects_as_controlnet_with_its_base(string id, string prefix, string stem, string baseArch)
    {
        _ = stem;
        ArchitectureReport report = ArchitectureDetector.Detect(RealLayout(id, prefix));
        Assert.Equal("controlnet", report.Id);
        Assert.Equal(baseArch, report.BaseArchitecture);
    }

    [Theory]
    [MemberData(nameof(RealFiles))]
    public void The_control_stage_config_describes_exactly_the_keys_cldm_builds_for_the_published_yaml(string id, string prefix, string stem, string baseArch)
    {
        _ = baseArch;
        Dictionary<string, long[]> expected = Fixture(id);
        Dictionary<string, object> yaml = MiniYaml.Parse(ConfigYaml.For(ArchitectureDetector.Detect(RealLayout(id, prefix)), stem));
        var control = (Dictionary<string, object>)MiniYaml.GetNode(yaml, "model.params.control_stage_config.params");
        Dictionary<string, long[]> described = YamlBuildFixtureTests.UnetKeys(control, prefix: "").ToDictionary(StringComparer.Ordinal);

        string[] missing = expected.Keys.Except(described.Keys).Order(StringComparer.Ordinal).ToArray();
        string[] extra = described.Keys.Except(expected.Keys).Order(StringComparer.Ordinal).ToArray();
        string[] reshaped = expected.Keys.Intersect(described.Keys).Where(k => !expected[k].SequenceEqual(described[k]))
            .Select(k => $"{k}: yaml [{string.Join(", ", described[k])}], built [{string.Join(", ", expected[k])}]").ToArray();
        Assert.True(missing.Length + extra.Length + reshaped.Length == 0, $"missing {string.Join(' ', missing.Take(10))}; extra {string.Join(' ', extra.Take(10))}; reshaped {string.Join("; ", reshaped.Take(10))}");
        Assert.Equal(340, expected.Count);

        // The controlled UNet is the same network with an output instead of the hint input.
        var unet = (Dictionary<string, object>)MiniYaml.GetNode(yaml, "model.params.unet_config.params");
        Assert.Equal(control.Keys.Where(k => k != "hint_channels").Append("out_channels").Order(StringComparer.Ordinal), unet.Keys.Order(StringComparer.Ordinal));
        Assert.All(control.Keys.Where(k => k != "hint_channels"), k => Assert.Equal(control[k], unet[k]));
        bool shuffle = stem.Contains("shuffle", StringComparison.Ordinal);
        var modelParams = (Dictionary<string, object>)MiniYaml.GetNode(yaml, "model.params");
        Assert.Equal(shuffle ? "true" : null, modelParams.GetValueOrDefault("global_average_pooling") as string);
    }
}
