namespace SafeCkpt.Numerics;

/// <summary>
/// The widest vector a kernel may use, in order: each tier also runs the narrower ones on its tail (a Vector256 loop,
/// then a Vector128 loop for what is left, then scalar elements).
/// </summary>
internal enum VectorTier
{
    /// <summary>One element at a time: the scalar reference.</summary>
    Scalar = 0,

    /// <summary>128-bit vectors through the cross-platform <c>Vector128</c> API (SSE2-SSE4.1 on x64, NEON on Arm64).</summary>
    Vector128 = 1,

    /// <summary>256-bit vectors (AVX2 on x64; emulated, correct but slow, where the hardware has none).</summary>
    Vector256 = 2,
}
