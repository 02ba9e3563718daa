using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Benchmarks;

/// <summary>
/// Every cast kernel over 16 Mi elements, on each tier this machine accelerates (Vector256, Vector128, scalar),
/// through the kernels' per-tier entry points; F16→BF16 goes through ElementCast with <see cref="CastKernels.Tier"/>
/// set. GB/s = input bytes / mean time (the table in benchmarks/README.md). Tier-independent yardsticks (memcpy,
/// TensorPrimitives) are in <see cref="CastBaselineBenchmarks"/>.
/// </summary>
[MemoryDiagnoser]
public class CastKernelBenchmarks
{
    internal const int N = 16 << 20;
    private float[] _f32 = [];
    private float[] _f32Out = [];
    private double[] _f64 = [];
    private double[] _f64Out = [];
    private ushort[] _u16 = [];
    private ushort[] _u16Out = [];
    private ushort[] _bf16 = [];
    private byte[] _f8 = [];
    private byte[] _f8E5M2 = [];
    private byte[] _f8Out = [];
    private VectorTier _tier;

    /// <summary>The tiers this machine accelerates, widest first (a tier it lacks would run emulated).</summary>
    public static IEnumerable<string> Tiers => Enum.GetValues<VectorTier>().Where(t => t <= CastKernels.HardwareTier).Reverse().Select(t => t.ToString());

    [ParamsSource(nameof(Tiers))]
    public string Tier { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _tier = Enum.Parse<VectorTier>(Tier);
        CastKernels.Tier = _tier;
        (_f32, _f64, _u16) = Inputs();
        _f32Out = new float[N];
        _f64Out = new double[N];
        _u16Out = new ushort[N];
        _f8 = new byte[N];
        CastKernels.SingleToFloat8(_f32, _f8, DType.Float8E4M3, saturate: false, _tier);
        _f8E5M2 = new byte[N];
        CastKernels.SingleToFloat8(_f32, _f8E5M2, DType.Float8E5M2, saturate: false, _tier);
        _bf16 = new ushort[N];
        CastKernels.SingleToBFloat16(_f32, _bf16, 0xFFFF, _tier);
        _f8Out = new byte[N];
    }

    [GlobalCleanup]
    public void Cleanup() => CastKernels.Tier = CastKernels.HardwareTier;

    /// <summary>Weights as a model holds them: small normal values (|x| &lt; 0.05), as float32, float64 and float16.</summary>
    internal static (float[] F32, double[] F64, ushort[] F16) Inputs()
    {
        var rng = new Random(42);
        float[] f32 = Enumerable.Range(0, N).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 0.05f).ToArray();
        var u16 = new ushort[N];
        CastKernels.SingleToHalf(f32, u16);
        return (f32, f32.Select(x => (double)x).ToArray(), u16);
    }

    [Benchmark(Description = "F32->F16")]
    public void SingleToHalf() => CastKernels.SingleToHalf(_f32, _u16Out, _tier);

    [Benchmark(Description = "F32->BF16")]
    public void SingleToBFloat16() => CastKernels.SingleToBFloat16(_f32, _u16Out, 0xFFFF, _tier);

    [Benchmark(Description = "F16->F32")]
    public void HalfToSingle() => CastKernels.HalfToSingle(_u16, _f32Out, _tier);

    [Benchmark(Description = "BF16->F32")]
    public void BFloat16ToSingle() => CastKernels.BFloat16ToSingle(_u16, _f32Out, _tier);

    [Benchmark(Description = "F64->F32")]
    public void DoubleToSingle() => CastKernels.DoubleToSingle(_f64, _f32Out, _tier);

    [Benchmark(Description = "F32->F64")]
    public void SingleToDouble() => CastKernels.SingleToDouble(_f32, _f64Out, _tier);

    [Benchmark(Description = "F32->F8_E4M3")]
    public void SingleToFloat8E4M3() => CastKernels.SingleToFloat8(_f32, _f8Out, DType.Float8E4M3, false, _tier);

    [Benchmark(Description = "F32->F8_E5M2")]
    public void SingleToFloat8E5M2() => CastKernels.SingleToFloat8(_f32, _f8Out, DType.Float8E5M2, false, _tier);

    [Benchmark(Description = "F8_E4M3->F32")]
    public void Float8E4M3ToSingle() => CastKernels.Float8ToSingle(_f8, _f32Out, DType.Float8E4M3, _tier);

    [Benchmark(Description = "F8_E5M2->F32")]
    public void Float8E5M2ToSingle() => CastKernels.Float8ToSingle(_f8E5M2, _f32Out, DType.Float8E5M2, _tier);

    [Benchmark(Description = "F8_E4M3->F16 (ElementCast, via F32 in 4 Ki blocks)")]
    public void Float8E4M3ToHalf() => ElementCast.Convert(DType.Float8E4M3, DType.Float16, _f8, MemoryMarshal.AsBytes(_u16Out.AsSpan()), N);

    [Benchmark(Description = "F8_E4M3->BF16 (ElementCast, via F32 in 4 Ki blocks)")]
    public void Float8E4M3ToBFloat16() => ElementCast.Convert(DType.Float8E4M3, DType.BFloat16, _f8, MemoryMarshal.AsBytes(_u16Out.AsSpan()), N);

    [Benchmark(Description = "F8_E5M2->F16 (ElementCast, via F32 in 4 Ki blocks)")]
    public void Float8E5M2ToHalf() => ElementCast.Convert(DType.Float8E5M2, DType.Float16, _f8E5M2, MemoryMarshal.AsBytes(_u16Out.AsSpan()), N);

    [Benchmark(Description = "F16->F8_E5M2 (ElementCast, via F32 in 4 Ki blocks)")]
    public void HalfToFloat8E5M2() => ElementCast.Convert(DType.Float16, DType.Float8E5M2, MemoryMarshal.AsBytes(_u16.AsSpan()), _f8Out, N);

    [Benchmark(Description = "BF16->F8_E4M3 (ElementCast, via F32 in 4 Ki blocks)")]
    public void BFloat16ToFloat8E4M3() => ElementCast.Convert(DType.BFloat16, DType.Float8E4M3, MemoryMarshal.AsBytes(_bf16.AsSpan()), _f8Out, N);

    [Benchmark(Description = "F16->F8_E4M3 (ElementCast, via F32 in 4 Ki blocks)")]
    public void HalfToFloat8() => ElementCast.Convert(DType.Float16, DType.Float8E4M3, MemoryMarshal.AsBytes(_u16.AsSpan()), _f8Out, N);

    [Benchmark(Description = "F16 -> scaled F8_E4M3 (ComfyUI's quantize: scale, round to F16, saturate)")]
    public void HalfToScaledFloat8() => ScaledFloat8.Quantize(DType.Float16, MemoryMarshal.AsBytes(_u16.AsSpan()), _f8Out, N, 0.05f / 448f, DType.Float8E4M3);

    [Benchmark(Description = "F16->BF16 (ElementCast, via F32 in 4 Ki blocks)")]
    public void HalfToBFloat16() => ElementCast.Convert(DType.Float16, DType.BFloat16, MemoryMarshal.AsBytes(_u16.AsSpan()), MemoryMarshal.AsBytes(_u16Out.AsSpan()), N);
}
