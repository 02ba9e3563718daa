using System.Security.Cryptography;
using System.Text.Json;
using SafeCkpt.Building;
using SafeCkpt.Hashing;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Hashing;

public class ModelHashesTests
{
    public static TheoryData<string> HashedFixtures()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("hashes.json")));
        return [.. doc.RootElement.EnumerateObject().Select(p => p.Name)];
    }

    [Theory]
    [MemberData(nameof(HashedFixtures))]
    public void Hashes_match_the_values_computed_independently_by_the_fixture_script(string file)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("hashes.json")));
        JsonElement e = doc.RootElement.GetProperty(file);
        ModelHashes h = ModelHashes.Compute(Fixtures.Path_(file.Split('/')));
        Assert.Equal(e.GetProperty("sha256").GetString(), h.Sha256);
        Assert.Equal(e.GetProperty("autov2").GetString(), h.AutoV2);
        Assert.Equal(e.GetProperty("old_a1111").GetString(), h.OldA1111);
        Assert.Equal(e.TryGetProperty("data_sha256", out JsonElement d) ? d.GetString() : null, h.DataSha256);
        Assert.Equal(e.TryGetProperty("autov3", out JsonElement v3) ? v3.GetString() : null, h.AutoV3);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    [InlineData(0x100000 + 100)]
    [InlineData((8 << 20) - 3)]
    [InlineData((8 << 20) + 5)]
    [InlineData((17 << 20) + 12345)]
    public void Safetensors_hashes_equal_sha256_of_the_whole_file_and_of_the_data_across_chunk_boundaries(int dataBytes)
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        var rng = new Random(dataBytes);
        var bytes = new byte[dataBytes];
        rng.NextBytes(bytes);
        new CheckpointBuilder().Add("w", DType.UInt8, [dataBytes], bytes).SaveSafetensors(path);
        byte[] file = File.ReadAllBytes(path);
        int dataStart = file.Length - dataBytes;
        ModelHashes h = ModelHashes.Compute(path);
        Assert.Equal(Hex(SHA256.HashData(file)), h.Sha256);
        Assert.Equal(Hex(SHA256.HashData(file.AsSpan(dataStart))), h.DataSha256);
        Assert.Equal(Hex(SHA256.HashData(file.AsSpan(Math.Min(file.Length, 0x100000), Math.Clamp(file.Length - 0x100000, 0, 0x10000))))[..8], h.OldA1111);
        Assert.Equal(file.Length, h.Length);
    }

    [Fact]
    public void A_non_safetensors_file_has_no_autov3()
    {
        ModelHashes h = ModelHashes.Compute(Fixtures.Path_("ckpt", "zip_basic.ckpt"));
        Assert.Null(h.DataSha256);
        Assert.Null(h.AutoV3);
        Assert.Equal(10, h.AutoV2.Length);
    }

    [Fact]
    public void The_hash_command_prints_every_hash_and_json()
    {
        string file = Fixtures.Path_("casts", "torch_casts.safetensors");
        var r = SafeCkptTool.Run("hash", file, "--json");
        Assert.Equal(0, r.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        Assert.Equal("243d55dd81", doc.RootElement.GetProperty("autov2").GetString());
        Assert.Equal("c6c74b4a", doc.RootElement.GetProperty("oldA1111").GetString());
        Assert.Equal("046e510c33", doc.RootElement.GetProperty("autov3").GetString());
        Assert.Contains("AutoV3:     046e510c33", SafeCkptTool.Run("hash", file).StdOut, StringComparison.Ordinal);
    }

    private static string Hex(byte[] h) => Convert.ToHexString(h).ToLowerInvariant();
}
