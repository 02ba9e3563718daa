using SafeCkpt.Numerics;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;
using SafeCkpt.Transforms;

namespace SafeCkpt.Tests.Transforms;

/// <summary>
/// A cast tensor source converts in chunks of 1 Mi elements: reading across the chunk boundaries gives the scalar
/// references' bits on every kernel tier this machine accelerates (forced through <see cref="CastKernels.Tier"/>).
/// </summary>
[Collection(nameof(CastTierOverride))]
public class CastTensorSourceTests
{
    private const int Chunk = 1 << 20;

    private static readonly DType[] Floating = [DType.Float64, DType.Float32, DType.Float16, DType.BFloat16];

    public static TheoryData<string> AcceleratedTiers() => [.. Enum.GetValues<VectorTier>().Where(t => t <= CastKernels.HardwareTier).Select(t => t.ToString())];

    [Theory]
    [MemberData(nameof(AcceleratedTiers))]
    public void Reads_across_the_chunk_boundaries_match_the_scalar_references_for_every_pair_of_dtypes(string tier)
    {
        int[] lengths = [Chunk - 1, Chunk, Chunk + 1, (2 * Chunk) + 17];
        using var forced = new ForcedTier(Enum.Parse<VectorTier>(tier));
        foreach (DType from in Floating)
        {
            int fromSize = from.BitSize() / 8;
            foreach (int n in lengths)
            {
                byte[] src = CastCase.SampleOf(from, n, (ulong)n);
                foreach (DType to in Floating.Where(t => t != from))
                {
                    int toSize = to.BitSize() / 8;
                    byte[] want = CastCase.ScalarCast(from, to, src);
                    var source = new CastTensorSource(new MemoryTensorSource(src), from, to);
                    Assert.Equal(want.Length, source.Length);

                    var got = new byte[want.Length];
                    source.Read(0, got);
                    CastCase.AssertSameBits(src, fromSize, want, got, toSize, $"{from}->{to}, {n} elements on {tier}");

                    // From element 3 on, so the chunks start off the vector steps, and ending 5 elements short.
                    const int First = 3;
                    int count = n - First - 5;
                    got = new byte[count * toSize];
                    source.Read((long)First * toSize, got);
                    CastCase.AssertSameBits(src[(First * fromSize)..], fromSize, want.AsSpan(First * toSize, count * toSize), got, toSize, $"{from}->{to}, elements {First}..{First + count} of {n} on {tier}");
                }
            }
        }
    }
}
