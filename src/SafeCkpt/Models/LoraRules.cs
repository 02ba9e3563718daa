using System.Text.RegularExpressions;
using SafeCkpt.Tensors;
using static SafeCkpt.Models.DetectionConfidence;

namespace SafeCkpt.Models;

/// <summary>
/// LoRA and LyCORIS networks in every key flavour A1111's <c>extensions-builtin/Lora/network_*.py</c> and ComfyUI's
/// <c>weight_adapter</c> / <c>lora.py</c> accept, with the base architecture where the module names or widths tell it.
/// </summary>
internal static partial class LoraRules
{
    /// <summary>Key endings that identify a flavour, most specific first (the first any key has wins).</summary>
    private static readonly (string Ending, string Flavour)[] Endings =
    [
        ("_lora.down.weight", "attn-processor"), // old diffusers attention processors: to_q_lora.down.weight
        (".lora_linear_layer.down.weight", "diffusers"),
        (".lora.down.weight", "diffusers"),
        (".lora_down.weight", "lora"),
        (".lora_A.weight", "peft"),
        (".lora_A.default.weight", "peft"),
        (".hada_w1_a", "loha"),
        (".lokr_w1", "lokr"),
        (".lokr_w1_a", "lokr"),
        (".oft_blocks", "oft"),
        (".oft_diag", "oft"),
        (".a1.weight", "glora"),
        (".on_input", "ia3"),
        (".diff", "full-diff"),
        (".diff_b", "full-diff"),
        (".w_norm", "norm"),
    ];

    /// <summary>Key endings whose dimension 1 is a layer's input width (a down / A / full-diff weight).</summary>
    private static readonly string[] InputSideEndings =
        [".lora_down.weight", ".lora_A.weight", ".lora.down.weight", ".lora_linear_layer.down.weight", "_lora.down.weight", ".hada_w1_b", ".lokr_w1", ".diff"];

    /// <summary>Key prefixes of module names and the base they mean, checked in order.</summary>
    private static readonly (string Needle, string Base)[] BaseByModule =
    [
        ("individual_token_refiner", "hunyuan-video"),
        ("double_stream_modulation", "flux2"),
        ("double_blocks", "flux-dev"),
        ("single_transformer_blocks", "flux-dev"),
        ("joint_blocks", "sd3"),
        ("lora_prior_unet_", "cascade-c"),
        ("cross_attn_k", "wan2.1-t2v"),
        ("cross_attn.k", "wan2.1-t2v"),
        ("img_mlp_net", "qwen-image"),
        ("img_mlp.net", "qwen-image"),
        ("layers_0_attention_qkv", "lumina2"),
        ("layers.0.attention.qkv", "lumina2"),
        ("lora_te1_", "sdxl"),
        ("lora_te2_", "sdxl"),
        ("text_encoder_2.", "sdxl"),
    ];

    [GeneratedRegex(@":\d+:(up|down)$", RegexOptions.CultureInvariant)]
    private static partial Regex CloneOfSimo();

    public static RuleMatch? Match(LayoutProbe p)
    {
        string? flavour = null;
        string? key = null;
        foreach ((string ending, string f) in Endings)
        {
            key = p.Store.Tensors.FirstOrDefault(t => t.Name.EndsWith(ending, StringComparison.Ordinal))?.Name;
            if (key is not null && (f != "glora" || p.Store.Contains(key[..^".a1.weight".Length] + ".b2.weight")))
            {
                flavour = f;
                break;
            }
        }

        if (flavour is null && p.Store.Tensors.FirstOrDefault(t => CloneOfSimo().IsMatch(t.Name)) is { } c)
        {
            (flavour, key) = ("cloneofsimo", c.Name);
        }

        if (flavour is null || key is null)
        {
            return null;
        }

        if (flavour == "lora" && p.Store.Tensors.Any(t => t.Name.EndsWith(".lora_mid.weight", StringComparison.Ordinal)))
        {
            flavour = "locon";
        }
        else if (flavour == "oft" && p.Get(key) is { Shape.Count: 4 })
        {
            flavour = "boft";
        }

        p.Note($"{key} ({flavour} weight naming)");
        string? baseId = BaseOf(p);
        return new RuleMatch("lora", High, Base: baseId, Variant: flavour);
    }

    private static string? BaseOf(LayoutProbe p)
    {
        foreach ((string needle, string b) in BaseByModule)
        {
            if (p.AnyKeyContaining(needle) is { } k)
            {
                p.Note($"{k}: {needle} means {b}");
                return b == "flux-dev" && Width(p, "img_attn", "qkv") is > 3072 ? "flux2" : b;
            }
        }

        // SD 1.x / 2.x / SDXL: the cross-attention key projection's input is the text encoder width.
        if (Width(p, "attn2", "to_k") is long ctx and > 0)
        {
            p.Note($"attn2 to_k input width {ctx}");
            return ctx switch { 768 => "sd1", 1024 => "sd2", 2048 => "sdxl", 1280 => "sdxl-refiner", _ => null };
        }

        if (Width(p, "self_attn", "q_proj") is long te and > 0)
        {
            p.Note($"text encoder width {te}");
            return te switch { 768 => "sd1", 1024 => "sd2", _ => null };
        }

        return null;
    }

    /// <summary>A LoKr layer's input width: the Kronecker product's, w1's columns times w2's (or w2_b's), null without w2.</summary>
    private static long? LokrInput(LayoutProbe p, TensorInfo w1)
    {
        string module = w1.Name[..^".lokr_w1".Length];
        TensorInfo? w2 = p.Store.TryGet(module + ".lokr_w2", out TensorInfo? whole) ? whole : p.Store.TryGet(module + ".lokr_w2_b", out TensorInfo? b) ? b : null;
        return w2 is { Shape.Count: >= 2 } ? w1.Shape[1] * w2.Shape[1] : null;
    }

    /// <summary>Dimension 1 of the first input-side tensor of a module whose name has both parts (<c>_</c> or <c>.</c> joined).</summary>
    private static long? Width(LayoutProbe p, string a, string b)
    {
        foreach (TensorInfo t in p.Store.Tensors)
        {
            string n = t.Name.Replace(".processor.", ".", StringComparison.Ordinal); // attention-processor LoRAs: attn2.processor.to_k_lora
            if ((n.Contains(a + "_" + b, StringComparison.Ordinal) || n.Contains(a + "." + b, StringComparison.Ordinal))
                && InputSideEndings.Any(e => n.EndsWith(e, StringComparison.Ordinal)) && t.Shape.Count >= 2)
            {
                p.Note($"{n} {t.FormatShape()}");
                return n.EndsWith(".lokr_w1", StringComparison.Ordinal) ? LokrInput(p, t) : t.Shape[1];
            }
        }

        return null;
    }
}
