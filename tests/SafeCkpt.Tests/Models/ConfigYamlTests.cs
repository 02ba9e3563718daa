using SafeCkpt.Models;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Models;

public class ConfigYamlTests
{
    public static TheoryData<string> SupportedIds =>
        ["sd1", "sd1-inpaint", "sd1-pix2pix", "sd2", "sd2-v", "sd2-inpaint", "sd2-depth", "sd2-unclip-l", "sd2-unclip-h", "sdxl", "sdxl-refiner", "sdxl-inpaint"];

    private static string YamlFor(string id) => ConfigYaml.For(ArchitectureDetector.Detect(Layouts.For(id).Build().Tensors));

    [Theory]
    [MemberData(nameof(SupportedIds))]
    public void Every_supported_config_is_structurally_valid_yaml_with_a_first_comment_naming_the_architecture(string id)
    {
        string yaml = YamlFor(id);
        string first = yaml.Split('\n')[0];
        Assert.StartsWith($"# Config for {id} ", first, StringComparison.Ordinal);
        Assert.Contains("SafeCkpt", first, StringComparison.Ordinal);
        Dictionary<string, object> doc = MiniYaml.Parse(yaml);
        Assert.True(doc.ContainsKey("model"));
    }

    [Theory]
    [InlineData("sd1", "model.target", "ldm.models.diffusion.ddpm.LatentDiffusion")]
    [InlineData("sd1", "model.params.unet_config.params.context_dim", "768")]
    [InlineData("sd1", "model.params.unet_config.params.in_channels", "4")]
    [InlineData("sd1", "model.params.unet_config.params.num_heads", "8")]
    [InlineData("sd1", "model.params.cond_stage_config.target", "ldm.modules.encoders.modules.FrozenCLIPEmbedder")]
    [InlineData("sd1", "model.params.scale_factor", "0.18215")]
    [InlineData("sd1-inpaint", "model.target", "ldm.models.diffusion.ddpm.LatentInpaintDiffusion")]
    [InlineData("sd1-inpaint", "model.params.unet_config.params.in_channels", "9")]
    [InlineData("sd1-inpaint", "model.params.conditioning_key", "hybrid")]
    [InlineData("sd1-pix2pix", "model.target", "modules.models.diffusion.ddpm_edit.LatentDiffusion")]
    [InlineData("sd1-pix2pix", "model.params.image_size", "16")]
    [InlineData("sd1-pix2pix", "model.params.first_stage_key", "edited")]
    [InlineData("sd1-pix2pix", "model.params.cond_stage_key", "edit")]
    [InlineData("sd1-pix2pix", "model.params.unet_config.params.in_channels", "8")]
    [InlineData("sd2", "model.params.unet_config.params.context_dim", "1024")]
    [InlineData("sd2", "model.params.unet_config.params.use_linear_in_transformer", "true")]
    [InlineData("sd2", "model.params.unet_config.params.num_head_channels", "64")]
    [InlineData("sd2", "model.params.cond_stage_config.target", "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder")]
    [InlineData("sd2-v", "model.params.parameterization", "v")]
    [InlineData("sd2-v", "model.params.image_size", "64")]
    [InlineData("sd2-v", "model.params.unet_config.params.use_fp16", "true")]
    [InlineData("sd2-inpaint", "model.target", "ldm.models.diffusion.ddpm.LatentInpaintDiffusion")]
    [InlineData("sd2-inpaint", "model.params.unet_config.params.in_channels", "9")]
    [InlineData("sd2-depth", "model.target", "ldm.models.diffusion.ddpm.LatentDepth2ImageDiffusion")]
    [InlineData("sd2-depth", "model.params.unet_config.params.in_channels", "5")]
    [InlineData("sd2-depth", "model.params.depth_stage_config.params.model_type", "dpt_hybrid")]
    [InlineData("sd2-unclip-l", "model.params.unet_config.params.adm_in_channels", "1536")]
    [InlineData("sd2-unclip-l", "model.params.embedder_config.target", "ldm.modules.encoders.modules.ClipImageEmbedder")]
    [InlineData("sd2-unclip-l", "model.params.embedder_config.params.model", "ViT-L/14")]
    [InlineData("sd2-unclip-l", "model.params.noise_aug_config.params.clip_stats_path", "checkpoints/karlo_models/ViT-L-14_stats.th")]
    [InlineData("sd2-unclip-l", "model.params.noise_aug_config.params.timestep_dim", "768")]
    [InlineData("sd2-unclip-l", "model.params.image_size", "96")]
    [InlineData("sd2-unclip-l", "model.params.first_stage_config.params.ddconfig.attn_type", "vanilla-xformers")]
    [InlineData("sd2-unclip-h", "model.params.embedder_config.target", "ldm.modules.encoders.modules.FrozenOpenCLIPImageEmbedder")]
    [InlineData("sd2-unclip-h", "model.params.noise_aug_config.params.timestep_dim", "1024")]
    [InlineData("sd2-unclip-h", "model.params.conditioning_key", "crossattn-adm")]
    [InlineData("sd2-unclip-h", "model.params.unet_config.params.adm_in_channels", "2048")]
    [InlineData("sd2-unclip-h", "model.params.parameterization", "v")]
    [InlineData("sdxl", "model.target", "sgm.models.diffusion.DiffusionEngine")]
    [InlineData("sdxl", "model.params.network_config.params.context_dim", "2048")]
    [InlineData("sdxl", "model.params.network_config.params.adm_in_channels", "2816")]
    [InlineData("sdxl", "model.params.network_config.params.model_channels", "320")]
    [InlineData("sdxl", "model.params.network_config.params.transformer_depth", "[1, 2, 10]")]
    [InlineData("sdxl", "model.params.denoiser_config.params.scaling_config.target", "sgm.modules.diffusionmodules.denoiser_scaling.EpsScaling")]
    [InlineData("sdxl", "model.params.scale_factor", "0.13025")]
    [InlineData("sdxl", "model.params.network_config.params.use_spatial_transformer", "true")]
    [InlineData("sdxl", "model.params.network_config.params.legacy", "false")]
    [InlineData("sdxl", "model.params.network_config.params.attention_resolutions", "[4, 2]")]
    [InlineData("sdxl", "model.params.denoiser_config.params.weighting_config.target", "sgm.modules.diffusionmodules.denoiser_weighting.EpsWeighting")]
    [InlineData("sdxl", "model.params.first_stage_config.target", "sgm.models.autoencoder.AutoencoderKLInferenceWrapper")]
    [InlineData("sdxl", "model.params.first_stage_config.params.ddconfig.attn_type", "vanilla-xformers")]
    [InlineData("sdxl-refiner", "model.params.network_config.params.use_spatial_transformer", "true")]
    [InlineData("sdxl-refiner", "model.params.network_config.params.legacy", "false")]
    [InlineData("sdxl-refiner", "model.params.network_config.params.transformer_depth", "4")]
    [InlineData("sdxl-refiner", "model.params.network_config.params.channel_mult", "[1, 2, 4, 4]")]
    [InlineData("sdxl-refiner", "model.params.denoiser_config.params.weighting_config.target", "sgm.modules.diffusionmodules.denoiser_weighting.EpsWeighting")]
    [InlineData("sdxl-inpaint", "model.params.network_config.params.use_spatial_transformer", "true")]
    [InlineData("sdxl-inpaint", "model.params.denoiser_config.params.weighting_config.target", "sgm.modules.diffusionmodules.denoiser_weighting.EpsWeighting")]
    [InlineData("sdxl-refiner", "model.params.network_config.params.model_channels", "384")]
    [InlineData("sdxl-refiner", "model.params.network_config.params.context_dim", "[1280, 1280, 1280, 1280]")]
    [InlineData("sdxl-refiner", "model.params.network_config.params.adm_in_channels", "2560")]
    [InlineData("sdxl-inpaint", "model.params.network_config.params.in_channels", "9")]
    public void Each_config_carries_the_published_key_facts(string id, string path, string expected) =>
        Assert.Equal(expected, MiniYaml.Get(MiniYaml.Parse(YamlFor(id)), path));

    [Fact]
    public void Sdxl_has_two_text_embedders_and_three_size_embedders_the_refiner_one_and_three()
    {
        var baseModels = (List<object>)MiniYaml.GetNode(MiniYaml.Parse(YamlFor("sdxl")), "model.params.conditioner_config.params.emb_models");
        Assert.Equal(5, baseModels.Count);
        Assert.Equal("sgm.modules.encoders.modules.FrozenCLIPEmbedder", ((Dictionary<string, object>)baseModels[0])["target"]);
        Assert.Equal("11", MiniYaml.Get((Dictionary<string, object>)baseModels[0], "params.layer_idx"));
        var refiner = (List<object>)MiniYaml.GetNode(MiniYaml.Parse(YamlFor("sdxl-refiner")), "model.params.conditioner_config.params.emb_models");
        Assert.Equal(4, refiner.Count);
        Assert.Equal("aesthetic_score", ((Dictionary<string, object>)refiner[3])["input_key"]);
    }

    [Fact]
    public void A_v_pred_sdxl_gets_v_scaling_and_v_weighting()
    {
        string yaml = ConfigYaml.For(ArchitectureDetector.Detect(Layouts.For("sdxl").AddZeros("v_pred", global::SafeCkpt.Tensors.DType.Float32, 0).Build().Tensors));
        Dictionary<string, object> doc = MiniYaml.Parse(yaml);
        Assert.Equal("sgm.modules.diffusionmodules.denoiser_scaling.VScaling", MiniYaml.Get(doc, "model.params.denoiser_config.params.scaling_config.target"));
        Assert.Equal("sgm.modules.diffusionmodules.denoiser_weighting.VWeighting", MiniYaml.Get(doc, "model.params.denoiser_config.params.weighting_config.target"));
    }

    [Theory]
    [InlineData("sdxl", 1)]
    [InlineData("sdxl-inpaint", 1)]
    [InlineData("sdxl-refiner", 0)]
    public void The_bigG_embedder_is_not_legacy_on_base_and_refiner(string id, int index)
    {
        var models = (List<object>)MiniYaml.GetNode(MiniYaml.Parse(YamlFor(id)), "model.params.conditioner_config.params.emb_models");
        var bigG = (Dictionary<string, object>)models[index];
        Assert.Equal("sgm.modules.encoders.modules.FrozenOpenCLIPEmbedder2", bigG["target"]);
        Assert.Equal("false", MiniYaml.Get(bigG, "params.legacy"));
        Assert.Equal("true", MiniYaml.Get(bigG, "params.always_return_pooled"));
        Assert.Equal("penultimate", MiniYaml.Get(bigG, "params.layer"));
        Assert.Equal("ViT-bigG-14", MiniYaml.Get(bigG, "params.arch"));
    }

    /// <summary>Keys the published config of an architecture does not have (A1111 would act on them if present).</summary>
    [Theory]
    [InlineData("sd2-unclip-h", "model.params.noise_aug_config.params.clip_stats_path")]
    [InlineData("sd2-unclip-h", "model.params.embedder_config.params")]
    [InlineData("sd2-unclip-l", "model.params.num_timesteps_cond")]
    [InlineData("sd2-inpaint", "model.params.unet_config.params.use_fp16")]
    [InlineData("sd2-depth", "model.params.unet_config.params.use_fp16")]
    [InlineData("sd2-unclip-l", "model.params.unet_config.params.use_fp16")]
    [InlineData("sd1-pix2pix", "model.params.load_ema")]
    [InlineData("sd1", "model.params.first_stage_config.params.ddconfig.attn_type")]
    [InlineData("sd2", "model.params.first_stage_config.params.ddconfig.attn_type")]
    public void Keys_the_published_config_lacks_are_absent(string id, string path)
    {
        Dictionary<string, object> doc = MiniYaml.Parse(YamlFor(id));
        string[] parts = path.Split('.');
        var parent = (Dictionary<string, object>)MiniYaml.GetNode(doc, string.Join('.', parts[..^1]));
        Assert.False(parent.ContainsKey(parts[^1]), $"{id} has {path}");
    }

    /// <summary>
    /// The facts A1111 acts on, per architecture: the model class, the UNet class and its shape parameters, the
    /// conditioning, the first stage and the text encoder.
    /// </summary>
    [Theory]
    [InlineData("sd1", "ldm.models.diffusion.ddpm.LatentDiffusion", "crossattn", 4, 768, "ldm.modules.encoders.modules.FrozenCLIPEmbedder")]
    [InlineData("sd1-inpaint", "ldm.models.diffusion.ddpm.LatentInpaintDiffusion", "hybrid", 9, 768, "ldm.modules.encoders.modules.FrozenCLIPEmbedder")]
    [InlineData("sd1-pix2pix", "modules.models.diffusion.ddpm_edit.LatentDiffusion", "hybrid", 8, 768, "ldm.modules.encoders.modules.FrozenCLIPEmbedder")]
    [InlineData("sd2", "ldm.models.diffusion.ddpm.LatentDiffusion", "crossattn", 4, 1024, "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder")]
    [InlineData("sd2-v", "ldm.models.diffusion.ddpm.LatentDiffusion", "crossattn", 4, 1024, "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder")]
    [InlineData("sd2-inpaint", "ldm.models.diffusion.ddpm.LatentInpaintDiffusion", "hybrid", 9, 1024, "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder")]
    [InlineData("sd2-depth", "ldm.models.diffusion.ddpm.LatentDepth2ImageDiffusion", "hybrid", 5, 1024, "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder")]
    [InlineData("sd2-unclip-l", "ldm.models.diffusion.ddpm.ImageEmbeddingConditionedLatentDiffusion", "crossattn-adm", 4, 1024, "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder")]
    [InlineData("sd2-unclip-h", "ldm.models.diffusion.ddpm.ImageEmbeddingConditionedLatentDiffusion", "crossattn-adm", 4, 1024, "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder")]
    public void Ldm_configs_carry_the_facts_a1111_acts_on(string id, string target, string conditioning, int inChannels, int context, string textEncoder)
    {
        Dictionary<string, object> doc = MiniYaml.Parse(YamlFor(id));
        bool sd2 = id.StartsWith("sd2", StringComparison.Ordinal);
        Assert.Equal(target, MiniYaml.Get(doc, "model.target"));
        Assert.Equal(conditioning, MiniYaml.Get(doc, "model.params.conditioning_key"));
        Assert.Equal("0.18215", MiniYaml.Get(doc, "model.params.scale_factor"));
        Assert.Equal("false", MiniYaml.Get(doc, "model.params.use_ema"));
        Assert.Equal("false", MiniYaml.Get(doc, "model.params.cond_stage_trainable"));
        Assert.Equal("0.00085", MiniYaml.Get(doc, "model.params.linear_start"));
        Assert.Equal("0.012", MiniYaml.Get(doc, "model.params.linear_end"));
        Assert.Equal("1000", MiniYaml.Get(doc, "model.params.timesteps"));
        bool v = id is "sd2-v" or "sd2-unclip-l" or "sd2-unclip-h";
        var p = (Dictionary<string, object>)MiniYaml.GetNode(doc, "model.params");
        Assert.Equal(v, p.ContainsKey("parameterization"));
        var unet = (Dictionary<string, object>)MiniYaml.GetNode(doc, "model.params.unet_config.params");
        Assert.Equal("ldm.modules.diffusionmodules.openaimodel.UNetModel", MiniYaml.Get(doc, "model.params.unet_config.target"));
        Assert.Equal(inChannels.ToString(System.Globalization.CultureInfo.InvariantCulture), unet["in_channels"]);
        Assert.Equal("4", unet["out_channels"]);
        Assert.Equal("320", unet["model_channels"]);
        Assert.Equal("[4, 2, 1]", unet["attention_resolutions"]);
        Assert.Equal("[1, 2, 4, 4]", unet["channel_mult"]);
        Assert.Equal("1", unet["transformer_depth"]);
        Assert.Equal(context.ToString(System.Globalization.CultureInfo.InvariantCulture), unet["context_dim"]);
        Assert.Equal("true", unet["use_spatial_transformer"]);
        Assert.Equal("false", unet["legacy"]);
        Assert.Equal(sd2 ? "true" : null, unet.GetValueOrDefault("use_linear_in_transformer"));
        Assert.Equal(sd2 ? "64" : null, unet.GetValueOrDefault("num_head_channels"));
        Assert.Equal(sd2 ? null : "8", unet.GetValueOrDefault("num_heads"));
        Assert.Equal("ldm.models.autoencoder.AutoencoderKL", MiniYaml.Get(doc, "model.params.first_stage_config.target"));
        Assert.Equal("4", MiniYaml.Get(doc, "model.params.first_stage_config.params.embed_dim"));
        Assert.Equal("[1, 2, 4, 4]", MiniYaml.Get(doc, "model.params.first_stage_config.params.ddconfig.ch_mult"));
        Assert.Equal("torch.nn.Identity", MiniYaml.Get(doc, "model.params.first_stage_config.params.lossconfig.target"));
        Assert.Equal(textEncoder, MiniYaml.Get(doc, "model.params.cond_stage_config.target"));
        if (sd2)
        {
            Assert.Equal("penultimate", MiniYaml.Get(doc, "model.params.cond_stage_config.params.layer"));
        }
    }

    [Theory]
    [InlineData("sdxl", 4, 320, 2816, "2048", "[1, 2, 10]", 5)]
    [InlineData("sdxl-inpaint", 9, 320, 2816, "2048", "[1, 2, 10]", 5)]
    [InlineData("sdxl-refiner", 4, 384, 2560, "[1280, 1280, 1280, 1280]", "4", 4)]
    public void Sgm_configs_carry_the_facts_a1111_acts_on(string id, int inChannels, int channels, int adm, string context, string depth, int embedders)
    {
        Dictionary<string, object> doc = MiniYaml.Parse(YamlFor(id));
        Assert.Equal("sgm.models.diffusion.DiffusionEngine", MiniYaml.Get(doc, "model.target"));
        Assert.Equal("0.13025", MiniYaml.Get(doc, "model.params.scale_factor"));
        Assert.Equal("true", MiniYaml.Get(doc, "model.params.disable_first_stage_autocast"));
        Assert.Equal("sgm.modules.diffusionmodules.denoiser.DiscreteDenoiser", MiniYaml.Get(doc, "model.params.denoiser_config.target"));
        Assert.Equal("1000", MiniYaml.Get(doc, "model.params.denoiser_config.params.num_idx"));
        Assert.Equal("sgm.modules.diffusionmodules.discretizer.LegacyDDPMDiscretization", MiniYaml.Get(doc, "model.params.denoiser_config.params.discretization_config.target"));
        var n = (Dictionary<string, object>)MiniYaml.GetNode(doc, "model.params.network_config.params");
        Assert.Equal("sgm.modules.diffusionmodules.openaimodel.UNetModel", MiniYaml.Get(doc, "model.params.network_config.target"));
        Assert.Equal(inChannels.ToString(System.Globalization.CultureInfo.InvariantCulture), n["in_channels"]);
        Assert.Equal(channels.ToString(System.Globalization.CultureInfo.InvariantCulture), n["model_channels"]);
        Assert.Equal(adm.ToString(System.Globalization.CultureInfo.InvariantCulture), n["adm_in_channels"]);
        Assert.Equal("sequential", n["num_classes"]);
        Assert.Equal(context, n["context_dim"]);
        Assert.Equal(depth, n["transformer_depth"]);
        Assert.Equal("64", n["num_head_channels"]);
        Assert.Equal("true", n["use_linear_in_transformer"]);
        Assert.Equal("true", n["use_spatial_transformer"]);
        Assert.Equal("false", n["legacy"]);
        Assert.Equal("sgm.modules.GeneralConditioner", MiniYaml.Get(doc, "model.params.conditioner_config.target"));
        Assert.Equal(embedders, ((List<object>)MiniYaml.GetNode(doc, "model.params.conditioner_config.params.emb_models")).Count);
        Assert.Equal("sgm.models.autoencoder.AutoencoderKLInferenceWrapper", MiniYaml.Get(doc, "model.params.first_stage_config.target"));
        Assert.Equal("4", MiniYaml.Get(doc, "model.params.first_stage_config.params.embed_dim"));
    }

    [Theory]
    [InlineData("flux-dev")]
    [InlineData("sd3")]
    [InlineData("lora")]
    [InlineData("vae")]
    [InlineData("unet")]
    public void Architectures_without_a_config_are_refused_with_a_clear_message(string id)
    {
        var ex = Assert.Throws<ConversionException>(() => YamlFor(id));
        Assert.Contains($"No config yaml for '{id}'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Write_config_yaml_puts_model_yaml_beside_the_model_and_refuses_to_overwrite()
    {
        using var dir = new TempDir();
        string model = dir.File("m.safetensors");
        Layouts.For("sd1").SaveSafetensors(model);
        using ModelFile file = ModelFile.Open(model);
        string written = file.WriteConfigYaml();
        Assert.Equal(dir.File("m.yaml"), written);
        Assert.Equal("768", MiniYaml.Get(MiniYaml.Parse(File.ReadAllText(written)), "model.params.unet_config.params.context_dim"));
        Assert.Throws<OutputException>(() => file.WriteConfigYaml());
        file.WriteConfigYaml(options: new SaveOptions { Overwrite = true });
        Assert.Equal(["m.safetensors", "m.yaml"], dir.Files().Order());
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("true", "\"true\"")]
    [InlineData("a: b", "\"a: b\"")]
    [InlineData("", "\"\"")]
    [InlineData("ViT-L/14", "ViT-L/14")]
    public void Strings_are_quoted_only_when_yaml_would_misread_them(string value, string expected) => Assert.Equal(expected, YamlWriter.Scalar(value));

    [Fact]
    public void Floats_always_carry_a_decimal_point() => Assert.Equal(["0.0001", "0.0", "0.012"], new object[] { 0.0001, 0.0, 0.012 }.Select(YamlWriter.Scalar));
}

/// <summary>
/// A strict reader for the block YAML subset ConfigYaml writes (maps by indentation, <c>- </c> lists of maps,
/// flow lists kept as text): any line that does not fit the structure fails the test.
/// </summary>
public static class MiniYaml
{
    public static Dictionary<string, object> Parse(string text)
    {
        string[] lines = text.Split('\n').Where(l => l.Length > 0 && !l.TrimStart().StartsWith('#')).ToArray();
        int i = 0;
        Dictionary<string, object> root = ParseMap(lines, ref i, 0);
        Assert.True(i == lines.Length, $"unparsed line {i}: '{(i < lines.Length ? lines[i] : string.Empty)}'");
        return root;
    }

    public static object GetNode(Dictionary<string, object> doc, string path)
    {
        object node = doc;
        foreach (string part in path.Split('.'))
        {
            node = ((Dictionary<string, object>)node)[part];
        }

        return node;
    }

    public static string Get(Dictionary<string, object> doc, string path) => (string)GetNode(doc, path);

    private static int Indent(string line) => line.Length - line.TrimStart(' ').Length;

    private static Dictionary<string, object> ParseMap(string[] lines, ref int i, int indent, string? firstInline = null)
    {
        var map = new Dictionary<string, object>();
        while (i < lines.Length || firstInline is not null)
        {
            string content;
            if (firstInline is not null)
            {
                content = firstInline;
                firstInline = null;
            }
            else
            {
                if (Indent(lines[i]) < indent)
                {
                    break;
                }

                Assert.True(Indent(lines[i]) == indent, $"bad indentation at '{lines[i]}' (expected {indent})");
                content = lines[i].Trim();
            }

            i++;
            int colon = content.IndexOf(':', StringComparison.Ordinal);
            Assert.True(colon > 0, $"not a key: '{content}'");
            string key = content[..colon];
            string rest = content[(colon + 1)..].Trim();
            Assert.False(map.ContainsKey(key), $"duplicate key {key}");
            if (rest.Length > 0)
            {
                map[key] = rest;
            }
            else if (i < lines.Length && lines[i].TrimStart().StartsWith("- ", StringComparison.Ordinal) && Indent(lines[i]) > indent)
            {
                var list = new List<object>();
                int dash = Indent(lines[i]);
                while (i < lines.Length && Indent(lines[i]) == dash && lines[i].TrimStart().StartsWith("- ", StringComparison.Ordinal))
                {
                    string inline = lines[i].TrimStart()[2..];
                    list.Add(ParseMap(lines, ref i, dash + 2, inline)); // the dash line is the map's first entry
                }

                map[key] = list;
            }
            else
            {
                Assert.True(i < lines.Length && Indent(lines[i]) > indent, $"key {key} has no value");
                map[key] = ParseMap(lines, ref i, Indent(lines[i]));
            }
        }

        return map;
    }
}
