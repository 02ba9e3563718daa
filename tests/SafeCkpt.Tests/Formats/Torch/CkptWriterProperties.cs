using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Formats.Torch;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Torch;

/// <summary>Checkpoints SafeCkpt writes read back, through SafeCkpt's own strict reader, with identical tensors.</summary>
public class CkptWriterProperties
{
    private static bool CkptCanHold(DType d) => TorchStorageTypes.StorageClassOf(d) is not null;

    [Property(MaxTest = 100)]
    public Property Written_checkpoints_read_back_with_identical_names_dtypes_shapes_and_bytes() =>
        Prop.ForAll(Gens.Checkpoint.Where(c => c.Tensors.All(t => CkptCanHold(t.DType))).ToArbitrary(), ckpt =>
        {
            using var dir = new TempDir();
            ckpt.ToBuilder().SaveSafetensors(dir.File("in.safetensors"));
            using (ModelFile m = ModelFile.Open(dir.File("in.safetensors")))
            {
                m.Convert().SaveCkpt(dir.File("out.ckpt"));
            }

            using ModelFile back = ModelFile.Open(dir.File("out.ckpt"));
            Assert.Equal(ModelFormat.TorchZip, back.Format);
            return (back.Tensors.Count == ckpt.Tensors.Length
                && ckpt.Tensors.All(t => back.Tensors[t.Name].DType == t.DType
                    && back.Tensors[t.Name].Shape.SequenceEqual(t.Shape)
                    && back.Tensors.ReadTensor(t.Name).AsSpan().SequenceEqual(t.Data))).Label(ckpt.ToString());
        });

    [Fact]
    public void Every_storage_record_is_64_byte_aligned_and_the_file_is_a_zip_with_crcs()
    {
        using var dir = new TempDir();
        TinySd.Builder().SaveSafetensors(dir.File("in.safetensors"));
        using (ModelFile m = ModelFile.Open(dir.File("in.safetensors")))
        {
            m.Convert().SaveCkpt(dir.File("out.ckpt"));
        }

        using var zip = System.IO.Compression.ZipFile.OpenRead(dir.File("out.ckpt"));
        Assert.Equal("archive/data.pkl", zip.Entries[0].FullName);
        Assert.Equal("archive/version", zip.Entries[^1].FullName);
        Assert.All(zip.Entries, e => Assert.Equal(e.Length, e.CompressedLength));
        foreach (var e in zip.Entries.Where(e => e.FullName.StartsWith("archive/data/", StringComparison.Ordinal)))
        {
            using Stream s = e.Open();
            var bytes = new byte[e.Length];
            s.ReadExactly(bytes);
            Assert.Equal(e.Crc32, System.IO.Hashing.Crc32.HashToUInt32(bytes));
        }

        byte[] file = File.ReadAllBytes(dir.File("out.ckpt"));
        int records = 0;
        for (int i = 0; i + 30 < file.Length; i++)
        {
            if (file[i] == 'P' && file[i + 1] == 'K' && file[i + 2] == 3 && file[i + 3] == 4)
            {
                int nameLength = BitConverter.ToUInt16(file, i + 26);
                int extraLength = BitConverter.ToUInt16(file, i + 28);
                Assert.Equal(0, (i + 30 + nameLength + extraLength) % 64);
                records++;
            }
        }

        Assert.Equal(zip.Entries.Count, records);
    }

    [Fact]
    public void Dtypes_a_ckpt_cannot_hold_are_refused_by_name_and_nothing_is_written()
    {
        using var dir = new TempDir();
        new SafeCkpt.Building.CheckpointBuilder().Add("u", new ushort[] { 1 }).SaveSafetensors(dir.File("in.safetensors"));
        using ModelFile m = ModelFile.Open(dir.File("in.safetensors"));
        var ex = Assert.Throws<ConversionException>(() => m.Convert().SaveCkpt(dir.File("out.ckpt")));
        Assert.Equal(SafeCkptErrorCode.UnsupportedDType, ex.Code);
        Assert.Equal("u", ex.TensorName);
        Assert.Equal(["in.safetensors"], dir.Files());
    }

    [Fact]
    public void Cancelling_in_the_middle_of_streaming_leaves_no_file()
    {
        using var dir = new TempDir();
        new SafeCkpt.Building.CheckpointBuilder()
            .AddZeros("a", DType.Float32, 8 << 20)
            .AddZeros("b", DType.Float32, 8 << 20)
            .SaveSafetensors(dir.File("in.safetensors"));
        using ModelFile m = ModelFile.Open(dir.File("in.safetensors"));
        using var cts = new CancellationTokenSource();
        var progress = new CancelAfterFirst(cts);
        Assert.ThrowsAny<OperationCanceledException>(() => m.ToHalf().SaveCkpt(dir.File("out.ckpt"), new SaveOptions { Progress = progress }, cts.Token));
        Assert.Equal(["in.safetensors"], dir.Files());
    }

    private sealed class CancelAfterFirst(CancellationTokenSource cts) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value) => cts.Cancel();
    }
}
