using SafeCkpt.Models;
using SafeCkpt.Tensors;
using SafeCkpt.Transforms;

namespace SafeCkpt;

/// <summary>
/// A model that conversions can start from or continue: a <see cref="ModelFile"/> (a conversion with no step yet) or a
/// <see cref="ModelPipeline"/> (the steps so far). The operations themselves are defined once, in
/// <see cref="ModelConversions"/>, and read the same on both.
/// </summary>
public interface IModelConversion
{
    /// <summary>The conversion so far, as a pipeline.</summary>
    /// <returns>The pipeline; for a <see cref="ModelFile"/>, one with no transforms.</returns>
    ModelPipeline Convert();
}

/// <summary>
/// The fluent conversion operations, for a <see cref="ModelFile"/> and a <see cref="ModelPipeline"/> alike: each
/// step returns a new pipeline and reads no tensor bytes; <see cref="SaveSafetensors"/>, <see cref="SaveCkpt"/> and <see cref="SaveGguf"/>
/// execute the plan, streaming.
/// </summary>
/// <example>
/// <code>
/// using var model = ModelFile.Open("sd15-full-ema.ckpt");
/// model.SelectEma(false).ToHalf().SaveSafetensors("sd15-fp16.safetensors");
/// </code>
/// </example>
public static class ModelConversions
{
    /// <summary>
    /// Casts floating tensors (F64, F32, F16, BF16, F8_E4M3, F8_E5M2) to <paramref name="dtype"/> with PyTorch's rounding;
    /// integers and bool never change. Scaled fp8 layers (ComfyUI's) are dequantized into <paramref name="dtype"/> as
    /// ComfyUI does; other quantized formats are refused. An fp8 <paramref name="dtype"/> casts every component given
    /// (all when none is): <see cref="ToFloat8"/> casts the diffusion model only.
    /// </summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="dtype">The floating dtype to write: <see cref="DType.Float16"/>, <see cref="DType.BFloat16"/>, <see cref="DType.Float32"/>, <see cref="DType.Float64"/>, <see cref="DType.Float8E4M3"/> or <see cref="DType.Float8E5M2"/>.</param>
    /// <param name="components">Only these components; none for all.</param>
    /// <returns>A new pipeline.</returns>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not one of the floating dtypes casts write.</exception>
    public static ModelPipeline CastTo(this IModelConversion model, DType dtype, params ModelComponent[] components) =>
        Pipeline(model).Apply(new CastTransform(dtype, components));

    /// <summary>
    /// Casts the diffusion model (UNet / DiT: every floating tensor, norms and biases included) to fp8 with PyTorch's
    /// <c>.to(torch.float8_e4m3fn)</c> / <c>.to(torch.float8_e5m2)</c> rules (E4M3FN overflow is NaN, E5M2 overflow is
    /// infinity), as ComfyUI stores an fp8 diffusion model; the VAE, the text encoders and other tensors keep their dtype.
    /// A file holding one model alone (no checkpoint prefixes) is cast whole.
    /// </summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="format">The fp8 format.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline ToFloat8(this IModelConversion model, Float8Format format = Float8Format.E4M3FN) =>
        Pipeline(model).Apply(CastTransform.DiffusionModel(format.ToDType()));

    /// <summary>
    /// Quantizes the diffusion model's linear weights (rank-2 <c>*.weight</c>) to ComfyUI's scaled fp8: each in fp8 with
    /// a float32 per-tensor scale <c>max|W| / 448</c> (57344 for E5M2), computed and rounded as ComfyUI computes it, the
    /// values clamped to the format's range; every other tensor keeps its dtype. ComfyUI loads the file and multiplies
    /// each weight by its scale; <see cref="CastTo"/> to F16/BF16/F32 dequantizes it the same way.
    /// </summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="format">The fp8 format of the weights.</param>
    /// <param name="layout">Where the scales and layer configs go: ComfyUI's current layout, or the legacy <c>scaled_fp8</c> one (E4M3FN only).</param>
    /// <returns>A new pipeline.</returns>
    /// <exception cref="ArgumentException">The legacy layout with <see cref="Float8Format.E5M2"/>.</exception>
    public static ModelPipeline ToScaledFloat8(this IModelConversion model, Float8Format format = Float8Format.E4M3FN, ScaledFloat8Layout layout = ScaledFloat8Layout.ComfyQuant) =>
        Pipeline(model).Apply(new ScaledFloat8Transform(format.ToDType(), layout));

    /// <summary>Casts floating tensors to F16 (integers and bool never change).</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="components">Only these components; none for all.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline ToHalf(this IModelConversion model, params ModelComponent[] components) => model.CastTo(DType.Float16, components);

    /// <summary>Casts floating tensors to BF16 (integers and bool never change).</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="components">Only these components; none for all.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline ToBFloat16(this IModelConversion model, params ModelComponent[] components) => model.CastTo(DType.BFloat16, components);

    /// <summary>Casts floating tensors to F32: a real upcast of F16/BF16 weights.</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="components">Only these components; none for all.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline ToFloat32(this IModelConversion model, params ModelComponent[] components) => model.CastTo(DType.Float32, components);

    /// <summary>Chooses the EMA (true) or the non-EMA (false) UNet weights and drops the <c>model_ema.*</c> keys.</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="useEma">True to put the EMA weights in place of the UNet's.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline SelectEma(this IModelConversion model, bool useEma) => Pipeline(model).Apply(new EmaSelection(useEma));

    /// <summary>Removes the known junk (schedule buffers, loss, embedding manager, leftovers); keeps marker tensors.</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline Prune(this IModelConversion model) => Pipeline(model).Apply(new PruneTransform());

    /// <summary>Drops whole components, e.g. the VAE.</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="components">The components to drop.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline Drop(this IModelConversion model, params ModelComponent[] components) => Pipeline(model).Apply(new ComponentFilter(components));

    /// <summary>Bakes in a standalone VAE (its tensors replace the model's, shapes checked).</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="vae">The open VAE file; keep it open until saving.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline ReplaceVae(this IModelConversion model, ModelFile vae) => Pipeline(model).Apply(new ReplaceVae(vae));

    /// <summary>Bakes in a standalone VAE given by path; the file is opened for the save and closed after it.</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="vaePath">The VAE file (.safetensors, .ckpt, .pt; with or without the <c>first_stage_model.</c> prefix).</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline ReplaceVae(this IModelConversion model, string vaePath) => Pipeline(model).Apply(new ReplaceVae(vaePath));

    /// <summary>Keeps only the VAE, with standalone VAE key names.</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline ExtractVae(this IModelConversion model) => Pipeline(model).Apply(new ExtractVae());

    /// <summary>
    /// Resets CLIP position ids to int64 0..76 (old-transformers keys renamed first). The values are checked while
    /// the save reads them; <see cref="ConversionResult.Findings"/> says which positions were wrong.
    /// </summary>
    /// <param name="model">The model or pipeline.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline FixClipPositionIds(this IModelConversion model) => Pipeline(model).Apply(new FixClipPositionIds());

    /// <summary>Renames tensors; a null or empty new name drops the tensor. Two tensors may not get the same name.</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="rename">The renaming function.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline Rename(this IModelConversion model, Func<string, string?> rename) => Pipeline(model).Apply(new RenameTransform(rename));

    /// <summary>Keeps only the tensors the predicate accepts.</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="keep">True for the tensors to keep.</param>
    /// <returns>A new pipeline.</returns>
    public static ModelPipeline Where(this IModelConversion model, Func<PlannedTensor, bool> keep) => Pipeline(model).Apply(new FilterTransform(keep));

    /// <summary>Runs the transforms over names, dtypes and shapes only, and returns what a save would write; reads no tensor bytes.</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <returns>The plan.</returns>
    /// <exception cref="ConversionException">A transform cannot apply to this model (no EMA weights, a VAE that does not fit, two tensors renamed to one name).</exception>
    public static ConversionPlan Plan(this IModelConversion model) => Pipeline(model).MakePlan();

    /// <summary>Writes the converted model as safetensors, streaming, through a temporary file renamed into place.</summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="path">The output file; never the input.</param>
    /// <param name="options">Overwrite, flush and progress settings.</param>
    /// <param name="cancellationToken">Cancels the save; no partial file is left.</param>
    /// <returns>What was written.</returns>
    /// <exception cref="ConversionException">A transform cannot apply, or the conversion would write no tensor.</exception>
    /// <exception cref="OutputException">The output exists (and <see cref="SaveOptions.Overwrite"/> is not set), is the input, or cannot be written.</exception>
    public static ConversionResult SaveSafetensors(this IModelConversion model, string path, SaveOptions? options = null, CancellationToken cancellationToken = default) =>
        Pipeline(model).SaveAsSafetensors(path, options, cancellationToken);

    /// <summary>
    /// Writes the converted model as a PyTorch zip checkpoint, streaming. A PyTorch source keeps its layout (top-level
    /// dict or <c>state_dict</c> wrapper, the values beside the tensors, lists, order); a safetensors source gets
    /// <c>{"state_dict": ...}</c> when it is a full checkpoint, A1111's dict when it is a one-tensor embedding, and a
    /// top-level dict of its tensors otherwise. Values <c>torch.load(weights_only=True)</c> cannot load are left out,
    /// each with a note in <see cref="ConversionPlan.Notes"/>.
    /// </summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="path">The output file; never the input.</param>
    /// <param name="options">Overwrite, flush and progress settings.</param>
    /// <param name="cancellationToken">Cancels the save; no partial file is left.</param>
    /// <returns>What was written.</returns>
    /// <exception cref="ConversionException">A transform cannot apply, a dtype has no torch storage, or the conversion would write no tensor.</exception>
    /// <exception cref="OutputException">The output exists (and <see cref="SaveOptions.Overwrite"/> is not set), is the input, or cannot be written.</exception>
    public static ConversionResult SaveCkpt(this IModelConversion model, string path, SaveOptions? options = null, CancellationToken cancellationToken = default) =>
        Pipeline(model).SaveAsCkpt(path, options, cancellationToken);

    /// <summary>
    /// Writes the diffusion model (UNet / transformer) as a GGUF file in the layout ComfyUI-GGUF's loader reads and its
    /// <c>tools/convert.py</c> plus patched <c>llama-quantize</c> write: <c>general.architecture</c> from the keys (sd1, sdxl,
    /// flux, sd3, aura, hidream, cosmos, ltxv, hyvid, wan, lumina2), the <c>model.diffusion_model.</c> prefix stripped,
    /// SD1/SDXL rows reshaped to 256 with <c>comfy.gguf.orig_shape.*</c>, 1-D and small tensors kept F32, embedders and
    /// other tensors ComfyUI-GGUF keeps unquantized in F16/BF16, and the 2-D weights in <paramref name="quantization"/>,
    /// bit-identical to llama.cpp's gguf-py quantizer. The VAE, the text encoders and every other tensor are left out,
    /// each listed in <see cref="ConversionPlan.Dropped"/> and summed up in <see cref="ConversionPlan.Notes"/>. Streams
    /// through a temporary file renamed into place.
    /// </summary>
    /// <param name="model">The model or pipeline.</param>
    /// <param name="path">The output file; never the input.</param>
    /// <param name="quantization">The type of the quantized weights (F16 and BF16: of every tensor not kept F32).</param>
    /// <param name="options">Overwrite, flush and progress settings.</param>
    /// <param name="cancellationToken">Cancels the save; no partial file is left.</param>
    /// <returns>What was written.</returns>
    /// <exception cref="ConversionException">The model has no diffusion model of an architecture ComfyUI-GGUF loads, or no tensor can take <paramref name="quantization"/> (<see cref="SafeCkptErrorCode.GgufNotWritable"/>).</exception>
    /// <exception cref="OutputException">The output exists (and <see cref="SaveOptions.Overwrite"/> is not set), is the input, or cannot be written.</exception>
    public static ConversionResult SaveGguf(this IModelConversion model, string path, GgufQuantization quantization = GgufQuantization.Q8_0, SaveOptions? options = null, CancellationToken cancellationToken = default) =>
        Pipeline(model).SaveAsGguf(path, quantization, options, cancellationToken);

    private static ModelPipeline Pipeline(IModelConversion model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Convert();
    }
}
