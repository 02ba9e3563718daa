using SafeCkpt.Building;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.IO;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.IO;

/// <summary>Outputs appear whole or not at all, never replace the input, and replace an existing file only when asked.</summary>
public class AtomicOutputTests
{
    private static CheckpointBuilder Small() => new CheckpointBuilder().Add("w", new[] { 1f, 2f, 3f });

    [Fact]
    public void An_existing_output_is_not_replaced_unless_asked()
    {
        using var dir = new TempDir();
        string path = dir.File("o.safetensors");
        File.WriteAllText(path, "keep me");
        var ex = Assert.Throws<OutputException>(() => Small().SaveSafetensors(path));
        Assert.Equal(SafeCkptErrorCode.OutputExists, ex.Code);
        Assert.Contains("SaveOptions.Overwrite", ex.Message, StringComparison.Ordinal);
        Assert.Equal("keep me", File.ReadAllText(path));
        Assert.Equal(["o.safetensors"], dir.Files());
    }

    [Fact]
    public void An_existing_output_is_replaced_when_asked()
    {
        using var dir = new TempDir();
        string path = dir.File("o.safetensors");
        File.WriteAllText(path, "old");
        Small().SaveSafetensors(path, new SaveOptions { Overwrite = true });
        using TensorStore s = SafetensorsReader.Open(path);
        Assert.Equal([1f, 2f, 3f], s.ReadTensorAs<float>("w"));
        Assert.Equal(["o.safetensors"], dir.Files());
    }

    [Fact]
    public void The_input_is_never_the_output_even_with_overwrite()
    {
        using var dir = new TempDir();
        string path = dir.File("in.safetensors");
        Small().SaveSafetensors(path);
        byte[] before = File.ReadAllBytes(path);
        using (ModelFile m = ModelFile.Open(path))
        {
            var ex = Assert.Throws<OutputException>(() => m.SaveSafetensors(Path.Combine(dir.Path, ".", "in.safetensors"), new SaveOptions { Overwrite = true }));
            Assert.Equal(SafeCkptErrorCode.OutputIsInput, ex.Code);
        }

        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void The_input_reached_through_a_symlink_is_still_the_input()
    {
        using var dir = new TempDir();
        string path = dir.File("in.safetensors");
        Small().SaveSafetensors(path);
        string link = dir.File("link.safetensors");
        File.CreateSymbolicLink(link, path);
        using ModelFile m = ModelFile.Open(path);
        Assert.Equal(SafeCkptErrorCode.OutputIsInput, Assert.Throws<OutputException>(() => m.SaveSafetensors(link, new SaveOptions { Overwrite = true })).Code);
    }

    [Fact]
    public void The_input_reached_through_a_symlinked_folder_is_still_the_input()
    {
        using var dir = new TempDir();
        string path = dir.File("in.safetensors");
        Small().SaveSafetensors(path);
        byte[] before = File.ReadAllBytes(path);
        Directory.CreateSymbolicLink(dir.File("linked"), dir.Path);
        string viaFolder = Path.Combine(dir.Path, "linked", "in.safetensors");
        using (ModelFile m = ModelFile.Open(path))
        {
            var ex = Assert.Throws<OutputException>(() => m.ToHalf().SaveSafetensors(viaFolder, new SaveOptions { Overwrite = true }));
            Assert.Equal(SafeCkptErrorCode.OutputIsInput, ex.Code);
            Assert.Contains(viaFolder, ex.Message, StringComparison.Ordinal);
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["in.safetensors"], dir.Files());
    }

    [Fact]
    public void A_hard_link_to_the_input_is_the_input()
    {
        using var dir = new TempDir();
        string path = dir.File("in.safetensors");
        Small().SaveSafetensors(path);
        byte[] before = File.ReadAllBytes(path);
        FileIdentityTests.HardLink(path, dir.File("other.safetensors"));
        using (ModelFile m = ModelFile.Open(path))
        {
            Assert.Equal(SafeCkptErrorCode.OutputIsInput, Assert.Throws<OutputException>(() => m.SaveSafetensors(dir.File("other.safetensors"), new SaveOptions { Overwrite = true })).Code);
        }

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["in.safetensors", "other.safetensors"], dir.Files().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Check_creates_nothing_and_applies_the_same_rules_as_create()
    {
        using var dir = new TempDir();
        string input = dir.File("in.bin");
        File.WriteAllText(input, "x");
        Assert.Equal(dir.File("new.safetensors"), AtomicOutput.Check(dir.File("new.safetensors"), overwrite: false, [input]));
        Assert.Equal(SafeCkptErrorCode.OutputIsInput, Assert.Throws<OutputException>(() => AtomicOutput.Check(input, overwrite: true, [input])).Code);
        Assert.Equal(SafeCkptErrorCode.OutputExists, Assert.Throws<OutputException>(() => AtomicOutput.Check(input, overwrite: false, [])).Code);
        Assert.Equal(["in.bin"], dir.Files());
    }

    [Fact]
    public void A_failure_while_streaming_leaves_no_file_behind()
    {
        using var dir = new TempDir();
        string src = dir.File("src.safetensors");
        new CheckpointBuilder().Add("a", new float[1000]).Add("b", new float[1000]).SaveSafetensors(src);
        using ModelFile m = ModelFile.Open(src);
        File.WriteAllBytes(src, File.ReadAllBytes(src)[..^100]);
        Assert.Throws<InvalidCheckpointException>(() => m.SaveSafetensors(dir.File("out.safetensors")));
        Assert.Equal(["src.safetensors"], dir.Files());
    }

    [Fact]
    public void Cancelling_leaves_no_file_behind()
    {
        using var dir = new TempDir();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        TensorStore s = Small().Build().Tensors;
        Assert.ThrowsAny<OperationCanceledException>(() => ModelFile.FromStore(s, "s").SaveSafetensors(dir.File("out.safetensors"), null, cts.Token));
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void A_missing_output_folder_is_an_output_error()
    {
        using var dir = new TempDir();
        var ex = Assert.Throws<OutputException>(() => Small().SaveSafetensors(Path.Combine(dir.Path, "no", "such", "o.safetensors")));
        Assert.Equal(SafeCkptErrorCode.OutputNotWritable, ex.Code);
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Progress_reports_reach_the_total()
    {
        using var dir = new TempDir();
        var reports = new List<SaveProgress>();
        Small().Add("b", new double[10]).SaveSafetensors(dir.File("p.safetensors"), new SaveOptions { Progress = new SyncProgress(reports.Add) });
        Assert.NotEmpty(reports);
        Assert.Equal(12 + 80, reports[^1].TotalBytes);
        Assert.Equal(reports[^1].TotalBytes, reports[^1].BytesWritten);
    }

    private sealed class SyncProgress(Action<SaveProgress> report) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value) => report(value);
    }
}
