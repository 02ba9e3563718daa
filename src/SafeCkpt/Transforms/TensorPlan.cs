namespace SafeCkpt.Transforms;

/// <summary>The mutable plan transforms rewrite, in order; the pipeline snapshots it as a <see cref="ConversionPlan"/>.</summary>
internal sealed class TensorPlan
{
    public TensorPlan(IEnumerable<PlannedTensor> tensors, IReadOnlyDictionary<string, string> metadata, string sourcePath)
    {
        Tensors = tensors.ToList();
        Metadata = new Dictionary<string, string>(metadata, StringComparer.Ordinal);
        SourcePath = sourcePath;
    }

    public List<PlannedTensor> Tensors { get; }

    public Dictionary<string, string> Metadata { get; }

    public List<DroppedTensor> Dropped { get; } = [];

    public List<string> Notes { get; } = [];

    /// <summary>What sources found while the save read them (wrong CLIP position ids); filled during the save.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Findings { get; } = new();

    public string SourcePath { get; }

    /// <summary>Files a transform opened itself (a VAE given by path); closed when the save (or the plan) is done.</summary>
    public List<IDisposable> Owned { get; } = [];

    /// <summary>The files the plan reads from: the source (when it is a file) and any VAE being baked in; the output may be none of them.</summary>
    public List<string> InputFiles { get; } = [];

    public int EmaSwapped { get; set; }

    /// <summary>Where the source's tensors sat in its pickle (PyTorch sources only): the ckpt writer keeps that shape.</summary>
    public Formats.Torch.PickleLayout? SourceLayout { get; init; }

    /// <summary>Removes the tensors matching <paramref name="drop"/>, recording why.</summary>
    public int Drop(Func<PlannedTensor, bool> drop, string reason)
    {
        int n = 0;
        Tensors.RemoveAll(t =>
        {
            if (!drop(t))
            {
                return false;
            }

            Dropped.Add(new DroppedTensor(t.Name, reason));
            n++;
            return true;
        });
        return n;
    }

    public int IndexOf(string name) => Tensors.FindIndex(t => t.Name == name);
}
