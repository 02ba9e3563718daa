namespace SafeCkpt.Analysis;

/// <summary>Whether a LoRA fits a model, as ComfyUI would load it.</summary>
public enum LoraFitVerdict
{
    /// <summary>Every module of the LoRA lands on a weight of the model with a fitting shape.</summary>
    Fits,

    /// <summary>The LoRA is for this kind of model, but some of its modules land nowhere or on a weight of another shape.</summary>
    PartlyFits,

    /// <summary>No module applies, or the LoRA was made for another architecture (whatever applies then does so by coincidence of names).</summary>
    DoesNotFit,
}

/// <summary>
/// Whether a LoRA fits a model (<see cref="ModelFile.CheckLora"/>): what the LoRA is and which base it was made for
/// (its metadata's claim and what its weights show), what the model is, and module by module whether ComfyUI's
/// loader would apply it: its name in ComfyUI's key map for this model (kohya, diffusers, PEFT, LyCORIS naming),
/// and its change's size against the weight it lands on. A module is the set of keys one layer's change is made of
/// (<c>x.lora_down.weight</c>, <c>x.lora_up.weight</c>, <c>x.alpha</c>).
/// </summary>
public sealed class LoraFitReport
{
    internal LoraFitReport()
    {
    }

    /// <summary>The verdict.</summary>
    public LoraFitVerdict Verdict { get; internal init; }

    /// <summary>The verdict for people in one line, e.g. "SDXL LoRA on an SD 1.x model: 0 of 722 modules apply".</summary>
    public string Summary { get; internal init; } = string.Empty;

    /// <summary>What to do about it, one sentence each (empty when it fits and there is nothing to add).</summary>
    public IReadOnlyList<string> Advice { get; internal init; } = [];

    /// <summary>
    /// The kind of network as its weights name it: <c>lora</c> (kohya <c>lora_up/lora_down</c>), <c>locon</c>,
    /// <c>loha</c>, <c>lokr</c>, <c>peft</c> (<c>lora_A/lora_B</c>), <c>diffusers</c>, <c>attn-processor</c>, <c>oft</c>,
    /// <c>boft</c>, <c>glora</c>, <c>ia3</c>, <c>full-diff</c>, <c>norm</c>, <c>cloneofsimo</c>.
    /// </summary>
    public string LoraKind { get; internal init; } = string.Empty;

    /// <summary>The naming of its modules: <c>kohya</c>, <c>diffusers</c>, <c>comfyui</c>, <c>onetrainer</c>, <c>lycoris</c>, <c>peft</c>, or <c>other</c>.</summary>
    public string LoraNaming { get; internal init; } = string.Empty;

    /// <summary>The base architecture the LoRA's metadata claims (an architecture id such as <c>sdxl</c>), or null.</summary>
    public string? ClaimedBase { get; internal init; }

    /// <summary>The metadata entry that claims it, e.g. <c>ss_base_model_version = sdxl_base_v1-0</c>, or null.</summary>
    public string? ClaimedBy { get; internal init; }

    /// <summary>The base architecture the LoRA's weights show (module names and widths), or null when they do not tell.</summary>
    public string? WeightsBase { get; internal init; }

    /// <summary>The model's architecture id, as <see cref="ModelFile.DetectArchitecture"/> reports it.</summary>
    public string ModelArchitecture { get; internal init; } = "unknown";

    /// <summary>The modules checked (those the model file could receive; see <see cref="NotChecked"/>).</summary>
    public int Modules { get; internal init; }

    /// <summary>The modules that apply.</summary>
    public int Applied { get; internal init; }

    /// <summary>Modules for a part the model file does not hold, not checked: text-encoder modules against a bare diffusion model file (they land on the text encoder loaded beside it), or the reverse.</summary>
    public int NotChecked { get; internal init; }

    /// <summary>The modules that land on no weight of the model (ComfyUI: "lora key not loaded").</summary>
    public IReadOnlyList<string> NotApplied { get; internal init; } = [];

    /// <summary>The modules whose change does not fit the weight they land on, with both shapes (ComfyUI: "ERROR lora ...", weight left unchanged).</summary>
    public IReadOnlyList<string> ShapeMismatches { get; internal init; } = [];

    /// <summary>Every module and what happens to it (the tool's listing).</summary>
    internal IReadOnlyList<LoraModuleFit> Details { get; init; } = [];

    /// <summary>Keys that belong to no module ComfyUI reads.</summary>
    internal IReadOnlyList<string> UnknownKeys { get; init; } = [];

    /// <summary>How the diffusion-model part is called for this model: "UNet" or "diffusion model".</summary>
    internal string DiffusionPart { get; init; } = "diffusion model";

    /// <inheritdoc/>
    public override string ToString() => Summary;
}
