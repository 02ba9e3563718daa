using System.Collections.Immutable;
using System.Diagnostics;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;
using SafeCkpt.Transforms;

namespace SafeCkpt;

/// <summary>
/// A lazy conversion of a <see cref="ModelFile"/>: each operation (see <see cref="ModelConversions"/>) adds a
/// transform and returns a new pipeline (the original is unchanged). Nothing reads tensor bytes until a save, which
/// executes the plan: every tensor streamed through its cast in bounded memory.
/// </summary>
/// <example>
/// <code>
/// using var model = ModelFile.Open("sd15-full-ema.ckpt");
/// ConversionResult r = model.SelectEma(false).ToHalf().SaveSafetensors("sd15-fp16.safetensors");
/// </code>
/// </example>
public sealed class ModelPipeline : IModelConversion
{
    private readonly ImmutableList<TensorTransform> _transforms;

    internal ModelPipeline(ModelFile source, ImmutableList<TensorTransform> transforms)
    {
        Source = source;
        _transforms = transforms;
    }

    /// <summary>The model being converted.</summary>
    public ModelFile Source { get; }

    /// <summary>The steps, in the order they apply, each with its <see cref="TensorTransform.Description"/>.</summary>
    public IReadOnlyList<TensorTransform> Transforms => _transforms;

    /// <inheritdoc/>
    public ModelPipeline Convert() => this;

    /// <summary>Adds a transform.</summary>
    internal ModelPipeline Apply(TensorTransform transform)
    {
        ArgumentNullException.ThrowIfNull(transform);
        return new ModelPipeline(Source, _transforms.Add(transform));
    }

    /// <summary>Runs the transforms and snapshots the plan; files a transform opened are closed again.</summary>
    internal ConversionPlan MakePlan()
    {
        TensorPlan plan = BuildPlan();
        Close(plan);
        return new ConversionPlan(plan, Source.Tensors.TotalBytes);
    }

    internal ConversionResult SaveAsSafetensors(string path, SaveOptions? options, CancellationToken cancellationToken)
    {
        options ??= SaveOptions.Default;
        using Metadata.Provenance? provenance = Metadata.Provenance.Start(Source, _transforms, options, cancellationToken);
        return Save(
            path,
            built =>
            {
                Models.EmbeddingForms.ToEmbParams(built);
                if (provenance is not null)
                {
                    provenance.Stamp(built.Metadata);
                }
                else if (!options.Provenance)
                {
                    Metadata.Provenance.Strip(built.Metadata);
                }

                return true;
            },
            (plan, _) => SafetensorsWriter.Write(
                plan.Tensors,
                plan.Metadata,
                path,
                options,
                plan.InputFiles,
                cancellationToken,
                provenance is null ? null : () => provenance.Complete(plan.Metadata, cancellationToken)));
    }

    internal ConversionResult SaveAsCkpt(string path, SaveOptions? options, CancellationToken cancellationToken) =>
        Save(
            path,
            built => Models.EmbeddingForms.A1111Form(built, Source, path) ?? Formats.Torch.CkptLayout.For(built),
            (plan, layout) => Formats.Torch.CkptWriter.Write(plan.Tensors, layout, path, options ?? SaveOptions.Default, plan.InputFiles, cancellationToken));

    internal ConversionResult SaveAsGguf(string path, GgufQuantization quantization, SaveOptions? options, CancellationToken cancellationToken)
    {
        options ??= SaveOptions.Default;
        using Metadata.Provenance? provenance = Metadata.Provenance.Start(Source, _transforms, options, cancellationToken);

        // A GGUF carries no source metadata but SafeCkpt's own keys: this file's provenance, and the origin of a chain.
        Dictionary<string, string>? metadata = null;
        return Save(
            path,
            built =>
            {
                if (provenance is not null)
                {
                    metadata = Metadata.Provenance.Strip(new Dictionary<string, string>(built.Metadata, StringComparer.Ordinal));
                    provenance.Stamp(metadata);
                }

                return Formats.Gguf.GgufWritePlan.Make(built, quantization, Source.Format == ModelFormat.Safetensors, Source.DetectArchitecture);
            },
            (plan, layout) => Formats.Gguf.GgufWriter.Write(
                layout,
                path,
                options,
                plan.InputFiles,
                metadata,
                provenance is null || metadata is null ? null : () => provenance.Complete(metadata, cancellationToken),
                cancellationToken));
    }

    /// <summary>
    /// Runs the transforms; files they open stay open in <see cref="TensorPlan.Owned"/> until closed. Each
    /// transform's result is checked once, here: no two tensors may end up with the same name.
    /// </summary>
    private TensorPlan BuildPlan()
    {
        TensorStore store = Source.Tensors;
        store.ThrowIfDisposed();
        var plan = new TensorPlan(store.Entries().Select(e => new PlannedTensor(e.Info.Name, e.Info, e.Source, null, "model", e.Info.Name)), store.Metadata, Source.Path)
        {
            SourceLayout = store.Layout,
        };
        if (store.FilePath is { } file)
        {
            plan.InputFiles.Add(file);
        }

        try
        {
            if (store.Layout is { TensorsOutside: > 0 } layout)
            {
                plan.Notes.Add($"{layout.TensorsOutside} tensors outside the state dict (under {string.Join(", ", layout.OutsidePaths.Select(p => "'" + p + "'"))}) are not converted.");
            }

            foreach (TensorTransform t in _transforms)
            {
                t.Apply(plan);
                RequireUniqueNames(plan, t);
            }

            return plan;
        }
        catch
        {
            Close(plan);
            throw;
        }
    }

    private static void RequireUniqueNames(TensorPlan plan, TensorTransform step)
    {
        var seen = new Dictionary<string, PlannedTensor>(plan.Tensors.Count, StringComparer.Ordinal);
        foreach (PlannedTensor t in plan.Tensors)
        {
            if (!seen.TryAdd(t.Name, t))
            {
                PlannedTensor first = seen[t.Name];
                throw new ConversionException(SafeCkptErrorCode.DuplicateKey, plan.SourcePath, $"{plan.SourcePath}: after the step '{step.Description}', two tensors are named '{t.Name}' (from '{first.Source.Name}' and '{t.Source.Name}'). Change the step (a rename must keep names distinct) or drop one of them first.") { TensorName = t.Name };
            }
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
    /// needs), then writes the plan's tensors as they are with <paramref name="write"/>, closing any file a transform opened.
    /// </summary>
    private ConversionResult Save<TLayout>(string path, Func<TensorPlan, TLayout> finish, Action<TensorPlan, TLayout> write)
    {
        var watch = Stopwatch.StartNew();
        TensorPlan built = BuildPlan();
        try
        {
            TLayout layout = finish(built);
            RequireTensors(built);
            write(built, layout);
            // After the write: the metadata holds the values the writer completed (the provenance hashes).
            var plan = new ConversionPlan(built, Source.Tensors.TotalBytes);
            return new ConversionResult(path, plan, new FileInfo(path).Length, watch.Elapsed) { Findings = built.Findings.ToArray() };
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
}
