using SafeCkpt.Building;
using SafeCkpt.Models;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Models;

public class ClipPositionIdsTests
{
    private const string Key = "cond_stage_model.transformer.text_model.embeddings.position_ids";

    public static TheoryData<string> Variants() => ["int64 [1,77]", "int64 [77]", "int32 [1,77]", "float32 exact", "float32 off", "float16 exact", "int64 off", "int8 unreadable", "int64 [1,76]"];

    [Fact]
    public void Correct_is_int64_one_by_77_holding_each_position()
    {
        (TensorInfo info, TensorSource data) = ClipPositionIds.Correct(Key);
        Assert.Equal(DType.Int64, info.DType);
        Assert.Equal([1L, 77L], info.Shape);
        Assert.Equal([], ClipPositionIds.WrongPositions(info, data));
        Assert.False(ClipPositionIds.IsBroken(info.DType, info.Shape, []));
    }

    [Fact]
    public void Broken_means_unreadable_wrong_values_or_another_dtype_or_shape()
    {
        Assert.True(ClipPositionIds.IsBroken(DType.Int64, [1, 77], null));
        Assert.True(ClipPositionIds.IsBroken(DType.Int64, [1, 77], [5]));
        Assert.True(ClipPositionIds.IsBroken(DType.Float32, [1, 77], []));
        Assert.True(ClipPositionIds.IsBroken(DType.Int64, [77], []));
        Assert.False(ClipPositionIds.IsBroken(DType.Int64, [1, 77], []));
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void The_report_flags_what_the_fix_resets_and_ids_it_cannot_read(string variant)
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        Builder(variant).SaveSafetensors(path);
        using ModelFile m = ModelFile.Open(path);
        PositionIdsCheck check = Assert.Single(m.DetectArchitecture().PositionIds);
        ConversionResult r = m.FixClipPositionIds().SaveSafetensors(dir.File("fixed.safetensors"));
        bool reset = r.Findings.Any(f => f.StartsWith("CLIP: " + Key, StringComparison.Ordinal) && !f.EndsWith(" is correct.", StringComparison.Ordinal));
        Assert.Equal(check.IsBroken, reset || !check.IsReadable);
        Assert.Equal(reset, check.IsReadable && check.IsBroken);
    }

    private static CheckpointBuilder Builder(string variant)
    {
        long[] ids = [.. Enumerable.Range(0, 77).Select(i => (long)i)];
        var b = new CheckpointBuilder().Add("cond_stage_model.transformer.text_model.final_layer_norm.weight", new[] { 1f });
        return variant switch
        {
            "int64 [1,77]" => b.Add(Key, ids, 1, 77),
            "int64 [77]" => b.Add(Key, ids, 77),
            "int32 [1,77]" => b.Add(Key, ids.Select(v => (int)v).ToArray(), 1, 77),
            "float32 exact" => b.Add(Key, ids.Select(v => (float)v).ToArray(), 1, 77),
            "float32 off" => b.Add(Key, ids.Select(v => v == 5 ? 4.9999f : v).ToArray(), 1, 77),
            "float16 exact" => b.Add(Key, ids.Select(v => (Half)v).ToArray(), 1, 77),
            "int64 off" => b.Add(Key, ids.Select(v => v == 9 ? 10 : v).ToArray(), 1, 77),
            "int8 unreadable" => b.Add(Key, ids.Select(v => (sbyte)v).ToArray(), 1, 77),
            "int64 [1,76]" => b.Add(Key, ids[..76], 1, 76),
            _ => throw new ArgumentOutOfRangeException(nameof(variant)),
        };
    }
}
