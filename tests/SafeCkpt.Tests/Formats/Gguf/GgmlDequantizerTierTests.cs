using System.Security.Cryptography;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using SafeCkpt.Formats.Gguf;
using SafeCkpt.Numerics;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Gguf;

/// <summary>
/// The vector tiers of the dequantizer against its scalar reference, bit for bit: random blocks whose fp16 scales
/// are drawn among NaNs (several payloads, both signs), infinities, subnormals, zeros and random patterns, any
/// number of blocks; and the gguf-py fixtures on every tier.
/// </summary>
[Collection(nameof(CastTierOverride))]
public class GgmlDequantizerTierTests
{
    /// <summary>The types with a vector path, with the byte offsets of their fp16 scale fields.</summary>
    private static readonly Dictionary<GgmlType, int[]> ScaleFields = new()
    {
        [GgmlType.Q8_0] = [0],
        [GgmlType.Q4_0] = [0],
        [GgmlType.Q4_1] = [0, 2],
        [GgmlType.Q5_0] = [0],
        [GgmlType.Q5_1] = [0, 2],
        [GgmlType.Q2_K] = [80, 82],
        [GgmlType.Q3_K] = [108],
        [GgmlType.Q4_K] = [0, 2],
        [GgmlType.Q5_K] = [0, 2],
        [GgmlType.Q6_K] = [208],
    };

    private static readonly ushort[] SpecialHalves =
    [
        0x7E00, 0xFE00, 0x7C01, 0xFC01, 0x7D55, 0xFFFF, 0x7FFF, // NaNs: quiet, signalling, payloads, both signs
        0x7C00, 0xFC00, // infinities
        0x0001, 0x8001, 0x03FF, 0x83FF, 0x0200, // subnormals
        0x0000, 0x8000, // zeros
        0x7BFF, 0xFBFF, 0x0400, 0x3C00, 0xBC00, // largest, smallest normal, ±1
    ];

    public static TheoryData<string> VectorTypes() => [.. ScaleFields.Keys.Select(t => t.ToString())];

    public static TheoryData<string> Tiers() => [.. Enum.GetNames<VectorTier>()];

    private static Gen<ushort> Scale { get; } = Gen.Frequency(
        (3, Gen.Elements(SpecialHalves)),
        (2, Gen.Choose(0, 0xFFFF).Select(i => (ushort)i)),
        (2, Gen.Choose(0x1000, 0x2C00).Select(i => (ushort)i))); // typical weight scales, 2^-11 to 2^-4

    /// <summary>Blocks of random bytes, each scale field set from <see cref="Scale"/>.</summary>
    private static Gen<byte[]> Blocks(GgmlType type)
    {
        GgmlTypes.TryGetBlock((uint)type, out _, out int size);
        int[] fields = ScaleFields[type];
        return Gen.Choose(0, 40).SelectMany(count =>
            Gen.Zip(Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf(count * size), Scale.ArrayOf(count * fields.Length))
                .Select(t =>
                {
                    (byte[] bytes, ushort[] scales) = t;
                    for (int b = 0; b < count; b++)
                    {
                        for (int f = 0; f < fields.Length; f++)
                        {
                            BitConverter.TryWriteBytes(bytes.AsSpan((b * size) + fields[f]), scales[(b * fields.Length) + f]);
                        }
                    }

                    return bytes;
                }));
    }

    private static uint[] Run(GgmlType type, byte[] blocks, VectorTier? tier, int spare)
    {
        GgmlTypes.TryGetBlock((uint)type, out int n, out int size);
        int values = blocks.Length / size * n;
        var y = new float[values + spare];
        y.AsSpan().Fill(BitConverter.UInt32BitsToSingle(0xDEADBEEF));
        if (tier is { } t)
        {
            GgmlDequantizer.Dequantize(type, blocks, y, t);
        }
        else
        {
            GgmlDequantizer.DequantizeScalar(type, blocks, y);
        }

        return [.. y.Select(BitConverter.SingleToUInt32Bits)];
    }

    [Theory]
    [MemberData(nameof(VectorTypes))]
    public void Every_tier_gives_the_scalar_references_bits_on_random_blocks_with_special_scales(string typeName)
    {
        GgmlType type = Enum.Parse<GgmlType>(typeName);
        Property property = Prop.ForAll(Blocks(type).ToArbitrary(), Gen.Choose(0, 9).ToArbitrary(), (blocks, spare) =>
        {
            uint[] want = Run(type, blocks, null, spare);
            foreach (VectorTier tier in Enum.GetValues<VectorTier>())
            {
                uint[] got = Run(type, blocks, tier, spare);
                int i = Enumerable.Range(0, want.Length).FirstOrDefault(k => want[k] != got[k], -1);
                Assert.True(i < 0, $"{type} on {tier}, {blocks.Length} bytes: element {i} is 0x{(i < 0 ? 0 : got[i]):X8}, the scalar reference gives 0x{(i < 0 ? 0 : want[i]):X8}");
            }

            // The destination past the last block is left alone.
            Assert.All(want[(want.Length - spare)..], v => Assert.Equal(0xDEADBEEFu, v));
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300).WithName(typeName), property);
    }

    [Theory]
    [MemberData(nameof(VectorTypes))]
    public void A_block_whose_scales_are_both_nans_keeps_the_scalar_references_payload_on_every_tier(string typeName)
    {
        // Q4_1 / Q5_1 / Q2_K / Q4_K / Q5_K add or subtract a NaN min to a NaN product: which payload survives depends on the order
        // of the operands, so the vector code must keep the scalar's.
        GgmlType type = Enum.Parse<GgmlType>(typeName);
        GgmlTypes.TryGetBlock((uint)type, out _, out int size);
        var rng = new Random(14);
        foreach ((ushort first, ushort second) in new (ushort, ushort)[] { (0x7E01, 0xFE02), (0xFC01, 0x7D55), (0x7C00, 0xFC00), (0x7E00, 0x7C00) })
        {
            byte[] blocks = new byte[3 * size];
            rng.NextBytes(blocks);
            for (int b = 0; b < 3; b++)
            {
                int[] fields = ScaleFields[type];
                BitConverter.TryWriteBytes(blocks.AsSpan((b * size) + fields[0]), first);
                if (fields.Length > 1)
                {
                    BitConverter.TryWriteBytes(blocks.AsSpan((b * size) + fields[1]), second);
                }
            }

            uint[] want = Run(type, blocks, null, 0);
            foreach (VectorTier tier in Enum.GetValues<VectorTier>())
            {
                Assert.Equal(want, Run(type, blocks, tier, 0));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Every_gguf_py_fixture_tensor_dequantizes_bit_exactly_on_every_tier(string tier)
    {
        using JsonDocument expected = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("gguf", "expected.json")));
        using (new ForcedTier(Enum.Parse<VectorTier>(tier)))
        {
            foreach (JsonProperty file in expected.RootElement.EnumerateObject())
            {
                using ModelFile model = ModelFile.Open(Fixtures.Path_("gguf", file.Name));
                foreach (JsonProperty tensor in file.Value.EnumerateObject())
                {
                    byte[] values = GgufReaderTests.Float32Bytes(model.Tensors, tensor.Name);
                    Assert.True(
                        string.Equals(tensor.Value.GetProperty("sha256").GetString(), Convert.ToHexString(SHA256.HashData(values)), StringComparison.OrdinalIgnoreCase),
                        $"{file.Name} {tensor.Name} ({tensor.Value.GetProperty("type").GetString()}) on {tier}");
                }
            }
        }
    }
}
