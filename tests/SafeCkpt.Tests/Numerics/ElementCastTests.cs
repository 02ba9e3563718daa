using SafeCkpt.Numerics;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Numerics;

/// <summary>
/// Element casts between any two floating dtypes, on every kernel tier (forced through <see cref="CastKernels.Tier"/>):
/// against torch, and against the scalar references at lengths around ElementCast's 4096-element blocks (the
/// conversions that go through float32 run block by block).
/// </summary>
[Collection(nameof(CastTierOverride))]
public class ElementCastTests
{
    private static readonly DType[] Floating = [DType.Float64, DType.Float32, DType.Float16, DType.BFloat16, DType.Float8E4M3, DType.Float8E5M2];

    public static TheoryData<string, DType, DType, string, string> CastsTorchRecorded()
    {
        (string Source, DType From, DType To, string Expected)[] casts =
        [
            ("f16_all", DType.Float16, DType.BFloat16, "f16_all_to_bf16"),
            ("bf16_all", DType.BFloat16, DType.Float16, "bf16_all_to_f16"),
            ("f64_src", DType.Float64, DType.Float32, "f64_src_to_f32"),
            ("f64_src", DType.Float64, DType.Float16, "f64_src_to_f16"),
            ("f64_src", DType.Float64, DType.BFloat16, "f64_src_to_bf16"),
            ("f32_src", DType.Float32, DType.Float16, "f32_src_to_f16"),
            ("f32_src", DType.Float32, DType.BFloat16, "f32_src_to_bf16"),
            ("f32_src", DType.Float32, DType.Float64, "f32_src_to_f64"),
            ("f16_all", DType.Float16, DType.Float32, "f16_all_to_f32"),
            ("bf16_all", DType.BFloat16, DType.Float32, "bf16_all_to_f32"),
        ];
        var data = new TheoryData<string, DType, DType, string, string>();
        foreach (var c in casts)
        {
            foreach (string tier in Enum.GetNames<VectorTier>())
            {
                data.Add(c.Source, c.From, c.To, c.Expected, tier);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CastsTorchRecorded))]
    public void Element_casts_between_any_two_float_dtypes_match_torch_on_every_tier(string source, DType from, DType to, string expected, string tier)
    {
        byte[] src = TorchCasts.Read(source);
        byte[] want = TorchCasts.Read(expected);
        int count = src.Length / (from.BitSize() / 8);
        var got = new byte[count * (to.BitSize() / 8)];
        using (new ForcedTier(Enum.Parse<VectorTier>(tier)))
        {
            ElementCast.Convert(from, to, src, got, count);
        }

        CastCase.AssertSameBits(src, from.BitSize() / 8, want, got, to.BitSize() / 8, $"{source} {from}->{to} on {tier}");
    }

    public static TheoryData<string> Tiers() => [.. Enum.GetNames<VectorTier>()];

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Every_pair_of_dtypes_matches_the_scalar_references_around_the_4096_element_blocks(string tier)
    {
        // ElementCast converts through float32 in blocks of 4096 elements; each length here ends a vector step, a
        // block, or neither, just before, on, or after a block boundary.
        int[] lengths = [4095, 4096, 4097, 4096 - 16, 4096 + 15, 4096 + 16, 4096 + 17, 8191, 8192, 8193, (3 * 4096) + 7];
        using var forced = new ForcedTier(Enum.Parse<VectorTier>(tier));
        foreach (DType from in Floating)
        {
            foreach (DType to in Floating)
            {
                foreach (int n in lengths)
                {
                    byte[] src = CastCase.SampleOf(from, n, (ulong)n);
                    byte[] want = CastCase.ScalarCast(from, to, src);
                    var got = new byte[want.Length];
                    ElementCast.Convert(from, to, src, got, n);
                    CastCase.AssertSameBits(src, from.BitSize() / 8, want, got, to.BitSize() / 8, $"{from}->{to}, {n} elements on {tier}");
                }
            }
        }
    }
}
