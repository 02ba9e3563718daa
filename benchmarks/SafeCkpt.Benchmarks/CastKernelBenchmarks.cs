using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using SafeCkpt.Numerics;

namespace SafeCkpt.Benchmarks;

/// <summary>
/// The cast kernels over 16 Mi elements (64 MiB of float32), beside TensorPrimitives and a plain memory copy of the
/// same input. GB/s = input bytes / mean time (the table in benchmarks/README.md).
/// </summary>
[MemoryDiagnoser]
public class CastKernelBenchmarks
{
    private const int N = 16 << 20;
    private float[] _f32 = [];
    private float[] _f32Out = [];
    private double[] _f64 = [];
    private ushort[] _u16 = [];
    private ushort[] _u16Out = [];
    private byte[] _copySource = [];
    private byte[] _copyTarget = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        _f32 = Enumerable.Range(0, N).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 0.05f).ToArray();
        _f64 = _f32.Select(x => (double)x).ToArray();
        _f32Out = new float[N];
        _u16 = new ushort[N];
        _u16Out = new ushort[N];
        CastKernels.SingleToHalf(_f32, _u16);
        _copySource = MemoryMarshal.AsBytes(_f32.AsSpan()).ToArray();
        _copyTarget = new byte[_copySource.Length];
    }

    [Benchmark(Baseline = true, Description = "memcpy 64 MiB")]
    public void MemoryCopy() => _copySource.AsSpan().CopyTo(_copyTarget);

    [Benchmark(Description = "F32->F16 SafeCkpt")]
    public void SingleToHalf() => CastKernels.SingleToHalf(_f32, _u16Out);

    [Benchmark(Description = "F32->F16 TensorPrimitives")]
    public void SingleToHalfTensorPrimitives() => TensorPrimitives.ConvertToHalf(_f32, MemoryMarshal.Cast<ushort, Half>(_u16Out.AsSpan()));

    [Benchmark(Description = "F32->F16 scalar")]
    public void SingleToHalfScalar() => CastKernels.SingleToHalfScalar(_f32, _u16Out);

    [Benchmark(Description = "F32->BF16 SafeCkpt")]
    public void SingleToBFloat16() => CastKernels.SingleToBFloat16(_f32, _u16Out);

    [Benchmark(Description = "F32->BF16 scalar")]
    public void SingleToBFloat16Scalar() => CastKernels.SingleToBFloat16Scalar(_f32, _u16Out);

    [Benchmark(Description = "F16->F32 SafeCkpt (TensorPrimitives)")]
    public void HalfToSingle() => CastKernels.HalfToSingle(_u16, _f32Out);

    [Benchmark(Description = "F16->F32 scalar")]
    public void HalfToSingleScalar() => CastKernels.HalfToSingleScalar(_u16, _f32Out);

    [Benchmark(Description = "BF16->F32 SafeCkpt")]
    public void BFloat16ToSingle() => CastKernels.BFloat16ToSingle(_u16, _f32Out);

    [Benchmark(Description = "BF16->F32 scalar")]
    public void BFloat16ToSingleScalar() => CastKernels.BFloat16ToSingleScalar(_u16, _f32Out);

    [Benchmark(Description = "F64->F32 SafeCkpt")]
    public void DoubleToSingle() => CastKernels.DoubleToSingle(_f64, _f32Out);

    [Benchmark(Description = "F16->BF16 SafeCkpt (via F32 blocks)")]
    public void HalfToBFloat16() => ElementCast.Convert(SafeCkpt.Tensors.DType.Float16, SafeCkpt.Tensors.DType.BFloat16, MemoryMarshal.AsBytes(_u16.AsSpan()), MemoryMarshal.AsBytes(_u16Out.AsSpan()), N);
}
