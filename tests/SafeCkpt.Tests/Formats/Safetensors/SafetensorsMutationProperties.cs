using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Safetensors;

/// <summary>Damaged files must fail only with SafeCkptException: never another exception type, a hang or a crash.</summary>
public class SafetensorsMutationProperties
{
    private static readonly byte[] Valid = new SafeCkpt.Building.CheckpointBuilder()
        .Add("model.diffusion_model.out.2.weight", Enumerable.Range(0, 24).Select(i => i * 0.5f).ToArray(), 2, 3, 4)
        .Add("cond_stage_model.transformer.text_model.embeddings.position_ids", Enumerable.Range(0, 77).Select(i => (long)i).ToArray(), 1, 77)
        .Add("first_stage_model.decoder.conv_in.bias", new Half[] { (Half)1, (Half)2 })
        .AddScalar("v_pred", true)
        .WithMetadata("format", "pt")
        .WithMetadata("ss_tag_frequency", "{\"a\": 1}")
        .Build().Tensors
        .Let(store =>
        {
            using var dir = new TempDir();
            ModelFile.FromStore(store, "v").SaveSafetensors(dir.File("v.safetensors"));
            return File.ReadAllBytes(dir.File("v.safetensors"));
        });

    /// <summary>Opens the bytes and reads every tensor; true when it worked, false when refused with a SafeCkptException.</summary>
    private static bool OpenAndReadAll(byte[] bytes)
    {
        try
        {
            using TensorStore s = SafetensorsReader.Open(bytes, "mutant.safetensors");
            foreach (TensorInfo t in s.Tensors)
            {
                Assert.Equal(t.ByteLength, s.ReadTensor(t.Name).Length);
            }

            return true;
        }
        catch (SafeCkptException ex)
        {
            Assert.False(string.IsNullOrWhiteSpace(ex.Message));
            Assert.StartsWith("mutant.safetensors: ", ex.Message, StringComparison.Ordinal);
            return false;
        }
    }

    [Fact]
    public void The_unmutated_file_is_valid() => Assert.True(OpenAndReadAll(Valid));

    [Property(MaxTest = 1000)]
    public Property Random_byte_flips_yield_only_safeckpt_exceptions() =>
        Prop.ForAll(
            Gen.Zip(Gen.Choose(0, Valid.Length - 1), Gen.Choose(0, 255)).ArrayOf().Where(a => a.Length is > 0 and < 8).ToArbitrary(),
            flips =>
            {
                byte[] m = (byte[])Valid.Clone();
                foreach ((int at, int value) in flips)
                {
                    m[at] = (byte)value;
                }

                OpenAndReadAll(m);
            });

    [Property(MaxTest = 300)]
    public Property Truncations_are_always_refused() =>
        Prop.ForAll(Gen.Choose(0, Valid.Length - 1).ToArbitrary(), length => !OpenAndReadAll(Valid[..length]));

    [Property(MaxTest = 300)]
    public Property Appended_bytes_are_always_refused() =>
        Prop.ForAll(ArbMap.Default.GeneratorFor<byte>().ArrayOf().Where(a => a.Length > 0).ToArbitrary(), extra => !OpenAndReadAll([.. Valid, .. extra]));

    [Property(MaxTest = 500)]
    public Property Random_header_text_edits_yield_only_safeckpt_exceptions() =>
        Prop.ForAll(
            Gen.Zip(Gen.Choose(8, 8 + (int)BitConverter.ToInt64(Valid, 0) - 1), Gen.Elements("{}[]\",:0123456789-.eE \0\\u".ToCharArray())).ArrayOf().Where(a => a.Length is > 0 and < 4).ToArbitrary(),
            edits =>
            {
                byte[] m = (byte[])Valid.Clone();
                foreach ((int at, char c) in edits)
                {
                    m[at] = (byte)c;
                }

                OpenAndReadAll(m);
            });
}
