using SafeCkpt.Models;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Transforms;

/// <summary>
/// Casts floating-point tensors (F64, F32, F16, BF16, F8_E4M3, F8_E5M2) to <see cref="Target"/>, optionally only in
/// some components. Integer and bool tensors never change (CLIP <c>position_ids</c> stays int64). Empty floating
/// tensors (markers such as <c>v_pred</c>, shape [0, 4] placeholders) are cast like the rest, as torch's <c>.half()</c>
/// casts them; their loaders test only that the key exists. A real upcast: <c>ToFloat32</c> turns F16/BF16 into F32,
/// and an fp8 weight widens exactly. Scaled fp8 layers the cast covers are dequantized
/// (<see cref="ScaledFloat8Dequantization"/>); quantized formats SafeCkpt cannot dequantize are refused.
/// </summary>
internal sealed class CastTransform : TensorTransform
{
    /// <summary>Creates the cast.</summary>
    /// <param name="target">The floating dtype to write: F16, BF16, F32, F64, F8_E4M3 or F8_E5M2.</param>
    /// <param name="components">The components to cast; null or empty for all.</param>
    /// <exception cref="ArgumentException">The target is not a castable floating dtype.</exception>
    public CastTransform(DType target, IEnumerable<ModelComponent>? components = null)
    {
        if (!ElementCast.IsCastable(target))
        {
            throw new ArgumentException($"Cannot cast to {target.ToSafetensorsName()}; the targets are F64, F32, F16, BF16, F8_E4M3 and F8_E5M2.", nameof(target));
        }

        Target = target;
        Components = components?.Distinct().Order().ToArray() ?? [];
    }

    /// <summary>The dtype floating tensors are cast to.</summary>
    public DType Target { get; }

    /// <summary>The components cast; empty means all.</summary>
    public IReadOnlyList<ModelComponent> Components { get; }

    /// <summary>
    /// Casts the diffusion model as <see cref="Float8Scope.DiffusionModel"/> finds it (the UNet component, or the whole
    /// file when it holds one model without checkpoint prefixes) instead of by <see cref="Components"/>: the fp8 casts.
    /// </summary>
    public bool DiffusionModelOnly { get; init; }

    /// <inheritdoc/>
    public override string Description => DiffusionModelOnly
        ? $"cast the diffusion model's floating tensors to {Target.ToSafetensorsName()}"
        : Components.Count == 0
        ? $"cast floating tensors to {Target.ToSafetensorsName()}"
        : $"cast floating tensors of {string.Join(", ", Components)} to {Target.ToSafetensorsName()}";

    /// <summary>The fp8 cast of the diffusion model.</summary>
    public static CastTransform DiffusionModel(DType target) => new(target, [ModelComponent.UNet]) { DiffusionModelOnly = true };

    internal override void Apply(TensorPlan plan)
    {
        Func<string, bool> inModel = DiffusionModelOnly ? Float8Scope.DiffusionModel(plan.Tensors.Select(t => t.Name)) : _ => true;
        bool Covered(PlannedTensor t) => DiffusionModelOnly ? inModel(t.Name) : Components.Count == 0 || Components.Contains(t.Component);
        HashSet<string> dequantized = ScaledFloat8Dequantization.Apply(plan, Target, Covered);
        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            PlannedTensor t = plan.Tensors[i];
            if (ElementCast.IsCastable(t.Source.DType) && !dequantized.Contains(t.Name) && Covered(t))
            {
                plan.Tensors[i] = t.WithCast(t.Source.DType == Target ? null : Target);
            }
        }
    }
}
