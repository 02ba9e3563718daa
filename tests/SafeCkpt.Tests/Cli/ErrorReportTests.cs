using System.Text.Json;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

/// <summary><c>--json</c> failures: one error object on standard output (code, message, file, offset, tensor), the line on standard error.</summary>
public class ErrorReportTests
{
    private static JsonElement ErrorObject(SafeCkptTool.Result r, int exitCode)
    {
        Assert.Equal(exitCode, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement e = doc.RootElement.Clone();
        Assert.Equal(["code", "message", "file", "offset", "tensor"], e.EnumerateObject().Select(p => p.Name));
        Assert.StartsWith("safeckpt: " + e.GetProperty("message").GetString(), r.StdErr, StringComparison.Ordinal);
        return e;
    }

    [Fact]
    public void A_malformed_file_gives_its_error_code_file_offset_and_tensor()
    {
        string path = Fixtures.Path_("hostile", "st_size_mismatch.safetensors");
        JsonElement e = ErrorObject(SafeCkptTool.Run("inspect", path, "--json"), 2);
        Assert.Equal("ByteLengthMismatch", e.GetProperty("code").GetString());
        Assert.Equal(path, e.GetProperty("file").GetString());
        Assert.Equal(JsonValueKind.Number, e.GetProperty("offset").ValueKind);
        Assert.Equal("a", e.GetProperty("tensor").GetString());
    }

    [Fact]
    public void An_unsafe_checkpoint_gives_UnsafeGlobal_with_the_pickle_offset_and_exit_3()
    {
        using var dir = new TempDir();
        JsonElement e = ErrorObject(SafeCkptTool.Run("convert", Fixtures.Path_("hostile", "zip_data_pkl_os_system.ckpt"), dir.File("o.safetensors"), "-j"), 3);
        Assert.Equal("UnsafeGlobal", e.GetProperty("code").GetString());
        Assert.Equal(157, e.GetProperty("offset").GetInt64());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("tensor").ValueKind);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void A_refused_conversion_gives_the_librarys_code_in_the_tools_words()
    {
        using var dir = new TempDir();
        JsonElement e = ErrorObject(SafeCkptTool.Run("convert", Fixtures.Path_("ckpt", "zip_basic.ckpt"), dir.File("o.safetensors"), "--ema-only", "--json"), 2);
        Assert.Equal("EmaNotFound", e.GetProperty("code").GetString());
        Assert.Contains("omit --ema-only", e.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_existing_output_gives_OutputExists_and_exit_4()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("o.safetensors"), "mine");
        JsonElement e = ErrorObject(SafeCkptTool.Run("convert", Fixtures.Path_("ckpt", "zip_basic.ckpt"), "-o", dir.File("o.safetensors"), "-j"), 4);
        Assert.Equal("OutputExists", e.GetProperty("code").GetString());
        Assert.Equal(dir.File("o.safetensors"), e.GetProperty("file").GetString());
    }

    [Theory]
    [InlineData("hash")]
    [InlineData("scan")]
    [InlineData("inspect")]
    public void A_missing_file_gives_FileNotFound(string command)
    {
        JsonElement e = ErrorObject(SafeCkptTool.Run(command, "/no/such/model.safetensors", "--json"), 2);
        Assert.Equal("FileNotFound", e.GetProperty("code").GetString());
        Assert.Equal("/no/such/model.safetensors", e.GetProperty("file").GetString());
    }

    [Fact]
    public void A_usage_error_with_json_gives_code_Usage()
    {
        var r = SafeCkptTool.Run("convert", "a.ckpt", "b.safetensors", "--ema-only", "--no-ema", "--json");
        Assert.Equal(1, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        Assert.Equal("Usage", doc.RootElement.GetProperty("code").GetString());
        Assert.Equal("--ema-only and --no-ema exclude each other", doc.RootElement.GetProperty("message").GetString());
    }

    [Fact]
    public void Without_json_nothing_goes_to_standard_output()
    {
        var r = SafeCkptTool.Run("inspect", Fixtures.Path_("hostile", "st_truncated.safetensors"));
        Assert.Equal(2, r.ExitCode);
        Assert.Empty(r.StdOut);
        Assert.Single(r.StdErr.TrimEnd().Split('\n'));
    }
}
