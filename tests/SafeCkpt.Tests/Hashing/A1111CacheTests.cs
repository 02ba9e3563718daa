using System.Text.Json.Nodes;
using SafeCkpt.Hashing;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Hashing;

public class A1111CacheTests
{
    [Theory]
    [InlineData("models/Stable-diffusion/model.safetensors", "hashes", "checkpoint/model.safetensors", false)]
    [InlineData("models/Stable-diffusion/sub/dir/model.ckpt", "hashes", "checkpoint/sub/dir/model.ckpt", false)]
    [InlineData("models/Lora/style.safetensors", "hashes-addnet", "lora/style", true)]
    [InlineData("models/Lora/sub/old.pt", "hashes", "lora/old", false)]
    [InlineData("models/LyCORIS/loha.safetensors", "hashes-addnet", "lora/loha", true)]
    [InlineData("embeddings/sub/bad-hands.pt", "hashes", "textual_inversion/bad-hands", false)]
    public void Files_under_the_install_get_the_title_A1111_looks_them_up_by(string relative, string section, string title, bool addnet)
    {
        using var dir = new TempDir();
        A1111Cache cache = A1111Cache.Open(dir.Path, _ => { });
        Assert.Equal((section, NativeTitle(title), addnet), cache.TitleOf(Path.Combine(dir.Path, relative)));
    }

    [Theory]
    [InlineData("models/VAE/vae.safetensors")]
    [InlineData("models/hypernetworks/h.pt")]
    [InlineData("elsewhere/model.safetensors")]
    [InlineData("models/Stable-diffusion")]
    public void Files_A1111_does_not_cache_by_name_get_no_title(string relative)
    {
        using var dir = new TempDir();
        Assert.Null(A1111Cache.Open(dir.Path, _ => { }).TitleOf(Path.Combine(dir.Path, relative)));
    }

    [Fact]
    public void Hashing_a_folder_writes_A1111_entries_with_the_python_mtime_and_keeps_the_other_sections()
    {
        using var dir = new TempDir();
        string checkpoint = Install(dir, "models/Stable-diffusion/sub/c.safetensors", 1);
        string lora = Install(dir, "models/Lora/l.safetensors", 2);
        string loraPt = Install(dir, "models/Lora/p.pt", 3);
        File.WriteAllText(dir.File("cache.json"), "{\"safetensors-metadata\": {\"checkpoint/x\": {\"mtime\": 1.5, \"value\": {\"k\": \"\u00e9\"}}}, \"hashes\": {\"vae\": {\"mtime\": 2.0, \"sha256\": \"ab\"}}}");
        var options = new ModelHashOptions { CacheFile = null, A1111 = dir.Path };
        foreach (string f in new[] { checkpoint, lora, loraPt })
        {
            ModelHashes.Compute(f, options);
        }

        JsonObject root = JsonNode.Parse(File.ReadAllText(dir.File("cache.json")))!.AsObject();
        Assert.Equal("\u00e9", root["safetensors-metadata"]!["checkpoint/x"]!["value"]!["k"]!.GetValue<string>());
        Assert.Equal("ab", root["hashes"]!["vae"]!["sha256"]!.GetValue<string>());
        AssertEntry(root["hashes"]!["checkpoint/" + Path.Combine("sub", "c.safetensors")]!, checkpoint, ModelHashes.Compute(checkpoint).Sha256);
        AssertEntry(root["hashes-addnet"]!["lora/l"]!, lora, ModelHashes.Compute(lora).DataSha256!);
        AssertEntry(root["hashes"]!["lora/p"]!, loraPt, ModelHashes.Compute(loraPt).Sha256);
    }

    [Fact]
    public void An_A1111_entry_with_the_files_exact_mtime_saves_the_sha256_pass()
    {
        using var dir = new TempDir();
        string checkpoint = Install(dir, "models/Stable-diffusion/c.safetensors", 1);
        string lora = Install(dir, "models/Lora/l.safetensors", 2);
        double c = FileStamp.Of(checkpoint).PythonMTime;
        double l = FileStamp.Of(lora).PythonMTime;

        // Values no file has: that SafeCkpt reports them proves it took them from the cache.
        string fake1 = new('1', 64), fake2 = new('2', 64);
        var cacheJson = new JsonObject
        {
            ["hashes"] = new JsonObject { ["checkpoint/c.safetensors"] = new JsonObject { ["mtime"] = c, ["sha256"] = fake1 } },
            ["hashes-addnet"] = new JsonObject { ["lora/l"] = new JsonObject { ["mtime"] = l, ["sha256"] = fake2.ToUpperInvariant() } },
        };
        File.WriteAllText(dir.File("cache.json"), cacheJson.ToJsonString());
        var options = new ModelHashOptions { CacheFile = null, A1111 = dir.File("cache.json") };
        ModelHashes hc = ModelHashes.Compute(checkpoint, options);
        Assert.Equal((HashOrigin.A1111Cache, fake1), (hc.Origin, hc.Sha256));
        Assert.Equal(ModelHashes.Compute(checkpoint).DataSha256, hc.DataSha256);
        ModelHashes hl = ModelHashes.Compute(lora, options);
        Assert.Equal((HashOrigin.A1111Cache, fake2), (hl.Origin, hl.DataSha256));
        Assert.Equal(ModelHashes.Compute(lora).Sha256, hl.Sha256);
    }

    [Fact]
    public void An_A1111_entry_for_another_mtime_is_not_used_and_is_replaced()
    {
        using var dir = new TempDir();
        string checkpoint = Install(dir, "models/Stable-diffusion/c.safetensors", 1);
        double stale = FileStamp.Of(checkpoint).PythonMTime - 1;
        File.WriteAllText(dir.File("cache.json"), new JsonObject
        {
            ["hashes"] = new JsonObject { ["checkpoint/c.safetensors"] = new JsonObject { ["mtime"] = stale, ["sha256"] = new string('1', 64) } },
        }.ToJsonString());
        ModelHashes h = ModelHashes.Compute(checkpoint, new ModelHashOptions { CacheFile = null, A1111 = dir.Path });
        Assert.Equal(HashOrigin.Computed, h.Origin);
        JsonNode entry = JsonNode.Parse(File.ReadAllText(dir.File("cache.json")))!["hashes"]!["checkpoint/c.safetensors"]!;
        AssertEntry(entry, checkpoint, h.Sha256);
    }

    [Theory]
    [InlineData("{\"hashes\": ")]
    [InlineData("[]")]
    [InlineData("{\"hashes\": {\"x\": NaN}}")]
    public void A_cache_json_this_tool_cannot_read_is_never_written(string content)
    {
        using var dir = new TempDir();
        string checkpoint = Install(dir, "models/Stable-diffusion/c.safetensors", 1);
        File.WriteAllText(dir.File("cache.json"), content);
        var warnings = new List<string>();
        ModelHashes h = ModelHashes.Compute(checkpoint, new ModelHashOptions { CacheFile = null, A1111 = dir.Path, Warning = warnings.Add });
        Assert.Equal(ModelHashes.Compute(checkpoint).Sha256, h.Sha256);
        Assert.Equal(content, File.ReadAllText(dir.File("cache.json")));
        Assert.Contains(warnings, w => w.Contains("cache.json", StringComparison.Ordinal));
    }

    [Fact]
    public void A_file_hashed_from_safeckpts_cache_still_gets_its_A1111_entry()
    {
        using var dir = new TempDir();
        string checkpoint = Install(dir, "models/Stable-diffusion/c.safetensors", 1);
        string cache = Path.Combine(dir.Path, "own", "hashes.json");
        ModelHashes.Compute(checkpoint, new ModelHashOptions { CacheFile = cache });
        ModelHashes h = ModelHashes.Compute(checkpoint, new ModelHashOptions { CacheFile = cache, A1111 = dir.Path });
        Assert.Equal(HashOrigin.Cache, h.Origin);
        AssertEntry(JsonNode.Parse(File.ReadAllText(dir.File("cache.json")))!["hashes"]!["checkpoint/c.safetensors"]!, checkpoint, h.Sha256);
    }

    [Fact]
    public void The_cache_json_written_holds_what_A1111s_own_code_returned_in_the_oracle()
    {
        using var dir = new TempDir();
        List<JsonNode> files = OracleInstall(dir);
        foreach (JsonNode f in files)
        {
            ModelHashes.Compute(Path.Combine(dir.Path, f["path"]!.GetValue<string>()), new ModelHashOptions { CacheFile = null, A1111 = dir.Path });
        }

        JsonNode written = JsonNode.Parse(File.ReadAllText(dir.File("cache.json")))!;
        foreach (JsonNode f in files)
        {
            string title = f["title"]!.GetValue<string>();
            JsonNode entry = written[f["section"]!.GetValue<string>()]![NativeTitle(title)]!;
            Assert.Equal(f["a1111_returned"]!.GetValue<string>(), entry["sha256"]!.GetValue<string>());
            Assert.Equal(f["getmtime"]!.GetValue<double>(), entry["mtime"]!.GetValue<double>());
        }
    }

    [Fact]
    public void The_cache_json_A1111_wrote_in_the_oracle_gives_its_hashes_without_the_sha256_passes()
    {
        using var dir = new TempDir();
        List<JsonNode> files = OracleInstall(dir);
        File.Copy(Fixtures.Path_("hash", "a1111", "cache_written_by_a1111.json"), dir.File("cache.json"));
        foreach (JsonNode f in files)
        {
            string path = Path.Combine(dir.Path, f["path"]!.GetValue<string>());
            ModelHashes h = ModelHashes.Compute(path, new ModelHashOptions { CacheFile = null, A1111 = dir.Path });
            Assert.Equal(HashOrigin.A1111Cache, h.Origin);
            bool addnet = f["section"]!.GetValue<string>() == "hashes-addnet";
            Assert.Equal(f["sha256"]!.GetValue<string>(), addnet ? h.DataSha256 : h.Sha256);
            ModelHashes computed = ModelHashes.Compute(path);
            Assert.Equal((computed.Sha256, computed.DataSha256, computed.Blake3), (h.Sha256, h.DataSha256, h.Blake3));
        }
    }

    /// <summary>Copies the oracle's files into <paramref name="dir"/> with their modification times (those .NET can set: multiples of 100 ns).</summary>
    private static List<JsonNode> OracleInstall(TempDir dir)
    {
        JsonNode e = JsonNode.Parse(File.ReadAllText(Fixtures.Path_("hash", "a1111", "expectations.json")))!;
        var files = new List<JsonNode>();
        foreach (JsonNode f in e["files"]!.AsArray().Select(f => f!))
        {
            long ns = f["mtime_ns"]!.GetValue<long>();
            if (ns % 100 != 0)
            {
                continue;
            }

            string path = Path.Combine(dir.Path, f["path"]!.GetValue<string>());
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.Copy(Fixtures.Path_(f["fixture"]!.GetValue<string>().Split('/')), path);
            File.SetLastWriteTimeUtc(path, DateTime.UnixEpoch.AddTicks(ns / 100));
            files.Add(f);
        }

        Assert.True(files.Count >= 5);
        return files;
    }

    /// <summary>A checkpoint title names the path below the folder with the platform's separators (the oracle records '/').</summary>
    private static string NativeTitle(string title) =>
        title.StartsWith("checkpoint/", StringComparison.Ordinal) ? "checkpoint/" + title["checkpoint/".Length..].Replace('/', Path.DirectorySeparatorChar) : title;

    private static void AssertEntry(JsonNode entry, string file, string sha256)
    {
        Assert.Equal(sha256, entry["sha256"]!.GetValue<string>());
        Assert.Equal(FileStamp.Of(file).PythonMTime, entry["mtime"]!.GetValue<double>());
    }

    private static string Install(TempDir dir, string relative, int seed)
    {
        string path = Path.Combine(dir.Path, relative.Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var data = new byte[5000];
        new Random(seed).NextBytes(data);
        File.WriteAllBytes(path, path.EndsWith(".safetensors", StringComparison.Ordinal) ? ModelHashesTests.Safetensors(data, 100) : data);
        return path;
    }
}
