using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests;

public class ModelPipelineTests
{
    [Theory]
    [InlineData("out.safetensors")]
    [InlineData("out.ckpt")]
    public void A_conversion_that_would_drop_every_tensor_fails_and_writes_nothing(string name)
    {
        using var dir = new TempDir();
        string input = TinySd.Save(dir);
        string output = dir.File(name);
        using ModelFile m = ModelFile.Open(input);
        ModelPipeline p = m.Convert().Rename(_ => null);

        ConversionException ex = Assert.Throws<ConversionException>(() => _ = output.EndsWith(".ckpt", StringComparison.Ordinal) ? p.SaveCkpt(output) : p.SaveSafetensors(output));

        Assert.Equal(SafeCkptErrorCode.NoTensorsToWrite, ex.Code);
        Assert.Contains("would write no tensor", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void The_cli_refuses_a_conversion_that_drops_every_tensor_with_a_non_zero_exit()
    {
        using var dir = new TempDir();
        string input = dir.File("vae_only.safetensors");
        new SafeCkpt.Building.CheckpointBuilder().Add("first_stage_model.decoder.conv_in.weight", new[] { 0.1f, 0.2f }).SaveSafetensors(input);
        string output = dir.File("empty.safetensors");

        SafeCkptTool.Result r = SafeCkptTool.Run("convert", input, output, "--drop", "vae");

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("would write no tensor", r.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }
}
