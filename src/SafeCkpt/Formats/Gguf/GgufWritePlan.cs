using System.Text;
using SafeCkpt.Models;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;
using SafeCkpt.Transforms;

namespace SafeCkpt.Formats.Gguf;

/// <summary>One tensor of a GGUF to write: its name, type, shape as written (torch order), the torch shape it was reshaped from, and its bytes.</summary>
internal sealed record GgufTensor(string Name, GgmlType Type, IReadOnlyList<long> Shape, IReadOnlyList<long>? OriginalShape, TensorSource Data);

/// <summary>What a GGUF save writes: the architecture id, the file type and the tensors in order.</summary>
internal sealed record GgufWritePlan(string Architecture, uint FileType, IReadOnlyList<GgufTensor> Tensors)
{
    /// <summary>The data alignment: the default, so no <c>general.alignment</c> key is written.</summary>
    public const uint Alignment = GgufReader.DefaultAlignment;

    /// <summary><c>general.quantization_version</c> (<c>GGML_QUANT_VERSION</c>).</summary>
    public const uint QuantizationVersion = 2;

    /// <summary>convert.py's <c>QUANTIZATION_THRESHOLD</c>: F32/BF16 tensors of at most this many elements stay F32.</summary>
    private const long SmallTensor = 1024;

    /// <summary>convert.py's <c>REARRANGE_THRESHOLD</c>.</summary>
    private const long RearrangeMinimum = 512;

    /// <summary>convert.py's <c>MAX_TENSOR_NAME_LENGTH</c>.</summary>
    private const int MaxName = 127;

    private const int Row = 256;

    /// <summary>The feed-forward output names llama.cpp (patched by ComfyUI-GGUF) writes as Q4_1 / Q5_1 in a Q4_0 / Q5_0 file.</summary>
    private static readonly string[] FeedForwardDown = ["ffn_down", ".ffn.2.weight", ".ff.net.2.weight", ".mlp.layer2.weight", ".adaln_modulation_mlp.2.weight", ".feed_forward.w2.weight"];

    /// <summary>The attention value names that rule does not touch (it is the <c>else</c> branch of theirs).</summary>
    private static readonly string[] AttentionValue = ["attn_v.weight", ".to_v.weight", ".v.weight", ".attn.w1v.weight", ".attn.w2v.weight", "_attn.v_proj.weight"];

    /// <summary>
    /// Turns a conversion plan into a GGUF as ComfyUI-GGUF makes one (<c>tools/convert.py</c> then its patched
    /// <c>llama-quantize</c>), in one pass and without reading tensor bytes:
    /// <list type="number">
    /// <item>Only the diffusion model: the prefix <c>model.diffusion_model.</c> (else <c>model.</c>) when a key has it,
    /// <c>net.</c> when every key has it, is stripped; every other tensor (VAE, text encoders, EMA, schedule buffers) is
    /// dropped and reported.</item>
    /// <item>The architecture from the keys (<see cref="GgufArchitectures.Detect"/>).</item>
    /// <item>Types: F32/BF16 tensors that are 1-D, of at most 1024 elements or named in the architecture's
    /// <c>keys_hiprec</c> stay F32. For F16/BF16 files every other tensor is that type. For block types, a tensor is
    /// quantized when its name ends with <c>weight</c>, it is 2-D in ggml's count (trailing size-1 dims ignored), the
    /// architecture's quantizer does not keep it (embedders, conv_in/out, ...) and its rows are whole blocks; the rest
    /// are written as <c>convert.py</c> writes them (F32 as above, else BF16 for BF16 sources and F16 otherwise).
    /// Q4_0 / Q5_0 files get Q4_1 / Q5_1 feed-forward output weights, as the patched llama-quantize writes.</item>
    /// <item>SD1 / SDXL (<c>shape_fix</c>): tensors of 2+ dims with at least 512 elements, a multiple of 256, whose last dim is
    /// not, are written as rows of 256 with the torch shape in <c>comfy.gguf.orig_shape.&lt;name&gt;</c>.</item>
    /// </list>
    /// Tensors keep the order <c>convert.py</c> sees them in: by name for a safetensors source (its <c>load_file</c>
    /// order), the source's order otherwise. The values are quantized from the source's own values widened to float32 (the two-step route rounds F32
    /// weights to F16 before quantizing; this does not).
    /// </summary>
    public static GgufWritePlan Make(TensorPlan plan, GgufQuantization quantization, bool byName, Func<ArchitectureReport> detect)
    {
        // ComfyUI's scaled fp8 layers are dequantized to float32 as ComfyUI loads them (their scales and configs go);
        // formats SafeCkpt cannot dequantize are refused. convert.py would write the raw fp8 values without their scales.
        if (ScaledFloat8Dequantization.Apply(plan, DType.Float32, _ => true) is { Count: > 0 } dequantized)
        {
            plan.Notes.Add($"GGUF: {dequantized.Count} scaled fp8 layers dequantized (weight x scale, in float32) before quantizing.");
        }

        string prefix = StripPrefix(plan.Tensors.Select(t => t.Name).ToList());
        var left = new Dictionary<string, int>(StringComparer.Ordinal);
        plan.Drop(
            t =>
            {
                if (t.Name.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return false;
                }

                string part = Components.Classify(t.Name) switch
                {
                    ModelComponent.Vae => "VAE",
                    ModelComponent.TextEncoder => "text encoder",
                    ModelComponent.Ema => "EMA weights",
                    _ => "other",
                };
                left[part] = left.GetValueOrDefault(part) + 1;
                return true;
            },
            "not the diffusion model: a ComfyUI-GGUF file holds the UNet / transformer only (load the VAE and text encoders from their own files)");
        if (left.Count > 0)
        {
            plan.Notes.Add($"GGUF holds the diffusion model only: left out {string.Join(", ", left.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Value} {kv.Key}"))} tensors (not under '{prefix}').");
        }

        if (prefix.Length > 0)
        {
            for (int i = 0; i < plan.Tensors.Count; i++)
            {
                plan.Tensors[i] = plan.Tensors[i].WithName(plan.Tensors[i].Name[prefix.Length..]);
            }
        }

        if (byName)
        {
            plan.Tensors.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        }

        if (plan.Tensors.Count == 0)
        {
            throw NotWritable(plan, $"holds no diffusion model (UNet / transformer) to write as GGUF: it is {Describe(detect())}. A GGUF for ComfyUI-GGUF holds the diffusion model only; convert a checkpoint or a diffusion-model file.");
        }

        var keys = plan.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        GgufArchitecture? arch = GgufArchitectures.Detect(keys, out bool banned);
        if (arch is null)
        {
            // Keys convert.py does not know (qwen_image, a pruned or renamed UNet): SafeCkpt's own detection, by family.
            ArchitectureReport report = detect();
            ArchitectureInfo? info = ArchitectureCatalog.Get(report.Id) is { Kind: ArchitectureKind.Model } a ? a : report.BaseArchitecture is { } b ? ArchitectureCatalog.Get(b) : null;
            arch = GgufArchitectures.OfFamily(info?.Family)
                ?? throw NotWritable(plan, $"its diffusion model is none of the architectures ComfyUI-GGUF loads ({string.Join(", ", GgufArchitectures.All.Select(a => a.Id))}; SafeCkpt detects {Describe(report)}), or the file holds no diffusion model. Convert a model of one of those architectures.");
            plan.Notes.Add($"GGUF: the architecture '{arch.Id}' comes from SafeCkpt's detection ({Describe(report)}); ComfyUI-GGUF's convert.py would not recognise these keys.");
        }

        if (banned)
        {
            throw NotWritable(plan, $"is a {arch.Id} transformer in the diffusers layout, which ComfyUI-GGUF refuses (its q/k/v are separate). Convert a file in the reference layout (ComfyUI's ModelSave writes one).");
        }

        int ignored = plan.Drop(t => arch.Ignore.Any(t.Name.Contains), $"ignored for {arch.Id} by ComfyUI-GGUF's convert.py (keys_ignore)");
        if (ignored > 0)
        {
            plan.Notes.Add($"GGUF: {ignored} {arch.Id} tensors ComfyUI-GGUF ignores (training state) left out.");
        }

        GgmlType target = Type(quantization);
        var tensors = new List<GgufTensor>(plan.Tensors.Count);
        int fallback = 0;
        string? fallbackExample = null;
        int reshaped = 0;
        foreach (PlannedTensor t in plan.Tensors)
        {
            tensors.Add(Tensor(plan, t, arch, target, ref reshaped, ref fallback, ref fallbackExample));
        }

        if (GgmlTypes.TryGetBlock((uint)target, out int block, out _) && block > 1 && !tensors.Any(t => t.Type != GgmlType.F32 && t.Type != GgmlType.F16 && t.Type != GgmlType.BF16))
        {
            throw NotWritable(plan, $"has no tensor {GgmlTypes.Name(target)} can hold: of its {tensors.Count} {arch.Id} tensors none is a 2-D weight whose rows are a multiple of {block} elements{(fallbackExample is null ? string.Empty : $" (e.g. '{fallbackExample}')")} outside the ones ComfyUI-GGUF keeps unquantized. Write F16 or BF16 (--quant f16) instead.");
        }

        string counts = string.Join(", ", tensors.GroupBy(t => t.Type).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} {GgmlTypes.Name(g.Key)}"));
        plan.Notes.Add($"GGUF {arch.Id}, {quantization}: {counts}" +
            (reshaped > 0 ? $"; {reshaped} reshaped to rows of 256 (comfy.gguf.orig_shape)" : string.Empty) +
            (fallback > 0 ? $"; {fallback} weights whose rows are not whole {GgmlTypes.Name(target)} blocks kept unquantized (e.g. '{fallbackExample}')" : string.Empty) + ".");
        return new GgufWritePlan(arch.Id, FileTypeOf(quantization), tensors);
    }

    /// <summary>The ggml type of a GGUF quantization.</summary>
    public static GgmlType Type(GgufQuantization q) => q switch
    {
        GgufQuantization.F16 => GgmlType.F16,
        GgufQuantization.BF16 => GgmlType.BF16,
        GgufQuantization.Q8_0 => GgmlType.Q8_0,
        GgufQuantization.Q5_1 => GgmlType.Q5_1,
        GgufQuantization.Q5_0 => GgmlType.Q5_0,
        GgufQuantization.Q4_1 => GgmlType.Q4_1,
        GgufQuantization.Q4_0 => GgmlType.Q4_0,
        _ => throw new ArgumentOutOfRangeException(nameof(q), q, "Not a GGUF quantization."),
    };

    /// <summary><c>general.file_type</c> (llama.cpp's <c>LlamaFileType</c>: MOSTLY_F16 1, MOSTLY_BF16 32, Q4_0 2, Q4_1 3, Q8_0 7, Q5_0 8, Q5_1 9).</summary>
    public static uint FileTypeOf(GgufQuantization q) => q switch
    {
        GgufQuantization.F16 => 1,
        GgufQuantization.BF16 => 32,
        GgufQuantization.Q4_0 => 2,
        GgufQuantization.Q4_1 => 3,
        GgufQuantization.Q8_0 => 7,
        GgufQuantization.Q5_0 => 8,
        _ => 9,
    };

    /// <summary>convert.py's <c>strip_prefix</c> (a key is kept when it starts with the prefix).</summary>
    internal static string StripPrefix(IReadOnlyList<string> names)
    {
        foreach (string p in new[] { KeyPrefixes.UNet, "model." })
        {
            if (names.Any(n => n.StartsWith(p, StringComparison.Ordinal)))
            {
                return p;
            }
        }

        return names.Count > 0 && names.All(n => n.StartsWith("net.", StringComparison.Ordinal)) ? "net." : string.Empty;
    }

    private static GgufTensor Tensor(TensorPlan plan, PlannedTensor t, GgufArchitecture arch, GgmlType target, ref int reshaped, ref int fallback, ref string? fallbackExample)
    {
        if (Encoding.UTF8.GetByteCount(t.Name) > MaxName)
        {
            throw NotWritable(plan, $"tensor '{t.Name}' has a name longer than {MaxName} bytes, which ComfyUI-GGUF's convert.py refuses (its patched llama.cpp allows 128). Rename it (Rename) first.", t.Name);
        }

        if (!ElementCast.IsCastable(t.DType))
        {
            throw NotWritable(plan, $"tensor '{t.Name}' is {t.DType.ToSafetensorsName()}; a GGUF diffusion model holds floating tensors only. Drop it (Where) first.", t.Name);
        }

        IReadOnlyList<long> shape = t.Shape;
        if (shape.Count > 4)
        {
            throw NotWritable(plan, $"tensor '{t.Name}' has {shape.Count} dimensions; GGUF holds at most 4 (ComfyUI-GGUF moves such tensors to a side file for tools/fix_5d_tensors.py). Drop it (Where) first.", t.Name);
        }

        long n = shape.Aggregate(1L, (a, d) => a * d);
        bool wide = t.DType is DType.Float32 or DType.BFloat16;
        bool high = wide && (shape.Count == 1 || n <= SmallTensor || arch.HighPrecision.Any(t.Name.Contains));
        GgmlType plain = high ? GgmlType.F32
            : target is GgmlType.F16 or GgmlType.BF16 ? target
            : t.DType == DType.BFloat16 ? GgmlType.BF16 : GgmlType.F16;
        IReadOnlyList<long>? original = null;
        if (arch.ShapeFix && shape.Count > 1 && n >= RearrangeMinimum && n % Row == 0 && shape[^1] % Row != 0)
        {
            original = shape;
            shape = [n / Row, Row];
            reshaped++;
        }

        GgmlType type = plain;
        if (target is not (GgmlType.F16 or GgmlType.BF16) && Quantizable(t.Name, shape, arch))
        {
            GgmlTypes.TryGetBlock((uint)target, out int block, out _);
            if (shape[^1] % block != 0)
            {
                fallback++;
                fallbackExample ??= t.Name;
            }
            else
            {
                type = target switch
                {
                    GgmlType.Q4_0 when FeedForwardDown.Any(t.Name.Contains) && !AttentionValue.Any(t.Name.Contains) => GgmlType.Q4_1,
                    GgmlType.Q5_0 when FeedForwardDown.Any(t.Name.Contains) && !AttentionValue.Any(t.Name.Contains) => GgmlType.Q5_1,
                    _ => target,
                };
            }
        }

        TensorSource values = t.DType == DType.Float32 ? t.Data : new CastTensorSource(t.Data, t.DType, DType.Float32);
        return new GgufTensor(t.Name, type, shape, original, new QuantizingTensorSource(values, type));
    }

    /// <summary>Whether the patched llama-quantize quantizes a tensor of an image model: a 2-D (ggml count) <c>*weight</c> its architecture does not keep.</summary>
    private static bool Quantizable(string name, IReadOnlyList<long> shape, GgufArchitecture arch) =>
        name.EndsWith("weight", StringComparison.Ordinal)
        && GgmlDims(shape) == 2
        && !arch.KeepContaining.Any(name.Contains)
        && !arch.KeepNamed.Contains(name, StringComparer.Ordinal);

    /// <summary>ggml's <c>ggml_n_dims</c> of a torch shape: the dimensions up to the outermost one larger than 1 (at least 1).</summary>
    private static int GgmlDims(IReadOnlyList<long> shape)
    {
        for (int i = 0; i < shape.Count; i++)
        {
            if (shape[i] > 1)
            {
                return shape.Count - i;
            }
        }

        return 1;
    }

    private static string Describe(ArchitectureReport r) => $"{r.Id} ({r.Name})";

    private static ConversionException NotWritable(TensorPlan plan, string what, string? tensor = null) =>
        new(SafeCkptErrorCode.GgufNotWritable, plan.SourcePath, $"{plan.SourcePath}: {what} Nothing was written.") { TensorName = tensor };
}
