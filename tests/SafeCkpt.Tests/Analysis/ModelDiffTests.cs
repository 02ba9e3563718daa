using SafeCkpt.Analysis;
using SafeCkpt.Building;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Analysis;

public class ModelDiffTests
{
    [Fact]
    public void Reports_missing_extra_shape_and_value_differences()
    {
        TensorStore a = new CheckpointBuilder()
            .Add("same", new[] { 1f, 2f })
            .Add("changed", new[] { 1f, 2f, 3f, 4f })
            .Add("reshaped", new float[6], 2, 3)
            .Add("only_a", new[] { 1L })
            .Build().Tensors;
        TensorStore b = new CheckpointBuilder()
            .Add("same", new[] { 1f, 2f })
            .Add("changed", new[] { 1f, 2.5f, 3f, 3f })
            .Add("reshaped", new float[6], 3, 2)
            .Add("only_b", new[] { 1L })
            .Build().Tensors;
        DiffReport r = ModelDiff.Compare(a, b);
        Assert.Equal(["only_a"], r.OnlyInA);
        Assert.Equal(["only_b"], r.OnlyInB);
        Assert.True(r.Common.Single(d => d.Name == "same").BytesEqual);
        TensorDiff changed = r.Common.Single(d => d.Name == "changed");
        Assert.Equal(1.0, changed.MaxAbsDiff);
        Assert.Equal(0.375, changed.MeanAbsDiff);
        Assert.True(r.Common.Single(d => d.Name == "reshaped").ShapeDiffers);
    }

    [Fact]
    public void Fp16_against_fp32_measures_the_rounding_error_across_chunks()
    {
        const int n = (1 << 20) + 17;
        var rng = new Random(3);
        float[] values = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        Half[] halves = values.Select(v => (Half)v).ToArray();
        DiffReport r = ModelDiff.Compare(new CheckpointBuilder().Add("w", values).Build().Tensors, new CheckpointBuilder().Add("w", halves).Build().Tensors);
        TensorDiff d = r.Common.Single();
        Assert.True(d.DTypeDiffers);
        Assert.False(d.BytesEqual);
        double expectedMax = values.Zip(halves, (v, h) => Math.Abs(v - (double)(float)h)).Max();
        Assert.Equal(expectedMax, d.MaxAbsDiff, 12);
        Assert.InRange(d.MaxAbsDiff, 1e-6, 1.0 / 2048);
    }

    [Fact]
    public void Nan_in_both_at_the_same_place_is_no_difference()
    {
        TensorStore a = new CheckpointBuilder().Add("w", new[] { float.NaN, 1f }).Build().Tensors;
        TensorStore b = new CheckpointBuilder().Add("w", new[] { float.NaN, 1f }).Build().Tensors;
        TensorStore c = new CheckpointBuilder().Add("w", new[] { 0f, 1f }).Build().Tensors;
        Assert.Equal(0, ModelDiff.Compare(a, b).Common.Single().MaxAbsDiff);
        Assert.Equal(double.PositiveInfinity, ModelDiff.Compare(a, c).Common.Single().MaxAbsDiff);
    }

    [Fact]
    public void The_diff_command_lists_the_largest_differences()
    {
        var r = SafeCkptTool.Run("diff", Fixtures.Path_("safetensors", "sd_tiny.safetensors"), Fixtures.Path_("written", "sd_tiny_f32.safetensors"));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Only in A: 0", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("identical", r.StdOut, StringComparison.Ordinal);
        var j = SafeCkptTool.Run("diff", Fixtures.Path_("ckpt", "zip_basic.ckpt"), Fixtures.Path_("ckpt", "legacy.ckpt"), "--json");
        Assert.Equal(0, j.ExitCode);
        using var doc = System.Text.Json.JsonDocument.Parse(j.StdOut);
        Assert.Equal(0, doc.RootElement.GetProperty("differences").GetArrayLength());
    }
}
