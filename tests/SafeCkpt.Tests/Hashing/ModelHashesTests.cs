using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Hashing;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Hashing;

public class ModelHashesTests
{
    private static readonly HashPass.Schedule[] Schedules = Enum.GetValues<HashPass.Schedule>();

    public static TheoryData<string> HashedFixtures()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("hashes.json")));
        return [.. doc.RootElement.EnumerateObject().Select(p => p.Name)];
    }

    [Theory]
    [MemberData(nameof(HashedFixtures))]
    public void The_six_hashes_match_hashlib_zlib_and_b3sum_as_the_fixture_script_computed_them(string file)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("hashes.json")));
        JsonElement e = doc.RootElement.GetProperty(file);
        foreach (HashPass.Schedule schedule in Schedules)
        {
            ModelHashes h = ModelHashes.Compute(Fixtures.Path_(file.Split('/')), default, schedule, null, CancellationToken.None);
            Assert.Equal(e.GetProperty("sha256").GetString(), h.Sha256);
            Assert.Equal(e.GetProperty("autov1").GetString(), h.AutoV1);
            Assert.Equal(e.GetProperty("autov2").GetString(), h.AutoV2);
            Assert.Equal(e.GetProperty("autov3").GetString(), h.AutoV3);
            Assert.Equal(e.GetProperty("data_sha256").GetString(), h.DataSha256);
            Assert.Equal(e.GetProperty("crc32").GetString(), h.Crc32);
            Assert.Equal(e.GetProperty("blake3").GetString(), h.Blake3);
            Assert.Equal(new FileInfo(Fixtures.Path_(file.Split('/'))).Length, h.Length);
            Assert.Equal(HashOrigin.Computed, h.Origin);
        }
    }

    [Fact]
    public void Hello_world_gives_the_values_of_civitais_own_hash_test()
    {
        // civitai/model-scanner orchestrator/ModelScannerTests/HashTaskTests.cs (dummy.txt = "hello world").
        ModelHashes h = ModelHashes.Compute(Fixtures.Path_("hash", "hello_world.txt"));
        Assert.Equal("85114A0D", h.Crc32.ToUpperInvariant());
        Assert.Equal("B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9", h.Sha256.ToUpperInvariant());
        Assert.Equal("B94D27B993", h.AutoV2.ToUpperInvariant());
        Assert.Equal("D74981EFA70A0C880B8D8C1985D075DBCBF679B99A5F9914E5AAF96B831A9E24", h.Blake3.ToUpperInvariant());

        // zlib's number is the same four bytes the other way round.
        Assert.Equal(0x0D4A1185u, BinaryPrimitives.ReadUInt32LittleEndian(Convert.FromHexString(h.Crc32)));
    }

    [Theory]
    [InlineData("hash", "short7.bin")]
    [InlineData("hash", "truncated.safetensors")]
    [InlineData("hash", "empty.bin")]
    [InlineData("ckpt", "zip_basic.ckpt")]
    [InlineData("ckpt", "legacy.ckpt")]
    public void A_file_that_is_not_a_whole_safetensors_file_has_null_AutoV3_and_the_other_five(string folder, string name)
    {
        ModelHashes h = ModelHashes.Compute(Fixtures.Path_(folder, name));
        Assert.Null(h.AutoV3);
        Assert.Null(h.DataSha256);
        Assert.Equal(64, h.Blake3.Length);
        Assert.Equal(8, h.Crc32.Length);
    }

    [Fact]
    public void A_safetensors_header_of_16_MiB_or_more_is_still_skipped_as_kohya_and_A1111_skip_it()
    {
        using var dir = new TempDir();
        string path = dir.File("big_header.safetensors");
        byte[] data = [1, 2, 3, 4, 5, 6, 7, 8];
        byte[] file = Safetensors(data, headerLength: (17 << 20) + 3);
        File.WriteAllBytes(path, file);
        ModelHashes h = ModelHashes.Compute(path);
        Assert.Equal(Hex(SHA256.HashData(data)), h.DataSha256);
    }

    /// <summary>File lengths where the pass changes behaviour: tiny, around AutoV1's window, around the chunk size and its multiples.</summary>
    private static readonly Gen<int> Lengths = Gen.OneOf(
        Gen.Choose(0, 3000),
        Gen.Choose(0x100000 - 70, 0x110000 + 70),
        Gen.Choose(1, 3).SelectMany(k => Gen.Choose(-70, 70).Select(d => (k * HashPass.ChunkSize) + d)),
        Gen.Choose(0, (3 * HashPass.ChunkSize) + 5000));

    [Property(MaxTest = 40)]
    public Property Random_files_hash_as_the_one_shot_references_under_every_schedule() =>
        Prop.ForAll(Gen.Zip(Lengths, Gen.Choose(0, int.MaxValue)).ToArbitrary(), c =>
        {
            (int length, int seed) = c;
            var file = new byte[length];
            new Random(seed).NextBytes(file);
            return MatchesReferences(file, ".bin");
        });

    [Property(MaxTest = 40)]
    public Property Random_safetensors_with_random_header_sizes_hash_as_the_one_shot_references() =>
        Prop.ForAll(Gen.Zip(Gen.Choose(60, 3_000_000), Gen.Zip(Lengths, Gen.Choose(0, int.MaxValue))).ToArbitrary(), c =>
        {
            (int header, (int dataLength, int seed)) = c;
            var data = new byte[dataLength];
            new Random(seed).NextBytes(data);
            return MatchesReferences(Safetensors(data, header), ".safetensors");
        });

    [Fact]
    public void A_cancelled_pass_throws_and_the_next_one_still_hashes()
    {
        using var dir = new TempDir();
        string path = dir.File("m.bin");
        var bytes = new byte[(3 * HashPass.ChunkSize) + 17];
        new Random(5).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        foreach (HashPass.Schedule schedule in Schedules)
        {
            using var cts = new CancellationTokenSource();
            var cancelAfterFirstChunk = new Progress(_ => cts.Cancel());
            Assert.ThrowsAny<OperationCanceledException>(() => ModelHashes.Compute(path, default, schedule, cancelAfterFirstChunk, cts.Token));
            Assert.Equal(Hex(SHA256.HashData(bytes)), ModelHashes.Compute(path, default, schedule, null, CancellationToken.None).Sha256);
        }
    }

    [Fact]
    public void Known_sha256_values_are_taken_as_given_and_their_passes_skipped()
    {
        string path = Fixtures.Path_("casts", "torch_casts.safetensors");
        string fake = new('a', 64);
        ModelHashes h = ModelHashes.Compute(path, new ModelHashes.KnownSha256(fake, fake), HashPass.Schedule.Lanes, null, CancellationToken.None);
        Assert.Equal(fake, h.Sha256);
        Assert.Equal(fake, h.DataSha256);
        Assert.Equal(HashOrigin.A1111Cache, h.Origin);
        Assert.Equal(ModelHashes.Compute(path).Blake3, h.Blake3);
    }

    [Fact]
    public void A_missing_file_is_an_input_read_error()
    {
        using var dir = new TempDir();
        Assert.Throws<InputReadException>(() => ModelHashes.Compute(dir.File("missing.safetensors")));
    }

    /// <summary>A safetensors file of one U8 tensor, its header padded with spaces to <paramref name="headerLength"/> bytes.</summary>
    internal static byte[] Safetensors(byte[] data, int headerLength)
    {
        string json = $"{{\"w\":{{\"dtype\":\"U8\",\"shape\":[{data.Length}],\"data_offsets\":[0,{data.Length}]}}}}";
        byte[] header = Encoding.UTF8.GetBytes(json.PadRight(Math.Max(headerLength, json.Length)));
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    /// <summary>Hashes <paramref name="file"/> under every schedule and compares with SHA256.HashData, Crc32.Hash and Blake3's one-shot hash of the right ranges.</summary>
    private static bool MatchesReferences(byte[] file, string extension)
    {
        using var dir = new TempDir();
        string path = dir.File("f" + extension);
        File.WriteAllBytes(path, file);
        long start = extension == ".safetensors" ? 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(file) : -1;
        string? data = start < 0 ? null : Hex(SHA256.HashData(file.AsSpan((int)start)));
        int windowStart = Math.Min(file.Length, 0x100000);
        string autoV1 = Hex(SHA256.HashData(file.AsSpan(windowStart, Math.Min(file.Length - windowStart, 0x10000))))[..8];
        string sha = Hex(SHA256.HashData(file));
        string crc = Hex(Crc32.Hash(file));
        string blake = Blake3.Hasher.Hash(file).ToString();
        return Schedules.All(s =>
        {
            ModelHashes h = ModelHashes.Compute(path, default, s, null, CancellationToken.None);
            return h.Sha256 == sha && h.DataSha256 == data && h.AutoV1 == autoV1 && h.Crc32 == crc && h.Blake3 == blake && h.Length == file.Length;
        });
    }

    private static string Hex(byte[] h) => Convert.ToHexString(h).ToLowerInvariant();

    private sealed class Progress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
