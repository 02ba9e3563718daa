using FsCheck;
using FsCheck.Fluent;
using SafeCkpt.Building;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>A random tensor: name, dtype, shape and matching bytes.</summary>
public sealed record RandomTensor(string Name, DType DType, long[] Shape, byte[] Data)
{
    public override string ToString() => $"{Name} {DType.ToSafetensorsName()} [{string.Join(",", Shape)}] ({Data.Length} B)";
}

/// <summary>A random checkpoint: tensors with unique names and string metadata.</summary>
public sealed record RandomCheckpoint(RandomTensor[] Tensors, KeyValuePair<string, string>[] Metadata)
{
    public CheckpointBuilder ToBuilder()
    {
        var b = new CheckpointBuilder();
        foreach (RandomTensor t in Tensors)
        {
            b.Add(t.Name, t.DType, t.Shape, t.Data);
        }

        foreach (var kv in Metadata)
        {
            b.WithMetadata(kv.Key, kv.Value);
        }

        return b;
    }

    public override string ToString() => $"{Tensors.Length} tensors: {string.Join("; ", Tensors.Select(t => t.ToString()))} | metadata {Metadata.Length}";
}

/// <summary>FsCheck generators shared by the property tests.</summary>
public static class Gens
{
    private static readonly char[] NameChars = "abcdefghijklmnopqrstuvwxyz0123456789._-/:\"\\ éλ中✓".ToCharArray();

    public static Gen<string> Name { get; } =
        Gen.Elements(NameChars).ArrayOf().Select(c => new string(c)).Where(s => s != "__metadata__");

    public static Gen<string> Text { get; } =
        Gen.OneOf(Gen.Elements(NameChars).ArrayOf().Select(c => new string(c)), ArbMap.Default.GeneratorFor<string>().Where(s => s is not null && IsWellFormed(s)));

    public static Gen<DType> DType { get; } = Gen.Elements(DTypeExtensions.All.ToArray());

    public static Gen<long[]> Shape(DType dtype) =>
        Gen.Choose(0, 4).SelectMany(rank => Gen.Choose(0, 5).ArrayOf(rank))
            .Select(d => d.Select(x => (long)x).ToArray())
            .Where(s => s.Aggregate(1L, (a, x) => a * x) * dtype.BitSize() % 8 == 0);

    public static Gen<RandomTensor> Tensor(string name) =>
        from dtype in DType
        from shape in Shape(dtype)
        let length = (int)(shape.Aggregate(1L, (a, x) => a * x) * dtype.BitSize() / 8)
        from data in ArbMap.Default.GeneratorFor<byte>().ArrayOf(length)
        select new RandomTensor(name, dtype, shape, data);

    public static Gen<RandomCheckpoint> Checkpoint { get; } =
        from names in Name.ArrayOf().Select(n => n.Distinct(StringComparer.Ordinal).Take(12).ToArray())
        from tensors in Gen.CollectToArray(names.Select(Tensor))
        from keys in Name.ArrayOf().Select(n => n.Distinct(StringComparer.Ordinal).Take(5).ToArray())
        from values in Text.ArrayOf(keys.Length)
        select new RandomCheckpoint(tensors, keys.Zip(values, (k, v) => new KeyValuePair<string, string>(k, v)).ToArray());

    private static bool IsWellFormed(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]))
                {
                    return false;
                }

                i++;
            }
            else if (char.IsLowSurrogate(s[i]))
            {
                return false;
            }
        }

        return true;
    }
}
