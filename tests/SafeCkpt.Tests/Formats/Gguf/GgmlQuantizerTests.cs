using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Formats.Gguf;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Formats.Gguf;

/// <summary>
/// The quantizers against llama.cpp's gguf-py (<c>gguf.quants.quantize</c>, Fixtures/make_gguf_write_fixtures.py): 640
/// blocks of edge and random values, every byte equal; and quantize → SafeCkpt's own dequantize within each type's bound.
/// </summary>
public class GgmlQuantizerTests
{
    private static readonly float[] Values = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Fixtures.Path_("gguf-write", "values.bin"))).ToArray();

    public static TheoryData<string> Types => new() { "F16", "BF16", "Q8_0", "Q5_1", "Q5_0", "Q4_1", "Q4_0" };

    [Theory]
    [MemberData(nameof(Types))]
    public void Quantized_bytes_equal_gguf_py_on_every_edge_and_random_block(string name)
    {
        GgmlType type = Enum.Parse<GgmlType>(name);
        byte[] expected = File.ReadAllBytes(Fixtures.Path_("gguf-write", name.ToLowerInvariant() + ".bin"));
        var actual = new byte[expected.Length];
        GgmlQuantizer.Quantize(type, Values, actual);
        GgmlTypes.TryGetBlock((uint)type, out int n, out int size);
        int bad = Enumerable.Range(0, expected.Length).FirstOrDefault(i => expected[i] != actual[i], -1);
        Assert.True(bad < 0, bad < 0 ? null : $"{name}: first difference at byte {bad} (block {bad / size}, values {string.Join(", ", Values.Skip(bad / size * n).Take(Math.Min(n, 32)))}): expected {Convert.ToHexString(expected, bad / size * size, size)}, got {Convert.ToHexString(actual, bad / size * size, size)}");
    }

    [Fact]
    public void Quantizing_a_range_of_a_source_equals_quantizing_it_whole()
    {
        byte[] whole = new byte[Values.Length / 32 * 34];
        GgmlQuantizer.Quantize(GgmlType.Q8_0, Values, whole);
        var source = new QuantizingTensorSource(new SafeCkpt.Tensors.MemoryTensorSource(MemoryMarshal.AsBytes(Values.AsSpan()).ToArray()), GgmlType.Q8_0);
        Assert.Equal(whole.Length, source.Length);
        foreach ((int from, int count) in new[] { (0, whole.Length), (1, 33), (33, 1000), (whole.Length - 7, 7), (3400, 6000) })
        {
            var part = new byte[count];
            source.Read(from, part);
            Assert.Equal(whole.AsSpan(from, count).ToArray(), part);
        }
    }

    [Fact]
    public void Half_keeps_numpys_nan_payload_and_bf16_quiets_nans_as_ggml()
    {
        // Through memory: a signalling NaN constant may be quieted on its way into a register.
        float[] nans = MemoryMarshal.Cast<uint, float>(new uint[] { 0x7F800001, 0xFFC00001, 0x7FA00000, 0x7F810000 }).ToArray();
        var f16 = new ushort[nans.Length];
        GgmlQuantizer.Quantize(GgmlType.F16, nans, MemoryMarshal.AsBytes(f16.AsSpan()));
        Assert.Equal(new ushort[] { 0x7C01, 0xFE00, 0x7D00, 0x7C08 }, f16);
        var bf16 = new ushort[nans.Length];
        GgmlQuantizer.Quantize(GgmlType.BF16, nans, MemoryMarshal.AsBytes(bf16.AsSpan()));
        Assert.Equal(new ushort[] { 0x7FC0, 0xFFC0, 0x7FE0, 0x7FC1 }, bf16);
        Assert.Equal(0x7F80, GgmlQuantizer.BFloat16(float.PositiveInfinity));
        Assert.Equal(0x3F81, GgmlQuantizer.BFloat16(BitConverter.UInt32BitsToSingle(0x3F80C000)));
    }

    private static Gen<float[]> Block { get; } =
        Gen.Zip(Gen.Choose(-20, 12), Gen.Choose(-1000000, 1000000).ArrayOf(32))
            .Select(t => t.Item2.Select(v => (float)(v / 1e6 * Math.Pow(2, t.Item1))).ToArray());

    [Property(MaxTest = 500)]
    public Property Quantize_then_dequantize_stays_within_each_types_bound() =>
        Prop.ForAll(
            Gen.Zip(Block, Gen.Elements(GgmlType.Q8_0, GgmlType.Q5_1, GgmlType.Q5_0, GgmlType.Q4_1, GgmlType.Q4_0)).ToArbitrary(),
            t =>
            {
                (float[] x, GgmlType type) = t;
                GgmlTypes.TryGetBlock((uint)type, out _, out int size);
                var q = new byte[size];
                GgmlQuantizer.Quantize(type, x, q);
                var y = new float[32];
                GgmlDequantizer.Dequantize(type, q, y);
                double amax = x.Max(v => Math.Abs((double)v));
                double range = x.Max() - (double)x.Min();

                // One quantization step (half a step for rounding types), plus the fp16 rounding of d (and m) times the
                // largest code: relative for normal fp16, up to half the subnormal spacing (2^-25) below it.
                double bound = (128 * Math.Pow(2, -25)) + type switch
                {
                    GgmlType.Q8_0 => (amax / 127 * 0.5) + (amax * Math.Pow(2, -11)),
                    GgmlType.Q4_0 => (amax / 8) + (amax * Math.Pow(2, -10)),
                    GgmlType.Q5_0 => (amax / 16) + (amax * Math.Pow(2, -10)),
                    GgmlType.Q4_1 => (range / 15 * 0.5) + ((range + amax) * Math.Pow(2, -10)),
                    _ => (range / 31 * 0.5) + ((range + amax) * Math.Pow(2, -10)),
                };
                for (int j = 0; j < 32; j++)
                {
                    Assert.True(Math.Abs(x[j] - (double)y[j]) <= bound + 1e-30, $"{type} element {j}: {x[j]} came back as {y[j]} (bound {bound})");
                }
            });

    [Property(MaxTest = 1000)]
    public Property The_vectorized_quantizer_equals_the_scalar_reference() =>
        Prop.ForAll(
            Gen.Zip(Block.ArrayOf().Where(a => a.Length is > 0 and < 8), Gen.Zip(Gen.Elements(0f, -0f, float.NaN, float.PositiveInfinity, 1e-40f, 65520f).ArrayOf(), Gen.Choose(0, 255).ArrayOf())).ToArbitrary(),
            t =>
            {
                float[] x = [.. t.Item1.SelectMany(b => b)];
                (float[] specials, int[] at) = t.Item2;
                for (int i = 0; i < Math.Min(specials.Length, at.Length); i++)
                {
                    x[at[i] % x.Length] = specials[i];
                }

                foreach (GgmlType type in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.F16 })
                {
                    GgmlTypes.TryGetBlock((uint)type, out int n, out int size);
                    var vector = new byte[x.Length / n * size];
                    var scalar = new byte[vector.Length];
                    GgmlQuantizer.Quantize(type, x, vector, vectorized: true);
                    GgmlQuantizer.Quantize(type, x, scalar, vectorized: false);
                    Assert.Equal(scalar, vector);
                }
            });

    [Property(MaxTest = 300)]
    public Property F16_and_BF16_round_trip_within_half_an_ulp() =>
        Prop.ForAll(
            Block.ToArbitrary(),
            x =>
            {
                foreach (float v in x)
                {
                    float h = (float)BitConverter.UInt16BitsToHalf(GgmlQuantizer.Half(v));
                    Assert.True(Math.Abs(h - (double)v) <= (Math.Abs((double)v) * Math.Pow(2, -11)) + Math.Pow(2, -25), $"F16 {v} -> {h}");
                    float b = BitConverter.UInt32BitsToSingle((uint)GgmlQuantizer.BFloat16(v) << 16);
                    Assert.True(Math.Abs(b - (double)v) <= Math.Abs((double)v) * Math.Pow(2, -8), $"BF16 {v} -> {b}");
                }
            });
}
