using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Safetensors;

public class SafetensorsRoundTripProperties
{
    [Property(MaxTest = 150)]
    public Property Written_files_read_back_with_identical_names_dtypes_shapes_bytes_and_metadata() =>
        Prop.ForAll(Gens.Checkpoint.ToArbitrary(), ckpt =>
        {
            using var dir = new TempDir();
            string path = dir.File("rt.safetensors");
            ckpt.ToBuilder().SaveSafetensors(path);
            using TensorStore s = SafetensorsReader.Open(path);
            bool same = s.Count == ckpt.Tensors.Length
                && ckpt.Tensors.All(t => s.Contains(t.Name)
                    && s[t.Name].DType == t.DType
                    && s[t.Name].Shape.SequenceEqual(t.Shape)
                    && s.ReadTensor(t.Name).AsSpan().SequenceEqual(t.Data))
                && s.Metadata.Count == ckpt.Metadata.Length
                && ckpt.Metadata.All(kv => s.Metadata[kv.Key] == kv.Value);
            return same.Label(ckpt.ToString());
        });

    [Property(MaxTest = 100)]
    public Property Every_written_header_starts_with_brace_quote_and_pads_with_spaces_to_a_multiple_of_8() =>
        Prop.ForAll(Gens.Checkpoint.ToArbitrary(), ckpt =>
        {
            using var dir = new TempDir();
            string path = dir.File("h.safetensors");
            ckpt.ToBuilder().SaveSafetensors(path);
            byte[] bytes = File.ReadAllBytes(path);
            long n = BitConverter.ToInt64(bytes, 0);
            ReadOnlySpan<byte> header = bytes.AsSpan(8, (int)n);
            int end = header.LastIndexOf((byte)'}');
            bool padded = header[(end + 1)..].IndexOfAnyExcept((byte)' ') < 0 && header.Length - end - 1 < 8;
            bool start = ckpt.Tensors.Length + ckpt.Metadata.Length == 0 || header.StartsWith("{\""u8);
            return (n % 8 == 0 && padded && start).Label($"n={n}");
        });

    [Property(MaxTest = 100)]
    public Property Rewriting_a_read_file_reproduces_it_byte_for_byte() =>
        Prop.ForAll(Gens.Checkpoint.ToArbitrary(), ckpt =>
        {
            using var dir = new TempDir();
            ckpt.ToBuilder().SaveSafetensors(dir.File("a.safetensors"));
            using (TensorStore s = SafetensorsReader.Open(dir.File("a.safetensors")))
            {
                ModelFile.FromStore(s, "b").SaveSafetensors(dir.File("b.safetensors"), new SaveOptions { Provenance = false });
            }

            return File.ReadAllBytes(dir.File("a.safetensors")).AsSpan().SequenceEqual(File.ReadAllBytes(dir.File("b.safetensors")));
        });

    [Property(MaxTest = 100)]
    public Property Tensors_are_laid_out_in_the_reference_writers_dtype_order_so_each_starts_aligned_to_its_size() =>
        Prop.ForAll(Gens.Checkpoint.ToArbitrary(), ckpt =>
        {
            using var dir = new TempDir();
            string path = dir.File("l.safetensors");
            ckpt.ToBuilder().SaveSafetensors(path);
            var header = SafetensorsReader.ReadHeader(IO_Open(path));
            bool aligned = header.Tensors.All(e => (header.DataStart + e.Begin) % Math.Max(1, e.Info.DType.BitSize() / 8) == 0);
            bool ordered = header.Tensors.Zip(header.Tensors.Skip(1), (a, b) => SafetensorsLayout.TensorOrder.Compare(a.Info, b.Info) < 0).All(x => x);
            return aligned && ordered;
        });

    private static SafeCkpt.IO.ByteSource IO_Open(string path) => SafeCkpt.IO.FileByteSource.Open(path);
}
