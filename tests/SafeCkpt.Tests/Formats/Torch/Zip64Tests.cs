using System.IO.Compression;
using SafeCkpt.Building;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Torch;

/// <summary>
/// A checkpoint past 4 GiB: the writer's ZIP64 records (sizes and offsets), read back by SafeCkpt's own reader and by
/// .NET's ZipArchive. Writes 4.3 GB of zeros (seconds with O_DIRECT), so it has a category of its own.
/// </summary>
[Trait("Category", "Large")]
public class Zip64Tests
{
    [Fact]
    public void A_tensor_larger_than_4_GiB_and_records_past_4_GiB_use_zip64_and_read_back()
    {
        using var dir = new TempDir();
        long big = (4L << 30) + 4096;
        new CheckpointBuilder()
            .AddZeros("huge", DType.UInt8, big)
            .Add("after", new[] { 1f, 2f, 3f })
            .SaveCkpt(dir.File("big.ckpt"));
        using (ModelFile back = ModelFile.Open(dir.File("big.ckpt")))
        {
            Assert.Equal(big, back.Tensors["huge"].ByteLength);
            Assert.Equal([1f, 2f, 3f], back.Tensors.ReadTensorAs<float>("after"));
            var tail = new byte[16];
            Assert.Equal(16, back.Tensors.ReadTensorChunk("huge", big - 16, tail));
            Assert.All(tail, b => Assert.Equal(0, b));
        }

        using ZipArchive zip = ZipFile.OpenRead(dir.File("big.ckpt"));
        Assert.Contains(zip.Entries, e => e.Length == big);
        Assert.Contains(zip.Entries, e => e.FullName == "archive/version");
    }
}
