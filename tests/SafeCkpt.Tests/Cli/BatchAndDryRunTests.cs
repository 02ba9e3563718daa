using System.Text.Json;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

public class BatchAndDryRunTests
{
    [Fact]
    public void Dry_run_prints_the_plan_and_writes_nothing()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), dir.File("o.safetensors"), "--dtype", "fp16", "--no-ema", "--prune", "--dry-run");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("nothing is written", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("F32 -> F16", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("EMA weights", r.StdOut, StringComparison.Ordinal);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void Dry_run_json_counts_casts_and_drops_and_estimates_the_output()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("convert", Fixtures.Path_("ckpt", "sd1_tiny_ema.ckpt"), dir.File("o.safetensors"), "--dtype", "fp16", "--no-ema", "--dry-run", "--json");
        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement root = doc.RootElement;
        Assert.True(root.GetProperty("dryRun").GetBoolean());
        Assert.Contains(root.GetProperty("cast").EnumerateArray(), c => c.GetProperty("from").GetString() == "F32" && c.GetProperty("to").GetString() == "F16");
        Assert.All(root.GetProperty("dropped").EnumerateArray(), d => Assert.StartsWith("model_ema.", d.GetProperty("name").GetString(), StringComparison.Ordinal));
        Assert.True(root.GetProperty("outputTensorBytes").GetInt64() < root.GetProperty("sourceTensorBytes").GetInt64() / 2);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void A_folder_converts_every_model_skips_existing_outputs_continues_past_bad_files_and_fails_overall()
    {
        using var dir = new TempDir();
        string input = Path.Combine(dir.Path, "in");
        string output = Path.Combine(dir.Path, "out");
        Directory.CreateDirectory(Path.Combine(input, "sub"));
        File.Copy(Fixtures.Path_("ckpt", "zip_basic.ckpt"), Path.Combine(input, "a.ckpt"));
        File.Copy(Fixtures.Path_("ckpt", "legacy.ckpt"), Path.Combine(input, "sub", "b.pt"));
        File.Copy(Fixtures.Path_("hostile", "p2_posix_system.pt"), Path.Combine(input, "evil.pt"));
        File.WriteAllText(Path.Combine(input, "notes.txt"), "not a model");

        var r = SafeCkptTool.Run("convert", input, "--out", output, "--recursive", "--dtype", "fp16");
        Assert.Equal(3, r.ExitCode);
        Assert.True(File.Exists(Path.Combine(output, "a.safetensors")));
        Assert.True(File.Exists(Path.Combine(output, "sub", "b.safetensors")));
        Assert.False(File.Exists(Path.Combine(output, "evil.safetensors")));
        Assert.Contains("2 converted, 0 skipped, 1 failed.", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("REFUSED (unsafe)", r.StdOut, StringComparison.Ordinal);
        using (ModelFile m = ModelFile.Open(Path.Combine(output, "a.safetensors")))
        {
            Assert.Contains(m.Tensors.Tensors, t => t.DType == DType.Float16);
        }

        File.Delete(Path.Combine(input, "evil.pt"));
        var again = SafeCkptTool.Run("convert", input, "--out", output, "--recursive");
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("0 converted, 2 skipped, 0 failed.", again.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_without_recursive_ignores_subfolders_and_can_write_ckpt()
    {
        using var dir = new TempDir();
        string input = Path.Combine(dir.Path, "in");
        Directory.CreateDirectory(Path.Combine(input, "sub"));
        File.Copy(Fixtures.Path_("safetensors", "sd_tiny.safetensors"), Path.Combine(input, "a.safetensors"));
        File.Copy(Fixtures.Path_("ckpt", "zip_basic.ckpt"), Path.Combine(input, "sub", "b.ckpt"));
        var r = SafeCkptTool.Run("convert", input, "--out", Path.Combine(dir.Path, "out"), "--format", "ckpt");
        Assert.Equal(0, r.ExitCode);
        Assert.True(File.Exists(Path.Combine(dir.Path, "out", "a.ckpt")));
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "out", "sub")));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_folder_with_symlink_loops_converts_each_file_once_and_reports_the_skipped_links(int loops)
    {
        using var dir = new TempDir();
        string input = Path.Combine(dir.Path, "in");
        string output = Path.Combine(dir.Path, "out");
        Directory.CreateDirectory(Path.Combine(input, "sub"));
        File.Copy(Fixtures.Path_("safetensors", "sd_tiny.safetensors"), Path.Combine(input, "a.safetensors"));
        File.Copy(Fixtures.Path_("ckpt", "zip_basic.ckpt"), Path.Combine(input, "sub", "b.ckpt"));
        File.Copy(Fixtures.Path_("safetensors", "dtypes.safetensors"), dir.File("elsewhere.safetensors"));
        File.CreateSymbolicLink(Path.Combine(input, "c.safetensors"), dir.File("elsewhere.safetensors"));
        Directory.CreateSymbolicLink(Path.Combine(input, "loop"), input);
        if (loops == 2)
        {
            Directory.CreateSymbolicLink(Path.Combine(input, "sub", "up"), input);
        }

        var r = SafeCkptTool.Run("convert", input, "--out", output, "--recursive");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("3 converted, 0 skipped, 0 failed.", r.StdOut, StringComparison.Ordinal);
        Assert.Contains($"skipped {loops} symlinked folder{(loops == 1 ? "" : "s")}", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("[3/3]", r.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("[4/", r.StdOut, StringComparison.Ordinal);
        Assert.Equal(["a.safetensors", "c.safetensors"], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["b.safetensors"], Directory.GetFiles(Path.Combine(output, "sub")).Select(Path.GetFileName));
        Assert.Equal(["sub"], Directory.GetDirectories(output).Select(Path.GetFileName));
        Assert.Null(new FileInfo(Path.Combine(output, "c.safetensors")).LinkTarget);
        Assert.Equal(["elsewhere.safetensors"], dir.Files());
    }

    [Fact]
    public void A_symlink_inside_the_output_folder_does_not_lead_outputs_elsewhere()
    {
        using var dir = new TempDir();
        string input = Path.Combine(dir.Path, "in");
        string output = Path.Combine(dir.Path, "out");
        string elsewhere = Path.Combine(dir.Path, "elsewhere");
        Directory.CreateDirectory(Path.Combine(input, "sub"));
        Directory.CreateDirectory(output);
        Directory.CreateDirectory(elsewhere);
        File.Copy(Fixtures.Path_("safetensors", "sd_tiny.safetensors"), Path.Combine(input, "a.safetensors"));
        File.Copy(Fixtures.Path_("ckpt", "zip_basic.ckpt"), Path.Combine(input, "sub", "b.ckpt"));
        Directory.CreateSymbolicLink(Path.Combine(output, "sub"), elsewhere);

        var r = SafeCkptTool.Run("convert", input, "--out", output, "--recursive");
        Assert.Equal(4, r.ExitCode);
        Assert.Contains("1 converted, 0 skipped, 1 failed.", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("outside " + output, r.StdErr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(elsewhere));
        Assert.True(File.Exists(Path.Combine(output, "a.safetensors")));
    }

    [Fact]
    public void A_folder_needs_an_output_folder() =>
        Assert.Equal(1, SafeCkptTool.Run("convert", Fixtures.Path_("ckpt")).ExitCode);
}
