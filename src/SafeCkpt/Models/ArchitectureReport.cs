using SafeCkpt.Tensors;

namespace SafeCkpt.Models;

/// <summary>How sure <see cref="ArchitectureDetector"/> is of an <see cref="ArchitectureReport.Id"/>.</summary>
public enum DetectionConfidence
{
    /// <summary>A guess: a fallback rule, a truncated layout, or metadata that disagrees with the weights.</summary>
    Low,

    /// <summary>The deciding keys are there but the layout is not complete or not every published dimension was checked.</summary>
    Medium,

    /// <summary>The deciding keys and the published dimensions all agree.</summary>
    High,
}

/// <summary>What a diffusion model predicts, which the sampler must know.</summary>
public enum PredictionType
{
    /// <summary>Not knowable from the file (or not a diffusion model).</summary>
    Unknown,

    /// <summary>Noise (epsilon) prediction.</summary>
    Epsilon,

    /// <summary>Velocity (v) prediction.</summary>
    V,

    /// <summary>EDM (e.g. Playground v2.5, <c>edm_mean</c>/<c>edm_std</c> markers).</summary>
    Edm,

    /// <summary>V prediction with an EDM schedule (e.g. CosXL, <c>edm_vpred.*</c> markers).</summary>
    VEdm,

    /// <summary>Rectified flow (SD3, Flux, AuraFlow).</summary>
    Flow,
}

/// <summary>Which UNet weight sets a checkpoint holds.</summary>
public enum EmaState
{
    /// <summary>No <c>model_ema.*</c> tensors. (Whether the UNet weights were themselves taken from an EMA is not knowable.)</summary>
    None,

    /// <summary>Both the UNet weights and their EMA copy (<c>model_ema.*</c>), as in a training checkpoint.</summary>
    BothSets,

    /// <summary><c>model_ema.*</c> tensors but no UNet weights under <c>model.diffusion_model.</c>.</summary>
    EmaOnly,
}

/// <summary>The size and precision of one <see cref="ModelComponent"/> of a file.</summary>
public sealed class ComponentSummary
{
    internal ComponentSummary(ModelComponent component, int tensorCount, long parameters, long bytes, IReadOnlyDictionary<DType, long> dtypeBytes)
    {
        Component = component;
        TensorCount = tensorCount;
        Parameters = parameters;
        Bytes = bytes;
        DTypeBytes = dtypeBytes;
    }

    /// <summary>The component.</summary>
    public ModelComponent Component { get; }

    /// <summary>How many tensors it has.</summary>
    public int TensorCount { get; }

    /// <summary>The sum of its tensors' element counts.</summary>
    public long Parameters { get; }

    /// <summary>The sum of its tensors' byte lengths.</summary>
    public long Bytes { get; }

    /// <summary>Bytes per dtype, largest first.</summary>
    public IReadOnlyDictionary<DType, long> DTypeBytes { get; }

    /// <summary>The dtype holding most of the bytes.</summary>
    public DType MainDType => DTypeBytes.Count == 0 ? DType.Float32 : DTypeBytes.MaxBy(kv => kv.Value).Key;
}

/// <summary>The state of one CLIP <c>position_ids</c> tensor.</summary>
public sealed class PositionIdsCheck
{
    internal PositionIdsCheck(string key, DType dtype, IReadOnlyList<long> shape, IReadOnlyList<int>? wrongPositions)
    {
        Key = key;
        DType = dtype;
        Shape = shape;
        WrongPositions = wrongPositions ?? [];
        IsReadable = wrongPositions is not null;
    }

    /// <summary>The tensor's name.</summary>
    public string Key { get; }

    /// <summary>Its dtype (correct is <see cref="DType.Int64"/>).</summary>
    public DType DType { get; }

    /// <summary>Its shape (correct is <c>[1, 77]</c>).</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>False when the tensor is not 77 values of a dtype position ids are stored in.</summary>
    public bool IsReadable { get; }

    /// <summary>The indices whose value is not their position.</summary>
    public IReadOnlyList<int> WrongPositions { get; }

    /// <summary>Whether <c>convert --fix-clip</c> would change it: unreadable, wrong values, or not int64 <c>[1, 77]</c>.</summary>
    public bool IsBroken => ClipPositionIds.IsBroken(DType, Shape, IsReadable ? WrongPositions : null);
}

/// <summary>
/// What <see cref="ArchitectureDetector"/> found in a model file: the architecture (or kind of file), why, and
/// the facts a person asks about before converting (size, precision, EMA, VAE, text encoders, CLIP health).
/// Decided from tensor names and shapes; only the CLIP position ids and, for SD 2.x, one norm bias are read.
/// </summary>
public sealed class ArchitectureReport
{
    /// <summary>
    /// The architecture id (<c>sd1</c>, <c>sdxl</c>, <c>flux-dev</c>, <c>wan2.1-t2v</c>, ... every one is in the README's
    /// "Knowing the model" table); for files that are not a whole checkpoint the kind: <c>vae</c>, <c>text-encoder</c>,
    /// <c>unet</c>, <c>lora</c>, <c>controlnet</c>, <c>control-lora</c>, <c>t2i-adapter</c>, <c>ip-adapter</c>,
    /// <c>embedding</c>, <c>diffusers-layout</c>; or <c>unknown</c> (see <see cref="Reason"/>).
    /// </summary>
    public string Id { get; internal init; } = "unknown";

    /// <summary>A name for people, e.g. "Stable Diffusion XL base".</summary>
    public string Name { get; internal init; } = "Unknown";

    /// <summary>How sure the detector is.</summary>
    public DetectionConfidence Confidence { get; internal init; }

    /// <summary>The keys, shapes and metadata that decided the id, one fact per entry.</summary>
    public IReadOnlyList<string> Evidence { get; internal init; } = [];

    /// <summary>For <c>unknown</c>, why nothing matched; otherwise null.</summary>
    public string? Reason { get; internal init; }

    /// <summary>The architecture the file belongs to when <see cref="Id"/> is a kind (<c>unet</c>, <c>lora</c>, ...) and it is knowable; else the id itself or null.</summary>
    public string? BaseArchitecture { get; internal init; }

    /// <summary>What the weights alone say, when <see cref="HasMetadataConflict"/>; otherwise the same as <see cref="Id"/>.</summary>
    public string WeightsId { get; internal init; } = "unknown";

    /// <summary>The <c>modelspec.architecture</c> metadata value, if any.</summary>
    public string? MetadataArchitecture { get; internal init; }

    /// <summary>True when <c>modelspec.architecture</c> names another architecture than the weights show. The metadata is trusted for <see cref="Id"/>.</summary>
    public bool HasMetadataConflict { get; internal init; }

    /// <summary>What the model predicts: from metadata or marker tensors first, then the architecture.</summary>
    public PredictionType PredictionType { get; internal init; }

    /// <summary>
    /// The flavour inside a kind of file, when the keys tell it: for <c>lora</c> <c>lora</c> (kohya), <c>locon</c>,
    /// <c>loha</c>, <c>lokr</c>, <c>oft</c>, <c>boft</c>, <c>glora</c>, <c>ia3</c>, <c>full-diff</c>, <c>norm</c>,
    /// <c>peft</c>, <c>diffusers</c>, <c>attn-processor</c>, <c>cloneofsimo</c>; for control files the loader format
    /// (<c>ldm</c>, <c>diffusers</c>, <c>union</c>, <c>xlabs</c>, <c>instantx</c>, ...); for embeddings <c>a1111</c>,
    /// <c>emb_params</c>, <c>sdxl</c>, <c>diffusers</c>. Null otherwise.
    /// </summary>
    public string? Variant { get; internal init; }

    /// <summary>Other ids whose files have exactly this layout; <see cref="Evidence"/> says what would tell them apart.</summary>
    public IReadOnlyList<string> Alternatives { get; internal init; } = [];

    /// <summary>Marker tensors present (<c>v_pred</c>, <c>ztsnr</c>, <c>edm_*</c>).</summary>
    public IReadOnlyList<string> Markers { get; internal init; } = [];

    /// <summary>The components present, in <see cref="ModelComponent"/> order.</summary>
    public IReadOnlyList<ComponentSummary> Components { get; internal init; } = [];

    /// <summary>All tensors' element counts summed.</summary>
    public long Parameters { get; internal init; }

    /// <summary>All tensors' byte lengths summed.</summary>
    public long Bytes { get; internal init; }

    /// <summary>Whether the file holds EMA weights.</summary>
    public EmaState Ema { get; internal init; }

    /// <summary>Whether a VAE (autoencoder) is in the file.</summary>
    public bool HasVae { get; internal init; }

    /// <summary>The text encoders present: <c>clip-l</c>, <c>openclip-h</c>, <c>clip-g</c>, <c>t5xxl</c>, <c>t5</c>, <c>mt5</c>.</summary>
    public IReadOnlyList<string> TextEncoders { get; internal init; } = [];

    /// <summary>The CLIP <c>position_ids</c> tensors found and their state.</summary>
    public IReadOnlyList<PositionIdsCheck> PositionIds { get; internal init; } = [];

    /// <summary>Whether any CLIP position ids are broken.</summary>
    public bool HasBrokenPositionIds => PositionIds.Any(p => p.IsBroken);

    /// <inheritdoc/>
    public override string ToString() => $"{Id} ({Name}, {Confidence} confidence)";
}
