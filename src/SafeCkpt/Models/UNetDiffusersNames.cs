using System.Globalization;

namespace SafeCkpt.Models;

/// <summary>
/// The diffusers (<c>UNet2DConditionModel</c>) name of each layer of an LDM/SGM UNet (SD 1.x, 2.x, SDXL and their
/// variants): <c>input_blocks.4.1.proj_in</c> is <c>down_blocks.1.attentions.0.proj_in</c>. The block numbering
/// follows from the res blocks per level, read off the first downsampler (<c>input_blocks.N.0.op</c>); within a
/// block only the layers diffusers names are listed (ComfyUI's <c>unet_to_diffusers</c> covers the same ones).
/// </summary>
internal static class UNetDiffusersNames
{
    /// <summary>ResnetBlock2D layers: LDM name, diffusers name.</summary>
    private static readonly (string Ldm, string Diffusers)[] Resnet =
    [
        ("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("emb_layers.1", "time_emb_proj"),
        ("out_layers.0", "norm2"), ("out_layers.3", "conv2"), ("skip_connection", "conv_shortcut"),
    ];

    /// <summary>Transformer2DModel layers outside its transformer blocks (the same name in both layouts).</summary>
    private static readonly string[] Attention = ["proj_in", "proj_out", "norm"];

    /// <summary>BasicTransformerBlock layers (the same name in both layouts).</summary>
    private static readonly string[] TransformerBlock =
    [
        "norm1", "norm2", "norm3", "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
        "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0", "ff.net.0.proj", "ff.net.2",
    ];

    /// <summary>Layers outside the blocks: LDM name, diffusers name (SDXL's label embedding has two diffusers names).</summary>
    private static readonly (string Ldm, string Diffusers)[] Basic =
    [
        ("input_blocks.0.0", "conv_in"), ("time_embed.0", "time_embedding.linear_1"), ("time_embed.2", "time_embedding.linear_2"),
        ("label_emb.0.0", "class_embedding.linear_1"), ("label_emb.0.2", "class_embedding.linear_2"),
        ("label_emb.0.0", "add_embedding.linear_1"), ("label_emb.0.2", "add_embedding.linear_2"),
        ("out.0", "conv_norm_out"), ("out.2", "conv_out"),
    ];

    /// <summary>Whether the keys (without the diffusion-model prefix) are an LDM UNet's.</summary>
    public static bool IsLdmUNet(IReadOnlySet<string> keys) => ResBlocks(keys) is not null && keys.Contains("middle_block.0.in_layers.0.weight");

    /// <summary>
    /// The diffusers name of every key of an LDM UNet that diffusers names (keys without the diffusion-model
    /// prefix, with their <c>.weight</c> / <c>.bias</c>); empty when the keys are not an LDM UNet's.
    /// </summary>
    /// <param name="keys">The UNet's keys.</param>
    /// <returns>Pairs of (diffusers key, LDM key).</returns>
    public static IEnumerable<(string Diffusers, string Ldm)> For(IReadOnlySet<string> keys)
    {
        if (ResBlocks(keys) is not int res)
        {
            yield break;
        }

        foreach (string key in keys)
        {
            int dot = key.LastIndexOf('.');
            if (dot < 0)
            {
                continue;
            }

            string module = key[..dot];
            string end = key[dot..];
            foreach ((string ldm, string diffusers) in Basic)
            {
                if (module == ldm)
                {
                    yield return (diffusers + end, key);
                }
            }

            if (Block(module, res) is string d)
            {
                yield return (d + end, key);
            }
        }
    }

    /// <summary>Res blocks per level: the first downsampler is input block 1 + that number.</summary>
    private static int? ResBlocks(IReadOnlySet<string> keys)
    {
        for (int n = 2; n < 8; n++)
        {
            if (keys.Contains($"input_blocks.{n}.0.op.weight"))
            {
                return n - 1;
            }
        }

        return null;
    }

    /// <summary>The diffusers name of a layer inside the input, middle or output blocks, or null.</summary>
    private static string? Block(string module, int res)
    {
        string[] p = module.Split('.', 4);
        if (p.Length < 3 || !int.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
        {
            return null;
        }

        switch (p[0])
        {
            case "input_blocks" when n > 0 && p.Length == 4:
            {
                int level = (n - 1) / (res + 1);
                int i = (n - 1) % (res + 1);
                if (i == res)
                {
                    return p[2] == "0" && p[3] == "op" ? Inv($"down_blocks.{level}.downsamplers.0.conv") : null;
                }

                return Inner(Inv($"down_blocks.{level}."), i, p[2], p[3]);
            }

            case "middle_block":
            {
                // middle_block.0 / .2 are resnets, .1 the attention: p[1] is the index, p[2..] the layer.
                string rest = module[(p[0].Length + p[1].Length + 2)..];
                return n switch
                {
                    0 => Layer("mid_block.resnets.0", rest, resnet: true),
                    1 => Layer("mid_block.attentions.0", rest, resnet: false),
                    2 => Layer("mid_block.resnets.1", rest, resnet: true),
                    _ => null,
                };
            }

            case "output_blocks" when p.Length == 4:
            {
                int level = n / (res + 1);
                int i = n % (res + 1);
                if (p[3] == "conv" && p[2] != "0")
                {
                    return i == res ? Inv($"up_blocks.{level}.upsamplers.0.conv") : null;
                }

                return Inner(Inv($"up_blocks.{level}."), i, p[2], p[3]);
            }

            default:
                return null;
        }
    }

    private static string? Inner(string block, int i, string part, string layer) => part switch
    {
        "0" => Layer(block + Inv($"resnets.{i}"), layer, resnet: true),
        "1" => Layer(block + Inv($"attentions.{i}"), layer, resnet: false),
        _ => null,
    };

    private static string? Layer(string at, string layer, bool resnet)
    {
        if (resnet)
        {
            foreach ((string ldm, string diffusers) in Resnet)
            {
                if (layer == ldm)
                {
                    return at + "." + diffusers;
                }
            }

            return null;
        }

        if (Attention.Contains(layer, StringComparer.Ordinal))
        {
            return at + "." + layer;
        }

        // transformer_blocks.T.<layer>
        const string Blocks = "transformer_blocks.";
        if (layer.StartsWith(Blocks, StringComparison.Ordinal))
        {
            int dot = layer.IndexOf('.', Blocks.Length);
            if (dot > 0 && TransformerBlock.Contains(layer[(dot + 1)..], StringComparer.Ordinal))
            {
                return at + "." + layer;
            }
        }

        return null;
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
