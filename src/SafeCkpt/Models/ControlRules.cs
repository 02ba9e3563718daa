using SafeCkpt.Tensors;
using static SafeCkpt.Models.DetectionConfidence;

namespace SafeCkpt.Models;

/// <summary>
/// ControlNet, Control-LoRA, T2I-Adapter and IP-Adapter files with their base, by the keys ComfyUI's
/// <c>load_controlnet_state_dict</c> and <c>load_t2i_adapter</c> (and the IP-Adapter loaders) test, in their order.
/// </summary>
internal static class ControlRules
{
    public static RuleMatch? Match(LayoutProbe p) => ControlLora(p) ?? Transformer(p) ?? Ldm(p) ?? T2i(p) ?? IpAdapter(p);

    private static string? BaseOfContext(long ctx) => ctx switch { 768 => "sd1", 1024 => "sd2", 2048 => "sdxl", _ => null };

    private static RuleMatch? ControlLora(LayoutProbe p)
    {
        if (!p.Has("lora_controlnet"))
        {
            return null;
        }

        TensorInfo? k = p.Store.Tensors.FirstOrDefault(t => t.Name.Contains("attn2.to_k.down", StringComparison.Ordinal));
        string? b = k is not null ? BaseOfContext(LayoutProbe.Dim(k, 1)) : p.Has("label_emb.0.0.weight") ? "sdxl" : null;
        return new RuleMatch("control-lora", High, Base: b ?? "sdxl", Variant: "control-lora");
    }

    private static RuleMatch? Transformer(LayoutProbe p)
    {
        if (p.Has("after_proj_list.18.bias"))
        {
            return new RuleMatch("controlnet", High, Base: "hunyuan-dit", Variant: "hunyuan-dit");
        }

        if (p.Has("controlnet_blocks.0.linear.weight"))
        {
            return new RuleMatch("controlnet", High, Base: "flux-dev", Variant: "mistoline");
        }

        if (!p.Has("controlnet_blocks.0.weight"))
        {
            return null;
        }

        if (p.Has("double_blocks.0.img_attn.norm.key_norm.scale") || p.Has("double_blocks.0.img_attn.norm.key_norm.weight"))
        {
            return new RuleMatch("controlnet", High, Base: "flux-dev", Variant: "xlabs");
        }

        if (p.Has("pos_embed_input.proj.weight"))
        {
            return p.Has("transformer_blocks.0.adaLN_modulation.1.bias")
                ? new RuleMatch("controlnet", High, Base: "sd3.5-large", Variant: "sd3.5")
                : new RuleMatch("controlnet", High, Base: "sd3", Variant: "diffusers");
        }

        if (p.Has("transformer_blocks.0.img_mlp.net.0.proj.weight"))
        {
            return new RuleMatch("controlnet", High, Base: "qwen-image", Variant: "instantx");
        }

        return p.Has("controlnet_x_embedder.weight")
            ? new RuleMatch("controlnet", High, Base: "flux-dev", Variant: p.Has("controlnet_mode_embedder.weight") ? "instantx-union" : "instantx")
            : new RuleMatch("controlnet", Medium, Variant: "transformer");
    }

    private static RuleMatch? Ldm(LayoutProbe p)
    {
        foreach (string prefix in new[] { "control_model.", string.Empty })
        {
            if ((p.Has(prefix + "time_embed.0.weight") && p.Has(prefix + "input_hint_block.0.weight")) || p.Has(prefix + "zero_convs.0.0.weight"))
            {
                long ctx = LayoutProbe.Dim(p.Get(prefix + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight") ?? p.Get(prefix + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"), 1);
                string? b = BaseOfContext(ctx) ?? (p.Has(prefix + "label_emb.0.0.weight") ? "sdxl" : null);
                return new RuleMatch("controlnet", High, Base: b, Variant: "ldm");
            }
        }

        if (p.Has("controlnet_cond_embedding.conv_in.weight"))
        {
            long ctx = LayoutProbe.Dim(p.Get("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight") ?? p.Get("down_blocks.2.attentions.0.transformer_blocks.0.attn2.to_k.weight"), 1);
            string? b = BaseOfContext(ctx) ?? (p.Has("add_embedding.linear_1.weight") ? "sdxl" : null);
            return new RuleMatch("controlnet", High, Base: b, Variant: p.Has("control_add_embedding.linear_1.bias") ? "union" : "diffusers");
        }

        if (p.Has("backbone.0.0.weight") || p.Has("backbone.10.blocks.0.weight"))
        {
            return new RuleMatch("controlnet", High, Base: "cascade-c", Variant: "cascade");
        }

        return null;
    }

    private static RuleMatch? T2i(LayoutProbe p)
    {
        if (p.Has("adapter.body.0.resnets.0.block1.weight"))
        {
            // diffusers: the first conv sees the pixel-unshuffled image, 8x8x3 = 192 (SD 1.x) or 16x16x3 = 768 (SDXL).
            long cin = LayoutProbe.Dim(p.Get("adapter.conv_in.weight"), 1);
            return new RuleMatch("t2i-adapter", High, Base: cin is 256 or 768 ? "sdxl" : "sd1", Variant: "diffusers");
        }

        string pre = p.HasPrefix("adapter.") ? "adapter." : string.Empty;
        if (p.Has(pre + "body.0.in_conv.weight"))
        {
            return new RuleMatch("t2i-adapter", High, Base: "sd1", Variant: "light");
        }

        if (p.Has(pre + "conv_in.weight") && p.Has(pre + "body.0.block2.weight"))
        {
            long cin = LayoutProbe.Dim(p.Get(pre + "conv_in.weight"), 1);
            return new RuleMatch("t2i-adapter", High, Base: cin is 256 or 768 ? "sdxl" : "sd1", Variant: "full");
        }

        return null;
    }

    private static RuleMatch? IpAdapter(LayoutProbe p)
    {
        if (p.AnyKeyContaining("ip_adapter_double_stream_k_proj") is not null)
        {
            return new RuleMatch("ip-adapter", High, Base: "flux-dev", Variant: "xlabs");
        }

        TensorInfo? k = p.Get("ip_adapter.1.to_k_ip.weight") ?? p.Store.Tensors.FirstOrDefault(t => t.Name.EndsWith(".to_k_ip.weight", StringComparison.Ordinal));
        if (k is null)
        {
            return null;
        }

        p.Note($"{k.Name} {k.FormatShape()}");
        return new RuleMatch("ip-adapter", p.HasPrefix("image_proj.") ? High : Medium, Base: BaseOfContext(LayoutProbe.Dim(k, 1)), Variant: p.HasPrefix("image_proj.latents") || p.Has("image_proj.latents") ? "plus" : "base");
    }
}
