using System.Globalization;

namespace SafeCkpt.Models;

/// <summary>
/// The diffusers (<c>UNet2DConditionModel</c>) name of each layer of an LDM/SGM UNet (SD 1.x, 2.x, SDXL and their
/// variants): <c>input_blocks.4.1.proj_in</c> is <c>down_blocks.1.attentions.0.proj_in</c>. The names follow the
/// UNet's configuration as ComfyUI's <c>unet_to_diffusers</c> lays them out: the levels and the res blocks per level
/// (read off the downsamplers, <c>input_blocks.N.0.op</c>), the transformer depth of every block (its
/// <c>transformer_blocks.T</c>); so, as there, every resnet gets a <c>conv_shortcut</c>, every level a downsampler and
/// an upsampler, and the middle block an attention, whether or not the model has that layer.
/// </summary>
internal static class UNetDiffusersNames
{
    /// <summary>ResnetBlock2D layers: LDM name, diffusers name.</summary>
    private static readonly (string Ldm, string Diffusers)[] Resnet =
    [
        ("in_layers.2", "conv1"), ("emb_layers.1", "time_emb_proj"), ("out_layers.3", "conv2"),
        ("skip_connection", "conv_shortcut"), ("in_layers.0", "norm1"), ("out_layers.0", "norm2"),
    ];

    /// <summary>Transformer2DModel layers outside its transformer blocks (the same name in both layouts).</summary>
    private static readonly string[] Attention = ["proj_in", "proj_out", "norm"];

    /// <summary>BasicTransformerBlock layers with a weight (the same name in both layouts).</summary>
    private static readonly string[] TransformerBlock =
    [
        "norm1", "norm2", "norm3", "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
        "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0", "ff.net.0.proj", "ff.net.2",
    ];

    /// <summary>Layers outside the blocks: LDM name, diffusers name (the label embedding has two diffusers names).</summary>
    private static readonly (string Ldm, string Diffusers)[] Basic =
    [
        ("label_emb.0.0", "class_embedding.linear_1"), ("label_emb.0.2", "class_embedding.linear_2"),
        ("label_emb.0.0", "add_embedding.linear_1"), ("label_emb.0.2", "add_embedding.linear_2"),
        ("input_blocks.0.0", "conv_in"), ("out.0", "conv_norm_out"), ("out.2", "conv_out"),
        ("time_embed.0", "time_embedding.linear_1"), ("time_embed.2", "time_embedding.linear_2"),
    ];

    /// <summary>Whether the keys (without the diffusion-model prefix) are an LDM UNet's.</summary>
    public static bool IsLdmUNet(IReadOnlySet<string> keys) => ResBlocks(keys) is not null && keys.Contains("middle_block.0.in_layers.0.weight");

    /// <summary>
    /// The diffusers name of every weight of an LDM UNet of this configuration (keys without the diffusion-model
    /// prefix); empty when the keys are not an LDM UNet's. The LDM weight may be missing from the model (see above).
    /// </summary>
    /// <param name="keys">The UNet's keys.</param>
    /// <returns>Pairs of (diffusers layer, LDM weight key), e.g. (<c>down_blocks.0.resnets.0.conv1</c>, <c>input_blocks.1.0.in_layers.2.weight</c>).</returns>
    public static IEnumerable<(string Diffusers, string Ldm)> For(IReadOnlySet<string> keys)
    {
        if (ResBlocks(keys) is not int res)
        {
            yield break;
        }

        int levels = 1;
        while (keys.Contains(Inv($"input_blocks.{1 + ((res + 1) * levels) - 1}.0.op.weight")))
        {
            levels++;
        }

        var names = new List<(string, string)>();
        for (int x = 0; x < levels; x++)
        {
            int n = 1 + ((res + 1) * x);
            for (int i = 0; i < res; i++, n++)
            {
                Block(names, Inv($"down_blocks.{x}."), i, Inv($"input_blocks.{n}."), keys);
            }

            names.Add((Inv($"down_blocks.{x}.downsamplers.0.conv"), Inv($"input_blocks.{n}.0.op")));
        }

        names.AddRange(Attention.Select(a => ("mid_block.attentions.0." + a, "middle_block.1." + a)));
        names.AddRange(Transformers("mid_block.attentions.0.", "middle_block.1.", keys));
        names.AddRange(Resnet.Select(r => ("mid_block.resnets.0." + r.Diffusers, "middle_block.0." + r.Ldm)));
        names.AddRange(Resnet.Select(r => ("mid_block.resnets.1." + r.Diffusers, "middle_block.2." + r.Ldm)));

        for (int x = 0; x < levels; x++)
        {
            int n = (res + 1) * x;
            for (int i = 0; i <= res; i++, n++)
            {
                bool attention = Block(names, Inv($"up_blocks.{x}."), i, Inv($"output_blocks.{n}."), keys);
                if (i == res)
                {
                    names.Add((Inv($"up_blocks.{x}.upsamplers.0.conv"), Inv($"output_blocks.{n}.{(attention ? 2 : 1)}.conv")));
                }
            }
        }

        names.AddRange(Basic.Select(b => (b.Diffusers, b.Ldm)));
        foreach ((string diffusers, string ldm) in names)
        {
            yield return (diffusers, ldm + ".weight");
        }
    }

    /// <summary>A resnet and, if the LDM block has transformer blocks, its attention; true when it has.</summary>
    private static bool Block(List<(string, string)> names, string diffusersLevel, int i, string ldmBlock, IReadOnlySet<string> keys)
    {
        names.AddRange(Resnet.Select(r => (diffusersLevel + Inv($"resnets.{i}.") + r.Diffusers, ldmBlock + "0." + r.Ldm)));
        var transformers = Transformers(diffusersLevel + Inv($"attentions.{i}."), ldmBlock + "1.", keys).ToList();
        if (transformers.Count == 0)
        {
            return false;
        }

        names.AddRange(Attention.Select(a => (diffusersLevel + Inv($"attentions.{i}.") + a, ldmBlock + "1." + a)));
        names.AddRange(transformers);
        return true;
    }

    /// <summary>The layers of the transformer blocks 0, 1, ... the model has under an LDM attention block.</summary>
    private static IEnumerable<(string, string)> Transformers(string diffusers, string ldm, IReadOnlySet<string> keys)
    {
        for (int t = 0; keys.Contains(Inv($"{ldm}transformer_blocks.{t}.norm1.weight")) || keys.Contains(Inv($"{ldm}transformer_blocks.{t}.attn1.to_q.weight")); t++)
        {
            foreach (string layer in TransformerBlock)
            {
                yield return (Inv($"{diffusers}transformer_blocks.{t}.{layer}"), Inv($"{ldm}transformer_blocks.{t}.{layer}"));
            }
        }
    }

    /// <summary>Res blocks per level: the first downsampler is input block 1 + that number.</summary>
    private static int? ResBlocks(IReadOnlySet<string> keys)
    {
        for (int n = 2; n < 8; n++)
        {
            if (keys.Contains(Inv($"input_blocks.{n}.0.op.weight")))
            {
                return n - 1;
            }
        }

        return null;
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
