using System.Text.Json;
using SafeCkpt.Building;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary><c>diff</c>: a one-line verdict, exit 0 when the models are the same (within <c>--tolerance</c>), 1 when they differ.</summary>
public class DiffCommandTests
{
    private static string Tiny => Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt");

    private static string Half(TempDir dir)
    {
        string half = dir.File("half.safetensors");
        Assert.Equal(0, SafeCkptTool.Run("convert", Tiny, half, "--dtype", "fp16", "-q").ExitCode);
        return half;
    }

    private static string LastLine(string text) => text.TrimEnd().Split('\n')[^1];

    [Fact]
    public void The_same_model_in_another_format_is_identical_and_exits_0()
    {
        using var dir = new TempDir();
        Assert.Equal(0, SafeCkptTool.Run("convert", Tiny, dir.File("same.safetensors"), "-q").ExitCode);
        var r = SafeCkptTool.Run("diff", Tiny, dir.File("same.safetensors"));
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("Verdict: identical", LastLine(r.StdOut));
    }

    [Fact]
    public void An_fp16_copy_differs_in_values_and_exits_1_with_the_tensors_listed()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("diff", Tiny, Half(dir));
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("Verdict: same keys, values differ (47 of 49 tensors; largest |A-B| ", LastLine(r.StdOut), StringComparison.Ordinal);
        Assert.Matches(@"model\.diffusion_model\.\S+ +F32 \[", r.StdOut);
        Assert.Contains("progress: 100%", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void Within_the_tolerance_the_fp16_copy_is_the_same_and_exits_0()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("diff", Tiny, Half(dir), "--tolerance", "1e-3");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("Verdict: same keys, values within tolerance 1e-3 (largest |A-B| ", LastLine(r.StdOut), StringComparison.Ordinal);
        Assert.Contains("47 within tolerance, 0 different", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Keys_in_one_model_only_differ_and_exit_1()
    {
        using var dir = new TempDir();
        Assert.Equal(0, SafeCkptTool.Run("convert", Tiny, dir.File("no-ema.safetensors"), "--no-ema", "-q").ExitCode);
        var r = SafeCkptTool.Run("diff", Tiny, dir.File("no-ema.safetensors"), "-q");
        Assert.Equal(1, r.ExitCode);
        Assert.Matches(@"^Verdict: keys differ \(\d+ only in A, 0 only in B\)$", r.StdOut.TrimEnd());
        Assert.Empty(r.StdErr);
    }

    [Fact]
    public void A_lossless_dtype_change_has_the_same_values()
    {
        using var dir = new TempDir();
        new CheckpointBuilder().Add("w", new[] { 1f, -2.5f, 3f }, 3).SaveSafetensors(dir.File("f32.safetensors"));
        new CheckpointBuilder().Add("w", new[] { 1.0, -2.5, 3.0 }, 3).SaveSafetensors(dir.File("f64.safetensors"));
        var r = SafeCkptTool.Run("diff", dir.File("f32.safetensors"), dir.File("f64.safetensors"), "-q");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("Verdict: same keys, same values (1 tensors stored differently, e.g. in another dtype)", r.StdOut.TrimEnd());
    }

    [Fact]
    public void Json_carries_the_verdict_the_tolerance_and_each_difference()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("diff", Tiny, Half(dir), "--json", "--tolerance", "1e-5");
        Assert.Equal(1, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement root = doc.RootElement;
        Assert.Equal("values-differ", root.GetProperty("verdict").GetString());
        Assert.Equal(1e-5, root.GetProperty("tolerance").GetDouble());
        JsonElement[] diffs = root.GetProperty("differences").EnumerateArray().ToArray();
        Assert.Equal(47, diffs.Length);
        Assert.Contains(diffs, d => d.GetProperty("withinTolerance").GetBoolean());
        Assert.Contains(diffs, d => !d.GetProperty("withinTolerance").GetBoolean());
        Assert.Equal(diffs.Count(d => d.GetProperty("withinTolerance").GetBoolean()), root.GetProperty("withinTolerance").GetInt32());
    }

    [Fact]
    public void A_shape_change_differs_whatever_the_tolerance()
    {
        using var dir = new TempDir();
        new CheckpointBuilder().Add("w", new[] { 1f, 2f, 3f, 4f }, 4).SaveSafetensors(dir.File("a.safetensors"));
        new CheckpointBuilder().Add("w", new[] { 1f, 2f, 3f, 4f }, 2, 2).SaveSafetensors(dir.File("b.safetensors"));
        var r = SafeCkptTool.Run("diff", dir.File("a.safetensors"), dir.File("b.safetensors"), "--tolerance", "1000", "-q");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("Verdict: same keys, values differ (1 of 1 tensors)", r.StdOut.TrimEnd());
    }
}
