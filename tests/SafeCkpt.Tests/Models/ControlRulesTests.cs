using SafeCkpt.Building;
using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Models;

/// <summary>ControlNet, Control-LoRA, T2I-Adapter, IP-Adapter and embedding files with their base.</summary>
public class ControlRulesTests
{
    private const DType F = DType.Float16;

    private static ArchitectureReport Detect(CheckpointBuilder b) => ArchitectureDetector.Detect(b.Build().Tensors);

    private static CheckpointBuilder Keys(params (string Key, long[] Shape)[] keys)
    {
        var b = new CheckpointBuilder();
        foreach ((string k, long[] s) in keys)
        {
            b.AddZeros(k, F, s);
        }

        return b;
    }

    public static TheoryData<string, string, string?, string> Files => new()
    {
        { "ldm-sd1", "controlnet", "sd1", "ldm" },
        { "diffusers-sdxl", "controlnet", "sdxl", "diffusers" },
        { "union-sdxl", "controlnet", "sdxl", "union" },
        { "flux-xlabs", "controlnet", "flux-dev", "xlabs" },
        { "flux-instantx", "controlnet", "flux-dev", "instantx" },
        { "flux-mistoline", "controlnet", "flux-dev", "mistoline" },
        { "sd3", "controlnet", "sd3", "diffusers" },
        { "sd3.5", "controlnet", "sd3.5-large", "sd3.5" },
        { "hunyuan-dit", "controlnet", "hunyuan-dit", "hunyuan-dit" },
        { "qwen", "controlnet", "qwen-image", "instantx" },
        { "control-lora", "control-lora", "sdxl", "control-lora" },
        { "t2i-sd1", "t2i-adapter", "sd1", "full" },
        { "t2i-xl", "t2i-adapter", "sdxl", "full" },
        { "t2i-light", "t2i-adapter", "sd1", "light" },
        { "t2i-diffusers", "t2i-adapter", "sdxl", "diffusers" },
        { "ip-sd1", "ip-adapter", "sd1", "base" },
        { "ip-sdxl", "ip-adapter", "sdxl", "base" },
        { "ip-flux", "ip-adapter", "flux-dev", "xlabs" },
        { "emb-a1111", "embedding", "sd1", "a1111" },
        { "emb-params", "embedding", "sd2", "emb_params" },
        { "emb-sdxl", "embedding", "sdxl", "sdxl" },
        { "emb-diffusers", "embedding", "sd1", "diffusers" },
        { "emb-diffusers-sd2", "embedding", "sd2", "diffusers" },
    };

    private static CheckpointBuilder Layout(string name) => name switch
    {
        "ldm-sd1" => Layouts.ControlNet(),
        "diffusers-sdxl" => Keys(("controlnet_cond_embedding.conv_in.weight", [16, 3, 3, 3]), ("conv_in.weight", [320, 4, 3, 3]), ("add_embedding.linear_1.weight", [1280, 2816]), ("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight", [640, 2048]), ("controlnet_down_blocks.0.weight", [320, 320, 1, 1])),
        "union-sdxl" => Keys(("controlnet_cond_embedding.conv_in.weight", [16, 3, 3, 3]), ("control_add_embedding.linear_1.bias", [1280]), ("task_embedding", [8, 320]), ("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight", [640, 2048])),
        "flux-xlabs" => Keys(("controlnet_blocks.0.weight", [3072, 3072]), ("double_blocks.0.img_attn.norm.key_norm.scale", [128]), ("input_hint_block.0.weight", [16, 3, 3, 3]), ("pos_embed_input.weight", [3072, 64])),
        "flux-instantx" => Keys(("controlnet_blocks.0.weight", [3072, 3072]), ("controlnet_x_embedder.weight", [3072, 64]), ("transformer_blocks.0.attn.to_q.weight", [3072, 3072])),
        "flux-mistoline" => Keys(("controlnet_blocks.0.linear.weight", [3072, 3072]), ("controlnet_x_embedder.weight", [3072, 64])),
        "sd3" => Keys(("controlnet_blocks.0.weight", [1536, 1536]), ("pos_embed_input.proj.weight", [1536, 16, 2, 2]), ("transformer_blocks.0.attn.add_q_proj.weight", [1536, 1536])),
        "sd3.5" => Keys(("controlnet_blocks.0.weight", [2432, 2432]), ("pos_embed_input.proj.weight", [2432, 16, 2, 2]), ("transformer_blocks.0.adaLN_modulation.1.bias", [14592])),
        "hunyuan-dit" => Keys(("after_proj_list.18.bias", [1408]), ("before_proj.weight", [1408, 1408]), ("blocks.0.attn1.Wqkv.weight", [4224, 1408])),
        "qwen" => Keys(("controlnet_blocks.0.weight", [3072, 3072]), ("transformer_blocks.0.img_mlp.net.0.proj.weight", [12288, 3072]), ("controlnet_x_embedder.weight", [3072, 64])),
        "control-lora" => Layouts.For("control-lora"),
        "t2i-sd1" => Keys(("conv_in.weight", [320, 192, 3, 3]), ("body.0.block1.weight", [320, 320, 3, 3]), ("body.0.block2.weight", [320, 320, 3, 3])),
        "t2i-xl" => Layouts.For("t2i-adapter"),
        "t2i-light" => Keys(("body.0.in_conv.weight", [320, 192, 1, 1]), ("body.0.body.0.block1.weight", [320, 320, 3, 3])),
        "t2i-diffusers" => Keys(("adapter.conv_in.weight", [320, 768, 3, 3]), ("adapter.body.0.resnets.0.block1.weight", [320, 320, 3, 3])),
        "ip-sd1" => Keys(("image_proj.proj.weight", [3072, 1024]), ("ip_adapter.1.to_k_ip.weight", [320, 768]), ("ip_adapter.1.to_v_ip.weight", [320, 768])),
        "ip-sdxl" => Layouts.For("ip-adapter"),
        "ip-flux" => Keys(("double_blocks.0.processor.ip_adapter_double_stream_k_proj.weight", [3072, 4096]), ("ip_adapter_proj_model.proj.weight", [16384, 768])),
        "emb-a1111" => Keys(("string_to_param.*", [2, 768])),
        "emb-params" => Keys(("emb_params", [4, 1024])),
        "emb-sdxl" => Keys(("clip_l", [2, 768]), ("clip_g", [2, 1280])),
        "emb-diffusers" => Keys(("<cat-toy>", [768])),
        "emb-diffusers-sd2" => Keys(("<my-style>", [1024])),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void Each_control_adapter_and_embedding_layout_is_its_kind_with_its_base(string name, string id, string? baseId, string variant)
    {
        ArchitectureReport r = Detect(Layout(name));
        Assert.True(r.Id == id, $"{name}: {r.Id} {r.Reason} {string.Join(" | ", r.Evidence)}");
        Assert.Equal(baseId, r.BaseArchitecture);
        Assert.Equal(variant, r.Variant);
    }
}
