using System.Text;
using System.Text.Json;
using SafeCkpt.Tensors;

namespace SafeCkpt.Models;

/// <summary>How a file marks its quantized layers.</summary>
internal enum QuantLayout
{
    /// <summary>No quantized layer.</summary>
    None,

    /// <summary>
    /// ComfyUI's current layout (QUANTIZATION.md): <c>__metadata__["_quantization_metadata"]</c> = <c>{"format_version":
    /// "1.0", "layers": {LAYER: {"format": ...}}}</c> and/or a U8 tensor <c>LAYER.comfy_quant</c> holding that layer's JSON;
    /// scales in <c>LAYER.weight_scale</c> (and <c>input_scale</c>, <c>weight_scale_2</c>, ...).
    /// </summary>
    ComfyQuant,

    /// <summary>ComfyUI's legacy scaled fp8: a marker tensor <c>PREFIX.scaled_fp8</c> and <c>LAYER.scale_weight</c> (+ <c>scale_input</c>).</summary>
    LegacyScaledFp8,

    /// <summary><c>LAYER.weight_scale</c> tensors with no config saying what they are (the format inferred from the weight's dtype).</summary>
    ScalesOnly,
}

/// <summary>One quantized layer as ComfyUI's loader sees it.</summary>
/// <param name="Name">The layer: the weight's name without <c>.weight</c>.</param>
/// <param name="Format">ComfyUI's format name (<c>float8_e4m3fn</c>, <c>float8_e5m2</c>, <c>int8_tensorwise</c>, <c>nvfp4</c>, <c>mxfp8</c>, ...).</param>
/// <param name="FormatKnown">Whether a config (metadata, legacy marker) names the format; false when it was inferred from dtypes.</param>
/// <param name="Scale">The per-tensor scale's name (<c>weight_scale</c>, legacy <c>scale_weight</c>), if present.</param>
/// <param name="Companions">Every tensor that describes the layer beside its weight (scales, the <c>comfy_quant</c> config).</param>
internal sealed record QuantLayer(string Name, string Format, bool FormatKnown, string? Scale, IReadOnlyList<string> Companions)
{
    /// <summary>The weight's name.</summary>
    public string Weight => Name + QuantizedFormats.Weight;
}

/// <summary>The quantization a file carries, as the names, dtypes and header metadata tell it (no tensor bytes read).</summary>
/// <param name="Layout">How the layers are marked.</param>
/// <param name="Layers">Every quantized layer, in name order.</param>
/// <param name="Markers">The legacy <c>scaled_fp8</c> marker tensors.</param>
/// <param name="Foreign">A format outside ComfyUI's layouts that the keys tell (<c>bnb-nf4</c>, <c>bnb-fp4</c>, <c>nunchaku</c>, <c>nunchaku-fp4</c>), or null.</param>
/// <param name="MetadataError">Why <c>_quantization_metadata</c> could not be read, or null.</param>
internal sealed record QuantAnalysis(QuantLayout Layout, IReadOnlyList<QuantLayer> Layers, IReadOnlyList<string> Markers, string? Foreign, string? MetadataError)
{
    /// <summary>The layers SafeCkpt dequantizes: float8 storage with one per-tensor scale.</summary>
    public IEnumerable<QuantLayer> ScaledFloat8 => Layers.Where(l => QuantizedFormats.IsScaledFloat8(l.Format) && l.Scale is not null);

    /// <summary>The layers in a format SafeCkpt cannot dequantize.</summary>
    public IEnumerable<QuantLayer> Unsupported => Layers.Where(l => !QuantizedFormats.IsScaledFloat8(l.Format) || l.Scale is null);

    /// <summary>Whether anything quantized is present.</summary>
    public bool Any => Layers.Count > 0 || Foreign is not null || MetadataError is not null;
}

/// <summary>A quantization format, for people: what <c>inspect</c> prints.</summary>
/// <param name="Id">A short id: <c>fp8</c> (plain), <c>fp8-scaled</c>, <c>int8-tensorwise</c>, <c>nvfp4</c>, <c>mxfp8</c>, <c>bnb-nf4</c>, <c>bnb-fp4</c>, <c>nunchaku</c>, <c>nunchaku-fp4</c>, or ComfyUI's own format name.</param>
/// <param name="Description">One line: the layout, how many layers, what convert does with it.</param>
/// <param name="Convertible">Whether <c>convert --dtype fp16|bf16|fp32</c> can turn it into plain weights.</param>
internal sealed record QuantizationReport(string Id, string Description, bool Convertible);

/// <summary>
/// The one place for the quantized-weight formats other tools write into safetensors files: ComfyUI's scaled fp8 (the
/// current <c>comfy_quant</c> layout and the legacy <c>scaled_fp8</c> one) and the formats SwarmUI's
/// <c>T2IModelHandler</c> tells apart by key (<c>bitsandbytes__nf4</c>, <c>bitsandbytes__fp4</c>, <c>.scale_weight</c> /
/// <c>.weight_scale</c>, nunchaku's <c>.wscales</c> / <c>.wtscale</c>), plus ComfyUI's other <c>QUANT_ALGOS</c> (int8
/// tensorwise, nvfp4, mxfp8, ...) when the config or the dtypes tell them. Which layers ComfyUI dequantizes follows its
/// loader (<c>comfy/utils.py convert_old_quants</c>, <c>comfy/ops.py</c>): a layer listed in <c>_quantization_metadata</c>,
/// or with a <c>.comfy_quant</c> tensor, or (legacy, no metadata) with <c>.scale_weight</c> under a <c>scaled_fp8</c> marker's prefix.
/// </summary>
internal static class QuantizedFormats
{
    /// <summary>The header metadata key of ComfyUI's layer configs.</summary>
    public const string MetadataKey = "_quantization_metadata";

    /// <summary>The weight's suffix.</summary>
    public const string Weight = ".weight";

    /// <summary>A layer's config as a U8 tensor of UTF-8 JSON.</summary>
    public const string ComfyQuant = ".comfy_quant";

    /// <summary>The per-tensor (or block) weight scale of the current layout.</summary>
    public const string WeightScale = ".weight_scale";

    /// <summary>The activation scale of the current layout.</summary>
    public const string InputScale = ".input_scale";

    /// <summary>The legacy per-tensor weight scale.</summary>
    public const string LegacyScaleWeight = ".scale_weight";

    /// <summary>The legacy activation scale.</summary>
    public const string LegacyScaleInput = ".scale_input";

    /// <summary>The legacy marker's name after its prefix.</summary>
    public const string LegacyMarker = "scaled_fp8";

    /// <summary>ComfyUI's name of the e4m3fn per-tensor format.</summary>
    public const string FormatE4M3 = "float8_e4m3fn";

    /// <summary>ComfyUI's name of the e5m2 per-tensor format.</summary>
    public const string FormatE5M2 = "float8_e5m2";

    private static readonly string[] CompanionSuffixes = [WeightScale, InputScale, ComfyQuant, LegacyScaleWeight, LegacyScaleInput, ".weight_scale_2", ".pre_quant_scale"];

    /// <summary>ComfyUI's format name of a float8 storage dtype.</summary>
    public static string FormatOf(DType fp8) => fp8 == DType.Float8E5M2 ? FormatE5M2 : FormatE4M3;

    /// <summary>Whether a format is float8 storage with a per-tensor scale (what SafeCkpt writes and dequantizes).</summary>
    public static bool IsScaledFloat8(string format) => format is FormatE4M3 or FormatE5M2;

    /// <summary>The storage dtype ComfyUI casts a per-tensor float8 layer's weight to before scaling it.</summary>
    public static DType StorageOf(string format) => format == FormatE5M2 ? DType.Float8E5M2 : DType.Float8E4M3;

    /// <summary>A layer's config as ComfyUI writes it (<c>json.dumps</c>): <c>{"format": "float8_e4m3fn"}</c>.</summary>
    public static string LayerConfig(string format) => $"{{\"format\": \"{format}\"}}";

    /// <summary>The <c>_quantization_metadata</c> value for layers all of one format.</summary>
    public static string Metadata(IEnumerable<string> layers, string format) => Json(w =>
    {
        w.WriteString("format_version", "1.0");
        w.WriteStartObject("layers");
        foreach (string layer in layers)
        {
            w.WriteStartObject(layer);
            w.WriteString("format", format);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    });

    /// <summary>The <c>_quantization_metadata</c> value with some layers removed, or null when none is left.</summary>
    public static string? WithoutLayers(string metadata, IReadOnlySet<string> removed)
    {
        using JsonDocument doc = JsonDocument.Parse(metadata);
        var kept = doc.RootElement.GetProperty("layers").EnumerateObject().Where(p => !removed.Contains(p.Name)).ToList();
        return kept.Count == 0 ? null : Json(w =>
        {
            foreach (JsonProperty p in doc.RootElement.EnumerateObject().Where(p => p.Name != "layers"))
            {
                p.WriteTo(w);
            }

            w.WriteStartObject("layers");
            foreach (JsonProperty p in kept)
            {
                p.WriteTo(w);
            }

            w.WriteEndObject();
        });
    }

    /// <summary>Reads the quantization of a set of tensors and their header metadata; reads no tensor bytes.</summary>
    public static QuantAnalysis Analyze(IReadOnlyList<TensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var index = new Dictionary<string, TensorInfo>(tensors.Count, StringComparer.Ordinal);
        foreach (TensorInfo t in tensors)
        {
            index[t.Name] = t;
        }

        string? foreign = Foreign(tensors);
        var layers = new SortedDictionary<string, (string Format, bool Known, bool Legacy)>(StringComparer.Ordinal);
        var markers = new List<string>();
        string? error = null;
        QuantLayout layout = QuantLayout.None;
        if (metadata.TryGetValue(MetadataKey, out string? json))
        {
            layout = QuantLayout.ComfyQuant;
            try
            {
                foreach ((string layer, string format) in MetadataLayers(json))
                {
                    layers[layer] = (format, true, false);
                }
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
            {
                error = $"{MetadataKey} is not the JSON ComfyUI reads ({{\"layers\": {{LAYER: {{\"format\": ...}}}}}}): {ex.Message}";
            }
        }
        else
        {
            foreach (TensorInfo t in tensors.Where(t => IsMarker(t.Name)))
            {
                markers.Add(t.Name);
                string prefix = t.Name[..^LegacyMarker.Length];
                foreach (TensorInfo s in tensors.Where(s => s.Name.StartsWith(prefix, StringComparison.Ordinal) && s.Name.EndsWith(LegacyScaleWeight, StringComparison.Ordinal)))
                {
                    // ComfyUI's convert_old_quants names every legacy layer float8_e4m3fn; old loaders used the marker's
                    // dtype. The weights' own dtype is what the file means.
                    string layer = s.Name[..^LegacyScaleWeight.Length];
                    layers[layer] = (index.TryGetValue(layer + Weight, out TensorInfo? w) && w.DType == DType.Float8E5M2 ? FormatE5M2 : FormatE4M3, true, true);
                }
            }

            layout = markers.Count > 0 ? QuantLayout.LegacyScaledFp8 : QuantLayout.None;
        }

        // A .comfy_quant tensor configures its layer whatever the metadata says (ComfyUI's loader reads the tensor).
        foreach (TensorInfo t in tensors.Where(t => t.Name.EndsWith(ComfyQuant, StringComparison.Ordinal)))
        {
            string layer = t.Name[..^ComfyQuant.Length];
            if (!layers.ContainsKey(layer))
            {
                layers[layer] = (Infer(index, layer), false, false);
                layout = layout == QuantLayout.None ? QuantLayout.ComfyQuant : layout;
            }
        }

        if (layout == QuantLayout.None)
        {
            foreach (TensorInfo t in tensors.Where(t => t.Name.EndsWith(WeightScale, StringComparison.Ordinal) && index.ContainsKey(t.Name[..^WeightScale.Length] + Weight)))
            {
                layers[t.Name[..^WeightScale.Length]] = (Infer(index, t.Name[..^WeightScale.Length]), false, false);
                layout = QuantLayout.ScalesOnly;
            }
        }

        var result = new List<QuantLayer>(layers.Count);
        foreach ((string layer, (string format, bool known, bool legacy)) in layers)
        {
            string scaleName = layer + (legacy ? LegacyScaleWeight : WeightScale);
            string? scale = index.TryGetValue(scaleName, out TensorInfo? s) && s.ElementCount == 1 ? scaleName : null;
            result.Add(new QuantLayer(layer, format, known, scale, [.. CompanionSuffixes.Select(x => layer + x).Where(index.ContainsKey)]));
        }

        return new QuantAnalysis(layout, result, markers, foreign, error);
    }

    /// <summary>What <c>inspect</c> says of a file's quantization, or null for plain weights. Reads the small
    /// <c>.comfy_quant</c> configs when no metadata names the formats.</summary>
    public static QuantizationReport? Describe(TensorStore store)
    {
        QuantAnalysis a = Analyze(store.Tensors, store.Metadata);
        int fp8Plain = store.Tensors.Count(t => t.DType is DType.Float8E4M3 or DType.Float8E5M2);
        if (!a.Any)
        {
            if (fp8Plain == 0)
            {
                return null;
            }

            string types = string.Join(" and ", store.Tensors.Where(t => t.DType is DType.Float8E4M3 or DType.Float8E5M2).Select(t => t.DType.ToSafetensorsName()).Distinct());
            return new QuantizationReport("fp8", $"fp8 (plain {types}, no scales): {fp8Plain} tensors; convert --dtype fp16|bf16|fp32 widens them exactly", true);
        }

        if (a.Foreign is { } f)
        {
            return new QuantizationReport(f, ForeignDescription(f), false);
        }

        if (a.MetadataError is { } e)
        {
            return new QuantizationReport("comfy-quant", $"ComfyUI quantized layers, unreadable: {e}", false);
        }

        // Formats inferred from dtypes are confirmed from the layers' own configs where the file has them.
        var formats = a.Layers.Select(l => l.FormatKnown || !store.Contains(l.Name + ComfyQuant) ? l.Format : ConfigFormat(store, l.Name + ComfyQuant) ?? l.Format).ToList();
        string main = formats.GroupBy(x => x).OrderByDescending(g => g.Count()).First().Key;
        string mix = string.Join(", ", formats.GroupBy(x => x).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} {g.Key}"));
        bool convertible = formats.All(IsScaledFloat8) && a.Layers.All(l => l.Scale is not null);
        string layout = a.Layout switch
        {
            QuantLayout.LegacyScaledFp8 => $"legacy scaled_fp8 layout (marker {string.Join(", ", a.Markers)}; .scale_weight)",
            QuantLayout.ScalesOnly => "only .weight_scale tensors, no comfy_quant config (ComfyUI loads such weights unscaled)",
            _ => $"ComfyUI comfy_quant layout ({(store.Metadata.ContainsKey(MetadataKey) ? MetadataKey + " metadata" : "no metadata")}, {(a.Layers.Any(l => store.Contains(l.Name + ComfyQuant)) ? ".comfy_quant tensors" : "no .comfy_quant tensors")}; .weight_scale)",
        };
        if (convertible)
        {
            return new QuantizationReport("fp8-scaled", $"fp8 scaled: {layout}, {mix} layers with a per-tensor scale; convert --dtype bf16|fp16|fp32 dequantizes them as ComfyUI does (weight x scale in that dtype)", true);
        }

        string id = main switch
        {
            "int8_tensorwise" => "int8-tensorwise",
            FormatE4M3 or FormatE5M2 => "fp8-scaled",
            _ => main,
        };
        return new QuantizationReport(id, $"{Readable(main)}: {layout}, {mix} layers; SafeCkpt cannot dequantize {string.Join(", ", formats.Where(x => !IsScaledFloat8(x)).Distinct().DefaultIfEmpty("layers without a per-tensor scale"))} (load it with ComfyUI, which reads it natively)", false);
    }

    /// <summary>What a format outside ComfyUI's layouts is, and what to do with it.</summary>
    public static string ForeignDescription(string id) => id switch
    {
        "bnb-nf4" => "bitsandbytes NF4 (4-bit NormalFloat weights packed in U8, blockwise absmax in *.quant_state.bitsandbytes__nf4): SafeCkpt cannot dequantize it; load it with Forge or ComfyUI's NF4 loader",
        "bnb-fp4" => "bitsandbytes FP4 (4-bit float weights packed in U8, blockwise absmax in *.quant_state.bitsandbytes__fp4): SafeCkpt cannot dequantize it; load it with Forge or ComfyUI's NF4/FP4 loader",
        "nunchaku-fp4" => "nunchaku SVDQuant NVFP4 (4-bit weights with a low-rank branch; *.wtscale, *.wscales): SafeCkpt cannot dequantize it; load it with the ComfyUI-nunchaku nodes",
        _ => "nunchaku SVDQuant INT4 (4-bit weights with a low-rank branch; *.wscales): SafeCkpt cannot dequantize it; load it with the ComfyUI-nunchaku nodes",
    };

    /// <summary>Whether a tensor is a legacy <c>scaled_fp8</c> marker (<c>scaled_fp8</c> or <c>PREFIX.scaled_fp8</c>).</summary>
    public static bool IsMarker(string name) =>
        name.EndsWith(LegacyMarker, StringComparison.Ordinal) && (name.Length == LegacyMarker.Length || name[^(LegacyMarker.Length + 1)] == '.');

    private static string Readable(string format) => format switch
    {
        "int8_tensorwise" => "int8 tensorwise",
        "nvfp4" => "NVFP4",
        "mxfp8" => "MXFP8",
        FormatE4M3 or FormatE5M2 => "fp8 scaled",
        _ => $"ComfyUI quantized ({format})",
    };

    private static string? Foreign(IReadOnlyList<TensorInfo> tensors)
    {
        if (tensors.Any(t => t.Name.Contains("bitsandbytes__nf4", StringComparison.Ordinal)))
        {
            return "bnb-nf4";
        }

        if (tensors.Any(t => t.Name.Contains("bitsandbytes__fp4", StringComparison.Ordinal)))
        {
            return "bnb-fp4";
        }

        return tensors.Any(t => t.Name.EndsWith(".wtscale", StringComparison.Ordinal)) ? "nunchaku-fp4"
            : tensors.Any(t => t.Name.EndsWith(".wscales", StringComparison.Ordinal)) ? "nunchaku"
            : null;
    }

    /// <summary>The format of a layer with no config, from its weight's dtype and its scale's size.</summary>
    private static string Infer(Dictionary<string, TensorInfo> index, string layer)
    {
        index.TryGetValue(layer + Weight, out TensorInfo? w);
        long scale = index.TryGetValue(layer + WeightScale, out TensorInfo? s) ? s.ElementCount : 0;
        return w?.DType switch
        {
            DType.Float8E4M3 or DType.Float8E5M2 when scale <= 1 => FormatOf(w.DType),
            DType.Float8E4M3 or DType.Float8E5M2 => "mxfp8",
            DType.Int8 => scale <= 1 ? "int8_tensorwise" : "int8_blockwise",
            DType.UInt8 => "nvfp4",
            _ => "unknown",
        };
    }

    private static string Json(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static List<(string Layer, string Format)> MetadataLayers(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        var result = new List<(string, string)>();
        foreach (JsonProperty p in doc.RootElement.GetProperty("layers").EnumerateObject())
        {
            result.Add((p.Name, p.Value.GetProperty("format").GetString() ?? "unknown"));
        }

        return result;
    }

    private static string? ConfigFormat(TensorStore store, string name)
    {
        if (!store.TryGet(name, out TensorInfo? t) || t.DType != DType.UInt8 || t.ByteLength > 4096)
        {
            return null;
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(store.ReadTensor(name));
            return doc.RootElement.TryGetProperty("format", out JsonElement f) ? f.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
