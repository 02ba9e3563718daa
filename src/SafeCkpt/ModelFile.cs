using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Formats.Tar;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Internals;
using SafeCkpt.IO;
using SafeCkpt.Tensors;

namespace SafeCkpt;

/// <summary>
/// A model file opened for reading: the entry point of SafeCkpt. The format is decided from the file's first bytes,
/// not its extension; only headers are read when opening, tensor bytes when saving or when asked for. Conversions
/// start here with the operations of <see cref="ModelConversions"/> (<c>ToHalf</c>, <c>SelectEma</c>, ...,
/// <c>SaveSafetensors</c>).
/// </summary>
/// <example>
/// <code>
/// using var model = ModelFile.Open("model.safetensors");
/// Console.WriteLine($"{model.Tensors.Count} tensors, {model.Tensors.TotalBytes} bytes");
/// model.SelectEma(false).ToHalf().SaveSafetensors("model-fp16.safetensors");
/// </code>
/// </example>
public sealed class ModelFile : IModelConversion, IDisposable
{
    private ModelFile(string path, ModelFormat format, TensorStore tensors, CheckpointInfo? checkpoint)
    {
        Path = path;
        Format = format;
        Tensors = tensors;
        Checkpoint = checkpoint;
    }

    /// <summary>The path the model was opened from.</summary>
    public string Path { get; }

    /// <summary>The container format, from the file's first bytes.</summary>
    public ModelFormat Format { get; }

    /// <summary>The tensors, read lazily from the file.</summary>
    public TensorStore Tensors { get; }

    /// <summary>For PyTorch checkpoints, the non-tensor values and storage statistics; null for safetensors.</summary>
    public CheckpointInfo? Checkpoint { get; }

    /// <summary>The file's string metadata (safetensors <c>__metadata__</c>); empty when there is none.</summary>
    public IReadOnlyDictionary<string, string> Metadata => Tensors.Metadata;

    /// <summary>Opens a model file of any supported format.</summary>
    /// <param name="path">The file to open.</param>
    /// <returns>The open model; dispose it to close the file.</returns>
    /// <exception cref="UnsupportedFormatException">The file is not a format SafeCkpt reads; the message says what it is.</exception>
    /// <exception cref="InvalidCheckpointException">The file is malformed.</exception>
    /// <exception cref="UnsafeCheckpointException">A PyTorch checkpoint would run code if loaded by PyTorch.</exception>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static ModelFile Open(string path) => Open(path, OpenOptions.Default);

    /// <summary>Opens a model file of any supported format with non-default read budgets.</summary>
    /// <param name="path">The file to open.</param>
    /// <param name="options">Budgets a hostile file could otherwise exhaust (see <see cref="OpenOptions"/>).</param>
    /// <returns>The open model; dispose it to close the file.</returns>
    /// <exception cref="UnsupportedFormatException">The file is not a format SafeCkpt reads; the message says what it is.</exception>
    /// <exception cref="InvalidCheckpointException">The file is malformed, or exceeds a budget.</exception>
    /// <exception cref="UnsafeCheckpointException">A PyTorch checkpoint would run code if loaded by PyTorch.</exception>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static ModelFile Open(string path, OpenOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var file = FileByteSource.Open(path);
        try
        {
            (ModelFormat format, string description) = FormatSniffer.Sniff(file);
            return OpenSource(file, format, description, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Opens a sniffed source; the model takes ownership of <paramref name="file"/>. The scanner reads files through this too.</summary>
    internal static ModelFile OpenSource(ByteSource file, ModelFormat format, string description, OpenOptions? options = null)
    {
        TarHeader.RefuseIfTar(file);
        switch (format)
        {
            case ModelFormat.Safetensors:
                return new ModelFile(file.Name, format, SafetensorsReader.OpenChecked(file), null);
            case ModelFormat.Gguf:
                return new ModelFile(file.Name, format, Formats.Gguf.GgufReader.Open(file), null);
            case var torch when FormatSniffer.IsTorch(torch):
                TorchCheckpoint ckpt = TorchReaders.Open(file, format, options);
                return new ModelFile(file.Name, format, ckpt.Tensors, ckpt.Info);
            default:
                throw new UnsupportedFormatException(file.Length == 0 ? SafeCkptErrorCode.EmptyFile : SafeCkptErrorCode.UnsupportedFormat, file.Name, $"{file.Name}: {description}");
        }
    }

    /// <summary>
    /// Opens a model held in memory (a file's bytes), of any supported format; for tests and for models that never
    /// touch the disk. The bytes must not change while the model is open.
    /// </summary>
    /// <param name="bytes">The file's bytes.</param>
    /// <param name="name">The name errors and reports use for it.</param>
    /// <returns>The open model.</returns>
    /// <exception cref="UnsupportedFormatException">The bytes are not a format SafeCkpt reads.</exception>
    /// <exception cref="InvalidCheckpointException">The model is malformed, or exceeds a budget.</exception>
    /// <exception cref="UnsafeCheckpointException">A PyTorch checkpoint would run code if loaded by PyTorch.</exception>
    public static ModelFile Open(ReadOnlyMemory<byte> bytes, string name)
    {
        var source = new MemoryByteSource(bytes, name);
        (ModelFormat format, string description) = FormatSniffer.Sniff(source);
        return OpenSource(source, format, description);
    }

    /// <summary>A model over tensors built in memory (<see cref="Building.CheckpointBuilder"/>).</summary>
    internal static ModelFile FromStore(TensorStore tensors, string name) => new(name, ModelFormat.Safetensors, tensors, null);

    /// <summary>Tells a file's format from its first bytes without opening it as a model.</summary>
    /// <param name="path">The file to look at.</param>
    /// <returns>The format, or <see cref="ModelFormat.Unknown"/>.</returns>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static ModelFormat DetectFormat(string path)
    {
        using var file = FileByteSource.Open(path);
        return FormatSniffer.Sniff(file).Format;
    }

    /// <summary>Starts a conversion: a pipeline with no steps yet. The steps are in <see cref="ModelConversions"/>.</summary>
    /// <returns>The pipeline.</returns>
    public ModelPipeline Convert() => new(this, System.Collections.Immutable.ImmutableList<Transforms.TensorTransform>.Empty);

    /// <summary>Compares this model's tensors with another's: names, dtypes, shapes and values.</summary>
    /// <param name="other">The model to compare with.</param>
    /// <param name="cancellationToken">Cancels the comparison.</param>
    /// <returns>What is only in one model, and every common tensor's differences.</returns>
    public Analysis.DiffReport CompareTo(ModelFile other, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Analysis.ModelDiff.Compare(Tensors, other.Tensors, cancellationToken);
    }

    /// <summary>
    /// Tells which architecture the model is (or which kind of file: VAE, LoRA, ...) from its tensor names and
    /// shapes, with the evidence, and summarises size, precision, EMA, VAE, text encoders and CLIP position ids.
    /// </summary>
    /// <returns>The report; <c>unknown</c> with a reason when no rule matched.</returns>
    public Models.ArchitectureReport DetectArchitecture() => Models.ArchitectureDetector.Detect(Tensors, Metadata, Path);

    /// <summary>
    /// Checks whether a LoRA (kohya, diffusers / PEFT, LyCORIS LoCon / LoHa / LoKr, ...) fits this model as ComfyUI
    /// would load it: which of its modules land on a weight of this model with a fitting shape, which land nowhere
    /// or on a weight of another shape, and which base architecture the LoRA claims and shows. Names and shapes
    /// only: no tensor bytes are read.
    /// </summary>
    /// <param name="lora">The LoRA.</param>
    /// <returns>The verdict, its reasons and what to do.</returns>
    /// <exception cref="ConversionException"><paramref name="lora"/> is not a LoRA, or this model is one (<see cref="SafeCkptErrorCode.NotALora"/>).</exception>
    public Analysis.LoraFitReport CheckLora(ModelFile lora)
    {
        ArgumentNullException.ThrowIfNull(lora);
        return Analysis.LoraFit.Check(lora.Tensors, lora.Path, Tensors, Path, DetectArchitecture());
    }

    /// <summary>
    /// Writes the LDM/SGM config yaml the web UIs expect beside an SD 1.x, 2.x or SDXL checkpoint (see
    /// <see cref="Models.ConfigYaml"/>), atomically.
    /// </summary>
    /// <param name="path">The yaml file; null for the model's path with the extension <c>.yaml</c>.</param>
    /// <param name="options">Overwrite and flush settings.</param>
    /// <returns>The path written.</returns>
    /// <exception cref="ConversionException">The architecture has no such config (Flux, SD3, a LoRA, ...) or is unknown.</exception>
    /// <exception cref="OutputException">The file exists (and overwriting was not asked for) or cannot be written.</exception>
    public string WriteConfigYaml(string? path = null, SaveOptions? options = null)
    {
        path ??= System.IO.Path.ChangeExtension(Path, ".yaml");
        Models.ConfigYaml.Write(DetectArchitecture(), path, options, [Path]);
        return path;
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => Tensors.Dispose();
}
