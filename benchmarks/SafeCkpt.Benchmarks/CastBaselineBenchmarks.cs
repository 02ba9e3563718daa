using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace SafeCkpt.Benchmarks;

/// <summary>
/// Yardsticks for <see cref="CastKernelBenchmarks"/> on the same 16 Mi-element input: a memory copy of the float32
/// input, and TensorPrimitives' F32⇄F16 conversions (its own widest vectors, Vector512 where there is AVX-512; its
/// NaN payloads are not PyTorch's, so SafeCkpt does not use it).
/// </summary>
[MemoryDiagnoser]
public class CastBaselineBenchmarks
{
    private float[] _f32 = [];
    private float[] _f32Out = [];
    private ushort[] _u16 = [];
    private ushort[] _u16Out = [];
    private byte[] _copySource = [];
    private byte[] _copyTarget = [];

    [GlobalSetup]
    public void Setup()
    {
        (_f32, _, _u16) = CastKernelBenchmarks.Inputs();
        _f32Out = new float[CastKernelBenchmarks.N];
        _u16Out = new ushort[CastKernelBenchmarks.N];
        _copySource = MemoryMarshal.AsBytes(_f32.AsSpan()).ToArray();
        _copyTarget = new byte[_copySource.Length];
    }

    [Benchmark(Baseline = true, Description = "memcpy 64 MiB")]
    public void MemoryCopy() => _copySource.AsSpan().CopyTo(_copyTarget);

    [Benchmark(Description = "F32->F16 TensorPrimitives")]
    public void SingleToHalfTensorPrimitives() => TensorPrimitives.ConvertToHalf(_f32, MemoryMarshal.Cast<ushort, Half>(_u16Out.AsSpan()));

    [Benchmark(Description = "F16->F32 TensorPrimitives")]
    public void HalfToSingleTensorPrimitives() => TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(_u16.AsSpan()), _f32Out);
}
