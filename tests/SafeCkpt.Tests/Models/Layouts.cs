using SafeCkpt.Building;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Models;

/// <summary>
/// Key and shape layouts of the published architectures, zero-filled (no memory, no real weights): the keys
/// the detection rules look at plus enough surrounding structure (every block of the UNet, the text encoders,
/// the VAE) that rules keyed on absence are really tested.
/// </summary>
public static partial class Layouts
{
    private const DType F = DType.Float16;
    private const string M = "model.diffusion_model.";

    public static IEnumerable<string> AllIds =>
    [
        "sd1", "sd1-inpaint", "sd1-pix2pix", "sd2", "sd2-v", "sd2-inpaint", "sd2-depth", "sd2-unclip-l", "sd2-unclip-h",
        "sdxl", "sdxl-refiner", "sdxl-inpaint", "ssd-1b", "segmind-vega", "sd3", "sd3.5-medium", "sd3.5-large",
        "flux-dev", "flux-schnell", "flux-fill", "cascade-c", "cascade-b", "pixart-alpha", "pixart-sigma", "auraflow",
        "hunyuan-dit", "vae", "text-encoder", "unet", "lora", "controlnet", "embedding", "diffusers-layout",
        "taesd", "vae-approx",
        .. FamilyIds,
    ];

    /// <summary>A whole file of the given id.</summary>
    public static CheckpointBuilder For(string id) => id switch
    {
        "sd1" => Sd1(4),
        "sd1-inpaint" => Sd1(9),
        "sd1-pix2pix" => Sd1(8),
        "sd2" => Sd2(4),
        "sd2-v" => Sd2(4, vBias: true),
        "sd2-inpaint" => Sd2(9),
        "sd2-depth" => Sd2(5).AddZeros("depth_model.model.pretrained.act_postprocess3.0.project.0.bias", F, 256).AddZeros("depth_model.model.scratch.output_conv.0.weight", F, 128, 256, 3, 3),
        "sd2-unclip-l" => Unclip(768, 1536),
        "sd2-unclip-h" => Unclip(1024, 2048),
        "sdxl" => Sdxl(4, [0, 2, 10], 10),
        "sdxl-inpaint" => Sdxl(4 + 5, [0, 2, 10], 10),
        "ssd-1b" => Sdxl(4, [0, 2, 4], -1),
        "segmind-vega" => Sdxl(4, [0, 1, 2], -1),
        "sdxl-refiner" => Refiner(),
        "sd3" => Sd3(1536, 24, 0, 192 * 192),
        "sd3.5-medium" => Sd3(1536, 24, 13, 384 * 384),
        "sd3.5-large" => Sd3(2432, 38, 0, 192 * 192),
        "flux-dev" => Flux(64, guidance: true),
        "flux-schnell" => Flux(64, guidance: false),
        "flux-fill" => Flux(384, guidance: true),
        "cascade-c" => Cascade(stageC: true),
        "cascade-b" => Cascade(stageC: false),
        "pixart-alpha" => PixArt(alpha: true),
        "pixart-sigma" => PixArt(alpha: false),
        "auraflow" => AuraFlow(),
        "hunyuan-dit" => HunyuanDit(1024),
        "vae" => Vae(new CheckpointBuilder(), string.Empty, 4),
        "text-encoder" => OpenClip(ClipL(new CheckpointBuilder(), "conditioner.embedders.0.transformer.text_model.", 768), "conditioner.embedders.1.model.", 1280, 32),
        "unet" => Unet(new CheckpointBuilder(), M, 4, 320, [1, 2, 4], [0, 2, 10], 2048, 2816, true, 10),
        "lora" => Lora(),
        "controlnet" => ControlNet(),
        "taesd" => TaesdDecoder(),
        "vae-approx" => VaeApprox(),
        "embedding" => new CheckpointBuilder().AddZeros("emb_params", F, 2, 768),
        "diffusers-layout" => DiffusersUnet(),
        _ => Family(id),
    };

    public static CheckpointBuilder Sd1(long inCh) =>
        Vae(ClipL(Unet(new CheckpointBuilder().Let(Schedule), M, inCh, 320, [1, 2, 4, 4], [1, 1, 1, 0], 768, 0, false, 1), "cond_stage_model.transformer.text_model.", 768), "first_stage_model.", 4);

    public static CheckpointBuilder Sd2(long inCh, bool vBias = false, long adm = 0)
    {
        CheckpointBuilder b = Unet(new CheckpointBuilder().Let(Schedule), M, inCh, 320, [1, 2, 4, 4], [1, 1, 1, 0], 1024, adm, true, 1, skipKey: vBias ? "output_blocks.11.1.transformer_blocks.0.norm1.bias" : null);
        if (vBias)
        {
            // A 768-v model's last norm1.bias spreads wide (ComfyUI: std > 0.09); alternate +-0.2 gives std 0.2.
            b.Add(M + "output_blocks.11.1.transformer_blocks.0.norm1.bias", Enumerable.Range(0, 320).Select(i => (Half)(i % 2 == 0 ? 0.2f : -0.2f)).ToArray());
        }

        return Vae(OpenClip(b, "cond_stage_model.model.", 1024, 24), "first_stage_model.", 4);
    }

    public static CheckpointBuilder Unclip(long width, long adm) =>
        Sd2(4, adm: adm)
            .AddZeros("embedder.model.ln_final.weight", F, width)
            .AddZeros("embedder.model.visual.transformer.resblocks.0.attn.in_proj_weight", F, 3 * width, width)
            .AddZeros("noise_augmentor.betas", DType.Float32, 1000);

    public static CheckpointBuilder Sdxl(long inCh, int[] depth, int middle)
    {
        CheckpointBuilder b = Unet(new CheckpointBuilder(), M, inCh, 320, [1, 2, 4], depth, 2048, 2816, true, middle);
        b = ClipL(b, "conditioner.embedders.0.transformer.text_model.", 768);
        b = OpenClip(b, "conditioner.embedders.1.model.", 1280, 32);
        return Vae(b, "first_stage_model.", 4);
    }

    public static CheckpointBuilder Refiner() =>
        Vae(OpenClip(Unet(new CheckpointBuilder(), M, 4, 384, [1, 2, 4, 4], [0, 4, 4, 0], 1280, 2560, true, 4), "conditioner.embedders.0.model.", 1280, 32), "first_stage_model.", 4);

    /// <summary>An LDM/SGM UNet: every block with a few keys per resnet and transformer block, real shapes.</summary>
    public static CheckpointBuilder Unet(CheckpointBuilder b, string p, long inCh, long ch, int[] mult, int[] depth, long context, long adm, bool linear, int middle, string? skipKey = null, int resBlocks = 2)
    {
        void Z(string key, params long[] shape)
        {
            if (key != skipKey)
            {
                b.AddZeros(p + key, F, shape);
            }
        }

        void Res(string at, long cin, long cout)
        {
            Z(at + "in_layers.0.weight", cin);
            Z(at + "in_layers.2.weight", cout, cin, 3, 3);
            Z(at + "emb_layers.1.weight", cout, ch * 4);
            Z(at + "out_layers.3.weight", cout, cout, 3, 3);
            if (cin != cout)
            {
                Z(at + "skip_connection.weight", cout, cin, 1, 1);
            }
        }

        void Attn(string at, long c, int n)
        {
            Z(at + "norm.weight", c);
            Z(at + "proj_in.weight", linear ? [c, c] : [c, c, 1, 1]);
            for (int k = 0; k < n; k++)
            {
                Z(at + $"transformer_blocks.{k}.attn1.to_q.weight", c, c);
                Z(at + $"transformer_blocks.{k}.attn2.to_k.weight", c, context);
                Z(at + $"transformer_blocks.{k}.norm1.bias", c);
                Z(at + $"transformer_blocks.{k}.ff.net.0.proj.weight", c * 8, c);
            }

            Z(at + "proj_out.weight", linear ? [c, c] : [c, c, 1, 1]);
        }

        Z("time_embed.0.weight", ch * 4, ch);
        Z("time_embed.2.weight", ch * 4, ch * 4);
        if (adm > 0)
        {
            Z("label_emb.0.0.weight", ch * 4, adm);
        }

        Z("input_blocks.0.0.weight", ch, inCh, 3, 3);
        Z("input_blocks.0.0.bias", ch);
        int i = 1;
        long c = ch;
        var skips = new Stack<long>(); // the channels of every input block, concatenated back in the output blocks
        skips.Push(ch);
        for (int l = 0; l < mult.Length; l++)
        {
            long cout = ch * mult[l];
            for (int r = 0; r < resBlocks; r++, i++)
            {
                Res($"input_blocks.{i}.0.", c, cout);
                c = cout;
                if (depth[l] > 0)
                {
                    Attn($"input_blocks.{i}.1.", c, depth[l]);
                }

                skips.Push(c);
            }

            if (l < mult.Length - 1)
            {
                Z($"input_blocks.{i}.0.op.weight", c, c, 3, 3);
                skips.Push(c);
                i++;
            }
        }

        if (middle != -2)
        {
            Res("middle_block.0.", c, c);
        }

        if (middle > 0)
        {
            Attn("middle_block.1.", c, middle);
            Res("middle_block.2.", c, c);
        }
        else if (middle == -1)
        {
            Res("middle_block.1.", c, c);
        }

        int o = 0;
        for (int l = mult.Length - 1; l >= 0; l--)
        {
            long cout = ch * mult[l];
            for (int r = 0; r < resBlocks + 1; r++, o++)
            {
                Res($"output_blocks.{o}.0.", c + skips.Pop(), cout);
                c = cout;
                if (depth[l] > 0)
                {
                    Attn($"output_blocks.{o}.1.", c, depth[l]);
                }
            }

            if (l > 0)
            {
                Z($"output_blocks.{o - 1}.{(depth[l] > 0 ? 2 : 1)}.conv.weight", c, c, 3, 3);
            }
        }

        Z("out.0.weight", ch);
        Z("out.2.weight", 4, ch, 3, 3);
        Z("out.2.bias", 4);
        return b;
    }

    public static CheckpointBuilder ClipL(CheckpointBuilder b, string p, long w)
    {
        b.AddZeros(p + "embeddings.token_embedding.weight", F, 49408, w)
            .AddZeros(p + "embeddings.position_embedding.weight", F, 77, w)
            .Add(p + "embeddings.position_ids", Enumerable.Range(0, 77).Select(i => (long)i).ToArray(), 1, 77);
        for (int l = 0; l < 12; l++)
        {
            b.AddZeros(p + $"encoder.layers.{l}.self_attn.q_proj.weight", F, w, w)
                .AddZeros(p + $"encoder.layers.{l}.mlp.fc1.weight", F, 4 * w, w)
                .AddZeros(p + $"encoder.layers.{l}.layer_norm1.weight", F, w);
        }

        return b.AddZeros(p + "final_layer_norm.weight", F, w);
    }

    public static CheckpointBuilder OpenClip(CheckpointBuilder b, string p, long w, int layers)
    {
        b.AddZeros(p + "token_embedding.weight", F, 49408, w).AddZeros(p + "positional_embedding", F, 77, w);
        for (int l = 0; l < layers; l++)
        {
            b.AddZeros(p + $"transformer.resblocks.{l}.attn.in_proj_weight", F, 3 * w, w)
                .AddZeros(p + $"transformer.resblocks.{l}.ln_1.weight", F, w)
                .AddZeros(p + $"transformer.resblocks.{l}.mlp.c_fc.weight", F, 4 * w, w);
        }

        return b.AddZeros(p + "ln_final.weight", F, w).AddZeros(p + "ln_final.bias", F, w).AddZeros(p + "text_projection", F, w, w);
    }

    public static CheckpointBuilder Vae(CheckpointBuilder b, string p, long z) =>
        b.AddZeros(p + "encoder.conv_in.weight", F, 128, 3, 3, 3)
            .AddZeros(p + "encoder.down.0.block.0.norm1.weight", F, 128)
            .AddZeros(p + "encoder.mid.attn_1.q.weight", F, 512, 512, 1, 1)
            .AddZeros(p + "encoder.conv_out.weight", F, 2 * z, 512, 3, 3)
            .AddZeros(p + "decoder.conv_in.weight", F, 512, z, 3, 3)
            .AddZeros(p + "decoder.up.0.block.0.norm1.weight", F, 256)
            .AddZeros(p + "decoder.conv_out.weight", F, 3, 128, 3, 3)
            .AddZeros(p + "quant_conv.weight", F, 2 * z, 2 * z, 1, 1)
            .AddZeros(p + "post_quant_conv.weight", F, z, z, 1, 1);

    public static CheckpointBuilder Sd3(long hidden, int depth, int attn2Blocks, long patches)
    {
        var b = new CheckpointBuilder();
        b.AddZeros(M + "x_embedder.proj.weight", F, hidden, 16, 2, 2).AddZeros(M + "pos_embed", F, 1, patches, hidden)
            .AddZeros(M + "context_embedder.weight", F, hidden, 4096).AddZeros(M + "y_embedder.mlp.0.weight", F, hidden, 2048)
            .AddZeros(M + "t_embedder.mlp.0.weight", F, hidden, 256);
        for (int i = 0; i < depth; i++)
        {
            b.AddZeros(M + $"joint_blocks.{i}.context_block.attn.qkv.weight", F, 3 * hidden, hidden)
                .AddZeros(M + $"joint_blocks.{i}.x_block.attn.qkv.weight", F, 3 * hidden, hidden)
                .AddZeros(M + $"joint_blocks.{i}.x_block.mlp.fc1.weight", F, 4 * hidden, hidden);
            if (i < attn2Blocks)
            {
                b.AddZeros(M + $"joint_blocks.{i}.x_block.attn2.qkv.weight", F, 3 * hidden, hidden);
            }
        }

        b.AddZeros(M + "final_layer.linear.weight", F, 64, hidden);
        ClipL(b, "text_encoders.clip_l.transformer.text_model.", 768);
        b.AddZeros("text_encoders.clip_g.transformer.text_model.final_layer_norm.weight", F, 1280);
        b.AddZeros("text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.q.weight", F, 4096, 4096);
        return Vae(b, "first_stage_model.", 16);
    }

    public static CheckpointBuilder Flux(long inCh, bool guidance)
    {
        var b = new CheckpointBuilder();
        b.AddZeros("img_in.weight", DType.BFloat16, 3072, inCh).AddZeros("txt_in.weight", DType.BFloat16, 3072, 4096)
            .AddZeros("time_in.in_layer.weight", DType.BFloat16, 3072, 256).AddZeros("vector_in.in_layer.weight", DType.BFloat16, 3072, 768);
        if (guidance)
        {
            b.AddZeros("guidance_in.in_layer.weight", DType.BFloat16, 3072, 256);
        }

        for (int i = 0; i < 19; i++)
        {
            b.AddZeros($"double_blocks.{i}.img_attn.norm.key_norm.scale", DType.BFloat16, 128)
                .AddZeros($"double_blocks.{i}.img_attn.qkv.weight", DType.BFloat16, 9216, 3072)
                .AddZeros($"double_blocks.{i}.txt_attn.qkv.weight", DType.BFloat16, 9216, 3072);
        }

        for (int i = 0; i < 38; i++)
        {
            b.AddZeros($"single_blocks.{i}.linear1.weight", DType.BFloat16, 21504, 3072).AddZeros($"single_blocks.{i}.norm.key_norm.scale", DType.BFloat16, 128);
        }

        return b.AddZeros("final_layer.linear.weight", DType.BFloat16, 64, 3072);
    }

    public static CheckpointBuilder Cascade(bool stageC)
    {
        var b = new CheckpointBuilder();
        if (stageC)
        {
            b.AddZeros("clip_txt_mapper.weight", F, 2048, 1280).AddZeros("clip_txt_pooled_mapper.weight", F, 8192, 1280).AddZeros("clip_img_mapper.weight", F, 8192, 768)
                .AddZeros("embedding.1.weight", F, 2048, 64, 1, 1).AddZeros("down_blocks.0.0.channelwise.0.weight", F, 8192, 2048).AddZeros("clf.1.weight", F, 64, 2048, 1, 1);
        }
        else
        {
            b.AddZeros("clip_mapper.weight", F, 5120, 1280).AddZeros("embedding.1.weight", F, 320, 16, 1, 1)
                .AddZeros("down_blocks.1.0.channelwise.0.weight", F, 2560, 640).AddZeros("clf.1.weight", F, 16, 320, 1, 1);
        }

        return b;
    }

    public static CheckpointBuilder PixArt(bool alpha)
    {
        var b = new CheckpointBuilder();
        b.AddZeros("x_embedder.proj.weight", F, 1152, 4, 2, 2).AddZeros("t_block.1.weight", F, 6912, 1152).AddZeros("t_embedder.mlp.0.weight", F, 1152, 256)
            .AddZeros("y_embedder.y_proj.fc1.weight", F, 1152, 4096).AddZeros("pos_embed", F, 1, 4096, 1152);
        if (alpha)
        {
            b.AddZeros("ar_embedder.mlp.0.weight", F, 1152, 256).AddZeros("csize_embedder.mlp.0.weight", F, 1152, 256);
        }

        for (int i = 0; i < 28; i++)
        {
            b.AddZeros($"blocks.{i}.attn.qkv.weight", F, 3456, 1152).AddZeros($"blocks.{i}.cross_attn.q_linear.weight", F, 1152, 1152);
        }

        return b.AddZeros("final_layer.linear.weight", F, 32, 1152);
    }

    public static CheckpointBuilder AuraFlow()
    {
        var b = new CheckpointBuilder();
        b.AddZeros("model.cond_seq_linear.weight", F, 3072, 2048).AddZeros("model.init_x_linear.weight", F, 3072, 16)
            .AddZeros("model.positional_encoding", F, 1, 1024, 3072).AddZeros("model.t_embedder.mlp.0.weight", F, 3072, 256);
        for (int i = 0; i < 4; i++)
        {
            b.AddZeros($"model.double_layers.{i}.attn.w1q.weight", F, 3072, 3072).AddZeros($"model.double_layers.{i}.attn.w2q.weight", F, 3072, 3072);
        }

        for (int i = 0; i < 32; i++)
        {
            b.AddZeros($"model.single_layers.{i}.attn.w1q.weight", F, 3072, 3072);
        }

        return b.AddZeros("model.final_linear.weight", F, 64, 3072);
    }

    public static CheckpointBuilder HunyuanDit(long extraIn)
    {
        var b = new CheckpointBuilder();
        b.AddZeros("x_embedder.proj.weight", F, 1408, 4, 2, 2).AddZeros("mlp_t5.0.weight", F, 8192, 2048).AddZeros("mlp_t5.2.weight", F, 2048, 8192)
            .AddZeros("extra_embedder.0.weight", F, 5632, extraIn).AddZeros("t_embedder.mlp.0.weight", F, 1408, 256).AddZeros("text_embedding_padding", F, 333, 1024);
        for (int i = 0; i < 40; i++)
        {
            b.AddZeros($"blocks.{i}.attn1.Wqkv.weight", F, 4224, 1408).AddZeros($"blocks.{i}.attn2.kv_proj.weight", F, 2816, 1024);
        }

        return b.AddZeros("final_layer.linear.weight", F, 32, 1408);
    }

    public static CheckpointBuilder Lora()
    {
        var b = new CheckpointBuilder();
        foreach (string m in new[] { "lora_unet_down_blocks_0_attentions_0_proj_in", "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q", "lora_te_text_model_encoder_layers_0_self_attn_q_proj" })
        {
            long w = m.StartsWith("lora_te", StringComparison.Ordinal) ? 768 : 320;
            b.AddZeros(m + ".lora_down.weight", F, 4, w).AddZeros(m + ".lora_up.weight", F, w, 4).AddScalar(m + ".alpha", (Half)4);
        }

        return b.WithMetadata("ss_network_module", "networks.lora");
    }

    public static CheckpointBuilder ControlNet()
    {
        var b = new CheckpointBuilder();
        b.AddZeros("control_model.time_embed.0.weight", F, 1280, 320).AddZeros("control_model.input_hint_block.0.weight", F, 16, 3, 3, 3)
            .AddZeros("control_model.input_blocks.0.0.weight", F, 320, 4, 3, 3).AddZeros("control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", F, 320, 768)
            .AddZeros("control_model.zero_convs.0.0.weight", F, 320, 320, 1, 1).AddZeros("control_model.middle_block_out.0.weight", F, 1280, 1280, 1, 1);
        return b;
    }

    /// <summary>madebyollin/taesd's decoder: a Sequential, so bare numeric keys (the real taef2_decoder.pth has 79).</summary>
    public static CheckpointBuilder TaesdDecoder()
    {
        var b = new CheckpointBuilder();
        b.AddZeros("1.weight", F, 64, 4, 3, 3).AddZeros("1.bias", F, 64).AddZeros("3.conv.0.weight", F, 64, 64, 3, 3)
            .AddZeros("3.conv.0.bias", F, 64).AddZeros("19.weight", F, 3, 64, 3, 3).AddZeros("19.bias", F, 3);
        return b;
    }

    /// <summary>A1111's VAE-approx model.pt: conv1 (4 latent channels in, 7x7) to conv8.</summary>
    public static CheckpointBuilder VaeApprox()
    {
        var b = new CheckpointBuilder();
        for (int i = 1; i <= 8; i++)
        {
            b.AddZeros($"conv{i}.weight", F, i == 8 ? 3 : 8, i == 1 ? 4 : 8, i == 1 ? 7 : 3, i == 1 ? 7 : 3).AddZeros($"conv{i}.bias", F, i == 8 ? 3 : 8);
        }

        return b;
    }

    public static CheckpointBuilder DiffusersUnet()
    {
        var b = new CheckpointBuilder();
        b.AddZeros("conv_in.weight", F, 320, 4, 3, 3).AddZeros("time_embedding.linear_1.weight", F, 1280, 320).AddZeros("add_embedding.linear_1.weight", F, 1280, 2816)
            .AddZeros("down_blocks.0.resnets.0.conv1.weight", F, 320, 320, 3, 3).AddZeros("down_blocks.1.attentions.0.proj_in.weight", F, 640, 640)
            .AddZeros("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight", F, 640, 2048).AddZeros("mid_block.resnets.0.conv1.weight", F, 1280, 1280, 3, 3)
            .AddZeros("up_blocks.0.resnets.0.conv1.weight", F, 1280, 2560, 3, 3).AddZeros("conv_out.weight", F, 4, 320, 3, 3);
        return b;
    }

    private static CheckpointBuilder Schedule(CheckpointBuilder b) =>
        b.AddZeros("betas", DType.Float32, 1000).AddZeros("alphas_cumprod", DType.Float32, 1000).AddZeros("alphas_cumprod_prev", DType.Float32, 1000);
}
