using SafeCkpt.Models;

namespace SafeCkpt.Transforms;

/// <summary>Drops every tensor of the given components (e.g. the VAE of a "baked VAE" model).</summary>
internal sealed class ComponentFilter : TensorTransform
{
    /// <summary>Creates the filter.</summary>
    /// <param name="drop">The components to drop.</param>
    public ComponentFilter(IEnumerable<ModelComponent> drop)
    {
        ArgumentNullException.ThrowIfNull(drop);
        Dropped = drop.Distinct().Order().ToArray();
    }

    /// <summary>The components dropped.</summary>
    public IReadOnlyList<ModelComponent> Dropped { get; }

    /// <inheritdoc/>
    public override string Description => $"drop {string.Join(", ", Dropped)}";

    internal override void Apply(TensorPlan plan)
    {
        foreach (ModelComponent c in Dropped)
        {
            int n = plan.Drop(t => t.Component == c, $"{c} dropped");
            plan.Notes.Add($"{c}: {n} tensors dropped.");
        }
    }
}
