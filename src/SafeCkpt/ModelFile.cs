using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Formats.Tar;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Internals;
using SafeCkpt.IO;
using SafeCkpt.Tensors;

namespace SafeCkpt;

/// <summary>
/// A model file opened for reading: the entry point of SafeCkpt. The format is decided from the file's first bytes,
/// not its extension; only headers are read when opening, tensor bytes when saving or when asked for.
/// </summary>
/// <example>
/// <code>
/// using var model = ModelFile.Open("model.safetensors");
/// Console.WriteLine($"{model.Tensors.Count} tensors, {model.Tensors.TotalBytes} bytes");
/// model.SaveSafetensors("copy.safetensors");
/// </code>
/// </example>
public sealed class ModelFile : IDisposable
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
            case var torch when FormatSniffer.IsTorch(torch):
                TorchCheckpoint ckpt = TorchReaders.Open(file, format, options);
                return new ModelFile(file.Name, format, ckpt.Tensors, ckpt.Info);
            default:
                throw new UnsupportedFormatException(file.Length == 0 ? SafeCkptErrorCode.EmptyFile : SafeCkptErrorCode.UnsupportedFormat, file.Name, $"{file.Name}: {description}");
        }
    }

    /// <summary>Tells a file's format from its first bytes without opening it as a model.</summary>
    /// <param name="path">The file to look at.</param>
    /// <returns>The format, or <see cref="ModelFormat.Unknown"/>.</returns>
    /// <exception cref="InputReadException">The file cannot be opened or read.</exception>
    public static ModelFormat DetectFormat(string path)
    {
        using var file = FileByteSource.Open(path);
        return FormatSniffer.Sniff(file).Format;
    }

    /// <summary>Starts a conversion: a pipeline with no transforms yet.</summary>
    /// <returns>The pipeline.</returns>
    public ModelPipeline Convert() => new(this, System.Collections.Immutable.ImmutableList<Transforms.TensorTransform>.Empty);

    /// <summary>Starts a conversion that casts floating tensors to F16; see <see cref="ModelPipeline.ToHalf"/>.</summary>
    /// <param name="components">Only these components; none for all.</param>
    /// <returns>The pipeline.</returns>
    public ModelPipeline ToHalf(params Models.ModelComponent[] components) => Convert().ToHalf(components);

    /// <summary>Starts a conversion that casts floating tensors to BF16; see <see cref="ModelPipeline.ToBFloat16"/>.</summary>
    /// <param name="components">Only these components; none for all.</param>
    /// <returns>The pipeline.</returns>
    public ModelPipeline ToBFloat16(params Models.ModelComponent[] components) => Convert().ToBFloat16(components);

    /// <summary>Starts a conversion that casts floating tensors to F32; see <see cref="ModelPipeline.ToFloat32"/>.</summary>
    /// <param name="components">Only these components; none for all.</param>
    /// <returns>The pipeline.</returns>
    public ModelPipeline ToFloat32(params Models.ModelComponent[] components) => Convert().ToFloat32(components);

    /// <summary>Starts a conversion that chooses EMA or non-EMA weights; see <see cref="ModelPipeline.SelectEma"/>.</summary>
    /// <param name="useEma">True to put the EMA weights in place of the UNet's.</param>
    /// <returns>The pipeline.</returns>
    public ModelPipeline SelectEma(bool useEma) => Convert().SelectEma(useEma);

    /// <summary>Starts a conversion that removes known junk; see <see cref="ModelPipeline.Prune"/>.</summary>
    /// <returns>The pipeline.</returns>
    public ModelPipeline Prune() => Convert().Prune();

    /// <summary>Starts a conversion that bakes in a VAE; see <see cref="ModelPipeline.ReplaceVae(ModelFile)"/>.</summary>
    /// <param name="vae">The open VAE file; keep it open until saving.</param>
    /// <returns>The pipeline.</returns>
    public ModelPipeline ReplaceVae(ModelFile vae) => Convert().ReplaceVae(vae);

    /// <summary>Starts a conversion that bakes in a VAE given by path; see <see cref="ModelPipeline.ReplaceVae(string)"/>.</summary>
    /// <param name="vaePath">The VAE file.</param>
    /// <returns>The pipeline.</returns>
    public ModelPipeline ReplaceVae(string vaePath) => Convert().ReplaceVae(vaePath);

    /// <summary>Starts a conversion that fixes CLIP position ids; see <see cref="ModelPipeline.FixClipPositionIds"/>.</summary>
    /// <returns>The pipeline.</returns>
    public ModelPipeline FixClipPositionIds() => Convert().FixClipPositionIds();

    /// <summary>Writes every tensor and the metadata, unchanged, to a safetensors file.</summary>
    /// <param name="path">The output file; never the input.</param>
    /// <param name="options">Overwrite, flush and progress settings.</param>
    /// <param name="cancellationToken">Cancels the write; no partial file is left.</param>
    /// <exception cref="OutputException">The output exists, is the input, or cannot be written.</exception>
    public void SaveSafetensors(string path, SaveOptions? options = null, CancellationToken cancellationToken = default) =>
        SafetensorsWriter.Write(Tensors, path, options, cancellationToken);

    /// <summary>
    /// Tells which architecture the model is (or which kind of file: VAE, LoRA, ...) from its tensor names and
    /// shapes, with the evidence, and summarises size, precision, EMA, VAE, text encoders and CLIP position ids.
    /// </summary>
    /// <returns>The report; <c>unknown</c> with a reason when no rule matched.</returns>
    public Models.ArchitectureReport DetectArchitecture() => Models.ArchitectureDetector.Detect(Tensors, Metadata, Path);

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
