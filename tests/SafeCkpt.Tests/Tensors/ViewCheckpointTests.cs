using System.Security.Cryptography;
using System.Text.Json;
using SafeCkpt.Internals;
using SafeCkpt.IO;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Tensors;

/// <summary>
/// Strided views end to end: <c>Fixtures/views/transposed_views.ckpt</c>, written by torch.save with transposed,
/// channels-last and sliced tensors (<c>make_view_fixtures.py</c>), converted to F16 safetensors.
/// </summary>
[Collection(nameof(ViewReads))]
public class ViewCheckpointTests
{
    [Fact]
    public void A_checkpoint_of_strided_views_converts_to_half_reading_each_storage_byte_once_and_matches_torch()
    {
        using JsonDocument expected = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("views", "expected.json")));
        long storageBytes = expected.RootElement.GetProperty("storage_bytes").GetInt64();
        long extentBytes = expected.RootElement.GetProperty("extent_bytes").GetInt64();
        using var dir = new TempDir();
        string output = dir.File("half.safetensors");

        var file = new CountingByteSource(FileByteSource.Open(Fixtures.Path_("views", "transposed_views.ckpt")));
        (ModelFormat format, string description) = FormatSniffer.Sniff(file);
        using (ModelFile model = ModelFile.OpenSource(file, format, description))
        {
            long opening = file.Counts.Bytes;
            file.Counts.Reset();
            model.ToHalf().SaveSafetensors(output);

            // Every stored byte a tensor uses, once: each storage is one tensor's (the two row slices split theirs).
            Assert.Equal(extentBytes, file.Counts.Bytes);
            Assert.InRange(extentBytes, storageBytes - 64, storageBytes);
            Assert.InRange(file.Counts.Reads, 1, 2 * expected.RootElement.GetProperty("tensors").EnumerateObject().Count());
            Assert.InRange(opening, 1, 128 << 10); // headers, the zip directory and the pickle, no tensor data
        }

        using ModelFile written = ModelFile.Open(output);
        var tensors = expected.RootElement.GetProperty("tensors").EnumerateObject().ToList();
        Assert.Equal(tensors.Count, written.Tensors.Count);
        foreach (JsonProperty t in tensors)
        {
            TensorInfo info = written.Tensors[t.Name];
            Assert.Equal(t.Value.GetProperty("dtype").GetString(), info.DType.ToSafetensorsName());
            Assert.Equal(t.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()), info.Shape);
            Assert.True(
                string.Equals(t.Value.GetProperty("sha256").GetString(), Convert.ToHexString(SHA256.HashData(written.Tensors.ReadTensor(t.Name))), StringComparison.OrdinalIgnoreCase),
                $"{t.Name}: the converted bytes differ from torch's .contiguous().half()");
        }
    }

    [Fact]
    public void Disposing_the_model_releases_the_buffer_of_a_view_read_part_way()
    {
        using ModelFile model = ModelFile.Open(Fixtures.Path_("views", "transposed_views.ckpt"));
        var view = (ViewTensorSource)model.Tensors.SourceAt("proj.weight");
        model.Tensors.ReadTensorChunk("proj.weight", 0, new byte[4096]);
        Assert.True(view.HoldsBuffer);

        model.Dispose();

        Assert.False(view.HoldsBuffer);
    }
}
