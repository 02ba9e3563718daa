using System.Runtime.Intrinsics;

namespace SafeCkpt.Numerics;

/// <summary>
/// Element-type conversions between F64, F32, F16 and BF16, bit-identical to PyTorch's CPU casts
/// (<c>tensor.half()</c>, <c>.bfloat16()</c>, <c>.float()</c>, <c>.double()</c>): round to nearest even, overflow to
/// infinity, subnormals kept. NaN policy, measured on PyTorch's CPU kernels: F32/F64→F16 gives
/// <c>sign | 0x7E00</c>; F32/F64→BF16 give <c>0xFFFF</c> (PyTorch's vector kernels, which every tensor longer than
/// a vector takes); F16→BF16 gives <c>0x7FC0</c>; widening keeps the payload (quietened).
/// </summary>
/// <remarks>
/// One file per conversion; each has a per-element function (the scalar reference), the lane function of every
/// vector tier beside it, and an entry point that runs the widest tier this machine accelerates
/// (<see cref="HardwareTier"/>: Vector256, else Vector128, else scalar) unless <see cref="Tier"/> was lowered.
/// The overloads that take a <see cref="VectorTier"/> run that tier whatever the hardware, so the tests cover every
/// tier on every machine. Every tier gives the same bits as the scalar reference for every input.
/// </remarks>
internal static partial class CastKernels
{
    /// <summary>The widest tier the runtime accelerates here: Vector256 with AVX2, Vector128 with SSE or NEON (or
    /// with <c>DOTNET_EnableAVX2=0</c>), scalar with <c>DOTNET_EnableHWIntrinsic=0</c>.</summary>
    internal static VectorTier HardwareTier { get; } =
        Vector256.IsHardwareAccelerated ? VectorTier.Vector256
        : Vector128.IsHardwareAccelerated ? VectorTier.Vector128
        : VectorTier.Scalar;

    /// <summary>The tier the entry points run: <see cref="HardwareTier"/>, unless a test or benchmark sets another
    /// to run the callers (ElementCast, CastTensorSource) on a narrower tier in-process.</summary>
    internal static VectorTier Tier { get; set; } = HardwareTier;

    private static void CheckLengths(int source, int destination)
    {
        if (destination < source)
        {
            throw new ArgumentException($"Destination holds {destination} elements; the source has {source}.", nameof(destination));
        }
    }
}
