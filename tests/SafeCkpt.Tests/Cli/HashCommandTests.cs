using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SafeCkpt.Hashing;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Cli;

public class HashCommandTests
{
    private static readonly string[] JsonKeys = ["file", "bytes", "sha256", "autov1", "autov2", "autov3", "dataSha256", "crc32", "blake3", "source"];

    [Fact]
    public void One_file_prints_the_six_hashes_under_civitais_names_in_uppercase()
    {
        using var dir = new TempDir();
        string file = Fixtures.Path_("casts", "torch_casts.safetensors");
        var r = Run(dir, "hash", file);
        Assert.Equal(0, r.ExitCode);
        string[] lines = r.StdOut.TrimEnd().Split('\n');
        Assert.Equal($"File:    {file} (3,819,208 bytes)", lines[0]);
        Assert.Equal("SHA256:  243D55DD81BE8C9BE475D02906A0C5D6E3025563FF4BAB6AC0235A303073A64E", lines[1]);
        Assert.Equal("AutoV1:  C6C74B4A", lines[2]);
        Assert.Equal("AutoV2:  243D55DD81", lines[3]);
        Assert.Equal("AutoV3:  046E510C33DD   (full: 046E510C33DD33D00C3561311032F1475223D38791EE84287D82488A8B08798B)", lines[4]);
        Assert.Equal("CRC32:   E58FCD32", lines[5]);
        Assert.Equal("BLAKE3:  FAF96FD023C6F2F83E134A6729AC3442DFDDC11FBD704C786DF1240EBD5CF871", lines[6]);
        Assert.Equal(7, lines.Length);
    }

    [Fact]
    public void The_second_run_says_the_hashes_came_from_the_cache()
    {
        using var dir = new TempDir();
        string file = Fixtures.Path_("safetensors", "sd_tiny.safetensors");
        Assert.DoesNotContain("Cached:", Run(dir, "hash", file).StdOut, StringComparison.Ordinal);
        var second = Run(dir, "hash", file);
        Assert.Contains($"Cached:  from SafeCkpt's hash cache ({dir.File("hashes.json")}); the file was not read", second.StdOut, StringComparison.Ordinal);
        using JsonDocument doc = JsonDocument.Parse(Run(dir, "hash", file, "-j").StdOut);
        Assert.Equal("cache", doc.RootElement.GetProperty("source").GetString());
    }

    [Fact]
    public void No_cache_hashes_again_and_neither_reads_nor_writes_the_cache()
    {
        using var dir = new TempDir();
        string file = Fixtures.Path_("safetensors", "sd_tiny.safetensors");
        var r = Run(dir, "hash", file, "--no-cache", "-j");
        Assert.Equal("computed", Json(r)["source"]!.GetValue<string>());
        Assert.False(File.Exists(dir.File("hashes.json")));
        Run(dir, "hash", file);
        Assert.Equal("computed", Json(Run(dir, "hash", file, "--no-cache", "-j"))["source"]!.GetValue<string>());
    }

    [Fact]
    public void The_cache_option_names_the_cache_file()
    {
        using var dir = new TempDir();
        string file = Fixtures.Path_("safetensors", "sd_tiny.safetensors");
        string other = dir.File("other.json");
        Run(dir, "hash", file, "--cache", other);
        Assert.True(File.Exists(other));
        Assert.False(File.Exists(dir.File("hashes.json")));
        Assert.Equal("cache", Json(Run(dir, "hash", file, "--cache", other, "-j"))["source"]!.GetValue<string>());
    }

    [Fact]
    public void Json_has_every_key_in_lowercase_hex_and_null_AutoV3_where_there_is_none()
    {
        using var dir = new TempDir();
        JsonObject o = Json(Run(dir, "hash", Fixtures.Path_("hash", "short7.bin"), "-j"));
        Assert.Equal(JsonKeys, o.Select(p => p.Key));
        Assert.Null(o["autov3"]);
        Assert.Null(o["dataSha256"]);
        using JsonDocument expected = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("hashes.json")));
        JsonElement e = expected.RootElement.GetProperty("casts/torch_casts.safetensors");
        JsonObject h = Json(Run(dir, "hash", Fixtures.Path_("casts", "torch_casts.safetensors"), "-j"));
        Assert.Equal(JsonKeys, h.Select(p => p.Key));
        foreach ((string key, string fixtureKey) in new[] { ("sha256", "sha256"), ("autov1", "autov1"), ("autov2", "autov2"), ("autov3", "autov3"), ("dataSha256", "data_sha256"), ("crc32", "crc32"), ("blake3", "blake3") })
        {
            Assert.Equal(e.GetProperty(fixtureKey).GetString(), h[key]!.GetValue<string>());
        }
    }

    [Fact]
    public void Several_files_show_where_each_hash_came_from_and_count_the_cached_ones()
    {
        using var dir = new TempDir();
        string a = Fixtures.Path_("safetensors", "sd_tiny.safetensors");
        string b = Fixtures.Path_("ckpt", "zip_basic.ckpt");
        Run(dir, "hash", a);
        var r = Run(dir, "hash", a, b);
        Assert.Equal(0, r.ExitCode);
        string[] lines = r.StdOut.Split('\n');
        Assert.Matches(@"^SHA256 +AUTOV3 +SOURCE +FILE$", lines[0]);
        Assert.Matches($"^{ModelHashes.Compute(a).Sha256.ToUpperInvariant()}  {ModelHashes.Compute(a).AutoV3!.ToUpperInvariant()}  cache  +{a}$", lines[1]);
        Assert.Matches($"^{ModelHashes.Compute(b).Sha256.ToUpperInvariant()}  - +read  +{b}$", lines[2]);
        Assert.Contains("2 files: 1 hashed, 1 from the cache, 0 failed.", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void A_corrupt_cache_gives_a_warning_and_exit_0()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("hashes.json"), "{{{");
        var r = Run(dir, "hash", Fixtures.Path_("safetensors", "sd_tiny.safetensors"));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"safeckpt: warning: hash cache {dir.File("hashes.json")}: not valid JSON", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("SHA256:", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("safeckpt-hash-cache", File.ReadAllText(dir.File("hashes.json")), StringComparison.Ordinal);
    }

    [Fact]
    public void A1111_gets_its_cache_json_entries_and_is_told_about()
    {
        using var dir = new TempDir();
        string install = Path.Combine(dir.Path, "webui");
        string models = Path.Combine(install, "models", "Stable-diffusion");
        Directory.CreateDirectory(models);
        string checkpoint = Path.Combine(models, "m.safetensors");
        File.Copy(Fixtures.Path_("safetensors", "sd_tiny.safetensors"), checkpoint);
        var r = Run(dir, "hash", models, "--a1111", install);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"A1111: 1 entry written to {Path.Combine(install, "cache.json")}.", r.StdErr, StringComparison.Ordinal);
        JsonNode entry = JsonNode.Parse(File.ReadAllText(Path.Combine(install, "cache.json")))!["hashes"]!["checkpoint/m.safetensors"]!;
        Assert.Equal(ModelHashes.Compute(checkpoint).Sha256, entry["sha256"]!.GetValue<string>());

        // A1111 1.9+ with its cache/ folder will not read cache.json: the tool says so.
        Directory.CreateDirectory(Path.Combine(install, "cache"));
        File.SetLastWriteTimeUtc(checkpoint, DateTime.UtcNow.AddMinutes(-1));
        var again = Run(dir, "hash", models, "--a1111", install, "--no-cache");
        Assert.Contains("move it aside", again.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void A1111_hashes_are_used_and_the_output_says_so()
    {
        using var dir = new TempDir();
        string install = Path.Combine(dir.Path, "webui");
        string loras = Path.Combine(install, "models", "Lora");
        Directory.CreateDirectory(loras);
        string lora = Path.Combine(loras, "l.safetensors");
        File.Copy(Fixtures.Path_("safetensors", "sd_tiny.safetensors"), lora);
        File.WriteAllText(Path.Combine(install, "cache.json"), new JsonObject
        {
            ["hashes-addnet"] = new JsonObject { ["lora/l"] = new JsonObject { ["mtime"] = FileStamp.Of(lora).PythonMTime, ["sha256"] = ModelHashes.Compute(lora).DataSha256 } },
        }.ToJsonString());
        var r = Run(dir, "hash", lora, "--a1111", install);
        Assert.Contains($"Cached:  AutoV3 from A1111's cache.json ({Path.Combine(install, "cache.json")}); the others computed", r.StdOut, StringComparison.Ordinal);
        Assert.Equal("a1111-cache", Json(Run(dir, "hash", lora, "--a1111", install, "--cache", dir.File("fresh.json"), "-j"))["source"]!.GetValue<string>());
        Assert.Equal("computed", Json(Run(dir, "hash", lora, "--a1111", install, "--no-cache", "-j"))["source"]!.GetValue<string>());
    }

    [Fact]
    public void A_missing_A1111_folder_is_a_usage_error()
    {
        using var dir = new TempDir();
        var r = Run(dir, "hash", Fixtures.Path_("safetensors", "sd_tiny.safetensors"), "--a1111", dir.File("nowhere"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--a1111", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("no such folder", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void No_cache_with_a_cache_file_is_a_usage_error()
    {
        using var dir = new TempDir();
        var r = Run(dir, "hash", Fixtures.Path_("safetensors", "sd_tiny.safetensors"), "--no-cache", "--cache", dir.File("c.json"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--no-cache and --cache", r.StdErr, StringComparison.Ordinal);
        Assert.Empty(dir.Files());
    }

    [Fact]
    public void Runs_at_the_same_time_lose_none_of_each_others_cache_entries()
    {
        using var dir = new TempDir();
        string[] files = [.. Directory.GetFiles(Fixtures.Path_("ckpt")).Where(f => f.EndsWith(".ckpt", StringComparison.Ordinal)).Take(6)];
        var processes = files.Select(f => Start(dir, "hash", f, "-q")).ToList();
        foreach (Process p in processes)
        {
            Assert.True(p.WaitForExit(120_000));
            Assert.Equal(0, p.ExitCode);
            p.Dispose();
        }

        JsonNode cached = JsonNode.Parse(File.ReadAllText(dir.File("hashes.json")))!["files"]!;
        Assert.All(files, f => Assert.Equal(ModelHashes.Compute(f).Sha256, cached[Path.GetFullPath(f)]!["sha256"]!.GetValue<string>()));
    }

    /// <summary>Runs the tool with its hash cache in <paramref name="dir"/>.</summary>
    private static SafeCkptTool.Result Run(TempDir dir, params string[] args) =>
        SafeCkptTool.RunWith(new Dictionary<string, string?> { ["SAFECKPT_HASH_CACHE"] = dir.File("hashes.json") }, args);

    private static Process Start(TempDir dir, params string[] args) =>
        SafeCkptTool.StartWith(new Dictionary<string, string?> { ["SAFECKPT_HASH_CACHE"] = dir.File("hashes.json") }, args);

    private static JsonObject Json(SafeCkptTool.Result r) => JsonNode.Parse(r.StdOut)!.AsObject();
}
