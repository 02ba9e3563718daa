using SafeCkpt.Transforms;

namespace SafeCkpt;

/// <summary>
/// What a save will write, decided without reading tensor bytes: every output tensor (name, dtype, shape, where
/// its bytes come from), what is dropped and why, and notes from each transform.
/// </summary>
public sealed class ConversionPlan
{
    internal ConversionPlan(TensorPlan plan, long sourceBytes)
    {
        Tensors = plan.Tensors.ToArray();
        Dropped = plan.Dropped.ToArray();
        Notes = plan.Notes.ToArray();
        Metadata = new Dictionary<string, string>(plan.Metadata, StringComparer.Ordinal);
        EmaSwapped = plan.EmaSwapped;
        SourceBytes = sourceBytes;
        OutputTensorBytes = Tensors.Sum(t => t.ByteLength);
        Inputs = [.. plan.InputFiles];
    }

    /// <summary>The tensors to write, in source order.</summary>
    public IReadOnlyList<PlannedTensor> Tensors { get; }

    /// <summary>The source tensors left out, with the reason.</summary>
    public IReadOnlyList<DroppedTensor> Dropped { get; }

    /// <summary>What each transform did, in order (EMA swaps, pruned counts, CLIP fixes, VAE replacements).</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>The metadata to write (safetensors <c>__metadata__</c>).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>How many UNet tensors were replaced by EMA weights.</summary>
    public int EmaSwapped { get; }

    /// <summary>The tensor bytes of the source file.</summary>
    public long SourceBytes { get; }

    /// <summary>The tensor bytes the output will hold (headers not included).</summary>
    public long OutputTensorBytes { get; }

    /// <summary>How many tensors change dtype.</summary>
    public int CastCount => Tensors.Count(t => t.IsCast);

    /// <summary>Every file the plan reads: the source (unless it is in memory) and any baked-in VAE.</summary>
    public IReadOnlyList<string> Inputs { get; }
}

/// <summary>What a save did.</summary>
/// <param name="OutputPath">The file written.</param>
/// <param name="Plan">The plan that was executed.</param>
/// <param name="OutputFileBytes">The size of the output file.</param>
/// <param name="Elapsed">The wall time of the save.</param>
public sealed record ConversionResult(string OutputPath, ConversionPlan Plan, long OutputFileBytes, TimeSpan Elapsed)
{
    /// <summary>What the save found while reading the tensors (wrong CLIP position ids); empty when nothing was checked.</summary>
    public IReadOnlyList<string> Findings { get; init; } = [];
}
