using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Formats.Gguf;
using SafeCkpt.IO;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Gguf;

/// <summary>Damaged GGUF files fail only with SafeCkptException (a named error) or read: never another exception, a hang or a crash.</summary>
public class GgufMutationProperties
{
    private static readonly byte[] Types = File.ReadAllBytes(Fixtures.Path_("gguf", "types.gguf"));
    private static readonly byte[] Sd1 = File.ReadAllBytes(Fixtures.Path_("gguf", "sd1.gguf"));

    /// <summary>Opens the bytes and reads every tensor; true when it worked, false when refused with a SafeCkptException.</summary>
    private static bool OpenAndReadAll(byte[] bytes)
    {
        try
        {
            using TensorStore s = GgufReader.Open(new MemoryByteSource(bytes, "mutant.gguf"));
            foreach (TensorInfo t in s.Tensors)
            {
                Assert.Equal(t.ByteLength, s.ReadTensor(t.Name).Length);
            }

            return true;
        }
        catch (SafeCkptException ex)
        {
            Assert.StartsWith("mutant.gguf: ", ex.Message, StringComparison.Ordinal);
            return false;
        }
    }

    /// <summary>Where the data section starts: past this, byte flips change values only.</summary>
    private static int HeaderEnd(byte[] file)
    {
        using TensorStore s = GgufReader.Open(new MemoryByteSource(file, "v.gguf"));
        return (int)s.Entries().Min(e => e.Source.Position.Offset);
    }

    [Fact]
    public void The_unmutated_files_are_valid()
    {
        Assert.True(OpenAndReadAll(Types));
        Assert.True(OpenAndReadAll(Sd1));
    }

    [Property(MaxTest = 1000)]
    public Property Random_header_byte_flips_yield_a_read_or_a_named_error() =>
        Prop.ForAll(
            Gen.Zip(Gen.Elements(Types, Sd1), Gen.Zip(Gen.Choose(0, 4095), Gen.Choose(0, 255)).ArrayOf().Where(a => a.Length is > 0 and < 6)).ToArbitrary(),
            t =>
            {
                byte[] m = (byte[])t.Item1.Clone();
                int end = HeaderEnd(t.Item1);
                foreach ((int at, int value) in t.Item2)
                {
                    m[at % end] = (byte)value;
                }

                OpenAndReadAll(m);
            });

    [Property(MaxTest = 200)]
    public Property Random_data_byte_flips_still_read() =>
        Prop.ForAll(
            Gen.Zip(Gen.Choose(0, int.MaxValue), Gen.Choose(0, 255)).ArrayOf().Where(a => a.Length is > 0 and < 32).ToArbitrary(),
            flips =>
            {
                byte[] m = (byte[])Types.Clone();
                int end = HeaderEnd(Types);
                foreach ((int at, int value) in flips)
                {
                    m[end + (at % (m.Length - end))] = (byte)value;
                }

                return OpenAndReadAll(m);
            });

    [Property(MaxTest = 300)]
    public Property Truncations_inside_the_tensors_are_always_refused() =>
        Prop.ForAll(Gen.Choose(0, Types.Length - (int)GgufReader.DefaultAlignment).ToArbitrary(), length => !OpenAndReadAll(Types[..length]));

    [Property(MaxTest = 300)]
    public Property Chunked_reads_equal_the_whole_read() =>
        Prop.ForAll(
            Gen.Zip(Gen.Elements("q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1"), Gen.Zip(Gen.Choose(0, 4095), Gen.Choose(0, 3000))).ToArbitrary(),
            t =>
            {
                (string name, (int offset, int length)) = t;
                using TensorStore s = GgufReader.Open(new MemoryByteSource(Types, "types.gguf"));
                byte[] whole = s.ReadTensor(name);
                var chunk = new byte[length];
                int n = s.ReadTensorChunk(name, offset, chunk);
                return chunk.AsSpan(0, n).SequenceEqual(whole.AsSpan(offset, n)) && n == Math.Min(length, whole.Length - offset);
            });
}
