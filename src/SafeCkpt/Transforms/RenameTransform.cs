namespace SafeCkpt.Transforms;

/// <summary>Renames tensors with a function; returning null or an empty name drops the tensor.</summary>
internal sealed class RenameTransform : TensorTransform
{
    private readonly Func<string, string?> _rename;

    /// <summary>Creates the rename.</summary>
    /// <param name="rename">Maps a name to its new name, or to null to drop it.</param>
    /// <param name="description">What the rename does, for reports.</param>
    public RenameTransform(Func<string, string?> rename, string description = "rename tensors")
    {
        ArgumentNullException.ThrowIfNull(rename);
        _rename = rename;
        Description = description;
    }

    /// <inheritdoc/>
    public override string Description { get; }

    internal override void Apply(TensorPlan plan)
    {
        // Names stay distinct or the pipeline refuses the step: it checks every step's result once.
        plan.Drop(t => string.IsNullOrEmpty(_rename(t.Name)), Description);
        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            plan.Tensors[i] = plan.Tensors[i].WithName(_rename(plan.Tensors[i].Name)!);
        }
    }
}

/// <summary>Keeps only the tensors a predicate accepts.</summary>
internal sealed class FilterTransform : TensorTransform
{
    private readonly Func<PlannedTensor, bool> _keep;

    /// <summary>Creates the filter.</summary>
    /// <param name="keep">True for the tensors to keep.</param>
    /// <param name="description">What the filter does, for reports.</param>
    public FilterTransform(Func<PlannedTensor, bool> keep, string description = "filter tensors")
    {
        ArgumentNullException.ThrowIfNull(keep);
        _keep = keep;
        Description = description;
    }

    /// <inheritdoc/>
    public override string Description { get; }

    internal override void Apply(TensorPlan plan) => plan.Drop(t => !_keep(t), Description);
}
