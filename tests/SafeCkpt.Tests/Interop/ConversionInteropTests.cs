using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Interop;

/// <summary>
/// Converted outputs pinned under Fixtures/written and checked with real PyTorch by make_fixtures.py
/// (<c>verify-ckpt</c> loads with <c>torch.load(weights_only=True)</c>; <c>--float-dtype</c> compares against torch's
/// own <c>.to()</c> of the source). These tests keep the current code producing exactly those bytes.
/// </summary>
public class ConversionInteropTests
{
    public static TheoryData<string, string, string> Conversions() => new()
    {
        { "safetensors/sd_tiny.safetensors", "none", "sd_tiny.ckpt" },
        { "safetensors/sd_tiny.safetensors", "bf16", "sd_tiny_bf16.ckpt" },
        { "safetensors/sd_tiny.safetensors", "fp32", "sd_tiny_f32.safetensors" },
        { "safetensors/dtypes.safetensors", "fp16", "dtypes_f16.safetensors" },
        { "safetensors/dtypes.safetensors", "bf16", "dtypes_bf16.safetensors" },

        // Checked by verify_ema.py: torch itself selecting the EMA weights (LitEma naming) and casting.
        { "ckpt/sd1_tiny_ema.ckpt", "ema-fp16", "sd1_tiny_ema_only_f16.ckpt" },
        { "ckpt/sd1_tiny_ema.ckpt", "ema-bf16", "sd1_tiny_ema_only_bf16.safetensors" },
        { "ckpt/sd1_tiny_ema.ckpt", "no-ema-fp16", "sd1_tiny_no_ema_f16.safetensors" },
    };

    [Theory]
    [MemberData(nameof(Conversions))]
    public void Converted_outputs_are_byte_identical_to_the_torch_verified_files(string source, string dtype, string golden)
    {
        using var dir = new TempDir();
        string output = dir.File(golden);
        using (ModelFile m = ModelFile.Open(Fixtures.Path_(source.Split('/'))))
        {
            ModelPipeline p = dtype switch
            {
                "fp16" => m.ToHalf(),
                "bf16" => m.ToBFloat16(),
                "fp32" => m.ToFloat32(),
                "ema-fp16" => m.SelectEma(true).ToHalf(),
                "ema-bf16" => m.SelectEma(true).ToBFloat16(),
                "no-ema-fp16" => m.SelectEma(false).ToHalf(),
                _ => m.Convert(),
            };
            if (golden.EndsWith(".ckpt", StringComparison.Ordinal))
            {
                p.SaveCkpt(output);
            }
            else
            {
                p.SaveSafetensors(output, new SaveOptions { Provenance = false }); // the bytes the reference writes
            }
        }

        if (Environment.GetEnvironmentVariable("SAFECKPT_WRITE_GOLDEN") is { } target)
        {
            File.Copy(output, Path.Combine(target, "written", golden), overwrite: true);
        }

        Assert.Equal(File.ReadAllBytes(Fixtures.Path_("written", golden)), File.ReadAllBytes(output));
    }
}
