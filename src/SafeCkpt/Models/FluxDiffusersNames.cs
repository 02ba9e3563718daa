using System.Globalization;

namespace SafeCkpt.Models;

/// <summary>
/// One diffusers (<c>FluxTransformer2DModel</c>) weight and where it lives in BFL's Flux layout: a whole weight, or
/// rows of a fused one (diffusers' separate <c>to_q</c>, <c>to_k</c>, <c>to_v</c> are thirds of <c>img_attn.qkv</c>;
/// in a single block they and <c>proj_mlp</c> are row ranges of <c>linear1</c>).
/// </summary>
/// <param name="Diffusers">The diffusers weight name, e.g. <c>transformer_blocks.0.attn.to_q.weight</c>.</param>
/// <param name="Bfl">The BFL weight, e.g. <c>double_blocks.0.img_attn.qkv.weight</c>.</param>
/// <param name="Start">The first row of the slice; 0 for a whole weight.</param>
/// <param name="Rows">The rows of the slice; null for a whole weight.</param>
internal readonly record struct FusedName(string Diffusers, string Bfl, long Start, long? Rows);

/// <summary>
/// The diffusers names of a Flux model's weights (FLUX.1 dev, schnell, Fill, Kontext, Chroma): the same facts as
/// ComfyUI's <c>flux_to_diffusers</c>, for the block counts and hidden width of the model at hand.
/// </summary>
internal static class FluxDiffusersNames
{
    /// <summary>Double-block weights that are whole BFL weights: diffusers name, BFL name (QK norms are BFL <c>.scale</c>).</summary>
    private static readonly (string Diffusers, string Bfl)[] Double =
    [
        ("attn.to_out.0.weight", "img_attn.proj.weight"), ("attn.to_add_out.weight", "txt_attn.proj.weight"),
        ("norm1.linear.weight", "img_mod.lin.weight"), ("norm1_context.linear.weight", "txt_mod.lin.weight"),
        ("ff.net.0.proj.weight", "img_mlp.0.weight"), ("ff.net.2.weight", "img_mlp.2.weight"),
        ("ff_context.net.0.proj.weight", "txt_mlp.0.weight"), ("ff_context.net.2.weight", "txt_mlp.2.weight"),
        ("attn.norm_q.weight", "img_attn.norm.query_norm.scale"), ("attn.norm_k.weight", "img_attn.norm.key_norm.scale"),
        ("attn.norm_added_q.weight", "txt_attn.norm.query_norm.scale"), ("attn.norm_added_k.weight", "txt_attn.norm.key_norm.scale"),
    ];

    /// <summary>Single-block weights that are whole BFL weights.</summary>
    private static readonly (string Diffusers, string Bfl)[] Single =
    [
        ("norm.linear.weight", "modulation.lin.weight"), ("proj_out.weight", "linear2.weight"),
        ("attn.norm_q.weight", "norm.query_norm.scale"), ("attn.norm_k.weight", "norm.key_norm.scale"),
    ];

    /// <summary>Weights outside the blocks.</summary>
    private static readonly (string Diffusers, string Bfl)[] Basic =
    [
        ("proj_out.weight", "final_layer.linear.weight"), ("x_embedder.weight", "img_in.weight"),
        ("time_text_embed.timestep_embedder.linear_1.weight", "time_in.in_layer.weight"),
        ("time_text_embed.timestep_embedder.linear_2.weight", "time_in.out_layer.weight"),
        ("context_embedder.weight", "txt_in.weight"),
        ("time_text_embed.text_embedder.linear_1.weight", "vector_in.in_layer.weight"),
        ("time_text_embed.text_embedder.linear_2.weight", "vector_in.out_layer.weight"),
        ("time_text_embed.guidance_embedder.linear_1.weight", "guidance_in.in_layer.weight"),
        ("time_text_embed.guidance_embedder.linear_2.weight", "guidance_in.out_layer.weight"),
        ("norm_out.linear.weight", "final_layer.adaLN_modulation.1.weight"), // scale and shift swapped, same shape
        ("controlnet_x_embedder.weight", "pos_embed_input.weight"),
    ];

    /// <summary>Whether the keys (without the diffusion-model prefix) are a Flux model's (BFL layout).</summary>
    public static bool IsFlux(IReadOnlySet<string> keys) => keys.Contains("double_blocks.0.img_attn.norm.key_norm.scale") && keys.Contains("single_blocks.0.linear1.weight");

    /// <summary>Every diffusers weight name of a Flux model with these block counts and hidden width.</summary>
    /// <param name="doubleBlocks">The double-stream blocks (19 in FLUX.1).</param>
    /// <param name="singleBlocks">The single-stream blocks (38 in FLUX.1).</param>
    /// <param name="hidden">The hidden width (3072 in FLUX.1); the MLP is four times as wide.</param>
    /// <returns>The names.</returns>
    public static IEnumerable<FusedName> For(int doubleBlocks, int singleBlocks, long hidden)
    {
        for (int n = 0; n < doubleBlocks; n++)
        {
            string from = Inv($"transformer_blocks.{n}.");
            string to = Inv($"double_blocks.{n}.");
            string[] img = ["to_q", "to_k", "to_v"];
            string[] txt = ["add_q_proj", "add_k_proj", "add_v_proj"];
            for (int i = 0; i < 3; i++)
            {
                yield return new FusedName(from + "attn." + img[i] + ".weight", to + "img_attn.qkv.weight", i * hidden, hidden);
                yield return new FusedName(from + "attn." + txt[i] + ".weight", to + "txt_attn.qkv.weight", i * hidden, hidden);
            }

            foreach ((string d, string b) in Double)
            {
                yield return new FusedName(from + d, to + b, 0, null);
            }
        }

        for (int n = 0; n < singleBlocks; n++)
        {
            string from = Inv($"single_transformer_blocks.{n}.");
            string linear1 = Inv($"single_blocks.{n}.linear1.weight");
            string[] qkv = ["attn.to_q", "attn.to_k", "attn.to_v"];
            for (int i = 0; i < 3; i++)
            {
                yield return new FusedName(from + qkv[i] + ".weight", linear1, i * hidden, hidden);
            }

            yield return new FusedName(from + "proj_mlp.weight", linear1, 3 * hidden, 4 * hidden);
            foreach ((string d, string b) in Single)
            {
                yield return new FusedName(from + d, Inv($"single_blocks.{n}.") + b, 0, null);
            }
        }

        foreach ((string d, string b) in Basic)
        {
            yield return new FusedName(d, b, 0, null);
        }
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
