using System.Text.Json;
using SafeCkpt.Building;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

public class InspectCommandTests
{
    private static string MakeModel(TempDir dir)
    {
        string path = dir.File("model.safetensors");
        new CheckpointBuilder()
            .Add("model.diffusion_model.out.2.weight", new Half[12], 4, 3)
            .Add("cond_stage_model.transformer.text_model.embeddings.position_ids", Enumerable.Range(0, 77).Select(i => (long)i).ToArray(), 1, 77)
            .AddScalar("v_pred", true)
            .WithMetadata("format", "pt")
            .SaveSafetensors(path);
        return path;
    }

    [Fact]
    public void Control_characters_in_metadata_and_provenance_are_shown_as_escapes_by_inspect_and_hash()
    {
        using var dir = new TempDir();
        string path = dir.File("model.safetensors");
        new CheckpointBuilder()
            .Add("model.diffusion_model.out.2.weight", new Half[12], 4, 3)
            .WithMetadata("title\u001b[2J", "red\u001b[31m\u0007bell")
            .WithMetadata("safeckpt.source.name", "src\u001b]0;owned\u0007.ckpt")
            .WithMetadata("safeckpt.source.autov2", "0123456789")
            .SaveSafetensors(path);

        var inspect = SafeCkptTool.Run("inspect", path);
        Assert.Equal(0, inspect.ExitCode);
        Assert.Contains("title\\x1b[2J: red\\x1b[31m\\x07bell", inspect.StdOut, StringComparison.Ordinal);
        Assert.Contains("Provenance: converted from src\\x1b]0;owned\\x07.ckpt", inspect.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', inspect.StdOut);
        Assert.DoesNotContain('\u0007', inspect.StdOut);

        var hash = SafeCkptTool.Run("hash", path, "--no-cache", "-q");
        Assert.Equal(0, hash.ExitCode);
        Assert.Contains("src\\x1b]0;owned\\x07.ckpt", hash.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', hash.StdOut);
    }

    [Fact]
    public void Inspect_prints_format_counts_dtypes_metadata_and_a_tensor_table()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("inspect", MakeModel(dir));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Format:   safetensors", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("Tensors:  3 (", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("I64", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("format: pt", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("[1, 77]", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("model.diffusion_model.out.2.weight", r.StdOut, StringComparison.Ordinal);
        Assert.Empty(r.StdErr);
    }

    [Fact]
    public void Inspect_json_is_one_object_with_format_metadata_and_tensors()
    {
        using var dir = new TempDir();
        var r = SafeCkptTool.Run("inspect", MakeModel(dir), "--json");
        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        JsonElement root = doc.RootElement;
        Assert.Equal("safetensors", root.GetProperty("format").GetString());
        Assert.Equal("pt", root.GetProperty("metadata").GetProperty("format").GetString());
        JsonElement ids = root.GetProperty("tensors").EnumerateArray().Single(t => t.GetProperty("name").GetString()!.EndsWith("position_ids", StringComparison.Ordinal));
        Assert.Equal("I64", ids.GetProperty("dtype").GetString());
        Assert.Equal([1, 77], ids.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(77 * 8, ids.GetProperty("bytes").GetInt64());
        JsonElement scalar = root.GetProperty("tensors").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "v_pred");
        Assert.Equal("BOOL", scalar.GetProperty("dtype").GetString());
        Assert.Equal(0, scalar.GetProperty("shape").GetArrayLength());
    }

    [Fact]
    public void A_corrupt_file_exits_2_with_one_readable_line_and_no_stack_trace()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, StBytes.Make("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 10));
        var r = SafeCkptTool.Run("inspect", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("truncated", r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.StdErr, StringComparison.Ordinal);
        Assert.True(r.StdErr.Trim().Split('\n').Length <= 2);
    }

    [Fact]
    public void Verbose_adds_the_stack_trace()
    {
        using var dir = new TempDir();
        string path = dir.File("empty.safetensors");
        File.WriteAllBytes(path, []);
        var r = SafeCkptTool.Run("inspect", path, "--verbose");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("   at ", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_exits_2() => Assert.Equal(2, SafeCkptTool.Run("inspect", "/no/such/file.safetensors").ExitCode);

    [Theory]
    [InlineData("inspect", "safeckpt inspect --help")]
    [InlineData("diff", "safeckpt diff --help")]
    [InlineData("inspect a --bogus", "safeckpt inspect --help")]
    [InlineData("frobnicate", "safeckpt --help")]
    public void Usage_errors_exit_1_with_one_line_and_point_to_the_commands_help(string args, string help)
    {
        var r = SafeCkptTool.Run(args.Split(' '));
        Assert.Equal(1, r.ExitCode);
        Assert.Equal(["safeckpt: ", $"see '{help}'"], r.StdErr.Trim().Split('\n').Select(l => l.StartsWith("safeckpt: ", StringComparison.Ordinal) ? "safeckpt: " : l));
        Assert.Empty(r.StdOut);
    }

    [Fact]
    public void Help_exits_0_and_lists_the_exit_codes()
    {
        var r = SafeCkptTool.Run("--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Exit codes:", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("130, 143", r.StdOut, StringComparison.Ordinal);
    }
}
