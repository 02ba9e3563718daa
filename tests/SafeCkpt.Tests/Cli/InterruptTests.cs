using System.Diagnostics;
using SafeCkpt.Building;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary>SIGINT and SIGTERM during a conversion, a folder conversion or a hash: the tool exits 130 / 143 and leaves no temporary or partial file.</summary>
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

    [Theory]
    [InlineData("hash", "INT", 130)]
    [InlineData("hash", "TERM", 143)]
    [InlineData("batch", "INT", 130)]
    [InlineData("batch", "TERM", 143)]
    public void A_signal_during_hash_or_a_folder_conversion_stops_it_and_leaves_no_file(string command, string signal, int exitCode)
    {
        using var dir = new TempDir();
        string models = Path.Combine(dir.Path, "models");
        string outDir = Path.Combine(dir.Path, "out");
        Directory.CreateDirectory(models);
        Directory.CreateDirectory(outDir);
        for (int f = 0; f < 2; f++)
        {
            var b = new CheckpointBuilder();
            for (int i = 0; i < 4; i++)
            {
                b.AddZeros($"model.diffusion_model.w{i}", DType.Float32, 16384, 4096);
            }

            b.SaveSafetensors(Path.Combine(models, $"m{f}.safetensors"));
        }

        string[] before = [.. Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];
        using Process p = command == "hash"
            ? SafeCkptTool.Start("hash", models)
            : SafeCkptTool.Start("convert", models, "-o", outDir, "--dtype", "fp16");

        // Under way: the tool has read 64 MB of its input (it reads 2 GB in all), or written a temporary output.
        var clock = Stopwatch.StartNew();
        while (!p.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60) && ReadBytes(p) < (64L << 20) && Directory.GetFiles(outDir).Length == 0)
        {
            Thread.Sleep(2);
        }

        Assert.False(p.HasExited, $"{command} finished before it could be interrupted");
        using (Process kill = Process.Start("kill", ["-s", signal, p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
        {
            kill.WaitForExit();
        }

        Assert.True(p.WaitForExit(60_000));
        string[] after = [.. Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];
        if (IsIgnored(signal))
        {
            Assert.Equal(0, p.ExitCode);
            Assert.DoesNotContain(after, f => f.EndsWith(".tmp", StringComparison.Ordinal));
            return;
        }

        Assert.Equal(exitCode, p.ExitCode);
        Assert.DoesNotContain(after, f => f.EndsWith(".tmp", StringComparison.Ordinal));
        Assert.All(after.Except(before), f => Assert.True(new FileInfo(f).Length > 0 && File.Exists(f), f));
        if (command == "hash")
        {
            Assert.Equal(before, after);
        }
    }

    /// <summary>The bytes a process has read so far (rchar of /proc/PID/io), 0 when unknown.</summary>
    private static long ReadBytes(Process p)
    {
        try
        {
            string? line = File.ReadLines($"/proc/{p.Id}/io").FirstOrDefault(l => l.StartsWith("rchar:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line["rchar:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
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
