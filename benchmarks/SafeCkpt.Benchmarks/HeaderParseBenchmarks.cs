using BenchmarkDotNet.Attributes;
using SafeCkpt.Building;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;

namespace SafeCkpt.Benchmarks;

/// <summary>Opening a safetensors file costs one header parse: measured on an SD-1.x-sized header (1,131 tensors).</summary>
[MemoryDiagnoser]
public class HeaderParseBenchmarks
{
    private byte[] _file = [];

    [GlobalSetup]
    public void Setup()
    {
        var b = new CheckpointBuilder();
        for (int i = 0; i < 1131; i++)
        {
            b.AddZeros($"model.diffusion_model.output_blocks.{i / 10}.{i % 10}.transformer_blocks.0.attn1.to_q.weight", DType.Float16, 8, 8);
        }

        string path = Path.GetTempFileName();
        b.SaveSafetensors(path, new SaveOptions { Overwrite = true });
        _file = File.ReadAllBytes(path);
        File.Delete(path);
    }

    [Benchmark]
    public int OpenHeader()
    {
        using TensorStore s = SafetensorsReader.Open(_file);
        return s.Count;
    }
}
