using System.Globalization;
using SafeCkpt.Tensors;

namespace SafeCkpt.Models;

/// <summary>
/// Answers the questions the architecture rules ask about a file's keys and shapes, and records what the rule
/// being tried looked at, so the winning rule's lookups become the report's evidence. UNet/DiT keys are asked
/// for without a prefix (<see cref="M"/>): the file's own prefix (<c>model.diffusion_model.</c>,
/// <c>diffusion_model.</c>, <c>model.</c> or none) is added.
/// </summary>
internal sealed class LayoutProbe
{
    private readonly TensorStore _store;
    private readonly string[] _sorted;
    private readonly List<string> _evidence = [];
    private UnetFacts? _unet;

    public LayoutProbe(TensorStore store)
    {
        _store = store;
        _sorted = store.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal).ToArray();
        ModelPrefix = KeyPrefixes.DiffusionModelPrefix(Count);
    }

    /// <summary>The prefix of the diffusion model's keys in this file.</summary>
    public string ModelPrefix { get; }

    public TensorStore Store => _store;

    /// <summary>What the current rule looked at.</summary>
    public IReadOnlyList<string> Evidence => _evidence;

    /// <summary>Forgets the evidence of the previous rule.</summary>
    public void Reset() => _evidence.Clear();

    public void Note(string fact) => _evidence.Add(fact);

    /// <summary>The tensor of this full key, recorded as evidence when present.</summary>
    public TensorInfo? Get(string key)
    {
        if (_store.TryGet(key, out TensorInfo? info))
        {
            _evidence.Add($"{key} {info.FormatShape()}");
            return info;
        }

        return null;
    }

    public bool Has(string key) => Get(key) is not null;

    /// <summary>True when the key is absent; the absence is recorded as evidence.</summary>
    public bool Lacks(string key)
    {
        if (_store.Contains(key))
        {
            return false;
        }

        _evidence.Add($"{key} absent");
        return true;
    }

    /// <summary>The diffusion model's tensor of this key (prefix added), recorded when present.</summary>
    public TensorInfo? M(string key) => Get(ModelPrefix + key);

    public bool HasM(string key) => M(key) is not null;

    public bool LacksM(string key) => Lacks(ModelPrefix + key);

    /// <summary>Dimension <paramref name="i"/> of a tensor (negative from the end), or -1.</summary>
    public static long Dim(TensorInfo? t, int i)
    {
        if (t is null)
        {
            return -1;
        }

        int j = i < 0 ? t.Shape.Count + i : i;
        return j >= 0 && j < t.Shape.Count ? t.Shape[j] : -1;
    }

    /// <summary>Whether any key starts with the prefix (not recorded).</summary>
    public bool HasPrefix(string prefix) => FirstIndex(prefix) >= 0;

    /// <summary>How many keys start with the prefix.</summary>
    public int Count(string prefix)
    {
        int i = FirstIndex(prefix);
        if (i < 0)
        {
            return 0;
        }

        int n = 0;
        while (i + n < _sorted.Length && _sorted[i + n].StartsWith(prefix, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }

    /// <summary>Whether any key contains the text (not recorded).</summary>
    public string? AnyKeyContaining(string text) => _sorted.FirstOrDefault(k => k.Contains(text, StringComparison.Ordinal));

    /// <summary>The number of consecutive indices <c>prefix + N + "."</c> from 0 that have keys.</summary>
    public int CountIndexed(string prefix)
    {
        int n = 0;
        while (n < 1000 && HasPrefix(prefix + n.ToString(CultureInfo.InvariantCulture) + "."))
        {
            n++;
        }

        return n;
    }

    /// <summary>The LDM UNet's dimensions, walked once as ComfyUI's <c>detect_unet_config</c> does.</summary>
    public UnetFacts Unet => _unet ??= UnetFacts.Walk(this);

    private int FirstIndex(string prefix)
    {
        int lo = 0, hi = _sorted.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (string.CompareOrdinal(_sorted[mid], prefix) < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo < _sorted.Length && _sorted[lo].StartsWith(prefix, StringComparison.Ordinal) ? lo : -1;
    }
}

/// <summary>
/// The dimensions of an LDM/SGM UNet read from its shapes (-1 when the key is missing): in and model channels
/// from <c>input_blocks.0.0.weight</c>, context from the first cross-attention, adm from <c>label_emb</c>,
/// transformer depth per resnet input block, and the middle block's depth (-1: resnets only, -2: none).
/// </summary>
internal sealed record UnetFacts(bool Present, long InChannels, long ModelChannels, long ContextDim, long AdmInChannels, bool? Linear, IReadOnlyList<int> Depths, int MiddleDepth, bool HasOut)
{
    public static UnetFacts Walk(LayoutProbe p)
    {
        string m = p.ModelPrefix;
        TensorStore s = p.Store;
        TensorInfo? input = s.TryGet(m + "input_blocks.0.0.weight", out TensorInfo? i0) ? i0 : null;
        if (input is null)
        {
            return new UnetFacts(false, -1, -1, -1, -1, null, [], -2, false);
        }

        int blocks = p.CountIndexed(m + "input_blocks.");
        var depths = new List<int>();
        long context = -1;
        bool? linear = null;
        for (int b = 1; b < blocks; b++)
        {
            string block = m + "input_blocks." + b.ToString(CultureInfo.InvariantCulture) + ".";
            if (p.HasPrefix(block + "0.op.") || p.HasPrefix(block + "0.conv."))
            {
                continue; // a downsample block
            }

            depths.Add(p.CountIndexed(block + "1.transformer_blocks."));
            if (context < 0 && s.TryGet(block + "1.transformer_blocks.0.attn2.to_k.weight", out TensorInfo? k))
            {
                context = LayoutProbe.Dim(k, 1);
            }

            if (linear is null && s.TryGet(block + "1.proj_in.weight", out TensorInfo? pin))
            {
                linear = pin.Shape.Count == 2;
            }
        }

        int middle = p.HasPrefix(m + "middle_block.1.transformer_blocks.") ? p.CountIndexed(m + "middle_block.1.transformer_blocks.")
            : p.HasPrefix(m + "middle_block.") ? -1 : -2;
        long adm = s.TryGet(m + "label_emb.0.0.weight", out TensorInfo? l) ? LayoutProbe.Dim(l, 1) : -1;
        return new UnetFacts(true, LayoutProbe.Dim(input, 1), LayoutProbe.Dim(input, 0), context, adm, linear, depths, middle, s.Contains(m + "out.2.weight"));
    }

    /// <summary>Whether the transformer depths per input block are exactly these.</summary>
    public bool DepthsAre(params int[] expected) => Depths.SequenceEqual(expected);

    public override string ToString() =>
        $"UNet: in_channels {InChannels}, model_channels {ModelChannels}, context_dim {ContextDim}, adm_in_channels {AdmInChannels}, "
        + $"linear {(Linear is null ? "?" : Linear.Value ? "yes" : "no")}, transformer depth [{string.Join(", ", Depths)}], middle {MiddleDepth}";
}
