using System.IO.Compression;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Torch;

public class TorchArchiveTests
{
    [Theory]
    [InlineData("zip_basic.ckpt")]
    [InlineData("zip_archive_prefix.pt")]
    [InlineData("zip_newer_records.ckpt")]
    public void Every_record_torch_save_wrote_is_one_the_archive_names(string fixture)
    {
        using ZipArchive zip = ZipFile.OpenRead(Fixtures.Path_("ckpt", fixture));
        string folder = zip.Entries[0].FullName[..zip.Entries[0].FullName.IndexOf('/', StringComparison.Ordinal)];
        Assert.Contains(zip.Entries, e => e.FullName == TorchArchive.Record(folder, TorchArchive.ObjectPickle));
        foreach (ZipArchiveEntry e in zip.Entries)
        {
            string rest = e.FullName[(folder.Length + 1)..];
            Assert.True(rest == TorchArchive.ObjectPickle || TorchArchive.IsStorageRecord(rest) || TorchArchive.KnownRecords.Contains(rest), e.FullName);
        }
    }

    [Theory]
    [InlineData("data/0", true)]
    [InlineData("data/140234", true)]
    [InlineData("data/", false)]
    [InlineData("data/0/x", false)]
    [InlineData("data.pkl", false)]
    [InlineData("database/0", false)]
    public void Storage_records_are_data_slash_a_key(string nameInFolder, bool storage) =>
        Assert.Equal(storage, TorchArchive.IsStorageRecord(nameInFolder));

    [Fact]
    public void Record_names_join_the_folder()
    {
        Assert.Equal("archive/data.pkl", TorchArchive.Record(TorchArchive.WrittenFolder, TorchArchive.ObjectPickle));
        Assert.Equal("archive/data/7", TorchArchive.StorageRecord(TorchArchive.WrittenFolder, "7"));
    }
}
