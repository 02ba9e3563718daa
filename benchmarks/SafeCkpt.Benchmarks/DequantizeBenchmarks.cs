using BenchmarkDotNet.Attributes;
using SafeCkpt.Formats.Gguf;
using SafeCkpt.Numerics;

namespace SafeCkpt.Benchmarks;

/// <summary>
/// GGUF dequantization (<see cref="GgmlDequantizer"/>) of 16 Mi float32 outputs (64 MiB) per type, on each tier this
/// machine accelerates. GB/s = output bytes / mean time (the table in benchmarks/README.md); the input is random
/// quants with fp16 scales of a model's magnitude (2^-10 to 2^-6).
/// </summary>
[MemoryDiagnoser]
public class DequantizeBenchmarks
{
    private const int Outputs = CastKernelBenchmarks.N;
    private byte[] _blocks = [];
    private float[] _out = [];
    private GgmlType _type;
    private VectorTier _tier;

    public static IEnumerable<string> Types => ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];

    [ParamsSource(nameof(Types))]
    public string Type { get; set; } = "";

    [ParamsSource(typeof(CastKernelBenchmarks), nameof(CastKernelBenchmarks.Tiers))]
    public string Tier { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _type = Enum.Parse<GgmlType>(Type);
        _tier = Enum.Parse<VectorTier>(Tier);
        GgmlTypes.TryGetBlock((uint)_type, out int n, out int size);
        int count = Outputs / n;
        _blocks = new byte[count * size];
        var rng = new Random(42);
        rng.NextBytes(_blocks);
        int[] scales = _type switch
        {
            GgmlType.Q6_K => [208],
            GgmlType.Q2_K => [80, 82],
            GgmlType.Q3_K => [108],
            GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
            _ => [0],
        };
        for (int b = 0; b < count; b++)
        {
            foreach (int at in scales)
            {
                BitConverter.TryWriteBytes(_blocks.AsSpan((b * size) + at), (Half)(rng.NextDouble() * (1.0 / 64) + (1.0 / 1024)));
            }
        }

        _out = new float[Outputs];
    }

    [Benchmark(Description = "dequantize")]
    public void Dequantize() => GgmlDequantizer.Dequantize(_type, _blocks, _out, _tier);
}
