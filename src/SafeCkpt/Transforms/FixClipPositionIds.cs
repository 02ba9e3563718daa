using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Transforms;

/// <summary>
/// Resets CLIP's <c>position_ids</c> to int64 <c>[[0, 1, ..., 76]]</c> when they are broken (stored as floats by a
/// merge, off by rounding, or missing) and reports which positions were wrong. Old-transformers keys
/// (<c>cond_stage_model.transformer.embeddings.*</c>) are renamed to the <c>text_model.</c> form first. What is
/// broken and what is correct is <see cref="ClipPositionIds"/>'s rule, which the architecture report uses too.
/// </summary>
public sealed class FixClipPositionIds : TensorTransform
{
    /// <summary>The position-ids keys of SD 1.x and SDXL checkpoints.</summary>
    public static IReadOnlyList<string> Keys { get; } = KeyPrefixes.FixablePositionIds;

    private static readonly (string Old, string New)[] OldPrefixes =
    [
        ("cond_stage_model.transformer.embeddings.", "cond_stage_model.transformer.text_model.embeddings."),
        ("cond_stage_model.transformer.encoder.", "cond_stage_model.transformer.text_model.encoder."),
        ("cond_stage_model.transformer.final_layer_norm.", "cond_stage_model.transformer.text_model.final_layer_norm."),
    ];

    /// <inheritdoc/>
    public override string Description => "fix CLIP position ids (int64 0..76)";

    internal override void Apply(TensorPlan plan)
    {
        RenameOldKeys(plan);
        bool sawText = false;
        foreach (string key in Keys)
        {
            string te = key[..key.IndexOf(".transformer.", StringComparison.Ordinal)];
            bool hasEncoder = plan.Tensors.Any(t => t.Name.StartsWith(te + ".transformer.text_model.", StringComparison.Ordinal));
            int i = plan.IndexOf(key);
            (TensorInfo fixedInfo, TensorSource correct) = ClipPositionIds.Correct(key);
            if (i < 0)
            {
                if (hasEncoder)
                {
                    plan.Tensors.Add(new PlannedTensor(key, fixedInfo, correct, null, "fixed"));
                    plan.Notes.Add($"CLIP: {key} was missing; added as int64 0..76.");
                    sawText = true;
                }

                continue;
            }

            sawText = true;
            PlannedTensor t = plan.Tensors[i];
            List<int>? wrong = ClipPositionIds.WrongPositions(t.Source, t.Data);
            if (wrong is null)
            {
                plan.Notes.Add($"CLIP: {key} is {t.Source.DType.ToSafetensorsName()} {t.Source.FormatShape()}, not 77 position ids; left as it is.");
                continue;
            }

            if (!ClipPositionIds.IsBroken(t.Source.DType, t.Shape, wrong))
            {
                plan.Notes.Add($"CLIP: {key} is correct.");
                continue;
            }

            plan.Tensors[i] = new PlannedTensor(key, fixedInfo, correct, null, "fixed", plan.Tensors[i].Slot);
            plan.Notes.Add(wrong.Count == 0
                ? $"CLIP: {key} held the right values as {t.Source.DType.ToSafetensorsName()} {t.Source.FormatShape()}; now int64 [1, 77]."
                : $"CLIP: {key} had {wrong.Count} wrong positions ({string.Join(", ", wrong.Take(20))}{(wrong.Count > 20 ? ", ..." : string.Empty)}); reset to int64 0..76.");
        }

        if (!sawText)
        {
            plan.Notes.Add("CLIP: no CLIP text encoder with position ids found; nothing to fix.");
        }
    }

    private static void RenameOldKeys(TensorPlan plan)
    {
        int renamed = 0;
        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            foreach ((string oldPrefix, string newPrefix) in OldPrefixes)
            {
                string name = plan.Tensors[i].Name;
                if (name.StartsWith(oldPrefix, StringComparison.Ordinal))
                {
                    plan.Tensors[i] = plan.Tensors[i].WithName(newPrefix + name[oldPrefix.Length..]);
                    renamed++;
                }
            }
        }

        if (renamed > 0)
        {
            plan.Notes.Add($"CLIP: {renamed} old-style text encoder keys renamed to the text_model. form.");
        }
    }
}
