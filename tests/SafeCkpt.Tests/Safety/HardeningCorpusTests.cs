using System.Security.Cryptography;
using System.Text.Json;
using SafeCkpt.Safety;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.Formats.Torch;

namespace SafeCkpt.Tests.Safety;

/// <summary>
/// The hand-built container and pickle edge cases of Fixtures/hardening/ (make_hardening_fixtures.py), each confirmed
/// against real torch.load in a subprocess: a file torch runs code from is never scanned clean, and a file scanned
/// clean reads exactly the tensors torch loads (or, for big-endian records, the byte-swapped values torch 2.x loads).
/// </summary>
public sealed class HardeningCorpusTests
{
    private static readonly Lazy<JsonElement> Manifest = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(TorchFixtures.PathOf("hardening/manifest.json"))).RootElement.GetProperty("fixtures"));

    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (JsonProperty p in Manifest.Value.EnumerateObject())
        {
            data.Add(p.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void The_scan_verdict_is_one_torchs_behaviour_allows(string key)
    {
        JsonElement entry = Manifest.Value.GetProperty(key);
        ScanReport report = CheckpointScanner.Scan(TorchFixtures.PathOf(key));
        string verdict = report.Verdict.ToString().ToLowerInvariant();
        string[] expect = entry.GetProperty("expect").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.True(expect.Contains(verdict), $"{key}: scan says {verdict} ({report.Error}), expected one of {string.Join(", ", expect)}; torch: {entry.GetProperty("torch").GetString()}");
        if (entry.GetProperty("torch").GetString() == "runs-payload")
        {
            Assert.NotEqual(ScanVerdict.Clean, report.Verdict);
            Assert.ThrowsAny<SafeCkptException>(() => ModelFile.Open(TorchFixtures.PathOf(key)).Dispose());
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void A_file_scanned_clean_opens_with_exactly_the_tensors_torch_loads(string key)
    {
        JsonElement entry = Manifest.Value.GetProperty(key);
        if (CheckpointScanner.Scan(TorchFixtures.PathOf(key)).Verdict != ScanVerdict.Clean)
        {
            Assert.ThrowsAny<SafeCkptException>(() => ModelFile.Open(TorchFixtures.PathOf(key)).Dispose());
            return;
        }

        JsonElement expected = entry.TryGetProperty("expect_tensors", out JsonElement swapped) ? swapped : entry.GetProperty("torch_tensors");
        using ModelFile model = ModelFile.Open(TorchFixtures.PathOf(key));
        Assert.Equal(expected.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal), model.Tensors.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (JsonProperty t in expected.EnumerateObject())
        {
            var info = model.Tensors.Tensors.Single(x => x.Name == t.Name);
            Assert.Equal(t.Value.GetProperty("dtype").GetString(), info.DType.ToSafetensorsName());
            Assert.Equal(t.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()), info.Shape);
            Assert.Equal(t.Value.GetProperty("sha256").GetString(), Convert.ToHexString(SHA256.HashData(model.Tensors.ReadTensor(t.Name))).ToLowerInvariant());
        }
    }
}
