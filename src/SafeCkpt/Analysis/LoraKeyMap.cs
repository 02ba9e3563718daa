using System.Globalization;
using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Analysis;

/// <summary>A weight of the model under ComfyUI's name: the file's tensor, or rows of it (a third of a fused OpenCLIP in_proj).</summary>
/// <param name="File">The file's tensor.</param>
/// <param name="Shape">The weight's shape.</param>
/// <param name="Start">Its first row in <paramref name="File"/>.</param>
internal sealed record ModelWeight(TensorInfo File, IReadOnlyList<long> Shape, long Start)
{
    /// <summary>The file tensor and, for a slice, its rows: <c>name</c> or <c>name[rows a:b]</c>.</summary>
    public string Describe(long start = 0, long? rows = null)
    {
        long from = Start + start;
        long count = rows ?? Shape[0];
        return from == 0 && count == File.Shape[0] ? File.Name : string.Create(CultureInfo.InvariantCulture, $"{File.Name}[rows {from}:{from + count}]");
    }
}

/// <summary>Where a LoRA module name lands: a weight (ComfyUI's name) and, for a fused weight, the rows it patches.</summary>
/// <param name="Weight">ComfyUI's name of the weight.</param>
/// <param name="Start">The first row patched (0 for the whole weight).</param>
/// <param name="Rows">The rows patched; null for the whole weight.</param>
internal sealed record LoraTarget(string Weight, long Start = 0, long? Rows = null);

/// <summary>The layout of the diffusion model, which decides the extra names ComfyUI gives its layers.</summary>
internal enum DiffusionLayout
{
    /// <summary>No known extra names: only <c>lora_unet_…</c> and <c>diffusion_model.…</c> of its own keys.</summary>
    Other,

    /// <summary>An LDM/SGM UNet (SD 1.x, 2.x, SDXL): also its diffusers names.</summary>
    LdmUNet,

    /// <summary>BFL's Flux: also its diffusers names, mapped into the fused qkv / linear1 weights.</summary>
    Flux,
}

/// <summary>
/// The LoRA module names ComfyUI accepts for a model and the weight each lands on: the facts of its
/// <c>model_lora_keys_unet</c> and <c>model_lora_keys_clip</c> (comfy/lora.py) for the layouts SafeCkpt knows, built
/// from the model's keys and shapes alone. The model's weights are named as ComfyUI names them after loading the
/// checkpoint: <c>diffusion_model.*</c> for the diffusion model (any of the prefixes of <see cref="KeyPrefixes.DiffusionModel"/>
/// removed), <c>clip_l.*</c> / <c>clip_h.*</c> / <c>clip_g.*</c> / <c>t5xxl.*</c> for the text encoders (<see cref="TextEncoderNames"/>).
/// </summary>
internal sealed class LoraKeyMap
{
    /// <summary>ComfyUI's LORA_CLIP_MAP: the text-encoder layers kohya names, HF name and kohya spelling.</summary>
    private static readonly (string Hf, string Kohya)[] ClipLayers =
    [
        ("mlp.fc1", "mlp_fc1"), ("mlp.fc2", "mlp_fc2"), ("self_attn.k_proj", "self_attn_k_proj"),
        ("self_attn.q_proj", "self_attn_q_proj"), ("self_attn.v_proj", "self_attn_v_proj"), ("self_attn.out_proj", "self_attn_out_proj"),
    ];

    private const string Dm = "diffusion_model.";
    private const string Weight = ".weight";

    private readonly Dictionary<string, ModelWeight> _weights = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LoraTarget> _names = new(StringComparer.Ordinal);

    private LoraKeyMap()
    {
    }

    /// <summary>The model's weights under ComfyUI's names.</summary>
    public IReadOnlyDictionary<string, ModelWeight> Weights => _weights;

    /// <summary>Every LoRA module name ComfyUI accepts for this model, and where it lands.</summary>
    public IReadOnlyDictionary<string, LoraTarget> Names => _names;

    /// <summary>The diffusion model's layout.</summary>
    public DiffusionLayout Layout { get; private set; }

    /// <summary>Whether the file holds a text encoder (else text-encoder modules cannot be checked against it).</summary>
    public bool HasTextEncoder { get; private set; }

    /// <summary>Whether the file holds a diffusion model.</summary>
    public bool HasDiffusionModel { get; private set; }

    /// <summary>The diffusers names of an LDM UNet's layers (weights, without <c>.weight</c>): to tell a diffusers-named LoRA ComfyUI skips.</summary>
    public IReadOnlySet<string> DiffusersLayers { get; private set; } = new HashSet<string>();

    /// <summary>Builds the map for a model's tensors (names and shapes).</summary>
    /// <param name="model">The model's tensors.</param>
    /// <returns>The map.</returns>
    public static LoraKeyMap For(IReadOnlyList<TensorInfo> model)
    {
        var map = new LoraKeyMap();
        string prefix = KeyPrefixes.DiffusionModelPrefix(p => model.Count(t => t.Name.StartsWith(p, StringComparison.Ordinal)));
        var unet = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        foreach (TensorInfo t in model)
        {
            if (t.Name.StartsWith(prefix, StringComparison.Ordinal) && (prefix.Length > 0 || Components.Classify(t.Name) == ModelComponent.Other))
            {
                unet[t.Name[prefix.Length..]] = t;
                map._weights[Dm + t.Name[prefix.Length..]] = new ModelWeight(t, t.Shape, 0);
            }
        }

        map.HasDiffusionModel = unet.Count > 0;
        map.AddDiffusionModel(unet);
        var clip = TextEncoderNames.Of(model).ToList();
        foreach (ClipWeight w in clip)
        {
            map._weights[w.Name] = new ModelWeight(w.File, w.Shape, w.Start);
        }

        map.HasTextEncoder = clip.Count > 0;
        map.AddTextEncoders(clip.Select(w => w.Name).ToHashSet(StringComparer.Ordinal));
        return map;
    }

    /// <summary>The shape a patch of this target must fit: the weight's, or the rows patched.</summary>
    public IReadOnlyList<long>? ShapeOf(LoraTarget target) =>
        _weights.TryGetValue(target.Weight, out ModelWeight? w) ? target.Rows is long rows ? [rows, .. w.Shape.Skip(1)] : w.Shape : null;

    /// <summary>model_lora_keys_unet: every key under kohya's and the plain name, then the layout's diffusers names.</summary>
    private void AddDiffusionModel(Dictionary<string, TensorInfo> unet)
    {
        foreach (string key in unet.Keys)
        {
            if (key.EndsWith(Weight, StringComparison.Ordinal))
            {
                string module = key[..^Weight.Length];
                _names["lora_unet_" + Kohya(module)] = new LoraTarget(Dm + key);
                _names[Dm + module] = new LoraTarget(Dm + key);
            }
            else
            {
                _names[Dm + key] = new LoraTarget(Dm + key);
            }
        }

        var keys = unet.Keys.ToHashSet(StringComparer.Ordinal);
        if (UNetDiffusersNames.IsLdmUNet(keys))
        {
            Layout = DiffusionLayout.LdmUNet;
            var layers = new HashSet<string>(StringComparer.Ordinal);
            foreach ((string module, string ldm) in UNetDiffusersNames.For(keys))
            {
                layers.Add(module);
                var target = new LoraTarget(Dm + ldm);
                _names["lora_unet_" + Kohya(module)] = target;
                _names["lycoris_" + Kohya(module)] = target; // SimpleTuner's LyCORIS
                string processor = module.Replace(".to_", ".processor.to_", StringComparison.Ordinal);
                processor = processor.EndsWith(".to_out.0", StringComparison.Ordinal) ? processor[..^2] : processor;
                _names[processor] = target; // diffusers' old attention processors (to_q_lora.up.weight)
                _names["unet." + processor] = target;
            }

            DiffusersLayers = layers;
        }
        else if (FluxDiffusersNames.IsFlux(keys) && unet.TryGetValue("double_blocks.0.img_attn.qkv.weight", out TensorInfo? qkv) && qkv.Shape.Count == 2)
        {
            Layout = DiffusionLayout.Flux;
            long hidden = qkv.Shape[1];
            foreach (FusedName f in FluxDiffusersNames.For(Blocks(keys, "double_blocks."), Blocks(keys, "single_blocks."), hidden))
            {
                string module = f.Diffusers[..^Weight.Length];
                var target = new LoraTarget(Dm + f.Bfl, f.Start, f.Rows);
                _names["transformer." + module] = target; // diffusers, ai-toolkit, SimpleTuner
                _names["lycoris_" + Kohya(module)] = target;
                _names["lora_transformer_" + Kohya(module)] = target; // OneTrainer
            }

            foreach (string key in keys.Where(k => k.EndsWith(".linear1.weight", StringComparison.Ordinal)))
            {
                _names[Dm + key.Replace(".linear1.weight", ".linear1_qkv", StringComparison.Ordinal)] = new LoraTarget(Dm + key, 0, 3 * hidden);
            }
        }
    }

    /// <summary>model_lora_keys_clip: the plain names, then kohya's and diffusers' per encoder, T5 and text projections.</summary>
    private void AddTextEncoders(HashSet<string> clip)
    {
        foreach (string key in clip.Where(k => k.EndsWith(Weight, StringComparison.Ordinal)))
        {
            _names["text_encoders." + key[..^Weight.Length]] = new LoraTarget(key);
        }

        bool clipL = false;
        bool clipG = false;
        for (int b = 0; b < 32; b++)
        {
            foreach ((string hf, string kohya) in ClipLayers)
            {
                string layer = string.Create(CultureInfo.InvariantCulture, $"text_model_encoder_layers_{b}_{kohya}");
                string diffusers = string.Create(CultureInfo.InvariantCulture, $"text_model.encoder.layers.{b}.{hf}");
                string h = "clip_h.transformer." + diffusers + Weight;
                if (clip.Contains(h))
                {
                    Add(h, "lora_te_" + layer, "lora_te1_" + layer, "text_encoder." + diffusers);
                }

                string l = "clip_l.transformer." + diffusers + Weight;
                if (clip.Contains(l))
                {
                    Add(l, "lora_te_" + layer, "lora_te1_" + layer, "text_encoder." + diffusers);
                    clipL = true;
                }

                string g = "clip_g.transformer." + diffusers + Weight;
                if (clip.Contains(g))
                {
                    clipG = true;
                    if (clipL)
                    {
                        Add(g, "lora_te2_" + layer, "text_encoder_2." + diffusers); // SDXL
                    }
                    else
                    {
                        Add(g, "lora_te_" + layer, "text_encoder." + diffusers, "lora_prior_te_" + layer); // the refiner, Stable Cascade
                    }
                }
            }
        }

        // T5-XXL of SD3 / Flux (OneTrainer): lora_te<n>_ after the CLIPs; with CLIP-L alone it answers to 2 and 3.
        foreach (string key in clip.Where(k => k.StartsWith("t5xxl.transformer.", StringComparison.Ordinal) && k.EndsWith(Weight, StringComparison.Ordinal)))
        {
            string t5 = Kohya(key["t5xxl.transformer.".Length..^Weight.Length]);
            int index = 1 + (clipG ? 1 : 0);
            if (clipL)
            {
                index++;
                if (index == 2)
                {
                    Add(key, "lora_te2_" + t5);
                    index++;
                }
            }

            Add(key, string.Create(CultureInfo.InvariantCulture, $"lora_te{index}_{t5}"));
        }

        if (clip.Contains("clip_g.transformer.text_projection.weight"))
        {
            Add("clip_g.transformer.text_projection.weight", "lora_prior_te_text_projection", "lora_te2_text_projection");
        }

        if (clip.Contains("clip_l.transformer.text_projection.weight"))
        {
            Add("clip_l.transformer.text_projection.weight", "lora_te1_text_projection");
        }

        void Add(string weight, params string[] names)
        {
            foreach (string n in names)
            {
                _names[n] = new LoraTarget(weight);
            }
        }
    }

    /// <summary>kohya's spelling of a module path: dots become underscores.</summary>
    private static string Kohya(string module) => module.Replace('.', '_');

    /// <summary>How many numbered blocks there are from 0 without a gap (ComfyUI's count_blocks).</summary>
    private static int Blocks(IReadOnlySet<string> keys, string prefix)
    {
        var present = new HashSet<int>();
        foreach (string k in keys)
        {
            if (k.StartsWith(prefix, StringComparison.Ordinal))
            {
                int dot = k.IndexOf('.', prefix.Length);
                if (dot > prefix.Length && int.TryParse(k.AsSpan(prefix.Length, dot - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                {
                    present.Add(n);
                }
            }
        }

        int count = 0;
        while (present.Contains(count))
        {
            count++;
        }

        return count;
    }
}
