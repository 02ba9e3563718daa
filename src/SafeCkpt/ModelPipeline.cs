using System.Collections.Immutable;
using System.Diagnostics;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Models;
using SafeCkpt.Tensors;
using SafeCkpt.Transforms;

namespace SafeCkpt;

/// <summary>
/// A lazy conversion of a <see cref="ModelFile"/>: each call adds a transform and returns a new pipeline (the
/// original is unchanged), nothing reads tensor bytes until <see cref="SaveSafetensors"/> or
/// <see cref="SaveCkpt"/>, which stream every tensor through its casts in bounded memory.
/// </summary>
/// <example>
/// <code>
/// using var model = ModelFile.Open("sd15-full-ema.ckpt");
/// model.SelectEma(false).ToHalf().SaveSafetensors("sd15-fp16.safetensors");
/// </code>
/// </example>
public sealed class ModelPipeline
{
    internal ModelPipeline(ModelFile source, ImmutableList<TensorTransform> transforms)
    {
        Source = source;
        Transforms = transforms;
    }

    /// <summary>The model being converted.</summary>
    public ModelFile Source { get; }

    /// <summary>The transforms, in the order they apply.</summary>
    public IReadOnlyList<TensorTransform> Transforms { get; }

    /// <summary>Adds a transform.</summary>
    /// <param name="transform">The transform to apply after the current ones.</param>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline Apply(TensorTransform transform)
    {
        ArgumentNullException.ThrowIfNull(transform);
        return new ModelPipeline(Source, ((ImmutableList<TensorTransform>)Transforms).Add(transform));
    }

    /// <summary>Casts floating tensors to F16 (integers and bool never change).</summary>
    /// <param name="components">Only these components; none for all.</param>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline ToHalf(params ModelComponent[] components) => Apply(new CastTransform(DType.Float16, components));

    /// <summary>Casts floating tensors to BF16 (integers and bool never change).</summary>
    /// <param name="components">Only these components; none for all.</param>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline ToBFloat16(params ModelComponent[] components) => Apply(new CastTransform(DType.BFloat16, components));

    /// <summary>Casts floating tensors to F32: a real upcast of F16/BF16 weights.</summary>
    /// <param name="components">Only these components; none for all.</param>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline ToFloat32(params ModelComponent[] components) => Apply(new CastTransform(DType.Float32, components));

    /// <summary>Chooses the EMA (true) or the non-EMA (false) UNet weights and drops the <c>model_ema.*</c> keys.</summary>
    /// <param name="useEma">True to put the EMA weights in place of the UNet's.</param>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline SelectEma(bool useEma) => Apply(new EmaSelection(useEma));

    /// <summary>Removes the known junk (schedule buffers, loss, embedding manager, leftovers); keeps marker tensors.</summary>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline Prune() => Apply(new PruneTransform());

    /// <summary>Drops whole components, e.g. the VAE.</summary>
    /// <param name="components">The components to drop.</param>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline Drop(params ModelComponent[] components) => Apply(new ComponentFilter(components));

    /// <summary>Bakes in a standalone VAE (its tensors replace the model's, shapes checked).</summary>
    /// <param name="vae">The open VAE file; keep it open until saving.</param>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline ReplaceVae(ModelFile vae) => Apply(new ReplaceVae(vae));

    /// <summary>Bakes in a standalone VAE given by path; the file is opened for the save and closed after it.</summary>
    /// <param name="vaePath">The VAE file.</param>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline ReplaceVae(string vaePath) => Apply(new ReplaceVae(vaePath));

    /// <summary>Keeps only the VAE, with standalone VAE key names.</summary>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline ExtractVae() => Apply(new ExtractVae());

    /// <summary>Resets broken CLIP position ids to int64 0..76 and reports which were wrong.</summary>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline FixClipPositionIds() => Apply(new FixClipPositionIds());

    /// <summary>Renames tensors; a null or empty new name drops the tensor.</summary>
    /// <param name="rename">The renaming function.</param>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline Rename(Func<string, string?> rename) => Apply(new RenameTransform(rename));

    /// <summary>Keeps only the tensors the predicate accepts.</summary>
    /// <param name="keep">True for the tensors to keep.</param>
    /// <returns>A new pipeline.</returns>
    public ModelPipeline Where(Func<PlannedTensor, bool> keep) => Apply(new FilterTransform(keep));

    /// <summary>Runs the transforms over names, dtypes and shapes only, and returns what a save would write.</summary>
    /// <returns>The plan.</returns>
    /// <exception cref="ConversionException">A transform cannot apply to this model (no EMA weights, a VAE that does not fit).</exception>
    public ConversionPlan Plan()
    {
        TensorPlan plan = BuildPlan();
        Close(plan);
        return new ConversionPlan(plan, Source.Tensors.TotalBytes);
    }

    /// <summary>Runs the transforms; files they open stay open in <see cref="TensorPlan.Owned"/> until closed.</summary>
    private TensorPlan BuildPlan()
    {
        TensorStore store = Source.Tensors;
        var plan = new TensorPlan(store.Entries().Select(e => new PlannedTensor(e.Info.Name, e.Info, e.Source, null, "model", e.Info.Name)), store.Metadata, Source.Path)
        {
            SourceLayout = store.Layout,
        };
        try
        {
            if (store.Layout is { TensorsOutside: > 0 } layout)
            {
                plan.Notes.Add($"{layout.TensorsOutside} tensors outside the state dict (under {string.Join(", ", layout.OutsidePaths.Select(p => "'" + p + "'"))}) are not converted.");
            }

            foreach (TensorTransform t in Transforms)
            {
                t.Apply(plan);
            }

            return plan;
        }
        catch
        {
            Close(plan);
            throw;
        }
    }

    private static void Close(TensorPlan plan)
    {
        foreach (IDisposable d in plan.Owned)
        {
            d.Dispose();
        }

        plan.Owned.Clear();
    }

    /// <summary>
    /// Plans, lets <paramref name="finish"/> adapt the plan to the output format (and return the layout the writer
    /// needs), then writes with <paramref name="write"/>, closing any file a transform opened.
    /// </summary>
    private ConversionResult Save<TLayout>(string path, Func<TensorPlan, TLayout> finish, Action<ConversionPlan, TLayout> write)
    {
        var watch = Stopwatch.StartNew();
        TensorPlan built = BuildPlan();
        try
        {
            TLayout layout = finish(built);
            RequireTensors(built);
            var plan = new ConversionPlan(built, Source.Tensors.TotalBytes);
            write(plan, layout);
            return new ConversionResult(path, plan, new FileInfo(path).Length, watch.Elapsed);
        }
        finally
        {
            Close(built);
        }
    }

    /// <summary>A save that would write no tensor from a file that holds some is refused, not an empty file.</summary>
    private void RequireTensors(TensorPlan plan)
    {
        int outside = plan.SourceLayout?.TensorsOutside ?? 0;
        if (plan.Tensors.Count > 0 || (Source.Tensors.Count == 0 && outside == 0))
        {
            return;
        }

        string why = Source.Tensors.Count == 0
            ? $"its {outside} tensors are all outside the state dict (under {string.Join(", ", plan.SourceLayout!.OutsidePaths.Select(p => "'" + p + "'"))}), which SafeCkpt does not convert"
            : $"all {Source.Tensors.Count} of its tensors are dropped ({string.Join("; ", plan.Dropped.Select(d => d.Reason).Distinct().Take(3))})";
        throw new ConversionException(SafeCkptErrorCode.NoTensorsToWrite, Source.Path, $"{Source.Path}: the conversion would write no tensor: {why}. Nothing was written; change the transforms (Drop, Prune, Where, ...) or check the file.");
    }

    /// <summary>Writes the converted model as safetensors, streaming.</summary>
    /// <param name="path">The output file; never the input.</param>
    /// <param name="options">Overwrite, flush and progress settings.</param>
    /// <param name="cancellationToken">Cancels the save; no partial file is left.</param>
    /// <returns>What was written.</returns>
    public ConversionResult SaveSafetensors(string path, SaveOptions? options = null, CancellationToken cancellationToken = default) =>
        Save(
            path,
            built =>
            {
                Models.EmbeddingForms.ToEmbParams(built);
                return true;
            },
            (plan, _) => SafetensorsWriter.Write(plan.Tensors.Select(t => t.ToWriteItem()).ToList(), plan.Metadata, path, options ?? SaveOptions.Default, plan.Inputs, cancellationToken));

    /// <summary>
    /// Writes the converted model as a PyTorch zip checkpoint, streaming. A PyTorch source keeps its layout (top-level
    /// dict or <c>state_dict</c> wrapper, the values beside the tensors, lists, order); a safetensors source gets
    /// <c>{"state_dict": ...}</c> when it is a full checkpoint, A1111's dict when it is a one-tensor embedding, and a
    /// top-level dict of its tensors otherwise. Values <c>torch.load(weights_only=True)</c> cannot load are left out,
    /// each with a note in <see cref="ConversionPlan.Notes"/>.
    /// </summary>
    /// <param name="path">The output file; never the input.</param>
    /// <param name="options">Overwrite, flush and progress settings.</param>
    /// <param name="cancellationToken">Cancels the save; no partial file is left.</param>
    /// <returns>What was written.</returns>
    public ConversionResult SaveCkpt(string path, SaveOptions? options = null, CancellationToken cancellationToken = default) =>
        Save(
            path,
            built => Models.EmbeddingForms.A1111Form(built, Source, path) ?? Formats.Torch.CkptLayout.For(built),
            (plan, layout) => Formats.Torch.CkptWriter.Write(plan.Tensors.Select(t => t.ToWriteItem()).ToList(), layout, path, options ?? SaveOptions.Default, plan.Inputs, cancellationToken));
}
