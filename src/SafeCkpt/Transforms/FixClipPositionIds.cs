using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Transforms;

/// <summary>
/// Resets CLIP's <c>position_ids</c> to int64 <c>[[0, 1, ..., 76]]</c> when they are broken (stored as floats by a
/// merge, off by rounding, or missing) and reports which positions were wrong. Old-transformers keys
/// (<c>cond_stage_model.transformer.embeddings.*</c>) are renamed to the <c>text_model.</c> form first. What is
/// broken and what is correct is <see cref="ClipPositionIds"/>'s rule, which the architecture report uses too.
/// </summary>
internal sealed class FixClipPositionIds : TensorTransform
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
            if (!ClipPositionIds.IsReadable(t.Source))
            {
                plan.Notes.Add($"CLIP: {key} is {t.Source.DType.ToSafetensorsName()} {t.Source.FormatShape()}, not 77 position ids; left as it is.");
                continue;
            }

            // Planning reads no tensor bytes: the values are checked as the save reads them, and reported then.
            var check = new CheckedPositionIds(key, t.Source, t.Input, plan.Findings);
            plan.Tensors[i] = new PlannedTensor(key, fixedInfo, check, null, "fixed", t.Slot);
            plan.Notes.Add(t.Source.DType == DType.Int64 && t.Shape.SequenceEqual([1L, 77L])
                ? $"CLIP: {key} is written as int64 0..76; its values are checked while saving and any wrong position is reported."
                : $"CLIP: {key} is {t.Source.DType.ToSafetensorsName()} {t.Source.FormatShape()}; written as int64 [1, 77] (0..76), wrong positions reported while saving.");
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

    /// <summary>
    /// The fixed position ids as a source: when the save reads it, it reads the original values once, records which
    /// positions were wrong in the save's findings, and yields int64 0..76.
    /// </summary>
    private sealed class CheckedPositionIds(string key, TensorInfo original, TensorSource input, System.Collections.Concurrent.ConcurrentQueue<string> findings) : TensorSource
    {
        private readonly TensorSource _correct = ClipPositionIds.Correct(key).Data;
        private bool _checked;

        public override long Length => _correct.Length;

        public override void Read(long offset, Span<byte> destination)
        {
            CheckRange(offset, destination.Length);
            if (!_checked)
            {
                _checked = true;
                List<int> wrong = ClipPositionIds.WrongPositions(original, input)!;
                bool exact = !ClipPositionIds.IsBroken(original.DType, original.Shape, wrong);
                findings.Enqueue(wrong.Count == 0
                    ? exact ? $"CLIP: {key} is correct." : $"CLIP: {key} held the right values as {original.DType.ToSafetensorsName()} {original.FormatShape()}; now int64 [1, 77]."
                    : $"CLIP: {key} had {wrong.Count} wrong positions ({string.Join(", ", wrong.Take(20))}{(wrong.Count > 20 ? ", ..." : string.Empty)}); reset to int64 0..76.");
            }

            _correct.Read(offset, destination);
        }
    }
}
