using System.Globalization;
using SafeCkpt.Tensors;

namespace SafeCkpt.Models;

/// <summary>A text-encoder weight of a checkpoint under the name ComfyUI's CLIP model gives it, and which rows of the file's tensor it is.</summary>
/// <param name="Name">ComfyUI's name, e.g. <c>clip_g.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight</c>.</param>
/// <param name="File">The checkpoint's tensor, e.g. <c>conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight</c>.</param>
/// <param name="Shape">The shape of the weight ComfyUI holds (a third of a fused in_proj; a transposed text projection).</param>
/// <param name="Start">The first row of <paramref name="File"/> it is (0 unless a slice).</param>
internal readonly record struct ClipWeight(string Name, TensorInfo File, IReadOnlyList<long> Shape, long Start);

/// <summary>
/// The text encoders of LDM / SGM / single-file checkpoints under ComfyUI's CLIP names (<c>clip_l.</c>, <c>clip_h.</c>,
/// <c>clip_g.</c>, <c>t5xxl.</c>): what its <c>process_clip_state_dict</c> of SD 1.x, SD 2.x, SDXL, the refiner and the
/// SD3 / Flux single files makes of them. OpenCLIP encoders (SD 2.x's ViT-H, SDXL's bigG) are renamed to the HF CLIP
/// layout with their fused <c>attn.in_proj_weight</c> split into q, k and v, as ComfyUI's <c>transformers_convert</c>
/// does; an OpenCLIP encoder 1024 wide is <c>clip_h</c>, 1280 wide <c>clip_g</c>.
/// </summary>
internal static class TextEncoderNames
{
    /// <summary>HF CLIP-L prefixes of checkpoints (SD 1.x, SDXL's first encoder): everything after them goes under <c>clip_l.transformer.text_model.</c>.</summary>
    private static readonly string[] HfClipL =
    [
        KeyPrefixes.LdmTextEncoder + "transformer.text_model.",
        KeyPrefixes.SgmEmbedders + "0.transformer.text_model.",
    ];

    /// <summary>OpenCLIP roots of checkpoints (SD 2.x in LDM and SGM layout, SDXL's second encoder, the refiner's).</summary>
    private static readonly string[] OpenClip =
    [
        KeyPrefixes.LdmTextEncoder + "model.",
        KeyPrefixes.SgmEmbedders + "0.model.",
        KeyPrefixes.SgmEmbedders + "1.model.",
    ];

    /// <summary>OpenCLIP resblock layers and their HF CLIP names.</summary>
    private static readonly (string OpenClip, string Hf)[] Resblock =
    [
        ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2"), ("attn.out_proj", "self_attn.out_proj"),
    ];

    private static readonly string[] Qkv = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"];

    /// <summary>Every text-encoder weight of the tensors under its ComfyUI name.</summary>
    /// <param name="tensors">A checkpoint's tensors (other components are skipped).</param>
    /// <returns>The weights ComfyUI's CLIP model holds, with where each comes from.</returns>
    public static IEnumerable<ClipWeight> Of(IEnumerable<TensorInfo> tensors)
    {
        var openClipWidths = new Dictionary<string, long>(StringComparer.Ordinal);
        List<TensorInfo> list = tensors.ToList();
        foreach (TensorInfo t in list)
        {
            foreach (string root in OpenClip)
            {
                if (t.Name == root + "token_embedding.weight" && t.Shape.Count == 2)
                {
                    openClipWidths[root] = t.Shape[1];
                }
            }
        }

        foreach (TensorInfo t in list)
        {
            if (t.Name.StartsWith(KeyPrefixes.SingleFileTextEncoders, StringComparison.Ordinal))
            {
                yield return new ClipWeight(t.Name[KeyPrefixes.SingleFileTextEncoders.Length..], t, t.Shape, 0);
                continue;
            }

            if (HfClipL.FirstOrDefault(p => t.Name.StartsWith(p, StringComparison.Ordinal)) is { } hf)
            {
                yield return new ClipWeight("clip_l.transformer.text_model." + t.Name[hf.Length..], t, t.Shape, 0);
                continue;
            }

            // Old SD 1.x files: cond_stage_model.transformer.<encoder...> without text_model.
            string ldm = KeyPrefixes.LdmTextEncoder + "transformer.";
            if (t.Name.StartsWith(ldm, StringComparison.Ordinal))
            {
                yield return new ClipWeight("clip_l.transformer.text_model." + t.Name[ldm.Length..], t, t.Shape, 0);
                continue;
            }

            foreach (string root in OpenClip)
            {
                if (t.Name.StartsWith(root, StringComparison.Ordinal))
                {
                    string clip = openClipWidths.GetValueOrDefault(root) == 1280 ? "clip_g." : "clip_h.";
                    foreach (ClipWeight w in FromOpenClip(t, t.Name[root.Length..], clip))
                    {
                        yield return w;
                    }

                    break;
                }
            }
        }
    }

    private static IEnumerable<ClipWeight> FromOpenClip(TensorInfo t, string name, string clip)
    {
        string model = clip + "transformer.text_model.";
        switch (name)
        {
            case "token_embedding.weight":
                yield return new ClipWeight(model + "embeddings.token_embedding.weight", t, t.Shape, 0);
                yield break;
            case "positional_embedding":
                yield return new ClipWeight(model + "embeddings.position_embedding.weight", t, t.Shape, 0);
                yield break;
            case "ln_final.weight" or "ln_final.bias":
                yield return new ClipWeight(model + "final_layer_norm." + name["ln_final.".Length..], t, t.Shape, 0);
                yield break;
            case "text_projection":
                yield return new ClipWeight(clip + "transformer.text_projection.weight", t, t.Shape.Reverse().ToArray(), 0);
                yield break;
            case "text_projection.weight":
                yield return new ClipWeight(clip + "transformer.text_projection.weight", t, t.Shape, 0);
                yield break;
            case "logit_scale":
                yield return new ClipWeight(clip + "logit_scale", t, t.Shape, 0);
                yield break;
        }

        // transformer.resblocks.N.<layer>.<weight|bias>
        const string Blocks = "transformer.resblocks.";
        if (!name.StartsWith(Blocks, StringComparison.Ordinal))
        {
            yield break;
        }

        int dot = name.IndexOf('.', Blocks.Length);
        if (dot < 0 || !int.TryParse(name.AsSpan(Blocks.Length, dot - Blocks.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n >= 32)
        {
            yield break; // ComfyUI converts the first 32 layers
        }

        string layer = model + string.Create(CultureInfo.InvariantCulture, $"encoder.layers.{n}.");
        string rest = name[(dot + 1)..];
        if (rest is "attn.in_proj_weight" or "attn.in_proj_bias" && t.Shape.Count >= 1 && t.Shape[0] % 3 == 0)
        {
            long rows = t.Shape[0] / 3;
            string end = rest.EndsWith("weight", StringComparison.Ordinal) ? ".weight" : ".bias";
            for (int i = 0; i < 3; i++)
            {
                yield return new ClipWeight(layer + Qkv[i] + end, t, [rows, .. t.Shape.Skip(1)], i * rows);
            }

            yield break;
        }

        foreach ((string open, string hf) in Resblock)
        {
            if (rest == open + ".weight" || rest == open + ".bias")
            {
                yield return new ClipWeight(layer + hf + rest[open.Length..], t, t.Shape, 0);
            }
        }
    }
}
