using SafeCkpt.Numerics;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>Tests that set <see cref="CastKernels.Tier"/> (process-wide) run alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(CastTierOverride), DisableParallelization = true)]
public sealed class CastTierOverride;

/// <summary>Runs the cast kernels' entry points on one tier until disposed, then restores the hardware's tier.</summary>
internal sealed class ForcedTier : IDisposable
{
    public ForcedTier(VectorTier tier) => CastKernels.Tier = tier;

    public void Dispose() => CastKernels.Tier = CastKernels.HardwareTier;
}
