namespace SafeCkpt.Transforms;

/// <summary>
/// A step of a conversion, as a description: it rewrites the plan (names, sources, dtypes, drops) and never touches
/// tensor bytes; the save pipeline executes the plan. Transforms are immutable and can be reused.
/// </summary>
public abstract class TensorTransform
{
    private protected TensorTransform()
    {
    }

    /// <summary>What the step does, in a few words (shown by dry runs and reports).</summary>
    public abstract string Description { get; }

    /// <inheritdoc/>
    public override string ToString() => Description;

    internal abstract void Apply(TensorPlan plan);
}
