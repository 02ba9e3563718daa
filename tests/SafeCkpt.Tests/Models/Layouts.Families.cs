using SafeCkpt.Building;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Models;

/// <summary>
/// Zero-filled layouts of the families ComfyUI's <c>detect_unet_config</c> / <c>supported_models</c>, A1111's
/// config guess and the ControlNet / adapter loaders recognise: the keys those rules read, with the shapes they
/// read, plus a few neighbours so the file is plausible.
/// </summary>
public static partial class Layouts
{
    private const DType B = DType.BFloat16;

    /// <summary>Ids that the weights alone cannot tell from another id (they share its layout): reachable by metadata only.</summary>
    public static IEnumerable<string> MetadataOnlyIds => ["flux-kontext", "wan2.2-t2v-14b", "qwen-image-edit"];

    public static IEnumerable<string> FamilyIds =>
    [
        "stable-zero123", "alt-diffusion-m9", "alt-diffusion-m18", "sd-x4-upscaler", "lotus-d", "sdxl-pix2pix", "koala-700m", "koala-1b",
        "svd", "sv3d-u", "sv3d-p", "hunyuan-dit-1.0", "flux2", "chroma", "chroma-radiance", "stable-audio", "mochi", "ltxv", "ace-step",
        "hunyuan-video", "hunyuan-video-i2v", "hunyuan-video-skyreels-i2v", "hunyuan-image-2.1", "hunyuan-image-2.1-refiner",
        "cosmos-t2v", "cosmos-i2v", "cosmos-predict2-t2i", "cosmos-predict2-i2v", "lumina2",
        "wan2.1-t2v", "wan2.1-i2v", "wan2.1-fun-control", "wan2.1-vace", "wan2.1-camera", "wan2.1-humo", "wan2.2-ti2v-5b", "wan2.2-i2v-14b",
        "wan2.2-camera", "wan2.2-s2v", "wan2.2-animate", "hunyuan3d2", "hunyuan3d2-mini", "hunyuan3d2.1", "hidream", "omnigen2", "qwen-image",
        "kandinsky5", "control-lora", "t2i-adapter", "ip-adapter",
    ];

    private static CheckpointBuilder Family(string id) => id switch
    {
        "stable-zero123" => Sd1(8).AddZeros("cc_projection.weight", F, 768, 772),
        "alt-diffusion-m9" => Alt(768, 768),
        "alt-diffusion-m18" => Alt(1024, 1024),
        "sd-x4-upscaler" => Vae(OpenClip(Unet(new CheckpointBuilder(), M, 7, 256, [1, 2, 2, 4], [0, 1, 1, 1], 1024, 0, true, 1), "cond_stage_model.model.", 1024, 24), "first_stage_model.", 4),
        "lotus-d" => Vae(OpenClip(Unet(new CheckpointBuilder(), M, 4, 320, [1, 2, 4, 4], [1, 1, 1, 0], 1024, 4, true, 1), "cond_stage_model.model.", 1024, 24), "first_stage_model.", 4),
        "sdxl-pix2pix" => Sdxl(8, [0, 2, 10], 10),
        "koala-700m" => Koala([0, 2, 5], -2),
        "koala-1b" => Koala([0, 2, 6], 6),
        "svd" => Svd(768),
        "sv3d-u" => Svd(256),
        "sv3d-p" => Svd(1280),
        "hunyuan-dit-1.0" => HunyuanDit(3968),
        "flux2" => Flux2(),
        "chroma" => Chroma(radiance: false),
        "chroma-radiance" => Chroma(radiance: true),
        "stable-audio" => Dit("model.model.", ("transformer.rotary_pos_emb.inv_freq", [32]), ("transformer.layers.0.self_attn.to_qkv.weight", [4608, 1536]), ("transformer.project_in.weight", [1536, 64]), ("conditioner.embedders.seconds_start.embedder.embedding.1.weight", [768, 257]), ("preprocess_conv.weight", [64, 64, 1]), ("postprocess_conv.weight", [64, 64, 1])),
        "mochi" => Dit(M, ("t5_yproj.weight", [3072, 4096]), ("x_embedder.proj.weight", [3072, 12, 2, 2]), ("blocks.0.attn.qkv_x.weight", [9216, 3072]), ("final_layer.linear.weight", [48, 3072]), ("blocks.0.attn.qkv_y.weight", [4608, 1536]), ("t_embedder.mlp.0.weight", [3072, 256])),
        "ltxv" => Dit(M, ("adaln_single.emb.timestep_embedder.linear_1.bias", [2048]), ("transformer_blocks.0.attn2.to_k.weight", [2048, 4096]), ("patchify_proj.weight", [2048, 128]), ("caption_projection.linear_1.weight", [2048, 4096]), ("proj_out.weight", [128, 2048]), ("transformer_blocks.0.attn1.to_q.weight", [2048, 2048])),
        "ace-step" => Dit(M, ("genre_embedder.weight", [2560, 1024]), ("transformer_blocks.0.attn.to_q.weight", [2560, 2560]), ("proj_in.weight", [2560, 8]), ("speaker_embedder.weight", [2560, 512]), ("lyric_embs.weight", [6693, 1024]), ("final_layer.linear.weight", [128, 2560])),
        "hunyuan-video" => HunyuanVideo(16, vector: true, [3072, 16, 1, 2, 2]),
        "hunyuan-video-i2v" => HunyuanVideo(33, vector: true, [3072, 33, 1, 2, 2]),
        "hunyuan-video-skyreels-i2v" => HunyuanVideo(32, vector: true, [3072, 32, 1, 2, 2]),
        "hunyuan-image-2.1" => HunyuanVideo(64, vector: false, [3584, 64, 1, 1]),
        "hunyuan-image-2.1-refiner" => HunyuanVideo(64, vector: false, [3584, 64, 1, 1, 1]),
        "cosmos-t2v" => Dit("net.", ("blocks.block0.blocks.0.block.attn.to_q.0.weight", [4096, 4096]), ("x_embedder.proj.1.weight", [4096, 68]), ("blocks.block0.blocks.1.block.attn.to_q.0.weight", [4096, 4096]), ("t_embedder.1.linear_1.weight", [4096, 4096]), ("final_layer.linear.weight", [64, 4096]), ("affline_norm.weight", [4096])),
        "cosmos-i2v" => Dit("net.", ("blocks.block0.blocks.0.block.attn.to_q.0.weight", [4096, 4096]), ("x_embedder.proj.1.weight", [4096, 72]), ("blocks.block0.blocks.1.block.attn.to_q.0.weight", [4096, 4096]), ("t_embedder.1.linear_1.weight", [4096, 4096]), ("final_layer.linear.weight", [64, 4096]), ("affline_norm.weight", [4096])),
        "cosmos-predict2-t2i" => Dit("net.", ("blocks.0.mlp.layer1.weight", [8192, 2048]), ("x_embedder.proj.1.weight", [2048, 68]), ("blocks.0.self_attn.q_proj.weight", [2048, 2048]), ("t_embedder.1.linear_1.weight", [2048, 2048]), ("final_layer.linear.weight", [64, 2048]), ("t_embedding_norm.weight", [2048])),
        "cosmos-predict2-i2v" => Dit("net.", ("blocks.0.mlp.layer1.weight", [8192, 2048]), ("x_embedder.proj.1.weight", [2048, 72]), ("blocks.0.self_attn.q_proj.weight", [2048, 2048]), ("t_embedder.1.linear_1.weight", [2048, 2048]), ("final_layer.linear.weight", [64, 2048]), ("t_embedding_norm.weight", [2048])),
        "lumina2" => Dit(M, ("cap_embedder.1.weight", [2304, 2304]), ("layers.0.attention.qkv.weight", [3584, 2304]), ("x_embedder.weight", [2304, 64]), ("noise_refiner.0.attention.qkv.weight", [3584, 2304]), ("final_layer.linear.weight", [64, 2304]), ("t_embedder.mlp.0.weight", [1024, 256])),
        "wan2.1-t2v" => Wan(5120, 16, 16),
        "wan2.1-i2v" => Wan(5120, 36, 16, "img_emb.proj.0.bias"),
        "wan2.1-fun-control" => Wan(5120, 48, 16, "img_emb.proj.0.bias"),
        "wan2.1-vace" => Wan(5120, 16, 16, "vace_patch_embedding.weight"),
        "wan2.1-camera" => Wan(5120, 32, 16, "control_adapter.conv.weight", "img_emb.proj.0.bias"),
        "wan2.1-humo" => Wan(5120, 36, 16, "audio_proj.audio_proj_glob_1.layer.bias"),
        "wan2.2-ti2v-5b" => Wan(3072, 48, 48),
        "wan2.2-i2v-14b" => Wan(5120, 36, 16),
        "wan2.2-camera" => Wan(5120, 36, 16, "control_adapter.conv.weight"),
        "wan2.2-s2v" => Wan(5120, 16, 16, "casual_audio_encoder.encoder.final_linear.weight"),
        "wan2.2-animate" => Wan(5120, 36, 16, "face_adapter.fuser_blocks.0.k_norm.weight", "img_emb.proj.0.bias"),
        "hunyuan3d2" => Hunyuan3d(16),
        "hunyuan3d2-mini" => Hunyuan3d(8),
        "hunyuan3d2.1" => Dit(M, ("t_embedder.mlp.2.weight", [2048, 8192]), ("x_embedder.weight", [2048, 64]), ("blocks.0.attn1.to_q.weight", [2048, 2048]), ("blocks.0.attn2.to_k.weight", [2048, 1024]), ("final_layer.linear.weight", [64, 2048]), ("t_embedder.mlp.0.weight", [8192, 256])),
        "hidream" => Dit(M, ("caption_projection.0.linear.weight", [2560, 4096]), ("double_stream_blocks.0.block.attn1.to_q.weight", [2560, 2560]), ("x_embedder.proj.weight", [2560, 64]), ("t_embedder.timestep_embedder.linear_1.weight", [2560, 256]), ("single_stream_blocks.0.block.attn1.to_q.weight", [2560, 2560]), ("final_layer.linear.weight", [64, 2560])),
        "omnigen2" => Dit(M, ("time_caption_embed.timestep_embedder.linear_1.bias", [1024]), ("layers.0.attn.to_q.weight", [2520, 2520]), ("x_embedder.weight", [2520, 64]), ("noise_refiner.0.attn.to_q.weight", [2520, 2520]), ("context_refiner.0.attn.to_q.weight", [2520, 2520]), ("norm_out.linear_2.weight", [64, 2520])),
        "qwen-image" => Dit(M, ("txt_norm.weight", [3584]), ("img_in.weight", [3072, 64]), ("txt_in.weight", [3072, 3584]), ("transformer_blocks.0.img_mlp.net.0.proj.weight", [12288, 3072]), ("transformer_blocks.0.attn.to_q.weight", [3072, 3072]), ("proj_out.weight", [64, 3072])),
        "kandinsky5" => Dit(M, ("visual_embeddings.in_layer.bias", [1792]), ("time_embeddings.in_layer.bias", [512]), ("text_transformer_blocks.0.self_attention.to_query.weight", [1792, 1792]), ("visual_transformer_blocks.0.self_attention.to_query.weight", [1792, 1792]), ("text_embeddings.in_layer.weight", [1792, 3584]), ("out_layer.out_layer.weight", [64, 1792])),
        "control-lora" => ControlLora(),
        "t2i-adapter" => new CheckpointBuilder().AddZeros("conv_in.weight", F, 320, 768, 3, 3).AddZeros("body.0.block1.weight", F, 320, 320, 3, 3).AddZeros("body.0.block2.weight", F, 320, 320, 3, 3).AddZeros("body.2.in_conv.weight", F, 640, 320, 1, 1),
        "ip-adapter" => new CheckpointBuilder().AddZeros("image_proj.proj.weight", F, 8192, 1280).AddZeros("image_proj.norm.weight", F, 2048).AddZeros("ip_adapter.1.to_k_ip.weight", F, 640, 2048).AddZeros("ip_adapter.1.to_v_ip.weight", F, 640, 2048),
        _ => throw new ArgumentException(id),
    };

    /// <summary>A diffusion model of the given keys and shapes under a prefix.</summary>
    public static CheckpointBuilder Dit(string prefix, params (string Key, long[] Shape)[] keys)
    {
        var b = new CheckpointBuilder();
        foreach ((string key, long[] shape) in keys)
        {
            b.AddZeros(prefix + key, B, shape);
        }

        return b;
    }

    private static CheckpointBuilder Alt(long context, long projection)
    {
        CheckpointBuilder b = Unet(new CheckpointBuilder(), M, 4, 320, [1, 2, 4, 4], [1, 1, 1, 0], context, 0, context == 1024, 1);
        b.AddZeros("cond_stage_model.roberta.embeddings.word_embeddings.weight", F, 250002, 1024)
            .AddZeros("cond_stage_model.roberta.encoder.layer.0.attention.self.query.weight", F, 1024, 1024)
            .AddZeros("cond_stage_model.transformation.weight", F, projection, 1024);
        return Vae(b, "first_stage_model.", 4);
    }

    private static CheckpointBuilder Koala(int[] depth, int middle)
    {
        CheckpointBuilder b = Unet(new CheckpointBuilder(), M, 4, 320, [1, 2, 4], depth, 2048, 2816, true, middle, resBlocks: 1);
        return Vae(OpenClip(ClipL(b, "conditioner.embedders.0.transformer.text_model.", 768), "conditioner.embedders.1.model.", 1280, 32), "first_stage_model.", 4);
    }

    /// <summary>SD 2.1 as the SGM code saves it: the SD 2 UNet with OpenCLIP-H as <c>conditioner.embedders.0.model.</c>.</summary>
    public static CheckpointBuilder Sd2Sgm() =>
        Vae(OpenClip(Unet(new CheckpointBuilder(), M, 4, 320, [1, 2, 4, 4], [1, 1, 1, 0], 1024, 0, true, 1), "conditioner.embedders.0.model.", 1024, 24), "first_stage_model.", 4);

    private static CheckpointBuilder Svd(long adm)
    {
        CheckpointBuilder b = Unet(new CheckpointBuilder(), M, 8, 320, [1, 2, 4, 4], [1, 1, 1, 0], 1024, adm, true, 1);
        b.AddZeros(M + "input_blocks.1.1.time_stack.0.attn1.to_q.weight", F, 320, 320).AddZeros(M + "input_blocks.1.0.time_stack.in_layers.0.weight", F, 320);
        return Vae(b, "first_stage_model.", 4).AddZeros("conditioner.embedders.0.open_clip.model.visual.proj", F, 1280, 1024);
    }

    /// <summary>FLUX.2: Flux's double/single blocks with the shared modulation layers and a 128-channel latent.</summary>
    public static CheckpointBuilder Flux2()
    {
        var b = new CheckpointBuilder();
        b.AddZeros("img_in.weight", B, 6144, 128).AddZeros("txt_in.weight", B, 6144, 15360).AddZeros("time_in.in_layer.weight", B, 6144, 256)
            .AddZeros("guidance_in.in_layer.weight", B, 6144, 256).AddZeros("double_stream_modulation_img.lin.weight", B, 36864, 6144)
            .AddZeros("double_stream_modulation_txt.lin.weight", B, 36864, 6144).AddZeros("single_stream_modulation.lin.weight", B, 18432, 6144);
        for (int i = 0; i < 8; i++)
        {
            b.AddZeros($"double_blocks.{i}.img_attn.norm.key_norm.scale", B, 128).AddZeros($"double_blocks.{i}.img_attn.qkv.weight", B, 18432, 6144);
        }

        for (int i = 0; i < 48; i++)
        {
            b.AddZeros($"single_blocks.{i}.linear1.weight", B, 55296, 6144);
        }

        return b.AddZeros("final_layer.linear.weight", B, 128, 6144);
    }

    private static CheckpointBuilder Chroma(bool radiance)
    {
        var b = new CheckpointBuilder();
        if (!radiance)
        {
            b.AddZeros("img_in.weight", B, 3072, 64);
        }
        else
        {
            b.AddZeros("nerf_blocks.0.norm.scale", B, 64).AddZeros("nerf_image_embedder.embedder.0.weight", B, 64, 771);
        }

        b.AddZeros("txt_in.weight", B, 3072, 4096).AddZeros("distilled_guidance_layer.norms.0.scale", B, 5120).AddZeros("distilled_guidance_layer.in_proj.weight", B, 5120, 64);
        for (int i = 0; i < 19; i++)
        {
            b.AddZeros($"double_blocks.{i}.img_attn.norm.key_norm.scale", B, 128).AddZeros($"double_blocks.{i}.img_attn.qkv.weight", B, 9216, 3072);
        }

        return b.AddZeros("single_blocks.0.linear1.weight", B, 21504, 3072);
    }

    private static CheckpointBuilder HunyuanVideo(long inCh, bool vector, long[] imgIn)
    {
        CheckpointBuilder b = Dit(M, ("img_in.proj.weight", imgIn), ("txt_in.individual_token_refiner.blocks.0.norm1.weight", [imgIn[0]]), ("txt_in.input_embedder.weight", [imgIn[0], 4096]),
            ("double_blocks.0.img_attn_qkv.weight", [3 * imgIn[0], imgIn[0]]), ("single_blocks.0.linear1.weight", [3 * imgIn[0], imgIn[0]]), ("final_layer.linear.weight", [inCh, imgIn[0]]));
        return vector ? b.AddZeros(M + "vector_in.in_layer.weight", B, imgIn[0], 768) : b;
    }

    private static CheckpointBuilder Wan(long dim, long inDim, long outDim, params string[] extras)
    {
        CheckpointBuilder b = Dit(M, ("head.modulation", [1, 2, dim]), ("head.head.weight", [outDim * 4, dim]), ("patch_embedding.weight", [dim, inDim, 1, 2, 2]),
            ("blocks.0.ffn.0.weight", [dim * 3, dim]), ("blocks.0.cross_attn.k.weight", [dim, dim]), ("text_embedding.0.weight", [dim, 4096]));
        foreach (string e in extras)
        {
            b.AddZeros(M + e, B, dim);
        }

        return b;
    }

    private static CheckpointBuilder Hunyuan3d(int doubleBlocks)
    {
        CheckpointBuilder b = Dit(M, ("latent_in.weight", [1024, 64]), ("cond_in.weight", [1024, 1536]), ("time_in.in_layer.weight", [1024, 256]));
        for (int i = 0; i < doubleBlocks; i++)
        {
            b.AddZeros(M + $"double_blocks.{i}.img_attn.qkv.weight", B, 3072, 1024);
        }

        return b.AddZeros(M + "single_blocks.0.linear1.weight", B, 7168, 1024);
    }

    private static CheckpointBuilder ControlLora()
    {
        var b = new CheckpointBuilder();
        b.AddZeros("lora_controlnet", F, 0).AddZeros("input_hint_block.0.weight", F, 16, 3, 3, 3).AddZeros("label_emb.0.0.weight", F, 1280, 2816)
            .AddZeros("input_blocks.4.1.transformer_blocks.0.attn2.to_k.down", F, 128, 2048).AddZeros("input_blocks.4.1.transformer_blocks.0.attn2.to_k.up", F, 640, 128)
            .AddZeros("zero_convs.0.0.weight", F, 320, 320, 1, 1);
        return b;
    }
}
