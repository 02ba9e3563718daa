using SafeCkpt.Tensors;

namespace SafeCkpt.Analysis;

/// <summary>What one patch of a LoRA module changes, and what it asks of the weight it lands on.</summary>
/// <param name="Bias">True when it patches the layer's bias (<c>.diff_b</c>, <c>.b_norm</c>) rather than its weight.</param>
/// <param name="Shape">The change's shape as the adapter builds it (<c>[out, in]</c> or <c>[out, in, kh, kw]</c>); null when not computable.</param>
/// <param name="Exact">True when the weight must have exactly <paramref name="Shape"/> (a full difference or a replacement); false when
/// the change is reshaped to the weight, so only the element count must agree (ComfyUI's <c>.reshape(weight.shape)</c>).</param>
/// <param name="Broken">Why the module's own tensors do not fit each other (a rank mismatch), or null.</param>
internal sealed record LoraPatch(bool Bias, IReadOnlyList<long>? Shape, bool Exact, string? Broken = null)
{
    /// <summary>The elements of the change.</summary>
    public long? Elements => Shape?.Aggregate(1L, (a, b) => a * b);

    /// <summary>Why this change cannot land on a weight of this shape, or null when it can.</summary>
    public string? MismatchWith(IReadOnlyList<long> weight)
    {
        if (Broken is not null)
        {
            return Broken;
        }

        if (Shape is null)
        {
            return null; // adapters whose result SafeCkpt does not compute (GLoRA, OFT, BOFT) are taken as fitting
        }

        long elements = weight.Aggregate(1L, (a, b) => a * b);
        return Exact ? (Shape.SequenceEqual(weight) ? null : "shape") : Elements == elements ? null : "elements";
    }
}

/// <summary>
/// One module of a LoRA / LyCORIS network: the name its keys share before the adapter's suffix
/// (<c>lora_unet_..._to_q</c> of <c>lora_unet_..._to_q.lora_up.weight</c>) and its tensors by suffix.
/// </summary>
internal sealed class LoraModule
{
    /// <summary>Every key suffix ComfyUI's <c>load_lora</c> and weight adapters read, longest first where one ends another.</summary>
    internal static readonly string[] Suffixes =
    [
        // LoRA, in ComfyUI's order of preference: up, down (and mid for the first)
        ".lora_up.weight", ".lora_down.weight", ".lora_mid.weight",
        "_lora.up.weight", "_lora.down.weight",
        ".lora_B.default.weight", ".lora_A.default.weight",
        ".lora_B.weight", ".lora_A.weight",
        ".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight",
        ".lora.up.weight", ".lora.down.weight",
        ".lora_B", ".lora_A",
        ".reshape_weight",

        // LoHa, LoKr, GLoRA, OFT / BOFT
        ".hada_w1_a", ".hada_w1_b", ".hada_w2_a", ".hada_w2_b", ".hada_t1", ".hada_t2",
        ".lokr_w1_a", ".lokr_w1_b", ".lokr_w2_a", ".lokr_w2_b", ".lokr_w1", ".lokr_w2", ".lokr_t2",
        ".a1.weight", ".a2.weight", ".b1.weight", ".b2.weight",
        ".oft_blocks", ".rescale",

        // Every module: scale and DoRA magnitude; norm weights, full differences and replacements
        ".alpha", ".dora_scale", ".w_norm", ".b_norm", ".diff_b", ".diff", ".set_weight",
    ];

    /// <summary>The LoRA up/down name pairs in ComfyUI's order (the first whose up is present is used).</summary>
    private static readonly (string Up, string Down)[] LoraForms =
    [
        (".lora_up.weight", ".lora_down.weight"), ("_lora.up.weight", "_lora.down.weight"), (".lora_B.weight", ".lora_A.weight"),
        (".lora.up.weight", ".lora.down.weight"), (".lora_B", ".lora_A"), (".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight"),
        (".lora_B.default.weight", ".lora_A.default.weight"),
    ];

    private static readonly string[] LokrParts = [".lokr_w1", ".lokr_w2", ".lokr_w1_a", ".lokr_w1_b", ".lokr_w2_a", ".lokr_w2_b", ".lokr_t2"];

    private LoraModule(string name) => Name = name;

    /// <summary>The module name (what ComfyUI looks up in its key map).</summary>
    public string Name { get; }

    /// <summary>The module's tensors by suffix.</summary>
    public Dictionary<string, TensorInfo> Tensors { get; } = new(StringComparer.Ordinal);

    /// <summary>The module's keys.</summary>
    public IEnumerable<string> Keys => Tensors.Keys.Select(s => Name + s);

    /// <summary>The adapter kind its tensors make: <c>lora</c>, <c>loha</c>, <c>lokr</c>, <c>glora</c>, <c>oft</c>, <c>diff</c>, <c>norm</c>, <c>set</c>; null for none.</summary>
    public string? Kind =>
        LoraForms.Any(f => Tensors.ContainsKey(f.Up)) ? "lora"
        : Tensors.ContainsKey(".hada_w1_a") ? "loha"
        : Tensors.ContainsKey(".lokr_w1") || Tensors.ContainsKey(".lokr_w2") || Tensors.ContainsKey(".lokr_w1_a") || Tensors.ContainsKey(".lokr_w2_a") ? "lokr"
        : Tensors.ContainsKey(".a1.weight") ? "glora"
        : Tensors.ContainsKey(".oft_blocks") ? "oft"
        : Tensors.ContainsKey(".w_norm") ? "norm"
        : Tensors.ContainsKey(".diff") || Tensors.ContainsKey(".diff_b") ? "diff"
        : Tensors.ContainsKey(".set_weight") ? "set"
        : null;

    /// <summary>Groups a LoRA's tensors into modules; keys with no suffix ComfyUI reads are returned apart.</summary>
    /// <param name="tensors">The LoRA's tensors (names and shapes).</param>
    /// <returns>The modules in first-key order, and the keys that belong to none.</returns>
    public static (IReadOnlyList<LoraModule> Modules, IReadOnlyList<string> Unknown) Parse(IEnumerable<TensorInfo> tensors)
    {
        var modules = new Dictionary<string, LoraModule>(StringComparer.Ordinal);
        var order = new List<LoraModule>();
        var unknown = new List<string>();
        foreach (TensorInfo t in tensors)
        {
            string? suffix = Suffixes.FirstOrDefault(s => t.Name.EndsWith(s, StringComparison.Ordinal) && t.Name.Length > s.Length);
            if (suffix is null)
            {
                unknown.Add(t.Name);
                continue;
            }

            string name = t.Name[..^suffix.Length];
            if (!modules.TryGetValue(name, out LoraModule? m))
            {
                m = new LoraModule(name);
                modules.Add(name, m);
                order.Add(m);
            }

            m.Tensors[suffix] = t;
        }

        return (order, unknown);
    }

    /// <summary>
    /// What ComfyUI's <c>load_lora</c> does with this module once its name is in the key map: the suffixes it reads
    /// (every other key of the module is "lora key not loaded") and the patches it makes, last one per target winning.
    /// </summary>
    /// <returns>The suffixes read, and the patch of the weight and of the bias (either may be null).</returns>
    public (IReadOnlySet<string> Read, LoraPatch? Weight, LoraPatch? Bias) Load()
    {
        var read = new HashSet<string>(StringComparer.Ordinal);
        LoraPatch? weight = null;
        LoraPatch? bias = null;
        Take(".alpha");
        Take(".dora_scale");

        foreach ((string up, string down) in LoraForms)
        {
            if (Tensors.TryGetValue(up, out TensorInfo? u))
            {
                Take(up);
                Take(down);
                bool regular = up == LoraForms[0].Up;
                TensorInfo? mid = regular && Take(".lora_mid.weight") ? Tensors[".lora_mid.weight"] : null;
                bool reshape = Take(".reshape_weight");
                weight = Tensors.TryGetValue(down, out TensorInfo? d) ? LoraDelta(u, d, mid, reshape) : new LoraPatch(false, null, false, $"no {down[1..]} beside {up[1..]}");
                break;
            }
        }

        if (Tensors.TryGetValue(".hada_w1_a", out TensorInfo? w1a))
        {
            Take(".hada_w1_a");
            Take(".hada_w1_b");
            Take(".hada_w2_a");
            Take(".hada_w2_b");
            TensorInfo? t1 = Take(".hada_t1") ? Tensors[".hada_t1"] : null;
            if (t1 is not null)
            {
                Take(".hada_t2");
            }

            weight = Tensors.TryGetValue(".hada_w1_b", out TensorInfo? w1b) ? LohaDelta(w1a, w1b, t1) : new LoraPatch(false, null, false, "no hada_w1_b");
        }

        bool lokr = false;
        foreach (string part in LokrParts)
        {
            lokr |= Take(part) && part is ".lokr_w1" or ".lokr_w2" or ".lokr_w1_a" or ".lokr_w2_a";
        }

        if (lokr)
        {
            weight = LokrDelta();
        }

        if (Tensors.ContainsKey(".a1.weight"))
        {
            Take(".a1.weight");
            Take(".a2.weight");
            Take(".b1.weight");
            Take(".b2.weight");
            weight = new LoraPatch(false, null, false);
        }

        if (Tensors.TryGetValue(".oft_blocks", out TensorInfo? blocks) && blocks.Shape.Count is 3 or 4)
        {
            Take(".oft_blocks");
            Take(".rescale");
            weight = new LoraPatch(false, null, false);
        }

        if (Take(".w_norm"))
        {
            weight = new LoraPatch(false, Tensors[".w_norm"].Shape, true);
            if (Take(".b_norm"))
            {
                bias = new LoraPatch(true, Tensors[".b_norm"].Shape, true);
            }
        }

        if (Take(".diff"))
        {
            weight = new LoraPatch(false, Tensors[".diff"].Shape, true);
        }

        if (Take(".diff_b"))
        {
            bias = new LoraPatch(true, Tensors[".diff_b"].Shape, true);
        }

        if (Take(".set_weight"))
        {
            weight = new LoraPatch(false, Tensors[".set_weight"].Shape, true);
        }

        return (read, weight, bias);

        bool Take(string suffix)
        {
            if (Tensors.ContainsKey(suffix))
            {
                read.Add(suffix);
                return true;
            }

            return false;
        }
    }

    /// <summary>up @ down (with LoCon's mid): <c>[out, in]</c> or <c>[out, in, kh, kw]</c>; the ranks must agree.</summary>
    private static LoraPatch LoraDelta(TensorInfo up, TensorInfo down, TensorInfo? mid, bool reshape)
    {
        if (up.Shape.Count < 2 || down.Shape.Count < 2)
        {
            return new LoraPatch(false, null, false, $"up {up.FormatShape()} and down {down.FormatShape()} are not matrices");
        }

        long upRank = up.Shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        if (mid is null && upRank != down.Shape[0])
        {
            return new LoraPatch(false, null, false, $"rank of up {up.FormatShape()} and down {down.FormatShape()} differ");
        }

        IEnumerable<long> kernel = mid is { Shape.Count: 4 } ? mid.Shape.Skip(2) : down.Shape.Skip(2);
        long[] shape = [up.Shape[0], down.Shape[1], .. kernel];
        return reshape ? new LoraPatch(false, null, false) : new LoraPatch(false, shape, false); // reshape_weight pads the weight to the LoRA's size
    }

    /// <summary>(w1a @ w1b) * (w2a @ w2b), or with CP decomposition t1 the tucker product: its shape.</summary>
    private static LoraPatch LohaDelta(TensorInfo w1a, TensorInfo w1b, TensorInfo? t1)
    {
        if (w1a.Shape.Count != 2 || w1b.Shape.Count != 2)
        {
            return new LoraPatch(false, null, false, $"hada_w1_a {w1a.FormatShape()} and hada_w1_b {w1b.FormatShape()} are not matrices");
        }

        long[] shape = t1 is { Shape.Count: 4 } ? [w1a.Shape[1], w1b.Shape[1], t1.Shape[2], t1.Shape[3]] : [w1a.Shape[0], w1b.Shape[1]];
        return new LoraPatch(false, shape, false);
    }

    /// <summary>kron(w1, w2), each whole or a product of two factors (w2 possibly a tucker product): its shape.</summary>
    private LoraPatch LokrDelta()
    {
        long[]? w1 = Tensors.TryGetValue(".lokr_w1", out TensorInfo? a) ? [.. a.Shape]
            : Tensors.TryGetValue(".lokr_w1_a", out TensorInfo? a1) && Tensors.TryGetValue(".lokr_w1_b", out TensorInfo? b1) && a1.Shape.Count == 2 && b1.Shape.Count == 2 ? [a1.Shape[0], b1.Shape[1]]
            : null;
        long[]? w2 = Tensors.TryGetValue(".lokr_w2", out TensorInfo? c) ? [.. c.Shape]
            : Tensors.TryGetValue(".lokr_w2_a", out TensorInfo? a2) && Tensors.TryGetValue(".lokr_w2_b", out TensorInfo? b2) && a2.Shape.Count == 2 && b2.Shape.Count == 2
                ? Tensors.TryGetValue(".lokr_t2", out TensorInfo? t2) && t2.Shape.Count == 4 ? [a2.Shape[1], b2.Shape[1], t2.Shape[2], t2.Shape[3]] : [a2.Shape[0], b2.Shape[1]]
            : null;
        if (w1 is null || w2 is null)
        {
            return new LoraPatch(false, null, false, "lokr_w1 or lokr_w2 is missing");
        }

        if (w2.Length == 4 && w1.Length == 2)
        {
            w1 = [w1[0], w1[1], 1, 1]; // ComfyUI unsqueezes w1 for a conv w2
        }

        // torch.kron multiplies dimension by dimension, the shorter shape padded with leading ones.
        int rank = Math.Max(w1.Length, w2.Length);
        long[] shape = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long x = i - (rank - w1.Length) >= 0 ? w1[i - (rank - w1.Length)] : 1;
            long y = i - (rank - w2.Length) >= 0 ? w2[i - (rank - w2.Length)] : 1;
            shape[i] = x * y;
        }

        return new LoraPatch(false, shape, false);
    }
}
