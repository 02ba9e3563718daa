using System.Buffers.Binary;
using System.Security.Cryptography;
using SafeCkpt.Building;
using SafeCkpt.Hashing;
using SafeCkpt.IO;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Metadata;

/// <summary>Small safetensors files for the metadata tests, and the facts the tests compare: header length, data section, inode.</summary>
internal static class MetaKit
{
    /// <summary>A file of a few tensors (random bytes, several dtypes) and the given metadata.</summary>
    public static string Make(string path, IReadOnlyDictionary<string, string>? metadata = null, int seed = 1)
    {
        var rng = new Random(seed);
        var b = new CheckpointBuilder();
        b.Add("model.diffusion_model.a.weight", DType.Float16, [4, 8], Random(rng, 64));
        b.Add("model.diffusion_model.b.bias", DType.Float32, [8], Random(rng, 32));
        b.Add("first_stage_model.c", DType.BFloat16, [3, 5], Random(rng, 30));
        b.Add("cond_stage_model.ids", DType.Int64, [1, 7], Random(rng, 56));
        foreach (KeyValuePair<string, string> kv in metadata ?? new Dictionary<string, string>())
        {
            b.WithMetadata(kv.Key, kv.Value);
        }

        b.SaveSafetensors(path);
        return path;
    }

    public static long HeaderLength(string path)
    {
        Span<byte> prefix = stackalloc byte[8];
        using FileStream f = File.OpenRead(path);
        f.ReadExactly(prefix);
        return (long)BinaryPrimitives.ReadUInt64LittleEndian(prefix);
    }

    /// <summary>Every byte after 8 + N, read without SafeCkpt.</summary>
    public static byte[] Data(string path)
    {
        byte[] all = File.ReadAllBytes(path);
        return all[(8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(all))..];
    }

    public static string DataSha256(string path) => Convert.ToHexString(SHA256.HashData(Data(path))).ToLowerInvariant();

    public static ulong Inode(string path) => FileIdentity.Of(path)!.Value.Index;

    public static IReadOnlyDictionary<string, string> Read(string path)
    {
        using ModelFile m = ModelFile.Open(path);
        return m.Metadata.ToDictionary();
    }

    public static string AutoV3(string path) => ModelHashes.Compute(path).DataSha256!;

    public static string Journal(string path) => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "." + Path.GetFileName(path) + ".safeckpt-meta");

    private static byte[] Random(Random rng, int n)
    {
        var bytes = new byte[n];
        rng.NextBytes(bytes);
        return bytes;
    }
}
