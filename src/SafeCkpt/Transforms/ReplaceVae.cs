using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Transforms;

/// <summary>
/// Bakes a standalone VAE into the model: the VAE file's tensors (with or without the <c>first_stage_model.</c>
/// prefix, its <c>loss.*</c> and EMA counters dropped) replace the model's VAE tensors of the same name, each shape
/// checked. Only existing keys are replaced; a model without any VAE gets the whole VAE added.
/// </summary>
internal sealed class ReplaceVae : TensorTransform
{
    private readonly ModelFile? _vae;

    /// <summary>Creates the replacement from an open VAE file.</summary>
    /// <param name="vae">The open VAE file; keep it open until the model is saved.</param>
    public ReplaceVae(ModelFile vae)
    {
        ArgumentNullException.ThrowIfNull(vae);
        _vae = vae;
        VaePath = vae.Path;
    }

    /// <summary>Creates the replacement from a VAE file's path; the file is opened when the plan is made and closed after the save.</summary>
    /// <param name="vaePath">The VAE file (.safetensors, .ckpt, .pt; with or without the <c>first_stage_model.</c> prefix).</param>
    public ReplaceVae(string vaePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(vaePath);
        VaePath = vaePath;
    }

    /// <summary>The VAE file's path.</summary>
    public string VaePath { get; }

    /// <inheritdoc/>
    /// <remarks>Names the VAE by its file name only: the description goes into provenance metadata, and a local folder
    /// path has no place in a file that is shared.</remarks>
    public override string Description => $"bake in the VAE from {System.IO.Path.GetFileName(VaePath)}";

    /// <summary>The VAE tensors of a file, keyed by their name inside the model (with the prefix).</summary>
    internal static Dictionary<string, TensorInfo> VaeTensors(ModelFile vae)
    {
        var result = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        foreach (TensorInfo t in vae.Tensors.Tensors)
        {
            string name = t.Name;
            if (KeyPrefixes.IsVaeLoss(name) || name.StartsWith(KeyPrefixes.Ema, StringComparison.Ordinal))
            {
                continue;
            }

            if (name.StartsWith(Components.VaePrefix, StringComparison.Ordinal))
            {
                result[name] = t;
            }
            else if (Components.Classify(name) == ModelComponent.Other)
            {
                result[Components.VaePrefix + name] = t;
            }
        }

        if (result.Count == 0 || !result.Keys.Any(k => k.StartsWith(Components.VaePrefix + "decoder.", StringComparison.Ordinal)))
        {
            throw new ConversionException(SafeCkptErrorCode.NotAVae, vae.Path, $"{vae.Path}: holds no VAE decoder weights (no decoder.* or first_stage_model.decoder.* keys), so it is not a VAE SafeCkpt can bake in.");
        }

        if (result.Keys.Any(k => k.Contains(".up_blocks.", StringComparison.Ordinal) || k.Contains(".down_blocks.", StringComparison.Ordinal)))
        {
            throw new ConversionException(SafeCkptErrorCode.NotAVae, vae.Path, $"{vae.Path}: is a diffusers-layout VAE (up_blocks/down_blocks); SafeCkpt bakes in only original-layout (LDM) VAEs such as vae-ft-mse-840000-ema-pruned.");
        }

        return result;
    }

    internal override void Apply(TensorPlan plan)
    {
        ModelFile vaeFile = _vae ?? Open(plan);
        Apply(plan, vaeFile);
    }

    private ModelFile Open(TensorPlan plan)
    {
        ModelFile opened = ModelFile.Open(VaePath);
        plan.Owned.Add(opened);
        return opened;
    }

    private static void Apply(TensorPlan plan, ModelFile vaeFile)
    {
        vaeFile.Tensors.ThrowIfDisposed();
        Dictionary<string, TensorInfo> vae = VaeTensors(vaeFile);
        bool modelHasVae = plan.Tensors.Any(t => t.Name.StartsWith(Components.VaePrefix, StringComparison.Ordinal));
        int replaced = 0;
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            PlannedTensor t = plan.Tensors[i];
            if (!vae.TryGetValue(t.Name, out TensorInfo? v))
            {
                continue;
            }

            if (!v.Shape.SequenceEqual(t.Shape))
            {
                throw new ConversionException(SafeCkptErrorCode.ShapeMismatch, vaeFile.Path, $"{vaeFile.Path}: VAE tensor {v.Name} has shape {v.FormatShape()} but the model's {t.Name} has {t.Source.FormatShape()}; this VAE does not fit this model.") { TensorName = t.Name };
            }

            plan.Tensors[i] = t.WithData(v, vaeFile.Tensors.SourceAt(v.Name), "vae");
            used.Add(t.Name);
            replaced++;
        }

        if (!modelHasVae)
        {
            foreach ((string name, TensorInfo v) in vae.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                plan.Tensors.Add(new PlannedTensor(name, v, vaeFile.Tensors.SourceAt(v.Name), null, "vae"));
            }

            plan.Notes.Add($"VAE: the model had none; {vae.Count} VAE tensors added from {vaeFile.Path}.");
        }
        else
        {
            plan.Notes.Add($"VAE: {replaced} tensors replaced from {vaeFile.Path}.");
            int unused = vae.Count - used.Count;
            if (unused > 0)
            {
                plan.Notes.Add($"VAE: {unused} tensors of {vaeFile.Path} have no counterpart in the model and were not used.");
            }
        }

        if (vaeFile.Tensors.FilePath is { } file)
        {
            plan.InputFiles.Add(file);
        }
    }
}

/// <summary>Keeps only the VAE and writes it as a standalone VAE file (keys without <c>first_stage_model.</c>).</summary>
internal sealed class ExtractVae : TensorTransform
{
    /// <inheritdoc/>
    public override string Description => "keep only the VAE, as a standalone VAE file";

    internal override void Apply(TensorPlan plan)
    {
        int n = plan.Drop(t => !t.Name.StartsWith(Components.VaePrefix, StringComparison.Ordinal) || KeyPrefixes.IsVaeLoss(t.Name), "not VAE (ExtractVae)");
        if (plan.Tensors.Count == 0)
        {
            throw new ConversionException(SafeCkptErrorCode.NotAVae, plan.SourcePath, $"{plan.SourcePath}: has no VAE (no first_stage_model.* tensors) to extract.");
        }

        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            plan.Tensors[i] = plan.Tensors[i].WithName(plan.Tensors[i].Name[Components.VaePrefix.Length..]);
        }

        plan.Notes.Add($"VAE: {plan.Tensors.Count} VAE tensors kept, {n} others dropped.");
    }
}
