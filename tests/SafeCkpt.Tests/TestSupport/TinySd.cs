using SafeCkpt.Building;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>A tiny SD-1.x-like training checkpoint built in code: UNet, EMA, VAE (with loss), CLIP, schedule buffers, markers.</summary>
public static class TinySd
{
    public static readonly float[] UNetA = [1, 2, 3, 4, 5, 6];
    public static readonly float[] EmaA = [1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f];

    public static CheckpointBuilder Builder(bool ema = true, float[]? positionIds = null) =>
        new CheckpointBuilder()
            .Add("model.diffusion_model.input_blocks.0.0.weight", UNetA, 2, 3)
            .Add("model.diffusion_model.out.2.bias", new[] { 0.25f, -0.5f, 65536f })
            .Let(b => ema
                ? b.Add("model_ema.diffusion_modelinput_blocks00weight", EmaA, 2, 3)
                    .Add("model_ema.diffusion_modelout2bias", new[] { 9f, 8f, 7f })
                    .AddScalar("model_ema.decay", 0.9999f)
                    .AddScalar("model_ema.num_updates", 840000)
                : b)
            .Add("first_stage_model.decoder.conv_in.weight", new[] { 0.1f, 0.2f }, 2)
            .Add("first_stage_model.encoder.conv_in.weight", new[] { 0.3f, 0.4f }, 2)
            .AddScalar("first_stage_model.loss.logvar", 0f)
            .Let(b => positionIds is null
                ? b.Add("cond_stage_model.transformer.text_model.embeddings.position_ids", Enumerable.Range(0, 77).Select(i => (long)i).ToArray(), 1, 77)
                : b.Add("cond_stage_model.transformer.text_model.embeddings.position_ids", positionIds, 1, 77))
            .Add("cond_stage_model.transformer.text_model.final_layer_norm.weight", new[] { (Half)1, (Half)2 })
            .Add("alphas_cumprod", new[] { 0.99, 0.98 })
            .Add("betas", new[] { 0.01f, 0.02f })
            .Add("v_pred", Array.Empty<float>(), 0);

    public static string Save(TempDir dir, string name = "tiny.safetensors", bool ema = true, float[]? positionIds = null)
    {
        string path = dir.File(name);
        Builder(ema, positionIds).SaveSafetensors(path);
        return path;
    }
}

public static class FluentExtensions
{
    public static TOut Let<TIn, TOut>(this TIn value, Func<TIn, TOut> f) => f(value);
}
