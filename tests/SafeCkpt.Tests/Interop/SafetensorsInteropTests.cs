using System.Text.Json;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Interop;

/// <summary>
/// Files written independently of SafeCkpt (from the spec, with PyTorch's tensor bytes) are read bit-exactly; files
/// SafeCkpt writes are pinned under Fixtures/written and were checked by make_fixtures.py's own reader.
/// </summary>
public class SafetensorsInteropTests
{
    public static TheoryData<string> SafetensorsFixtures() => [.. Manifest.Keys("safetensors").Where(k => k.StartsWith("safetensors/", StringComparison.Ordinal))];

    [Theory]
    [MemberData(nameof(SafetensorsFixtures))]
    public void Fixtures_written_by_an_independent_writer_read_bit_exactly(string key)
    {
        JsonElement expected = Manifest.Fixture(key);
        using TensorStore s = SafetensorsReader.Open(Fixtures.Path_(key.Split('/')));
        JsonElement tensors = expected.GetProperty("tensors");
        Assert.Equal(tensors.EnumerateObject().Count(), s.Count);
        foreach (JsonProperty t in tensors.EnumerateObject())
        {
            TensorInfo info = s[t.Name];
            Assert.Equal(t.Value.GetProperty("dtype").GetString(), info.DType.ToSafetensorsName());
            Assert.Equal(t.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), info.Shape);
            Assert.Equal(t.Value.GetProperty("sha256").GetString(), Manifest.Sha256(s.ReadTensor(t.Name)));
        }

        if (expected.TryGetProperty("metadata", out JsonElement metadata) && metadata.ValueKind == JsonValueKind.Object)
        {
            Assert.Equal(metadata.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), s.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value));
        }
    }

    [Theory]
    [MemberData(nameof(SafetensorsFixtures))]
    public void What_SafeCkpt_writes_is_byte_identical_to_the_file_the_independent_reader_verified(string key)
    {
        // Fixtures/written/* were made by this test with SAFECKPT_WRITE_GOLDEN=1 and then checked with
        // `make_fixtures.py verify written/X.safetensors X` (an independent reader from the spec + torch).
        string name = Path.GetFileName(key);
        string golden = Fixtures.Path_("written", name);
        using var dir = new TempDir();
        string output = dir.File(name);
        using (TensorStore s = SafetensorsReader.Open(Fixtures.Path_(key.Split('/'))))
        {
            ModelFile.FromStore(s, "s").SaveSafetensors(output, new SaveOptions { Provenance = false }); // the bytes the reference writes
        }

        if (Environment.GetEnvironmentVariable("SAFECKPT_WRITE_GOLDEN") is { } target)
        {
            Directory.CreateDirectory(Path.Combine(target, "written"));
            File.Copy(output, Path.Combine(target, "written", name), overwrite: true);
        }

        Assert.Equal(File.ReadAllBytes(golden), File.ReadAllBytes(output));
    }
}
