using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>PyTorch's cast results (Fixtures/casts, made by make_cast_fixtures.py), by tensor name, from either file.</summary>
public static class TorchCasts
{
    private static readonly Lazy<TensorStore[]> Stores = new(() =>
        [SafetensorsReader.Open(Fixtures.Path_("casts", "torch_casts.safetensors")), SafetensorsReader.Open(Fixtures.Path_("casts", "torch_casts_f64.safetensors"))]);

    /// <summary>The raw little-endian bytes of the named tensor.</summary>
    public static byte[] Read(string name) => Stores.Value.First(s => s.Contains(name)).ReadTensor(name);
}
