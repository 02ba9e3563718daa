using System.Text.Json;
using SafeCkpt.Hashing;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary>scan, hash and inspect over many files and folders: a table, a summary line, the worst verdict's exit code.</summary>
public class FileBatchTests
{
    /// <summary>A folder with a clean checkpoint and safetensors file in it and a clean file in a subfolder, plus the extras asked for.</summary>
    private static string Folder(TempDir dir, bool unsafeFile = false, bool malformed = false)
    {
        string root = Path.Combine(dir.Path, "models");
        Directory.CreateDirectory(Path.Combine(root, "sub"));
        File.Copy(Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), Path.Combine(root, "a.ckpt"));
        File.Copy(Fixtures.Path_("safetensors", "sd_tiny.safetensors"), Path.Combine(root, "b.safetensors"));
        File.Copy(Fixtures.Path_("ckpt", "zip_basic.ckpt"), Path.Combine(root, "sub", "c.ckpt"));
        File.WriteAllText(Path.Combine(root, "notes.txt"), "not a model");
        if (unsafeFile)
        {
            File.Copy(Fixtures.Path_("hostile", "zip_data_pkl_os_system.ckpt"), Path.Combine(root, "evil.ckpt"));
        }

        if (malformed)
        {
            File.Copy(Fixtures.Path_("hostile", "st_truncated.safetensors"), Path.Combine(root, "broken.safetensors"));
        }

        return root;
    }

    [Fact]
    public void Scan_of_a_folder_exits_3_when_a_file_is_unsafe_and_sums_up_the_verdicts()
    {
        using var dir = new TempDir();
        string root = Folder(dir, unsafeFile: true, malformed: true);
        var r = SafeCkptTool.Run("scan", root, "--recursive");
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("5 files: 3 clean, 1 unsafe, 1 malformed.", r.StdOut, StringComparison.Ordinal);
        Assert.Matches(@"evil\.ckpt +pytorch-zip +unsafe +posix\.system", r.StdOut);
        Assert.Contains(Path.Combine(root, "sub", "c.ckpt"), r.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("notes.txt", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Scan_exits_2_when_the_worst_file_is_malformed_and_0_when_all_are_clean()
    {
        using var dir = new TempDir();
        string root = Folder(dir, malformed: true);
        var worst2 = SafeCkptTool.Run("scan", root);
        Assert.Equal(2, worst2.ExitCode);
        Assert.Contains("3 files: 2 clean, 0 unsafe, 1 malformed.", worst2.StdOut, StringComparison.Ordinal);

        var clean = SafeCkptTool.Run("scan", Path.Combine(root, "a.ckpt"), Path.Combine(root, "b.safetensors"));
        Assert.Equal(0, clean.ExitCode);
        Assert.Contains("2 files: 2 clean, 0 unsafe.", clean.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Scan_json_gives_a_malformed_file_the_same_error_object_alone_and_in_a_batch()
    {
        using var dir = new TempDir();
        string root = Folder(dir, malformed: true);
        string broken = Path.Combine(root, "broken.safetensors");
        var one = SafeCkptTool.Run("scan", broken, "-j");
        var many = SafeCkptTool.Run("scan", root, "-j");
        Assert.Equal(2, one.ExitCode);
        Assert.Equal(2, many.ExitCode);
        using JsonDocument a = JsonDocument.Parse(one.StdOut);
        using JsonDocument b = JsonDocument.Parse(many.StdOut);
        JsonElement inBatch = b.RootElement.GetProperty("files").EnumerateArray().Single(f => f.GetProperty("file").GetString() == broken);
        foreach (JsonElement report in new[] { a.RootElement, inBatch })
        {
            Assert.Equal("malformed", report.GetProperty("verdict").GetString());
            JsonElement error = report.GetProperty("error");
            Assert.Equal(JsonValueKind.Object, error.ValueKind);
            Assert.Equal(["code", "message", "file", "offset", "tensor"], error.EnumerateObject().Select(p => p.Name));
            Assert.Equal("Truncated", error.GetProperty("code").GetString());
            Assert.Equal(broken, error.GetProperty("file").GetString());
            Assert.False(report.TryGetProperty("errorCode", out _));
        }
    }

    [Fact]
    public void Scan_of_several_files_as_json_lists_each_report_and_counts_the_verdicts()
    {
        using var dir = new TempDir();
        string root = Folder(dir, unsafeFile: true);
        var r = SafeCkptTool.Run("scan", root, dir.File("missing.ckpt"), "-j");
        Assert.Equal(3, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement[] files = doc.RootElement.GetProperty("files").EnumerateArray().ToArray();
        Assert.Equal(4, files.Length);
        Assert.Equal("unsafe", files.Single(f => f.GetProperty("file").GetString()!.EndsWith("evil.ckpt", StringComparison.Ordinal)).GetProperty("verdict").GetString());
        JsonElement missing = files.Single(f => f.GetProperty("file").GetString() == dir.File("missing.ckpt"));
        Assert.Equal("unreadable", missing.GetProperty("verdict").GetString());
        Assert.Equal("FileNotFound", missing.GetProperty("error").GetProperty("code").GetString());
        JsonElement summary = doc.RootElement.GetProperty("summary");
        Assert.Equal(2, summary.GetProperty("clean").GetInt32());
        Assert.Equal(1, summary.GetProperty("unsafe").GetInt32());
        Assert.Equal(1, summary.GetProperty("unreadable").GetInt32());
        Assert.Equal(3, summary.GetProperty("exitCode").GetInt32());
    }

    [Fact]
    public void Hash_of_many_files_prints_each_sha256_goes_on_past_a_missing_one_and_exits_2()
    {
        using var dir = new TempDir();
        string root = Folder(dir);
        string missing = dir.File("missing.safetensors");
        var r = SafeCkptTool.Run("hash", root, missing, "-r");
        Assert.Equal(2, r.ExitCode);
        foreach (string name in new[] { "a.ckpt", "b.safetensors", Path.Combine("sub", "c.ckpt") })
        {
            string path = Path.Combine(root, name);
            Assert.Contains($"{ModelHashes.Compute(path).Sha256.ToUpperInvariant()}  ", r.StdOut.Split('\n').Single(l => l.EndsWith(path, StringComparison.Ordinal)), StringComparison.Ordinal);
        }

        Assert.Contains("4 files: 3 hashed, 0 from the cache, 1 failed.", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("missing.safetensors", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void Hash_of_many_files_as_json_carries_each_files_hashes_or_error()
    {
        using var dir = new TempDir();
        string a = Fixtures.Path_("safetensors", "sd_tiny.safetensors");
        var r = SafeCkptTool.Run("hash", a, Fixtures.Path_("ckpt", "zip_basic.ckpt"), "--json");
        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement first = doc.RootElement.GetProperty("files")[0];
        Assert.Equal(ModelHashes.Compute(a).Sha256, first.GetProperty("sha256").GetString());
        Assert.Equal(ModelHashes.Compute(a).AutoV3, first.GetProperty("autov3").GetString());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("files")[1].GetProperty("autov3").ValueKind);
        Assert.Equal(0, doc.RootElement.GetProperty("summary").GetProperty("failed").GetInt32());
    }

    [Fact]
    public void Inspect_of_a_folder_prints_a_line_per_model_and_exits_3_for_an_unsafe_one()
    {
        using var dir = new TempDir();
        string root = Folder(dir, unsafeFile: true);
        var r = SafeCkptTool.Run("inspect", root, "-r");
        Assert.Equal(3, r.ExitCode);
        Assert.Matches(@"a\.ckpt +sd1 +pytorch-zip +49 ", r.StdOut);
        Assert.Matches(@"evil\.ckpt +REFUSED \(unsafe\) ", r.StdOut);
        Assert.Contains("4 files: 3 read, 1 failed.", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("posix.system", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_without_recursive_stays_in_the_folder()
    {
        using var dir = new TempDir();
        string root = Folder(dir);
        var r = SafeCkptTool.Run("inspect", root);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("2 files: 2 read, 0 failed.", r.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("c.ckpt", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_of_several_files_as_json_holds_each_files_object_and_a_summary()
    {
        using var dir = new TempDir();
        string root = Folder(dir, malformed: true);
        var r = SafeCkptTool.Run("inspect", root, "--json");
        Assert.Equal(2, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement[] files = doc.RootElement.GetProperty("files").EnumerateArray().ToArray();
        Assert.Equal("sd1", files.Single(f => f.GetProperty("file").GetString()!.EndsWith("a.ckpt", StringComparison.Ordinal)).GetProperty("architecture").GetProperty("id").GetString());
        JsonElement broken = files.Single(f => f.GetProperty("file").GetString()!.EndsWith("broken.safetensors", StringComparison.Ordinal));
        Assert.Equal("Truncated", broken.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(1, doc.RootElement.GetProperty("summary").GetProperty("failed").GetInt32());
        Assert.Equal(2, doc.RootElement.GetProperty("summary").GetProperty("exitCode").GetInt32());
    }

    [Theory]
    [InlineData("scan")]
    [InlineData("hash")]
    [InlineData("inspect")]
    public void A_folder_without_model_files_is_a_usage_error(string command)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("notes.txt"), "not a model");
        var r = SafeCkptTool.Run(command, dir.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("holds no model files", r.StdErr, StringComparison.Ordinal);
    }
}
