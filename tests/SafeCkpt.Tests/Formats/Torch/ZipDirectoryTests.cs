using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Formats.Torch;
using SafeCkpt.IO;
using SafeCkpt.Tests.Safety;

namespace SafeCkpt.Tests.Formats.Torch;

public class ZipDirectoryTests
{
    private static ZipDirectory Read(byte[] zip) => ZipDirectory.Read(new MemoryByteSource(zip, "t.zip"));

    [Fact]
    public void Data_offsets_come_from_the_local_header()
    {
        byte[] zip = new ZipBuilder().Add("a/data.pkl", "xyz").Add("a/data/0", "0123456789").Build();
        ZipDirectory dir = Read(zip);
        ZipEntry e = dir.Find("a/data/0")!;
        Assert.Equal("0123456789", System.Text.Encoding.ASCII.GetString(zip, (int)e.DataOffset, (int)e.Size));
    }

    [Fact]
    public void An_entry_with_a_ZIP64_extra_field_takes_its_sizes_and_offset_from_it()
    {
        byte[] zip = new ZipBuilder().Add("a/data.pkl", "xyz").Add("a/data/0", System.Text.Encoding.ASCII.GetBytes("payload!"), zip64: true).Build();
        ZipEntry e = Read(zip).Find("a/data/0")!;
        Assert.Equal(8, e.Size);
        Assert.Equal(8, e.CompressedSize);
        Assert.Equal("payload!", System.Text.Encoding.ASCII.GetString(zip, (int)e.DataOffset, 8));
    }

    [Fact]
    public void Duplicate_names_are_refused()
    {
        byte[] zip = new ZipBuilder().Add("a/data.pkl", "x").Add("a/data.pkl", "y").Build();
        Assert.Equal(SafeCkptErrorCode.DuplicateKey, Assert.Throws<InvalidCheckpointException>(() => Read(zip)).Code);
    }

    [Theory]
    [InlineData("../evil")]
    [InlineData("/etc/passwd")]
    [InlineData("a\\..\\evil")]
    [InlineData("a/../../evil")]
    [InlineData("C:/evil")]
    public void Path_traversal_names_are_refused_as_unsafe(string name)
    {
        byte[] zip = new ZipBuilder().Add("a/data.pkl", "x").Add(name, "y").Build();
        Assert.Equal(SafeCkptErrorCode.UnsafeArchive, Assert.Throws<UnsafeCheckpointException>(() => Read(zip)).Code);
    }

    [Fact]
    public void A_local_header_name_differing_from_the_central_one_is_refused()
    {
        byte[] zip = new ZipBuilder().Add("a/data.pkl", System.Text.Encoding.ASCII.GetBytes("x"), localName: "a/datap.kl").Build();
        Assert.Equal(SafeCkptErrorCode.InvalidArchive, Assert.Throws<InvalidCheckpointException>(() => Read(zip)).Code);
    }

    [Fact]
    public void Bytes_appended_after_the_end_record_are_refused()
    {
        byte[] zip = [.. new ZipBuilder().Add("a/data.pkl", "x").Build(), .. "tail"u8.ToArray()];
        Assert.Equal(SafeCkptErrorCode.InvalidArchive, Assert.Throws<InvalidCheckpointException>(() => Read(zip)).Code);
    }

    [Fact]
    public void Unknown_records_in_a_checkpoint_archive_are_refused()
    {
        byte[] zip = new ZipBuilder().Add("a/data.pkl", "x").Add("a/extra.bin", "y").Build();
        var ex = Assert.Throws<InvalidCheckpointException>(() => CkptReader.Open(zip));
        Assert.Contains("a/extra.bin", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_torch_package_archive_is_refused_as_unsafe()
    {
        byte[] zip = new ZipBuilder().Add("a/data.pkl", "x").Add("a/.data/extern_modules", "os").Build();
        Assert.Equal(SafeCkptErrorCode.UnsafeArchive, Assert.Throws<UnsafeCheckpointException>(() => CkptReader.Open(zip)).Code);
    }

    [Property(MaxTest = 300)]
    public Property Random_byte_flips_and_truncations_of_a_real_checkpoint_zip_only_ever_raise_SafeCkpt_errors()
    {
        byte[] valid = File.ReadAllBytes(TorchFixtures.PathOf("ckpt/zip_archive_prefix.pt"));
        Gen<(int, int)[]> flips = Gen.Zip(Gen.Choose(0, valid.Length - 1), Gen.Choose(0, 255)).ArrayOf(2);
        return Prop.ForAll(Gen.Zip(flips, Gen.Choose(0, valid.Length)).ToArbitrary(), input =>
        {
            ((int, int)[] changes, int length) = input;
            byte[] b = (byte[])valid.Clone();
            foreach ((int at, int v) in changes)
            {
                b[at] = (byte)v;
            }

            b = b[..Math.Max(length, valid.Length / 2)];
            return PickleMachineTests.OnlySafeCkptErrors(() =>
            {
                using TorchCheckpoint c = CkptReader.Open(b);
                foreach (var t in c.Tensors.Tensors)
                {
                    c.Tensors.ReadTensor(t.Name);
                }
            }) && PickleMachineTests.OnlySafeCkptErrors(() => SafeCkpt.Safety.CheckpointScanner.Scan(b));
        });
    }
}
