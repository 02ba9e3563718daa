using System.CommandLine;
using SafeCkpt.Models;

namespace SafeCkpt.Cli.Commands;

/// <summary><c>safeckpt yaml MODEL [-o FILE] [--overwrite] [--json]</c>: writes the config yaml web UIs read beside a checkpoint.</summary>
internal static class YamlCommand
{
    public static ToolCommand Create(Terminal terminal)
    {
        var model = new Argument<string>("MODEL") { Description = "The checkpoint (or ControlNet) the config is for." };
        var output = new Option<string?>("--out", "-o") { HelpName = "FILE", Description = "Where to write the yaml [default: MODEL with the extension .yaml, where the web UIs look for it]." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace FILE if it exists (it is never the model itself, whatever links lead there)." };
        Option<bool> json = Opt.Json("Print one JSON object instead of text: model, yaml, architecture (id, name, confidence, prediction).");
        ToolCommand command = new ToolCommand("yaml", "Write the LDM config yaml web UIs read beside an SD 1.x, 2.x or SDXL checkpoint (v-prediction, inpainting, pix2pix, depth, unCLIP, refiner), or the cldm yaml beside an SD 1.x/2.x ControlNet. Refused, with the reason, for models that have none (LoRA, VAE, text encoder, Flux, ...).")
        {
            Examples =
            [
                ("safeckpt yaml sd21-768-v.safetensors", "writes sd21-768-v.yaml (v2-inference-v) beside it"),
                ("safeckpt yaml control_v11p_sd15_canny.pth -o canny.yaml", "the cldm config of a ControlNet, under another name"),
            ],
            Notes = [("Exit codes:", ["0 written; 2 the model is unreadable or has no config yaml; 3 it holds unsafe content; 4 FILE exists (without --overwrite) or cannot be written."])],
        }.With(model, output, overwrite, json);
        command.SetRun((r, _) =>
        {
            using ModelFile m = ModelFile.Open(r.GetValue(model)!);
            ArchitectureReport report = m.DetectArchitecture();
            string written = m.WriteConfigYaml(r.GetValue(output), new SaveOptions { Overwrite = r.GetValue(overwrite) });
            if (r.GetValue(json))
            {
                JsonOutput.Write(terminal.Out, w =>
                {
                    w.WriteString("model", m.Path);
                    w.WriteString("yaml", written);
                    w.WriteStartObject("architecture");
                    w.WriteString("id", report.Id);
                    w.WriteString("name", report.Name);
                    w.WriteString("confidence", report.Confidence.ToString().ToLowerInvariant());
                    w.WriteString("prediction", InspectCommand.PredictionName(report.PredictionType));
                    w.WriteEndObject();
                });
            }
            else
            {
                terminal.Out.WriteLine($"Wrote {written} for {report.Id} ({report.Name}, {report.Confidence.ToString().ToLowerInvariant()} confidence, {InspectCommand.PredictionName(report.PredictionType)})");
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
