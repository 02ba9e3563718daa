namespace SafeCkpt.Models;

/// <summary>
/// The cldm config the ControlNet extension for A1111 reads beside a ControlNet 1.0/1.1 file (<c>MODEL.yaml</c>;
/// before extension version 1.1.400 every ControlNet 1.1 needs one, and SD 2.x ControlNets always did): the facts of
/// <c>cldm_v15.yaml</c> for SD 1.x bases and <c>cldm_v21.yaml</c> for SD 2.x (formats.md 5.4). ControlNet 1.1's
/// shuffle model also needs <c>global_average_pooling: True</c>; its weights are those of any other ControlNet, so,
/// as the extension itself decides since 1.1.400, it is added when the file name contains "shuffle".
/// tests/consumers/cldm_build_check.py builds the extension's ControlNet and the whole cldm ControlLDM from these
/// yamls (ControlNet-v1-1-nightly code) and compares them with the published yamls and a real key layout.
/// </summary>
internal static class ControlNetYaml
{
    /// <summary>The yaml for a ControlNet detected with an SD 1.x or 2.x base.</summary>
    /// <param name="report">The detection report (id <c>controlnet</c>).</param>
    /// <param name="fileStem">The name of the yaml (or model) file without folder and extension; decides the shuffle flag.</param>
    public static string For(ArchitectureReport report, string? fileStem)
    {
        bool sd2 = report.BaseArchitecture switch
        {
            "sd1" => false,
            "sd2" => true,
            "sdxl" => throw new ConversionException(SafeCkptErrorCode.UnsupportedFormat, null, "No config yaml for an SDXL ControlNet: the ControlNet extension (1.1.400 and later) and ComfyUI read its configuration from the weights; none was ever published."),
            null => throw new ConversionException(SafeCkptErrorCode.UnsupportedFormat, null, "No config yaml for this ControlNet: its base model (SD 1.x or 2.x) cannot be told from its weights (no cross-attention key)."),
            var other => throw new ConversionException(SafeCkptErrorCode.UnsupportedFormat, null, $"No config yaml for a {ArchitectureCatalog.NameOf(other)} ControlNet: its loaders read the configuration from the weights."),
        };
        if (report.Variant is not null and not "ldm")
        {
            throw new ConversionException(SafeCkptErrorCode.UnsupportedFormat, null, $"No config yaml for a ControlNet in the {report.Variant} layout: the cldm config describes the original (ldm) layout, which the extension loads with it. Convert the ControlNet to that layout first.");
        }

        bool shuffle = fileStem?.Contains("shuffle", StringComparison.OrdinalIgnoreCase) == true;
        YamlMap root = Config(sd2, shuffle);
        string source = sd2 ? "cldm_v21.yaml" : "cldm_v15.yaml";
        string pooling = shuffle
            ? "global_average_pooling: True because the file name says shuffle (ControlNet 1.1's shuffle model needs it)."
            : "Only ControlNet 1.1's shuffle model (control_v11e_sd15_shuffle) needs global_average_pooling: True under model.params; its weights cannot tell it apart, so name its file with 'shuffle' (or add the line).";
        return YamlWriter.Write(root, [$"ControlNet config for an SD {(sd2 ? "2.x" : "1.x")} base, written by SafeCkpt from the published {source}.", pooling]);
    }

    private static YamlMap Config(bool sd2, bool shuffle)
    {
        var p = new YamlMap
        {
            { "linear_start", 0.00085 },
            { "linear_end", 0.012 },
            { "num_timesteps_cond", 1 },
            { "log_every_t", 200 },
            { "timesteps", 1000 },
            { "first_stage_key", "jpg" },
            { "cond_stage_key", "txt" },
            { "control_key", "hint" },
            { "image_size", 64 },
            { "channels", 4 },
            { "cond_stage_trainable", false },
            { "conditioning_key", "crossattn" },
            { "monitor", "val/loss_simple_ema" },
            { "scale_factor", 0.18215 },
            { "use_ema", false },
            { "only_mid_control", false },
        };
        if (shuffle)
        {
            p.Add("global_average_pooling", true);
        }

        p.Add("control_stage_config", new YamlMap { { "target", "cldm.cldm.ControlNet" }, { "params", Net(sd2, control: true) } });
        p.Add("unet_config", new YamlMap { { "target", "cldm.cldm.ControlledUnetModel" }, { "params", Net(sd2, control: false) } });
        p.Add("first_stage_config", ConfigYaml.FirstStage("ldm.models.autoencoder.AutoencoderKL", attnType: null));
        p.Add("cond_stage_config", ConfigYaml.LdmTextEncoder(sd2));
        return new YamlMap { { "model", new YamlMap { { "target", "cldm.cldm.ControlLDM" }, { "params", p } } } };
    }

    /// <summary>The ControlNet's and the controlled UNet's parameters: the same network, with a hint input or an output.</summary>
    private static YamlMap Net(bool sd2, bool control)
    {
        var n = new YamlMap();
        if (sd2)
        {
            n.Add("use_checkpoint", true);
        }

        ConfigYaml.AddLdmNetwork(n, sd2, inChannels: 4, hint: control);
        return n;
    }
}
