using System.Text;
using CommunityToolkit.HighPerformance.Buffers;
using SafeCkpt.IO;
using SafeCkpt.Models;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Transforms;

/// <summary>
/// Quantizes the diffusion model's linear weights to ComfyUI's scaled fp8 (<see cref="Float8Scope"/> says which
/// tensors, <see cref="ScaledFloat8"/> how): each weight becomes fp8 with a per-tensor absmax scale beside it, in the
/// layout <see cref="ScaledFloat8Layout"/> names; every other tensor keeps its dtype. The scale of a weight is
/// computed when the save first reads the weight or its scale: one extra pass over that weight's bytes.
/// </summary>
internal sealed class ScaledFloat8Transform : TensorTransform
{
    /// <summary>Creates the quantization.</summary>
    /// <param name="format">F8_E4M3 or F8_E5M2.</param>
    /// <param name="layout">Where the scales and configs go.</param>
    /// <exception cref="ArgumentException">The legacy layout with E5M2 (ComfyUI's current loader would read it as e4m3fn).</exception>
    public ScaledFloat8Transform(DType format, ScaledFloat8Layout layout)
    {
        if (format is not (DType.Float8E4M3 or DType.Float8E5M2))
        {
            throw new ArgumentException($"Scaled fp8 is F8_E4M3 or F8_E5M2, not {format.ToSafetensorsName()}.", nameof(format));
        }

        if (layout == ScaledFloat8Layout.LegacyScaledFp8 && format != DType.Float8E4M3)
        {
            throw new ArgumentException("The legacy scaled_fp8 layout holds F8_E4M3 only: ComfyUI's current loader reads every legacy layer as float8_e4m3fn. Use the ComfyQuant layout for F8_E5M2.", nameof(layout));
        }

        Format = format;
        Layout = layout;
    }

    /// <summary>The fp8 dtype the weights are stored in.</summary>
    public DType Format { get; }

    /// <summary>The layout of scales and configs.</summary>
    public ScaledFloat8Layout Layout { get; }

    /// <inheritdoc/>
    public override string Description => $"quantize the diffusion model's linear weights to scaled {Format.ToSafetensorsName()} (per-tensor absmax scale, {(Layout == ScaledFloat8Layout.ComfyQuant ? "ComfyUI comfy_quant layout" : "legacy scaled_fp8 layout")})";

    internal override void Apply(TensorPlan plan)
    {
        QuantAnalysis existing = QuantizedFormats.Analyze([.. plan.Tensors.Select(t => t.Output)], plan.Metadata);
        if (existing.Any)
        {
            throw new ConversionException(SafeCkptErrorCode.UnsupportedQuantization, plan.SourcePath, $"{plan.SourcePath}: already holds quantized layers ({(existing.Foreign is { } f ? f : string.Join(", ", existing.Layers.Select(l => l.Format).Distinct()))}); quantizing them again would compound the error. Convert it to fp16/bf16 first (--dtype bf16), or keep it as it is.");
        }

        Func<string, bool> inModel = Float8Scope.DiffusionModel(plan.Tensors.Select(t => t.Name));
        string format = QuantizedFormats.FormatOf(Format);
        bool legacy = Layout == ScaledFloat8Layout.LegacyScaledFp8;
        var layers = new List<string>();
        var added = new List<PlannedTensor>();
        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            PlannedTensor t = plan.Tensors[i];
            if (!inModel(t.Name) || !Float8Scope.IsLinearWeight(t.Name, t.DType, t.Shape))
            {
                continue;
            }

            string layer = t.Name[..^QuantizedFormats.Weight.Length];
            var scale = new AbsMaxScale(t.Data, t.DType, Format);
            DType from = t.DType;
            plan.Tensors[i] = t.WithEncoded(Format, new CastTensorSource(t.Data, from.BitSize() / 8, 1, (s, d, n) => ScaledFloat8.Quantize(from, s, d, n, scale.Value, Format)));
            string scaleName = layer + (legacy ? QuantizedFormats.LegacyScaleWeight : QuantizedFormats.WeightScale);
            added.Add(new PlannedTensor(scaleName, new TensorInfo(scaleName, DType.Float32, []), scale, null, "scaled-fp8"));
            if (!legacy)
            {
                byte[] config = Encoding.UTF8.GetBytes(QuantizedFormats.LayerConfig(format));
                string configName = layer + QuantizedFormats.ComfyQuant;
                added.Add(new PlannedTensor(configName, new TensorInfo(configName, DType.UInt8, [config.Length]), new MemoryTensorSource(config), null, "scaled-fp8"));
            }

            layers.Add(layer);
        }

        if (layers.Count == 0)
        {
            plan.Notes.Add("scaled fp8: the diffusion model has no linear weights in F32, F16, BF16 or F64 (rank-2 *.weight); nothing was quantized.");
            return;
        }

        if (legacy)
        {
            string marker = Float8Scope.MarkerPrefix(layers) + QuantizedFormats.LegacyMarker;
            added.Add(new PlannedTensor(marker, new TensorInfo(marker, Format, [0]), new ZeroTensorSource(0), null, "scaled-fp8"));
        }
        else
        {
            plan.Metadata[QuantizedFormats.MetadataKey] = QuantizedFormats.Metadata(layers, format);
        }

        plan.Tensors.AddRange(added);
        plan.Notes.Add(legacy
            ? $"scaled fp8: {layers.Count} linear weights of the diffusion model quantized to {Format.ToSafetensorsName()}, each with a per-tensor scale (legacy layout: .scale_weight and the marker {Float8Scope.MarkerPrefix(layers) + QuantizedFormats.LegacyMarker}); every other tensor keeps its dtype."
            : $"scaled fp8: {layers.Count} linear weights of the diffusion model quantized to {Format.ToSafetensorsName()}, each with a per-tensor scale (ComfyUI comfy_quant layout: .weight_scale, .comfy_quant and {QuantizedFormats.MetadataKey}); every other tensor keeps its dtype.");
    }

    /// <summary>
    /// A weight's scale, computed once from its largest magnitude when first asked for (by the quantized weight or by
    /// the save reading this 4-byte tensor); as a source, its float32 bytes.
    /// </summary>
    private sealed class AbsMaxScale(TensorSource weight, DType dtype, DType format) : TensorSource
    {
        private readonly Lazy<float> _value = new(() => Compute(weight, dtype, format), LazyThreadSafetyMode.ExecutionAndPublication);

        public float Value => _value.Value;

        public override long Length => 4;

        // Beside its weight in the input order: read while the weight's bytes are in the page cache.
        public override (object? File, long Offset) Position => weight.Position;

        public override void Read(long offset, Span<byte> destination)
        {
            CheckRange(offset, destination.Length);
            Span<byte> bytes = stackalloc byte[4];
            BitConverter.TryWriteBytes(bytes, Value);
            bytes.Slice((int)offset, destination.Length).CopyTo(destination);
        }

        private static float Compute(TensorSource weight, DType dtype, DType format)
        {
            int size = dtype.BitSize() / 8;
            int chunk = ChunkSizes.Stream / size * size;
            using SpanOwner<byte> buffer = SpanOwner<byte>.Allocate((int)Math.Min(chunk, Math.Max(weight.Length, 1)));
            ulong bits = 0;
            for (long at = 0; at < weight.Length; at += chunk)
            {
                Span<byte> b = buffer.Span[..(int)Math.Min(chunk, weight.Length - at)];
                weight.Read(at, b);
                bits = ScaledFloat8.MaxMagnitudeBits(dtype, b, bits);
            }

            return ScaledFloat8.Scale(ScaledFloat8.AbsMax(dtype, bits), dtype, format);
        }
    }
}
