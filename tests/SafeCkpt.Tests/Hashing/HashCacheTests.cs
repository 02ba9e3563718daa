using System.Text.Json;
using SafeCkpt.Hashing;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Hashing;

public class HashCacheTests
{
    /// <summary>A modification time .NET can set exactly (100 ns ticks), so a test can put a file's stamp back.</summary>
    private static readonly DateTime Stamp = new(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc);

    [Fact]
    public void The_second_hash_of_an_unchanged_file_comes_from_the_cache_without_reading_it()
    {
        using var dir = new TempDir();
        string model = Model(dir, "m.safetensors", 1);
        var options = new ModelHashOptions { CacheFile = dir.File("cache.json") };
        ModelHashes first = ModelHashes.Compute(model, options);
        Assert.Equal(HashOrigin.Computed, first.Origin);

        // Other bytes, same size and modification time: a cache hit returns the recorded values, so the file was not read.
        File.WriteAllBytes(model, Bytes(2, new FileInfo(model).Length));
        File.SetLastWriteTimeUtc(model, Stamp);
        ModelHashes second = ModelHashes.Compute(model, options);
        Assert.Equal(HashOrigin.Cache, second.Origin);
        Assert.Equal(first.Sha256, second.Sha256);
        Assert.Equal(first.Blake3, second.Blake3);
        Assert.Equal(first.Crc32, second.Crc32);
        Assert.Equal(first.AutoV1, second.AutoV1);
        Assert.Equal(first.DataSha256, second.DataSha256);
        Assert.Equal(first.Length, second.Length);
    }

    [Fact]
    public void A_file_of_another_size_is_hashed_again()
    {
        using var dir = new TempDir();
        string model = Model(dir, "m.bin", 1);
        var options = new ModelHashOptions { CacheFile = dir.File("cache.json") };
        ModelHashes first = ModelHashes.Compute(model, options);
        File.WriteAllBytes(model, Bytes(1, new FileInfo(model).Length + 1));
        File.SetLastWriteTimeUtc(model, Stamp);
        ModelHashes second = ModelHashes.Compute(model, options);
        Assert.Equal(HashOrigin.Computed, second.Origin);
        Assert.NotEqual(first.Sha256, second.Sha256);
        Assert.Equal(ModelHashes.Compute(model).Sha256, second.Sha256);
    }

    [Fact]
    public void A_file_modified_100_ns_later_is_hashed_again()
    {
        using var dir = new TempDir();
        string model = Model(dir, "m.bin", 1);
        var options = new ModelHashOptions { CacheFile = dir.File("cache.json") };
        ModelHashes.Compute(model, options);
        File.WriteAllBytes(model, Bytes(3, new FileInfo(model).Length));
        File.SetLastWriteTimeUtc(model, Stamp.AddTicks(1));
        ModelHashes second = ModelHashes.Compute(model, options);
        Assert.Equal(HashOrigin.Computed, second.Origin);
        Assert.Equal(ModelHashes.Compute(model).Sha256, second.Sha256);
    }

    [Fact]
    public void The_cache_file_records_size_mtime_in_nanoseconds_and_lowercase_hashes_under_the_full_path()
    {
        using var dir = new TempDir();
        string model = Model(dir, "m.safetensors", 1);
        ModelHashes h = ModelHashes.Compute(model, new ModelHashOptions { CacheFile = dir.File("cache.json") });
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(dir.File("cache.json")));
        Assert.Equal("safeckpt-hash-cache", doc.RootElement.GetProperty("format").GetString());
        Assert.Equal(1, doc.RootElement.GetProperty("version").GetInt32());
        JsonElement e = doc.RootElement.GetProperty("files").GetProperty(Path.GetFullPath(model));
        Assert.Equal(new FileInfo(model).Length, e.GetProperty("size").GetInt64());
        Assert.Equal((Stamp - DateTime.UnixEpoch).Ticks * 100, e.GetProperty("mtimeNs").GetInt64());
        Assert.Equal(h.Sha256, e.GetProperty("sha256").GetString());
        Assert.Equal(h.AutoV1, e.GetProperty("autov1").GetString());
        Assert.Equal(h.DataSha256, e.GetProperty("dataSha256").GetString());
        Assert.Equal(h.Crc32, e.GetProperty("crc32").GetString());
        Assert.Equal(h.Blake3, e.GetProperty("blake3").GetString());
    }

    [Theory]
    [InlineData("{ this is not json")]
    [InlineData("[1, 2, 3]")]
    [InlineData("{\"files\": {}}")]
    [InlineData("{\"format\": \"safeckpt-hash-cache\", \"version\": 1, \"files\": [1]}")]
    public void A_corrupt_cache_file_is_ignored_with_a_warning_and_replaced(string content)
    {
        using var dir = new TempDir();
        string model = Model(dir, "m.bin", 1);
        File.WriteAllText(dir.File("cache.json"), content);
        var warnings = new List<string>();
        ModelHashes h = ModelHashes.Compute(model, new ModelHashOptions { CacheFile = dir.File("cache.json"), Warning = warnings.Add });
        Assert.Equal(HashOrigin.Computed, h.Origin);
        Assert.Equal(ModelHashes.Compute(model).Sha256, h.Sha256);
        Assert.Contains(warnings, w => w.Contains("cache.json", StringComparison.Ordinal) && w.Contains("ignored", StringComparison.Ordinal));
        Assert.Equal(HashOrigin.Cache, ModelHashes.Compute(model, new ModelHashOptions { CacheFile = dir.File("cache.json") }).Origin);
    }

    [Fact]
    public void An_entry_that_does_not_hold_six_hex_hashes_is_dropped_and_the_file_hashed()
    {
        using var dir = new TempDir();
        string model = Model(dir, "m.bin", 1);
        var options = new ModelHashOptions { CacheFile = dir.File("cache.json") };
        ModelHashes.Compute(model, options);
        string text = File.ReadAllText(dir.File("cache.json"));
        File.WriteAllText(dir.File("cache.json"), text.Replace("\"crc32\": \"", "\"crc32\": \"zz", StringComparison.Ordinal));
        Assert.Equal(HashOrigin.Computed, ModelHashes.Compute(model, options).Origin);
    }

    [Fact]
    public void A_cache_of_another_version_is_used_for_nothing_and_left_as_it_is()
    {
        using var dir = new TempDir();
        string model = Model(dir, "m.bin", 1);
        const string Later = "{\"format\": \"safeckpt-hash-cache\", \"version\": 2, \"files\": {}}";
        File.WriteAllText(dir.File("cache.json"), Later);
        var warnings = new List<string>();
        Assert.Equal(HashOrigin.Computed, ModelHashes.Compute(model, new ModelHashOptions { CacheFile = dir.File("cache.json"), Warning = warnings.Add }).Origin);
        Assert.Equal(Later, File.ReadAllText(dir.File("cache.json")));
        Assert.Single(warnings);
    }

    [Fact]
    public void Two_sessions_writing_the_same_cache_keep_each_others_entries()
    {
        using var dir = new TempDir();
        string a = Model(dir, "a.bin", 1);
        string b = Model(dir, "b.bin", 2);
        var options = new ModelHashOptions { CacheFile = dir.File("cache.json") };
        var first = new HashSession(options);
        var second = new HashSession(options);
        first.Hash(a, null, CancellationToken.None);
        second.Hash(b, null, CancellationToken.None);
        first.Flush();
        second.Flush();
        Assert.Equal(HashOrigin.Cache, ModelHashes.Compute(a, options).Origin);
        Assert.Equal(HashOrigin.Cache, ModelHashes.Compute(b, options).Origin);
    }

    [Fact]
    public void A_lock_held_elsewhere_delays_the_write_with_a_warning_and_never_fails_the_hash()
    {
        using var dir = new TempDir();
        string model = Model(dir, "m.bin", 1);
        var warnings = new List<string>();
        TimeSpan before = CacheFile.LockTimeout;
        CacheFile.LockTimeout = TimeSpan.FromMilliseconds(200);
        try
        {
            using (new FileStream(dir.File("cache.json.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
            {
                ModelHashes h = ModelHashes.Compute(model, new ModelHashOptions { CacheFile = dir.File("cache.json"), Warning = warnings.Add });
                Assert.Equal(ModelHashes.Compute(model).Sha256, h.Sha256);
            }
        }
        finally
        {
            CacheFile.LockTimeout = before;
        }

        Assert.Contains(warnings, w => w.Contains("lock", StringComparison.Ordinal));
        Assert.False(File.Exists(dir.File("cache.json")));
    }

    [Fact]
    public void No_cache_file_means_no_cache()
    {
        using var dir = new TempDir();
        string model = Model(dir, "m.bin", 1);
        var options = new ModelHashOptions { CacheFile = null };
        ModelHashes.Compute(model, options);
        Assert.Equal(HashOrigin.Computed, ModelHashes.Compute(model, options).Origin);
        Assert.Equal([Path.GetFileName(model)], dir.Files());
    }

    [Fact]
    public void The_default_cache_file_follows_the_environment_variable()
    {
        string? before = Environment.GetEnvironmentVariable(HashCache.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(HashCache.EnvironmentVariable, "/tmp/x/hashes.json");
            Assert.Equal(Path.GetFullPath("/tmp/x/hashes.json"), ModelHashOptions.DefaultCacheFile);
            Environment.SetEnvironmentVariable(HashCache.EnvironmentVariable, null);
            Assert.EndsWith(Path.Combine("safeckpt", "hashes.json"), ModelHashOptions.DefaultCacheFile, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(HashCache.EnvironmentVariable, before);
        }
    }

    /// <summary>A model file with deterministic bytes and <see cref="Stamp"/> as its modification time.</summary>
    internal static string Model(TempDir dir, string name, int seed, int length = 300_000)
    {
        string path = dir.File(name);
        byte[] bytes = name.EndsWith(".safetensors", StringComparison.Ordinal) ? ModelHashesTests.Safetensors(Bytes(seed, length), 200) : Bytes(seed, length);
        File.WriteAllBytes(path, bytes);
        File.SetLastWriteTimeUtc(path, Stamp);
        return path;
    }

    private static byte[] Bytes(int seed, long length)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }
}
