using SafeCkpt.Models;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Transforms;

/// <summary>
/// The part of a cast that meets quantized layers (<see cref="QuantizedFormats"/>): a scaled fp8 layer the cast covers
/// is dequantized into the cast's dtype as ComfyUI's loader does (<see cref="ScaledFloat8"/>: <c>weight.to(T) *
/// scale.to(T)</c>), and its scales, config and marker go; a format SafeCkpt cannot dequantize is refused, with what to
/// do instead, rather than cast into a file no loader reads.
/// </summary>
internal static class ScaledFloat8Dequantization
{
    /// <summary>Dequantizes the layers among the tensors <paramref name="covered"/> selects; returns their weights' names.</summary>
    /// <exception cref="ConversionException">The covered tensors hold a format SafeCkpt cannot dequantize, or the target is fp8 itself.</exception>
    public static HashSet<string> Apply(TensorPlan plan, DType target, Func<PlannedTensor, bool> covered)
    {
        var done = new HashSet<string>(StringComparer.Ordinal);
        QuantAnalysis a = QuantizedFormats.Analyze([.. plan.Tensors.Select(t => t.Output)], plan.Metadata);
        if (!a.Any)
        {
            return done;
        }

        var byName = plan.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        bool Covers(QuantLayer l) => byName.TryGetValue(l.Weight, out PlannedTensor? w) && covered(w);
        string tail = " Converting without --dtype (no cast) copies the file as it is.";
        if (a.Foreign is { } foreign && plan.Tensors.Any(covered))
        {
            throw Refuse(plan, $"{plan.SourcePath}: holds {QuantizedFormats.ForeignDescription(foreign)}.{tail}");
        }

        if (a.MetadataError is { } error)
        {
            throw Refuse(plan, $"{plan.SourcePath}: {error}. Fix or remove the metadata key (safeckpt meta) before casting.{tail}");
        }

        QuantLayer[] unsupported = [.. a.Unsupported.Where(Covers)];
        if (unsupported.Length > 0)
        {
            throw Refuse(plan, $"{plan.SourcePath}: {unsupported.Length} layers are quantized as {string.Join(", ", unsupported.Select(l => l.Scale is null && QuantizedFormats.IsScaledFloat8(l.Format) ? l.Format + " without a one-element scale" : l.Format).Distinct())} (e.g. {unsupported[0].Weight}), which SafeCkpt cannot dequantize; ComfyUI loads them natively.{tail}");
        }

        QuantLayer[] layers = [.. a.ScaledFloat8.Where(Covers)];
        if (layers.Length == 0)
        {
            return done;
        }

        if (target is DType.Float8E4M3 or DType.Float8E5M2)
        {
            throw Refuse(plan, $"{plan.SourcePath}: is already scaled fp8 ({layers.Length} layers with a per-tensor scale, e.g. {layers[0].Weight}); casting it to {target.ToSafetensorsName()} would drop or misapply the scales. Convert it to bf16/fp16/fp32 (dequantized), or keep it as it is.");
        }

        int size = target.BitSize() / 8;
        var dropped = new HashSet<string>(StringComparer.Ordinal);
        foreach (QuantLayer l in layers)
        {
            PlannedTensor w = byName[l.Weight];
            PlannedTensor s = byName[l.Scale!];
            DType storage = QuantizedFormats.StorageOf(l.Format);
            if (!ElementCast.IsCastable(w.DType) || !ElementCast.IsCastable(s.DType))
            {
                throw Refuse(plan, $"{plan.SourcePath}: {l.Weight} is {w.DType.ToSafetensorsName()} with a {s.DType.ToSafetensorsName()} scale; a {l.Format} layer has a floating weight and scale. The file is not what its config says.");
            }

            // ComfyUI loads the weight as its format's storage dtype (a no-op for the files it writes).
            TensorSource q = w.DType == storage ? w.Data : new CastTensorSource(w.Data, w.DType, storage);
            var scale = new Lazy<float>(() => ReadScale(s), LazyThreadSafetyMode.ExecutionAndPublication);
            int i = plan.IndexOf(l.Weight);
            plan.Tensors[i] = w.WithEncoded(target, new CastTensorSource(q, 1, size, (src, dst, n) => ScaledFloat8.Dequantize(storage, src, scale.Value, target, dst, n)));
            done.Add(l.Weight);
            dropped.UnionWith(l.Companions);
        }

        // Markers go once no layer under their prefix is left quantized.
        var left = a.Layers.Where(l => !done.Contains(l.Weight)).Select(l => l.Name).ToList();
        dropped.UnionWith(a.Markers.Where(m => !left.Any(l => l.StartsWith(m[..^QuantizedFormats.LegacyMarker.Length], StringComparison.Ordinal))));
        plan.Drop(t => dropped.Contains(t.Name), $"scale or config of a dequantized scaled fp8 layer (cast to {target.ToSafetensorsName()})");
        string metadata = string.Empty;
        if (plan.Metadata.TryGetValue(QuantizedFormats.MetadataKey, out string? json))
        {
            string? rest = QuantizedFormats.WithoutLayers(json, layers.Select(l => l.Name).ToHashSet(StringComparer.Ordinal));
            if (rest is null)
            {
                plan.Metadata.Remove(QuantizedFormats.MetadataKey);
                metadata = $", {QuantizedFormats.MetadataKey} removed";
            }
            else
            {
                plan.Metadata[QuantizedFormats.MetadataKey] = rest;
                metadata = $", {QuantizedFormats.MetadataKey} keeps the layers left";
            }
        }

        if (a.Layout == QuantLayout.ScalesOnly)
        {
            plan.Notes.Add($"scaled fp8: the {layers.Length} layers have .weight_scale tensors but no comfy_quant config or _quantization_metadata; ComfyUI's loader would use these weights without their scales. SafeCkpt applies the scales.");
        }

        string t = target.ToSafetensorsName();
        plan.Notes.Add($"scaled fp8: {layers.Length} layers dequantized to {t} as ComfyUI does (weight.to({t}) * scale.to({t})); {dropped.Count} scale, config and marker tensors dropped{metadata}.");
        return done;
    }

    private static ConversionException Refuse(TensorPlan plan, string message) => new(SafeCkptErrorCode.UnsupportedQuantization, plan.SourcePath, message);

    /// <summary>A scale's value as float32 (ComfyUI keeps scales as float32): read when the save first needs it.</summary>
    private static float ReadScale(PlannedTensor s)
    {
        int size = s.DType.BitSize() / 8;
        var raw = new byte[size];
        s.Data.Read(0, raw);
        var f = new byte[4];
        ElementCast.Convert(s.DType, DType.Float32, raw, f, 1);
        return BitConverter.ToSingle(f);
    }
}
