using System.Diagnostics;
using SafeCkpt.Building;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary>SIGINT and SIGTERM during a conversion: the tool exits 130 / 143 and leaves no file beside the output.</summary>
[Trait("Category", "Large")]
[Collection("Resource budgets")]
public sealed class InterruptTests
{
    [Theory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public void A_signal_during_convert_leaves_no_temporary_or_partial_output(string signal, int exitCode)
    {
        using var dir = new TempDir();
        string input = dir.File("big.safetensors");

        // 1.5 GB of F32 zeros, converted to F16: long enough to be interrupted mid-write.
        var b = new CheckpointBuilder();
        for (int i = 0; i < 6; i++)
        {
            b.AddZeros($"model.diffusion_model.w{i}", DType.Float32, 16384, 4096);
        }

        b.SaveSafetensors(input);
        string[] before = dir.Files();
        using Process p = SafeCkptTool.Start("convert", input, dir.File("out.safetensors"), "--dtype", "fp16");

        // Wait until the temporary output exists (the save is under way), then signal.
        var clock = Stopwatch.StartNew();
        while (!dir.Files().Any(f => f.EndsWith(".tmp", StringComparison.Ordinal)) && !p.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            Thread.Sleep(5);
        }

        Assert.False(p.HasExited, "the conversion finished before it could be interrupted");
        using (Process kill = Process.Start("kill", ["-s", signal, p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
        {
            kill.WaitForExit();
        }

        Assert.True(p.WaitForExit(60_000));
        Assert.Equal(exitCode, p.ExitCode);
        Assert.Equal(before, dir.Files());
    }
}
