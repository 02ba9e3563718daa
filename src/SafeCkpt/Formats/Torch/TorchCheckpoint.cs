using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Torch;

/// <summary>An opened PyTorch checkpoint: its tensors (read lazily from the file) and its other values.</summary>
internal sealed class TorchCheckpoint : IDisposable
{
    internal TorchCheckpoint(ModelFormat format, TensorStore tensors, CheckpointInfo info)
    {
        Format = format;
        Tensors = tensors;
        Info = info;
    }

    /// <summary>The container: <see cref="ModelFormat.TorchZip"/>, <see cref="ModelFormat.TorchLegacy"/> or <see cref="ModelFormat.Pickle"/>.</summary>
    public ModelFormat Format { get; }

    /// <summary>The tensors of the state dict, named as the web UIs name them.</summary>
    public TensorStore Tensors { get; }

    /// <summary>The non-tensor values and storage statistics.</summary>
    public CheckpointInfo Info { get; }

    /// <summary>Closes the file.</summary>
    public void Dispose() => Tensors.Dispose();
}
