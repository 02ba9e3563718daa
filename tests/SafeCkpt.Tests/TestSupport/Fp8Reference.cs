using System.IO.Compression;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>PyTorch's float8 rules, computed exactly by make_fp8_fixtures.py (Fixtures/casts/fp8_reference.safetensors.gz), by tensor name.</summary>
public static class Fp8Reference
{
    private static readonly Lazy<ModelFile> File = new(() =>
    {
        using var gz = new GZipStream(System.IO.File.OpenRead(Fixtures.Path_("casts", "fp8_reference.safetensors.gz")), CompressionMode.Decompress);
        using var bytes = new MemoryStream();
        gz.CopyTo(bytes);
        return ModelFile.Open(bytes.ToArray(), "fp8_reference.safetensors");
    });

    /// <summary>The raw little-endian bytes of the named tensor.</summary>
    public static byte[] Read(string name) => File.Value.Tensors.ReadTensor(name);
}
