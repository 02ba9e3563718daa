using SafeCkpt.Models;

namespace SafeCkpt.Transforms;

/// <summary>
/// Chooses between a training checkpoint's EMA and non-EMA UNet weights. With <see cref="UseEma"/> the EMA weights
/// (LitEma naming: <c>model_ema.</c> + the key after <c>model.</c> with its dots removed, and the known variants)
/// take the place of the UNet weights; either way every <c>model_ema.*</c> key is dropped.
/// </summary>
internal sealed class EmaSelection : TensorTransform
{
    /// <summary>Creates the selection.</summary>
    /// <param name="useEma">True to put the EMA weights in place of the UNet's; false to drop them.</param>
    public EmaSelection(bool useEma) => UseEma = useEma;

    /// <summary>Whether the EMA weights replace the UNet's.</summary>
    public bool UseEma { get; }

    /// <inheritdoc/>
    public override string Description => UseEma ? "use the EMA weights for the UNet" : "drop the EMA weights";

    /// <summary>The EMA key names a UNet key may have, most common first.</summary>
    internal static IEnumerable<string> EmaCandidates(string key)
    {
        if (!key.StartsWith("model.", StringComparison.Ordinal))
        {
            yield break;
        }

        string rest = key["model.".Length..];
        yield return Components.EmaPrefix + rest.Replace(".", string.Empty, StringComparison.Ordinal);
        if (key.StartsWith(Components.UNetPrefix, StringComparison.Ordinal))
        {
            yield return Components.EmaPrefix + key[Components.UNetPrefix.Length..].Replace(".", string.Empty, StringComparison.Ordinal);
        }

        yield return Components.EmaPrefix + rest;
    }

    internal override void Apply(TensorPlan plan)
    {
        var ema = plan.Tensors.Where(t => t.Component == ModelComponent.Ema).ToDictionary(t => t.Name, StringComparer.Ordinal);
        int weights = ema.Keys.Count(k => !KeyPrefixes.IsEmaCounter(k));
        if (UseEma)
        {
            if (weights == 0)
            {
                throw new ConversionException(SafeCkptErrorCode.EmaNotFound, plan.SourcePath, $"{plan.SourcePath}: has no EMA weights (no model_ema.* tensors), so there are none to select. Keep its weights as they are (do not call SelectEma(true)) or use the full training checkpoint.");
            }

            int swapped = 0;
            for (int i = 0; i < plan.Tensors.Count; i++)
            {
                PlannedTensor t = plan.Tensors[i];
                if (t.Component == ModelComponent.Ema)
                {
                    continue;
                }

                foreach (string candidate in EmaCandidates(t.Name))
                {
                    if (ema.TryGetValue(candidate, out PlannedTensor? e))
                    {
                        if (!e.Shape.SequenceEqual(t.Shape))
                        {
                            throw new ConversionException(SafeCkptErrorCode.ShapeMismatch, plan.SourcePath, $"{plan.SourcePath}: EMA tensor {candidate} has shape {e.Source.FormatShape()} but {t.Name} has {t.Source.FormatShape()}; the EMA weights do not belong to this model.");
                        }

                        plan.Tensors[i] = t.WithData(e.Source, e.Input, "ema");
                        swapped++;
                        break;
                    }
                }
            }

            if (swapped == 0)
            {
                throw new ConversionException(SafeCkptErrorCode.EmaNotFound, plan.SourcePath, $"{plan.SourcePath}: has {weights} model_ema.* tensors but none matches a model.* key, so no EMA weights could be selected. The EMA naming is not one SafeCkpt knows; keep the weights as they are.");
            }

            plan.EmaSwapped = swapped;
            plan.Notes.Add($"EMA: {swapped} UNet tensors replaced by their EMA weights ({weights} EMA tensors in the file).");
            if (swapped < weights)
            {
                plan.Notes.Add($"EMA: {weights - swapped} EMA tensors matched no model key and were dropped.");
            }
        }
        else if (weights == 0)
        {
            plan.Notes.Add("EMA: the file has no EMA weights; nothing to drop.");
        }

        int dropped = plan.Drop(t => t.Component == ModelComponent.Ema, UseEma ? "EMA weights (used in place of the UNet's)" : "EMA weights (SelectEma(false))");
        if (dropped > 0 && !UseEma)
        {
            plan.Notes.Add($"EMA: {dropped} model_ema.* tensors dropped.");
        }
    }
}
