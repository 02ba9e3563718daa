namespace SafeCkpt.Analysis;

/// <summary>What ComfyUI's loader does with one LoRA module on a model.</summary>
internal enum LoraModuleStatus
{
    /// <summary>Its name is in the key map and its change fits the weight: applied.</summary>
    Applies,

    /// <summary>Its name is in the key map but its change does not fit the weight (ComfyUI logs "ERROR lora ..." and skips it).</summary>
    ShapeMismatch,

    /// <summary>Its name is not in the key map ("lora key not loaded").</summary>
    NoTarget,

    /// <summary>Its name is in the key map but the weight is not in this model (ComfyUI's "NOT LOADED").</summary>
    TargetMissing,

    /// <summary>Its name is in the key map but its keys make no change (e.g. a down without its up).</summary>
    Incomplete,

    /// <summary>A text-encoder module, and the model file holds no text encoder: it lands on the one loaded beside it.</summary>
    NotChecked,
}

/// <summary>The part of the model a LoRA module is for.</summary>
internal enum LoraPart
{
    /// <summary>The UNet / diffusion transformer.</summary>
    DiffusionModel,

    /// <summary>A text encoder.</summary>
    TextEncoder,
}

/// <summary>One LoRA module and what happens to it.</summary>
/// <param name="Module">The module name.</param>
/// <param name="Status">What ComfyUI does with it.</param>
/// <param name="Part">The part of the model it is for.</param>
/// <param name="Target">The file's weight it lands on (with rows for a fused one), or null.</param>
/// <param name="Detail">Why it does not apply (for a mismatch both shapes), or null.</param>
/// <param name="Loaded">Its keys ComfyUI reads.</param>
/// <param name="NotLoaded">Its keys ComfyUI reports as "lora key not loaded".</param>
internal sealed record LoraModuleFit(string Module, LoraModuleStatus Status, LoraPart Part, string? Target, string? Detail, IReadOnlyList<string> Loaded, IReadOnlyList<string> NotLoaded)
{
    /// <summary>The module lands on no weight: none of that name, one the model lacks, or its own weights are incomplete.</summary>
    public bool LandsNowhere => Status is LoraModuleStatus.NoTarget or LoraModuleStatus.TargetMissing or LoraModuleStatus.Incomplete;
}
