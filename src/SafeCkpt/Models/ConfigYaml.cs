using System.Text;
using SafeCkpt.IO;

namespace SafeCkpt.Models;

/// <summary>
/// The LDM/SGM config yaml A1111, Forge and other web UIs read beside a checkpoint (<c>MODEL.yaml</c>), for the
/// architectures that have one: SD 1.x (and inpainting, InstructPix2Pix), SD 2.x (512, 768-v, inpainting, depth,
/// unCLIP L/H) and SDXL (base, refiner, inpainting). Written from the facts of the published configs
/// (<c>v1-inference.yaml</c>, <c>v1-inpainting-inference.yaml</c>, <c>instruct-pix2pix.yaml</c>,
/// <c>v2-inference(-v).yaml</c>, <c>v2-inpainting-inference.yaml</c>, <c>v2-midas-inference.yaml</c>,
/// <c>v2-1-stable-unclip-l/h-inference.yaml</c>, <c>sd_xl_base.yaml</c>, <c>sd_xl_refiner.yaml</c>,
/// <c>sd_xl_inpaint.yaml</c>); v-prediction found by markers or metadata adds <c>parameterization: "v"</c>
/// (LDM) or <c>VScaling</c>/<c>VWeighting</c> (SGM). The yamls are for the code A1111 runs: <c>ldm</c> from
/// Stability-AI/stablediffusion at cf1d67a, <c>sgm</c> from Stability-AI/generative-models at 45c443b (where
/// <c>AutoencoderKLInferenceWrapper</c> still exists and the denoiser needs a weighting config), and A1111's own
/// <c>modules.models.diffusion.ddpm_edit</c> for InstructPix2Pix; tests/consumers/yaml_build_check.py builds
/// each one under that code.
/// </summary>
internal static class ConfigYaml
{
    private static readonly HashSet<string> Supported = new(ArchitectureCatalog.ConfigYamlIds, StringComparer.Ordinal);

    private static readonly string[] BaseSizeKeys = ["original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple"];
    private static readonly string[] RefinerSizeKeys = ["original_size_as_tuple", "crop_coords_top_left", "aesthetic_score"];

    /// <summary>Whether an architecture id has a config yaml.</summary>
    /// <param name="id">An <see cref="ArchitectureReport.Id"/>.</param>
    /// <returns>True for the SD 1.x, 2.x and SDXL ids.</returns>
    public static bool IsSupported(string id) => Supported.Contains(id) || id == "controlnet";

    /// <summary>The config yaml for a detected architecture.</summary>
    /// <param name="report">The detection report.</param>
    /// <returns>The yaml text; its first line says which architecture it was written for.</returns>
    /// <exception cref="ConversionException">The architecture has no config yaml, or its prediction type has none SafeCkpt knows.</exception>
    public static string For(ArchitectureReport report) => For(report, fileStem: null);

    /// <summary>
    /// <see cref="For(ArchitectureReport)"/> knowing the yaml's file name, which decides ControlNet 1.1's shuffle flag
    /// (see <see cref="ControlNetYaml"/>).
    /// </summary>
    internal static string For(ArchitectureReport report, string? fileStem)
    {
        ArgumentNullException.ThrowIfNull(report);
        string id = report.Id;
        if (id == "controlnet")
        {
            return ControlNetYaml.For(report, fileStem);
        }

        if (!Supported.Contains(id))
        {
            string why = id switch
            {
                "unknown" => "its architecture is unknown (" + report.Reason + ")",
                "unet" => $"it is a UNet-only file ({report.BaseArchitecture ?? "unknown"} UNet without VAE and text encoder); web UIs read a config only beside a whole checkpoint",
                _ when ArchitectureCatalog.IsKind(id) => $"it is a {ArchitectureCatalog.NameOf(id)} file, not a checkpoint (ControlNets of SD 1.x and 2.x get one)",
                _ => $"{ArchitectureCatalog.NameOf(id)} checkpoints need no LDM config yaml (their loaders detect them)",
            };
            throw new ConversionException(SafeCkptErrorCode.UnsupportedFormat, null, $"No config yaml for '{id}': {why}. Config yamls exist for {string.Join(", ", Supported)}.");
        }

        if (report.Variant == "sgm")
        {
            throw new ConversionException(SafeCkptErrorCode.UnsupportedFormat, null, $"No config yaml for this {report.Name} checkpoint: it is saved in the SGM layout (text encoder as conditioner.embedders.0), so the LDM config would leave its text encoder unloaded in A1111. generative-models' sd_2_1.yaml describes this layout; SafeCkpt does not write it yet.");
        }

        if (report.PredictionType is PredictionType.Edm or PredictionType.VEdm)
        {
            throw new ConversionException(SafeCkptErrorCode.UnsupportedFormat, null, $"No config yaml for '{id}' with an EDM schedule ({report.PredictionType}): no published LDM config describes it; ComfyUI reads the edm_* markers instead.");
        }

        bool v = report.PredictionType == PredictionType.V;
        YamlMap root = ArchitectureCatalog.Get(id)!.Family == "sdxl" ? Sgm(id, v) : Ldm(id, v);
        string prediction = v ? "v-prediction" : "epsilon";
        return YamlWriter.Write(root, [$"Config for {id} ({report.Name}, {prediction}), written by SafeCkpt from the published {Source(id, v)}."]);
    }

    /// <summary>Writes the config for a detected architecture to a file, atomically (e.g. beside a converted model).</summary>
    /// <param name="report">The detected architecture (of the model the config is for).</param>
    /// <param name="path">The yaml file to write.</param>
    /// <param name="options">Overwrite and flush settings.</param>
    /// <exception cref="ConversionException">No config exists for the architecture.</exception>
    /// <exception cref="OutputException">The file exists or cannot be written.</exception>
    public static void Write(ArchitectureReport report, string path, SaveOptions? options = null) => Write(report, path, options, []);

    /// <summary>Writes <see cref="For(ArchitectureReport)"/>'s text atomically.</summary>
    internal static void Write(ArchitectureReport report, string path, SaveOptions? options, IEnumerable<string> inputs)
    {
        options ??= SaveOptions.Default;
        using AtomicOutput output = Stage(report, path, options.Overwrite, inputs);
        output.Commit(options.FlushToDisk);
    }

    /// <summary>
    /// Writes <see cref="For(ArchitectureReport)"/>'s text to the temporary file of an <see cref="AtomicOutput"/> and leaves it there:
    /// the caller commits it (renames it into place) once the model beside it is written, or disposes it to leave
    /// nothing behind.
    /// </summary>
    internal static AtomicOutput Stage(ArchitectureReport report, string path, bool overwrite, IEnumerable<string> inputs)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(For(report, System.IO.Path.GetFileNameWithoutExtension(path)));
        AtomicOutput output = AtomicOutput.Create(path, overwrite, inputs, bytes.Length);
        try
        {
            output.Append(bytes);
            output.FinishAppending();
            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    private static string Source(string id, bool v) => id switch
    {
        "sd1" when v => "v1-inference.yaml (with parameterization v)",
        "sdxl" when v => "sd_xl_base.yaml (with VScaling, as sd_xl_v.yaml)",
        _ => ArchitectureCatalog.ConfigYamlOf(id)!,
    };

    private static YamlMap Ldm(string id, bool v)
    {
        bool sd2 = id.StartsWith("sd2", StringComparison.Ordinal);
        (string target, string conditioning, long inChannels) = id switch
        {
            "sd1-inpaint" or "sd2-inpaint" => ("ldm.models.diffusion.ddpm.LatentInpaintDiffusion", "hybrid", 9L),
            // A1111 ships InstructPix2Pix's ddpm_edit as its own module (the ldm repository has none).
            "sd1-pix2pix" => ("modules.models.diffusion.ddpm_edit.LatentDiffusion", "hybrid", 8L),
            "sd2-depth" => ("ldm.models.diffusion.ddpm.LatentDepth2ImageDiffusion", "hybrid", 5L),
            "sd2-unclip-l" or "sd2-unclip-h" => ("ldm.models.diffusion.ddpm.ImageEmbeddingConditionedLatentDiffusion", "crossattn-adm", 4L),
            _ => ("ldm.models.diffusion.ddpm.LatentDiffusion", "crossattn", 4L),
        };
        bool parameterizationV = v || id is "sd2-v" or "sd2-unclip-l" or "sd2-unclip-h";
        var p = new YamlMap();
        if (parameterizationV)
        {
            p.Add("parameterization", "v");
        }

        p.Add("linear_start", 0.00085);
        p.Add("linear_end", 0.012);
        bool unclip = id is "sd2-unclip-l" or "sd2-unclip-h";
        if (!unclip)
        {
            p.Add("num_timesteps_cond", 1);
        }

        p.Add("log_every_t", 200);
        p.Add("timesteps", 1000);
        p.Add("first_stage_key", id == "sd1-pix2pix" ? "edited" : "jpg");
        p.Add("cond_stage_key", id == "sd1-pix2pix" ? "edit" : "txt");
        // As published: v2-inference-v.yaml says 64 (the sampler size comes from the UI), the unCLIP configs 96,
        // A1111's instruct-pix2pix.yaml 16.
        p.Add("image_size", unclip ? 96 : id == "sd1-pix2pix" ? 16 : 64);
        p.Add("channels", 4);
        p.Add("cond_stage_trainable", false);
        p.Add("conditioning_key", conditioning);
        if (id is "sd1-inpaint" or "sd2-inpaint" or "sd2-depth")
        {
            p.Add("finetune_keys", null);
        }

        p.Add("monitor", "val/loss_simple_ema");
        p.Add("scale_factor", 0.18215);
        p.Add("use_ema", false);
        if (id == "sd2-depth")
        {
            p.Add("depth_stage_config", new YamlMap { { "target", "ldm.modules.midas.api.MiDaSInference" }, { "params", new YamlMap { { "model_type", "dpt_hybrid" } } } });
        }

        if (id is "sd2-unclip-l" or "sd2-unclip-h")
        {
            bool l = id == "sd2-unclip-l";
            p.Add("embedding_dropout", 0.25);
            p.Add("noise_aug_config", new YamlMap
            {
                { "target", "ldm.modules.encoders.modules.CLIPEmbeddingNoiseAugmentation" },
                { "params", NoiseAugmentation(l) },
            });
            p.Add("embedder_config", l
                ? new YamlMap { { "target", "ldm.modules.encoders.modules.ClipImageEmbedder" }, { "params", new YamlMap { { "model", "ViT-L/14" } } } }
                : new YamlMap { { "target", "ldm.modules.encoders.modules.FrozenOpenCLIPImageEmbedder" } }); // its defaults are ViT-H-14 laion2b_s32b_b79k
        }

        var unet = new YamlMap();
        if (sd2)
        {
            unet.Add("use_checkpoint", true);
            if (id is "sd2" or "sd2-v")
            {
                // Only v2-inference(-v).yaml set it; A1111 keeps the yaml's value unless --no-half/--upcast-sampling.
                unet.Add("use_fp16", true);
            }
        }

        if (id is "sd2-unclip-l" or "sd2-unclip-h")
        {
            unet.Add("num_classes", "sequential");
            unet.Add("adm_in_channels", id == "sd2-unclip-l" ? 1536 : 2048);
        }

        AddLdmNetwork(unet, sd2, inChannels, hint: false);
        p.Add("unet_config", new YamlMap { { "target", "ldm.modules.diffusionmodules.openaimodel.UNetModel" }, { "params", unet } });
        p.Add("first_stage_config", FirstStage("ldm.models.autoencoder.AutoencoderKL", attnType: unclip ? "vanilla-xformers" : null));
        p.Add("cond_stage_config", LdmTextEncoder(sd2));
        return new YamlMap { { "model", new YamlMap { { "base_learning_rate", 0.0001 }, { "target", target }, { "params", p } } } };
    }

    private static YamlMap Sgm(string id, bool v)
    {
        bool refiner = id == "sdxl-refiner";
        var network = new YamlMap
        {
            { "adm_in_channels", refiner ? 2560 : 2816 },
            { "num_classes", "sequential" },
            { "use_checkpoint", true },
            { "in_channels", id == "sdxl-inpaint" ? 9 : 4 },
            { "out_channels", 4 },
            { "model_channels", refiner ? 384 : 320 },
            { "attention_resolutions", Ints(4, 2) },
            { "num_res_blocks", 2 },
            { "channel_mult", refiner ? Ints(1, 2, 4, 4) : Ints(1, 2, 4) },
            { "num_head_channels", 64 },
            { "use_spatial_transformer", true }, // sgm's UNetModel asserts it whenever context_dim is set
            { "use_linear_in_transformer", true },
            { "transformer_depth", refiner ? 4 : (object)Ints(1, 2, 10) },
            { "context_dim", refiner ? Ints(1280, 1280, 1280, 1280) : 2048 },
            { "spatial_transformer_attn_type", "softmax-xformers" },
            { "legacy", false }, // sgm defaults to legacy=True
        };
        var embedders = new List<YamlMap>();
        if (!refiner)
        {
            embedders.Add(new YamlMap
            {
                { "is_trainable", false }, { "input_key", "txt" }, { "target", "sgm.modules.encoders.modules.FrozenCLIPEmbedder" },
                { "params", new YamlMap { { "layer", "hidden" }, { "layer_idx", 11 } } },
            });
        }

        // legacy: False for the base and the refiner alike (the embedder defaults to legacy=True).
        var bigG = new YamlMap { { "arch", "ViT-bigG-14" }, { "version", "laion2b_s39b_b160k" }, { "freeze", true }, { "layer", "penultimate" }, { "always_return_pooled", true }, { "legacy", false } };

        embedders.Add(new YamlMap { { "is_trainable", false }, { "input_key", "txt" }, { "target", "sgm.modules.encoders.modules.FrozenOpenCLIPEmbedder2" }, { "params", bigG } });
        foreach (string key in refiner ? RefinerSizeKeys : BaseSizeKeys)
        {
            embedders.Add(new YamlMap { { "is_trainable", false }, { "input_key", key }, { "target", "sgm.modules.encoders.modules.ConcatTimestepEmbedderND" }, { "params", new YamlMap { { "outdim", 256 } } } });
        }

        var denoiser = new YamlMap
        {
            { "target", "sgm.modules.diffusionmodules.denoiser.DiscreteDenoiser" },
            {
                "params", new YamlMap
                {
                    { "num_idx", 1000 },
                    // sgm's Denoiser at 45c443b (the commit A1111 pins) requires a weighting_config.
                    { "weighting_config", new YamlMap { { "target", v ? "sgm.modules.diffusionmodules.denoiser_weighting.VWeighting" : "sgm.modules.diffusionmodules.denoiser_weighting.EpsWeighting" } } },
                    { "scaling_config", new YamlMap { { "target", v ? "sgm.modules.diffusionmodules.denoiser_scaling.VScaling" : "sgm.modules.diffusionmodules.denoiser_scaling.EpsScaling" } } },
                    { "discretization_config", new YamlMap { { "target", "sgm.modules.diffusionmodules.discretizer.LegacyDDPMDiscretization" } } },
                }
            },
        };
        var p = new YamlMap
        {
            { "scale_factor", 0.13025 },
            { "disable_first_stage_autocast", true },
            { "denoiser_config", denoiser },
            { "network_config", new YamlMap { { "target", "sgm.modules.diffusionmodules.openaimodel.UNetModel" }, { "params", network } } },
            { "conditioner_config", new YamlMap { { "target", "sgm.modules.GeneralConditioner" }, { "params", new YamlMap { { "emb_models", embedders } } } } },
            { "first_stage_config", FirstStage("sgm.models.autoencoder.AutoencoderKLInferenceWrapper", attnType: "vanilla-xformers") },
        };
        return new YamlMap { { "model", new YamlMap { { "target", "sgm.models.diffusion.DiffusionEngine" }, { "params", p } } } };
    }

    /// <summary>
    /// unCLIP's CLIPEmbeddingNoiseAugmentation. The L model normalises its image embedding with the Karlo ViT-L/14
    /// statistics: its config names them at <c>checkpoints/karlo_models/</c>, the path A1111's repair_config
    /// rewrites to its own <c>models/karlo/</c> copy. The H model has no statistics file (zeros and ones; the
    /// checkpoint carries noise_augmentor.data_mean/data_std).
    /// </summary>
    private static YamlMap NoiseAugmentation(bool l)
    {
        var p = new YamlMap();
        if (l)
        {
            p.Add("clip_stats_path", "checkpoints/karlo_models/ViT-L-14_stats.th");
        }

        p.Add("timestep_dim", l ? 768 : 1024);
        p.Add("noise_schedule_config", new YamlMap { { "timesteps", 1000 }, { "beta_schedule", "squaredcos_cap_v2" } });
        return p;
    }

    /// <summary>
    /// The SD 1.x / 2.x network parameters (after any <c>use_checkpoint</c>/<c>use_fp16</c>/class keys), shared by a
    /// checkpoint's UNet and by a ControlNet (<paramref name="hint"/>: a hint input instead of an output) and its
    /// controlled UNet.
    /// </summary>
    internal static void AddLdmNetwork(YamlMap n, bool sd2, long inChannels, bool hint)
    {
        n.Add("image_size", 32);
        n.Add("in_channels", inChannels);
        n.Add(hint ? "hint_channels" : "out_channels", hint ? 3 : 4);
        n.Add("model_channels", 320);
        n.Add("attention_resolutions", Ints(4, 2, 1));
        n.Add("num_res_blocks", 2);
        n.Add("channel_mult", Ints(1, 2, 4, 4));
        n.Add(sd2 ? "num_head_channels" : "num_heads", sd2 ? 64 : 8);
        n.Add("use_spatial_transformer", true);
        if (sd2)
        {
            n.Add("use_linear_in_transformer", true);
        }

        n.Add("transformer_depth", 1);
        n.Add("context_dim", sd2 ? 1024 : 768);
        if (!sd2)
        {
            n.Add("use_checkpoint", true);
        }

        n.Add("legacy", false);
    }

    /// <summary>The SD 1.x (CLIP ViT-L) or SD 2.x (OpenCLIP ViT-H, penultimate layer) text encoder config.</summary>
    internal static YamlMap LdmTextEncoder(bool sd2) => sd2
        ? new YamlMap { { "target", "ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder" }, { "params", new YamlMap { { "freeze", true }, { "layer", "penultimate" } } } }
        : new YamlMap { { "target", "ldm.modules.encoders.modules.FrozenCLIPEmbedder" } };

    internal static YamlMap FirstStage(string target, string? attnType)
    {
        var dd = new YamlMap();
        if (attnType is not null)
        {
            dd.Add("attn_type", attnType);
        }

        dd.Add("double_z", true);
        dd.Add("z_channels", 4);
        dd.Add("resolution", 256);
        dd.Add("in_channels", 3);
        dd.Add("out_ch", 3);
        dd.Add("ch", 128);
        dd.Add("ch_mult", Ints(1, 2, 4, 4));
        dd.Add("num_res_blocks", 2);
        dd.Add("attn_resolutions", Ints());
        dd.Add("dropout", 0.0);
        return new YamlMap
        {
            { "target", target },
            { "params", new YamlMap { { "embed_dim", 4 }, { "monitor", "val/rec_loss" }, { "ddconfig", dd }, { "lossconfig", new YamlMap { { "target", "torch.nn.Identity" } } } } },
        };
    }

    private static List<int> Ints(params int[] values) => [.. values];
}
