namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// One ComfyUI-GGUF architecture: its <c>general.architecture</c> id, the <c>modelspec.architecture</c> it stands for,
/// and the rules its tools apply to it: <c>tools/convert.py</c>'s <c>keys_detect</c> (any one group of keys, all
/// present), <c>keys_banned</c> (the diffusers layouts it refuses), <c>keys_hiprec</c> (kept F32), <c>keys_ignore</c>
/// (left out), <c>shape_fix</c> (rows reshaped to 256), and <c>tools/lcpp.patch</c>'s names never quantized (substrings,
/// and whole names), and the SafeCkpt architecture families (<c>ArchitectureCatalog</c>) it stands for when the keys
/// match no <c>keys_detect</c> group.
/// </summary>
internal sealed record GgufArchitecture(
    string Id,
    string? ModelSpec,
    string[][] Detect,
    string[] Banned,
    string[] HighPrecision,
    string[] Ignore,
    bool ShapeFix,
    string[] KeepContaining,
    string[] KeepNamed,
    string[] Families);

/// <summary>
/// ComfyUI-GGUF's architectures (city96/ComfyUI-GGUF @ 795e4515 <c>tools/convert.py</c> <c>arch_list</c>, in its
/// detection order, and <c>tools/lcpp.patch</c>), in one table: reading maps <c>general.architecture</c> to a ModelSpec
/// id so detection can trust it; writing detects the architecture from the diffusion model's keys as
/// <c>convert.py</c>'s <c>detect_arch</c> does (what ComfyUI-GGUF's loader also does for a file without the key) and
/// takes the tensor rules from here. A GGUF from ComfyUI-GGUF holds the diffusion model only; stable-diffusion.cpp
/// files have no such key.
/// </summary>
internal static class GgufArchitectures
{
    private static readonly string[] FluxKeep = ["txt_in.", "img_in.", "time_in.", "vector_in.", "guidance_in.", "final_layer."];

    /// <summary>
    /// The architectures, in <c>convert.py</c>'s detection order; last <c>qwen_image</c>, which ComfyUI-GGUF's loader
    /// accepts but <c>convert.py</c> has no template for (no keys, no rules: taken from SafeCkpt's detection only).
    /// </summary>
    public static IReadOnlyList<GgufArchitecture> All { get; } =
    [
        new("flux", "flux-1-dev", [["transformer_blocks.0.attn.norm_added_k.weight"], ["double_blocks.0.img_attn.proj.weight"]], ["transformer_blocks.0.attn.norm_added_k.weight"], [], [], false, FluxKeep, [], ["flux"]),
        new("sd3", "stable-diffusion-3-medium", [["transformer_blocks.0.attn.add_q_proj.weight"], ["joint_blocks.0.x_block.attn.qkv.weight"]], ["transformer_blocks.0.attn.add_q_proj.weight"], [], [], false,
            ["final_layer.", "time_text_embed.", "context_embedder.", "t_embedder.", "y_embedder.", "x_embedder."], ["proj_out.weight", "pos_embed"], ["sd3"]),
        new("aura", "auraflow", [["double_layers.3.modX.1.weight"], ["joint_transformer_blocks.3.ff_context.out_projection.weight"]], ["joint_transformer_blocks.3.ff_context.out_projection.weight"], [], [], false,
            ["t_embedder.", "init_x_linear."], ["modF.1.weight", "cond_seq_linear.weight", "final_linear.weight", "positional_encoding", "register_tokens"], ["auraflow"]),
        new("hidream", null, [["caption_projection.0.linear.weight", "double_stream_blocks.0.block.ff_i.shared_experts.w3.weight"]], [], [".ff_i.gate.weight", "img_emb.emb_pos"], [], false,
            ["p_embedder.", "t_embedder.", "x_embedder.", "final_layer.", ".ff_i.gate.weight", "caption_projection."], [], ["hidream"]),
        new("cosmos", null, [["blocks.0.mlp.layer1.weight", "blocks.0.adaln_modulation_cross_attn.1.weight"]], [], ["pos_embedder"], ["_extra_state", "accum_"], false,
            ["p_embedder.", "t_embedder.", "t_embedding_norm.", "x_embedder.", "pos_embedder.", "final_layer."], [], []),
        new("ltxv", "lightricks-ltx-video", [["adaln_single.emb.timestep_embedder.linear_2.weight", "transformer_blocks.27.scale_shift_table", "caption_projection.linear_2.weight"]], [], ["scale_shift_table"], [], false,
            ["adaln_single.", "caption_projection.", "patchify_proj.", "proj_out.", "scale_shift_table"], [], ["ltxv"]),
        new("hyvid", "hunyuan-video", [["double_blocks.0.img_attn_proj.weight", "txt_in.individual_token_refiner.blocks.1.self_attn_qkv.weight"]], [], [], [], false, FluxKeep, [], []),
        new("wan", null, [["blocks.0.self_attn.norm_q.weight", "text_embedding.2.weight", "head.modulation"]], [], [".modulation"], [], false,
            ["modulation.", "patch_embedding.", "text_embedding.", "time_projection.", "time_embedding.", "img_emb.", "head."], [], ["wan"]),
        new("sdxl", "stable-diffusion-xl-v1-base",
            [["down_blocks.0.downsamplers.0.conv.weight", "add_embedding.linear_1.weight"], ["input_blocks.3.0.op.weight", "input_blocks.6.0.op.weight", "output_blocks.2.2.conv.weight", "output_blocks.5.2.conv.weight"], ["label_emb.0.0.weight"]],
            [], [], [], true, SdKeep, SdKeepNamed, ["sdxl"]),
        new("sd1", "stable-diffusion-v1",
            [["down_blocks.0.downsamplers.0.conv.weight"], ["input_blocks.3.0.op.weight", "input_blocks.6.0.op.weight", "input_blocks.9.0.op.weight", "output_blocks.2.1.conv.weight", "output_blocks.5.2.conv.weight", "output_blocks.8.2.conv.weight"]],
            [], [], [], true, SdKeep, SdKeepNamed, ["sd1", "sd2", "alt-diffusion"]),
        new("lumina2", "lumina-2", [["cap_embedder.1.weight", "context_refiner.0.attention.qkv.weight"]], [], [], [], false,
            ["t_embedder.", "x_embedder.", "final_layer.", "cap_embedder.", "context_refiner.", "noise_refiner."], [], ["lumina"]),
        new("qwen_image", "qwen-image", [], [], [], [], false, [], [], ["qwen-image"]),
    ];

    private static string[] SdKeep => ["class_embedding.", "time_embedding.", "add_embedding.", "time_embed.", "label_emb.", "conv_in.", "conv_out."];

    private static string[] SdKeepNamed => ["input_blocks.0.0.weight", "out.2.weight"];

    /// <summary>The ModelSpec architecture for a GGUF architecture name, or null for one SafeCkpt does not map (LLMs, wan, pig, ...).</summary>
    public static string? ModelSpecOf(string? ggufArchitecture) =>
        ggufArchitecture is null ? null : All.FirstOrDefault(a => a.Id == ggufArchitecture)?.ModelSpec;

    /// <summary>
    /// The architecture of a diffusion model's (prefix-stripped) keys by <c>convert.py</c>'s <c>detect_arch</c>: the
    /// first whose key group is all present; null when none is. <paramref name="banned"/> is set when the match is a
    /// layout <c>convert.py</c> refuses (diffusers Flux / SD3 / AuraFlow).
    /// </summary>
    public static GgufArchitecture? Detect(IReadOnlySet<string> keys, out bool banned)
    {
        banned = false;
        foreach (GgufArchitecture a in All)
        {
            if (a.Detect.Any(group => group.All(keys.Contains)))
            {
                banned = a.Banned.Any(keys.Contains);
                return a;
            }
        }

        return null;
    }

    /// <summary>The architecture a SafeCkpt detection stands for (its id's family, or its base's for a file kind), or null.</summary>
    public static GgufArchitecture? OfFamily(string? family) =>
        family is null ? null : All.FirstOrDefault(a => a.Families.Contains(family, StringComparer.Ordinal));
}
