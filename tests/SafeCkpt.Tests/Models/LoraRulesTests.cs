using SafeCkpt.Building;
using SafeCkpt.Models;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Models;

/// <summary>Every LoRA / LyCORIS flavour A1111's and ComfyUI's loaders accept, as zero-filled key layouts.</summary>
public class LoraRulesTests
{
    private const DType F = DType.Float16;

    private static ArchitectureReport Detect(CheckpointBuilder b) => ArchitectureDetector.Detect(b.Build().Tensors);

    /// <summary>An SD 1.x cross-attention key projection (768 wide context into 320 channels) and a text encoder q_proj in one flavour.</summary>
    private static CheckpointBuilder Kohya(params (string Suffix, long[] Shape)[] parts)
    {
        var b = new CheckpointBuilder();
        foreach (string m in new[] { "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", "lora_te_text_model_encoder_layers_0_self_attn_q_proj" })
        {
            foreach ((string suffix, long[] shape) in parts)
            {
                b.AddZeros(m + suffix, F, shape);
            }
        }

        return b;
    }

    public static TheoryData<string, string, string?> Flavours => new()
    {
        { "lora", "lora", "sd1" },
        { "locon", "locon", "sd1" },
        { "loha", "loha", "sd1" },
        { "lokr", "lokr", "sd1" },
        { "oft", "oft", null },
        { "boft", "boft", null },
        { "glora", "glora", null },
        { "ia3", "ia3", null },
        { "full-diff", "full-diff", "sd1" },
        { "norm", "norm", null },
        { "peft", "peft", "sdxl" },
        { "diffusers", "diffusers", "sd2" },
        { "attn-processor", "attn-processor", "sd1" },
        { "cloneofsimo", "cloneofsimo", null },
    };

    private static CheckpointBuilder Layout(string flavour) => flavour switch
    {
        "lora" => Kohya((".lora_down.weight", [4, 768]), (".lora_up.weight", [320, 4]), (".alpha", [])),
        "locon" => Kohya((".lora_down.weight", [4, 768]), (".lora_mid.weight", [4, 4, 3, 3]), (".lora_up.weight", [320, 4])),
        "loha" => Kohya((".hada_w1_a", [320, 4]), (".hada_w1_b", [4, 768]), (".hada_w2_a", [320, 4]), (".hada_w2_b", [4, 768])),
        "lokr" => Kohya((".lokr_w1", [4, 4]), (".lokr_w2", [80, 192])), // kron: [4·80, 4·192] = [320, 768]
        "oft" => Kohya((".oft_blocks", [4, 80, 80]), (".alpha", [])),
        "boft" => Kohya((".oft_blocks", [2, 4, 80, 80]), (".rescale", [320, 1])),
        "glora" => Kohya((".a1.weight", [4, 768]), (".a2.weight", [320, 4]), (".b1.weight", [4, 768]), (".b2.weight", [320, 4])),
        "ia3" => Kohya((".weight", [320]), (".on_input", [])),
        "full-diff" => Kohya((".diff", [320, 768]), (".diff_b", [320])),
        "norm" => new CheckpointBuilder().AddZeros("lora_unet_down_blocks_0_attentions_0_norm.w_norm", F, 320).AddZeros("lora_unet_down_blocks_0_attentions_0_norm.b_norm", F, 320),
        "peft" => new CheckpointBuilder().AddZeros("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight", F, 4, 2048).AddZeros("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight", F, 640, 4),
        "diffusers" => new CheckpointBuilder().AddZeros("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora.down.weight", F, 4, 1024).AddZeros("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora.up.weight", F, 320, 4),
        "attn-processor" => new CheckpointBuilder().AddZeros("down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.down.weight", F, 4, 768).AddZeros("down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.up.weight", F, 320, 4),
        "cloneofsimo" => new CheckpointBuilder().AddZeros("unet:0:down", F, 4, 320).AddZeros("unet:0:up", F, 320, 4).AddZeros("unet:1:down", F, 4, 320).AddZeros("unet:1:up", F, 320, 4),
        _ => throw new ArgumentException(flavour),
    };

    [Theory]
    [MemberData(nameof(Flavours))]
    public void Each_flavour_is_a_lora_with_its_flavour_and_base_where_the_keys_tell_it(string flavour, string variant, string? baseId)
    {
        ArchitectureReport r = Detect(Layout(flavour));
        Assert.True(r.Id == "lora", $"{flavour}: {r.Id} {r.Reason} {string.Join(" | ", r.Evidence)}");
        Assert.Equal(variant, r.Variant);
        Assert.Equal(baseId, r.BaseArchitecture);
    }

    [Theory]
    [InlineData("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", 3072, "flux-dev")]
    [InlineData("diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight", 6144, "flux2")]
    [InlineData("transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight", 3072, "flux-dev")]
    [InlineData("lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight", 1536, "sd3")]
    [InlineData("diffusion_model.blocks.0.cross_attn.k.lora_A.weight", 5120, "wan2.1-t2v")]
    [InlineData("diffusion_model.transformer_blocks.0.img_mlp.net.0.proj.lora_A.weight", 3072, "qwen-image")]
    [InlineData("lora_prior_unet_down_blocks_0_0_attention_attn_to_q.lora_down.weight", 2048, "cascade-c")]
    [InlineData("lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", 768, "sdxl")]
    public void The_base_comes_from_the_module_names(string key, long width, string baseId)
    {
        ArchitectureReport r = Detect(new CheckpointBuilder().AddZeros(key, F, 4, width));
        Assert.Equal("lora", r.Id);
        Assert.Equal(baseId, r.BaseArchitecture);
    }
}
