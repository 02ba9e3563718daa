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
        if (IsIgnored(signal))
        {
            // This process ignores the signal (a background job without job control ignores SIGINT), and the tool
            // inherits that, as Unix programs should: the conversion completes, with no temporary file left.
            Assert.Equal(0, p.ExitCode);
            Assert.Equal(before.Append("out.safetensors").Order(StringComparer.Ordinal), dir.Files().Order(StringComparer.Ordinal));
            return;
        }

        Assert.Equal(exitCode, p.ExitCode);
        Assert.Equal(before, dir.Files());
    }

    /// <summary>Whether this process ignores the signal (the SigIgn mask of /proc/self/status), which children inherit.</summary>
    private static bool IsIgnored(string signal)
    {
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        ulong mask = line is null ? 0 : Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16);
        int number = signal == "INT" ? 2 : 15;
        return (mask & (1UL << (number - 1))) != 0;
    }
}
