using System.CommandLine;
using System.Text.Json;
using SafeCkpt.Analysis;
using SafeCkpt.Models;
using Spectre.Console;

namespace SafeCkpt.Cli.Commands;

/// <summary>
/// <c>safeckpt fit LORA MODEL [--all] [--json]</c>: will this LoRA work with this model? What the LoRA is and which
/// base it was made for, what the model is, how many of the LoRA's modules ComfyUI would apply, which land nowhere
/// and which have the wrong shape, a one-line verdict and what to do; exit 0 when it fits, 1 when not (as <c>diff</c>).
/// </summary>
internal static class FitCommand
{
    private const int Listed = 20;

    /// <summary>How each kind of network is called for people.</summary>
    private static readonly Dictionary<string, string> Kinds = new(StringComparer.Ordinal)
    {
        ["lora"] = "LoRA (lora_down / lora_up)",
        ["locon"] = "LoCon (LoRA with conv layers)",
        ["loha"] = "LyCORIS LoHa",
        ["lokr"] = "LyCORIS LoKr",
        ["peft"] = "LoRA (PEFT lora_A / lora_B)",
        ["diffusers"] = "LoRA (diffusers lora.down / lora.up)",
        ["attn-processor"] = "LoRA (diffusers attention processors)",
        ["oft"] = "OFT",
        ["boft"] = "BOFT",
        ["glora"] = "GLoRA",
        ["ia3"] = "(IA)3",
        ["full-diff"] = "full weight differences",
        ["norm"] = "norm weights",
        ["cloneofsimo"] = "cloneofsimo LoRA (the early format)",
    };

    /// <summary>How each naming is called for people.</summary>
    private static readonly Dictionary<string, string> Namings = new(StringComparer.Ordinal)
    {
        ["kohya"] = "kohya names (lora_unet_..., lora_te...)",
        ["diffusers"] = "diffusers names (unet., text_encoder., transformer.)",
        ["comfyui"] = "ComfyUI names (diffusion_model.)",
        ["onetrainer"] = "OneTrainer names (lora_transformer_...)",
        ["lycoris"] = "SimpleTuner LyCORIS names (lycoris_...)",
        ["peft"] = "PEFT names (base_model.model.)",
        ["other"] = "other names",
    };

    public static ToolCommand Create(Terminal terminal)
    {
        var lora = new Argument<string>("LORA") { Description = "The LoRA (kohya, diffusers / PEFT, LyCORIS LoCon / LoHa / LoKr, ...)." };
        var model = new Argument<string>("MODEL") { Description = "The model: a checkpoint, or a diffusion model file (e.g. flux1-dev.safetensors)." };
        var all = new Option<bool>("--all", "-a") { Description = $"List every module that does not apply, not only the first {Listed} of each list." };
        Option<bool> json = Opt.Json("Print one JSON object instead of text: verdict, summary, advice, what the LoRA and the model are, the counts per part, and every module that does not apply with why.");
        ToolCommand command = new ToolCommand("fit", "Tell whether a LoRA fits a model as ComfyUI would load it: the LoRA's kind and naming, the base it was made for (its metadata's claim and what its weights show), the model's architecture, how many of the LoRA's modules land on a weight of the model with a fitting shape, which land nowhere (\"lora key not loaded\") and which have the wrong shape; then a one-line verdict and what to do. Reads names and shapes only.")
        {
            Examples =
            [
                ("safeckpt fit my-lora.safetensors sd_xl_base_1.0.safetensors", "will this LoRA work with this model?"),
                ("safeckpt fit lora.safetensors flux1-dev.safetensors --all", "every module that does not apply, and why"),
                ("safeckpt fit lora.safetensors model.ckpt -j", "the same as JSON"),
            ],
            Notes =
            [
                ("How it decides:", ["The names ComfyUI gives a model's layers (comfy/lora.py: kohya lora_unet_/lora_te*, diffusers, old attention processors, LyCORIS, OneTrainer, Flux's diffusers names into the fused qkv weights, CLIP-L/H/G and T5) and the shape arithmetic of its LoRA, LoHa and LoKr adapters. A text-encoder module is not checked against a file with no text encoder."]),
                ("Exit codes:", ["0 the LoRA fits; 1 it fits partly or not at all (or a usage error, told apart by the message on standard error); 2 a file is invalid or unreadable, or LORA is not a LoRA; 3 a file holds unsafe content."]),
            ],
        }.With(lora, model, all, json);
        command.SetRun((r, _) => Run(terminal, r.GetValue(lora)!, r.GetValue(model)!, r.GetValue(all), r.GetValue(json)));
        return command;
    }

    /// <summary>The verdict in JSON: fits, partly-fits, does-not-fit.</summary>
    internal static string VerdictName(LoraFitVerdict v) => v switch
    {
        LoraFitVerdict.Fits => "fits",
        LoraFitVerdict.PartlyFits => "partly-fits",
        _ => "does-not-fit",
    };

    private static int Run(Terminal terminal, string loraPath, string modelPath, bool all, bool json)
    {
        using ModelFile lora = ModelFile.Open(loraPath);
        using ModelFile model = ModelFile.Open(modelPath);
        ArchitectureReport arch = model.DetectArchitecture();
        LoraFitReport r = model.CheckLora(lora);
        int code = r.Verdict == LoraFitVerdict.Fits ? ExitCodes.Success : ExitCodes.NoFit;
        if (json)
        {
            JsonOutput.Write(terminal.Out, w => WriteJson(w, r, lora, model, arch));
            return code;
        }

        TextWriter o = terminal.Out;
        o.WriteLine($"LoRA:     {lora.Path}");
        int loraModules = r.Details.Count;
        o.WriteLine($"Kind:     {Kinds.GetValueOrDefault(r.LoraKind, r.LoraKind)}, {Namings.GetValueOrDefault(r.LoraNaming, r.LoraNaming)}, {Format.Count(loraModules)} modules{PartCounts(r, r.Details)}");
        o.WriteLine($"Made for: {MadeFor(r)}");
        o.WriteLine($"Model:    {model.Path}");
        o.WriteLine($"Is:       {arch.Name} ({arch.Id}{(arch.BaseArchitecture is { } b && b != arch.Id ? $", {b}" : string.Empty)})");
        var nowhere = r.Details.Where(m => m.LandsNowhere).ToList();
        var wrong = r.Details.Where(m => m.Status == LoraModuleStatus.ShapeMismatch).ToList();
        var notChecked = r.Details.Where(m => m.Status == LoraModuleStatus.NotChecked).ToList();
        o.WriteLine($"Modules:  {Format.Count(r.Applied)} of {Format.Count(r.Modules)} apply, {Format.Count(nowhere.Count)} have no weight to go to, {Format.Count(wrong.Count)} have the wrong shape"
            + (notChecked.Count > 0 ? $", {Format.Count(notChecked.Count)} not checked" : string.Empty));
        foreach (IGrouping<LoraPart, LoraModuleFit> g in r.Details.Where(m => m.Status != LoraModuleStatus.NotChecked).GroupBy(m => m.Part).OrderBy(g => g.Key))
        {
            o.WriteLine($"  {PartName(r, g.Key) + ":",-17} {Format.Count(g.Count(m => m.Status == LoraModuleStatus.Applies))} of {Format.Count(g.Count())} apply");
        }

        // The modules that do not apply, one table per reason: the first Listed of each, or all with --all.
        void ListModules(string heading, string why, List<LoraModuleFit> modules)
        {
            if (modules.Count == 0)
            {
                return;
            }

            o.WriteLine();
            o.WriteLine(Heading(heading, modules.Count, all));
            Table table = Terminal.Table("MODULE", why);
            foreach (LoraModuleFit m in all ? modules : modules.Take(Listed))
            {
                table.AddRow(new Text(m.Module), new Text(m.Detail ?? string.Empty));
            }

            terminal.Write(table);
        }

        ListModules("No weight to go to", "WHY", nowhere);
        ListModules("Wrong shape", "LORA VS WEIGHT", wrong);

        o.WriteLine();
        terminal.WriteLine("Verdict: ", r.Summary, code == ExitCodes.Success ? Palette.Good : r.Verdict == LoraFitVerdict.PartlyFits ? Palette.Warn : Palette.Bad);
        if (r.Advice.Count > 0)
        {
            o.WriteLine("What to do:");
            foreach (string a in r.Advice)
            {
                o.WriteLine($"  - {a}");
            }
        }

        return code;
    }

    private static string Heading(string what, int count, bool all) =>
        !all && count > Listed ? $"{what} ({Format.Count(count)}; the first {Listed}, --all lists every one):" : $"{what} ({Format.Count(count)}):";

    private static string MadeFor(LoraFitReport r)
    {
        string weights = r.WeightsBase is { } w ? $"{ArchitectureCatalog.NameOf(w)} by its weights" : "its weights do not tell";
        string claim = r.ClaimedBase is { } c ? $"{ArchitectureCatalog.NameOf(c)} by its metadata ({r.ClaimedBy})" : "its metadata does not say";
        return $"{weights}; {claim}";
    }

    private static string PartName(LoraFitReport r, LoraPart p) => p == LoraPart.DiffusionModel ? r.DiffusionPart : "text encoder";

    private static string PartCounts(LoraFitReport r, IEnumerable<LoraModuleFit> modules)
    {
        var groups = modules.GroupBy(m => m.Part).OrderBy(g => g.Key).Select(g => $"{PartName(r, g.Key)} {Format.Count(g.Count())}").ToList();
        return groups.Count > 1 ? " (" + string.Join(", ", groups) + ")" : string.Empty;
    }

    private static void WriteJson(Utf8JsonWriter w, LoraFitReport r, ModelFile lora, ModelFile model, ArchitectureReport arch)
    {
        w.WriteString("lora", lora.Path);
        w.WriteString("model", model.Path);
        w.WriteString("verdict", VerdictName(r.Verdict));
        w.WriteString("summary", r.Summary);
        JsonOutput.WriteStrings(w, "advice", r.Advice);
        w.WriteStartObject("loraInfo");
        w.WriteString("kind", r.LoraKind);
        w.WriteString("naming", r.LoraNaming);
        WriteOptional(w, "weightsBase", r.WeightsBase);
        WriteOptional(w, "claimedBase", r.ClaimedBase);
        WriteOptional(w, "claimedBy", r.ClaimedBy);
        w.WriteNumber("modules", r.Details.Count);
        w.WriteEndObject();
        w.WriteStartObject("modelInfo");
        w.WriteString("architecture", arch.Id);
        w.WriteString("name", arch.Name);
        WriteOptional(w, "baseArchitecture", arch.BaseArchitecture);
        w.WriteEndObject();
        w.WriteNumber("modules", r.Modules);
        w.WriteNumber("applied", r.Applied);
        w.WriteNumber("notChecked", r.NotChecked);
        w.WriteStartArray("parts");
        foreach (IGrouping<LoraPart, LoraModuleFit> g in r.Details.GroupBy(m => m.Part).OrderBy(g => g.Key))
        {
            w.WriteStartObject();
            w.WriteString("part", g.Key == LoraPart.DiffusionModel ? "diffusion-model" : "text-encoder");
            w.WriteNumber("modules", g.Count(m => m.Status != LoraModuleStatus.NotChecked));
            w.WriteNumber("applied", g.Count(m => m.Status == LoraModuleStatus.Applies));
            w.WriteNumber("notChecked", g.Count(m => m.Status == LoraModuleStatus.NotChecked));
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("notApplied");
        foreach (LoraModuleFit m in r.Details.Where(m => m.Status is not (LoraModuleStatus.Applies or LoraModuleStatus.NotChecked)))
        {
            w.WriteStartObject();
            w.WriteString("module", m.Module);
            w.WriteString("status", m.Status switch
            {
                LoraModuleStatus.ShapeMismatch => "wrong-shape",
                LoraModuleStatus.NoTarget => "no-such-layer",
                LoraModuleStatus.TargetMissing => "weight-missing",
                _ => "incomplete",
            });
            w.WriteString("part", m.Part == LoraPart.DiffusionModel ? "diffusion-model" : "text-encoder");
            WriteOptional(w, "target", m.Target);
            WriteOptional(w, "why", m.Detail);
            JsonOutput.WriteStrings(w, "keysNotLoaded", m.NotLoaded);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        JsonOutput.WriteStrings(w, "notCheckedModules", r.Details.Where(m => m.Status == LoraModuleStatus.NotChecked).Select(m => m.Module));
        JsonOutput.WriteStrings(w, "unknownKeys", r.UnknownKeys);
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
