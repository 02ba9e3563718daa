using SafeCkpt.Models;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Transforms;

/// <summary>
/// Casts floating-point tensors (F64, F32, F16, BF16) to <see cref="Target"/>, optionally only in some components.
/// Integer and bool tensors never change (CLIP <c>position_ids</c> stays int64). Empty floating tensors (markers such
/// as <c>v_pred</c>, shape [0, 4] placeholders) are cast like the rest, as torch's <c>.half()</c> casts them; their
/// loaders test only that the key exists. A real upcast: <c>ToFloat32</c> turns F16/BF16 into F32.
/// </summary>
internal sealed class CastTransform : TensorTransform
{
    /// <summary>Creates the cast.</summary>
    /// <param name="target">The floating dtype to write: F16, BF16, F32 or F64.</param>
    /// <param name="components">The components to cast; null or empty for all.</param>
    /// <exception cref="ArgumentException">The target is not a castable floating dtype.</exception>
    public CastTransform(DType target, IEnumerable<ModelComponent>? components = null)
    {
        if (!ElementCast.IsCastable(target))
        {
            throw new ArgumentException($"Cannot cast to {target.ToSafetensorsName()}; the targets are F64, F32, F16 and BF16.", nameof(target));
        }

        Target = target;
        Components = components?.Distinct().Order().ToArray() ?? [];
    }

    /// <summary>The dtype floating tensors are cast to.</summary>
    public DType Target { get; }

    /// <summary>The components cast; empty means all.</summary>
    public IReadOnlyList<ModelComponent> Components { get; }

    /// <inheritdoc/>
    public override string Description => Components.Count == 0
        ? $"cast floating tensors to {Target.ToSafetensorsName()}"
        : $"cast floating tensors of {string.Join(", ", Components)} to {Target.ToSafetensorsName()}";

    internal override void Apply(TensorPlan plan)
    {
        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            PlannedTensor t = plan.Tensors[i];
            if (ElementCast.IsCastable(t.Source.DType) && (Components.Count == 0 || Components.Contains(t.Component)))
            {
                plan.Tensors[i] = t.WithCast(t.Source.DType == Target ? null : Target);
            }
        }
    }
}
