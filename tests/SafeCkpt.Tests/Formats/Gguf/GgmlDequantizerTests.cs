using SafeCkpt.Formats.Gguf;

namespace SafeCkpt.Tests.Formats.Gguf;

/// <summary>Hand-worked blocks for the layouts (the fixtures check bit-exactness against gguf-py on random blocks).</summary>
public class GgmlDequantizerTests
{
    private static byte[] HalfBytes(float f) => BitConverter.GetBytes((Half)f);

    [Fact]
    public void Q8_0_is_qs_times_d()
    {
        byte[] block = [.. HalfBytes(0.5f), .. Enumerable.Range(0, 32).Select(i => (byte)(sbyte)(i - 16))];
        var y = new float[32];
        GgmlDequantizer.Dequantize(GgmlType.Q8_0, block, y);
        Assert.Equal(Enumerable.Range(0, 32).Select(i => (i - 16) * 0.5f), y);
    }

    [Fact]
    public void Q4_0_puts_low_nibbles_first_then_high_nibbles()
    {
        byte[] block = [.. HalfBytes(2f), .. Enumerable.Range(0, 16).Select(i => (byte)(i | ((15 - i) << 4)))];
        var y = new float[32];
        GgmlDequantizer.Dequantize(GgmlType.Q4_0, block, y);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (i - 8) * 2f).Concat(Enumerable.Range(0, 16).Select(i => (15 - i - 8) * 2f)), y);
    }

    [Fact]
    public void Q5_1_takes_the_fifth_bit_from_qh_and_adds_m()
    {
        byte[] block = [.. HalfBytes(1f), .. HalfBytes(-3f), .. BitConverter.GetBytes(0x80000001u), .. new byte[16]];
        var y = new float[32];
        GgmlDequantizer.Dequantize(GgmlType.Q5_1, block, y);
        Assert.Equal(13f, y[0]);
        Assert.Equal(-3f, y[1]);
        Assert.Equal(13f, y[31]);
    }

    [Fact]
    public void A_zero_scale_block_is_all_zeros_for_every_type()
    {
        foreach (GgmlType type in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
        {
            GgmlTypes.TryGetBlock((uint)type, out int n, out int size);
            var y = Enumerable.Repeat(float.NaN, n).ToArray();
            byte[] block = Enumerable.Repeat((byte)0x5A, size).ToArray();
            ZeroScales(type, block);
            GgmlDequantizer.Dequantize(type, block, y);
            Assert.All(y, v => Assert.Equal(0f, Math.Abs(v)));
        }
    }

    [Fact]
    public void Partial_blocks_and_types_without_a_dequantizer_are_refused()
    {
        Assert.Throws<ArgumentException>(() => GgmlDequantizer.Dequantize(GgmlType.Q8_0, new byte[33], new float[32]));
        Assert.Throws<ArgumentOutOfRangeException>(() => GgmlDequantizer.Dequantize(GgmlType.IQ2_XXS, new byte[66], new float[256]));
    }

    [Fact]
    public void The_type_table_matches_the_reference_sizes()
    {
        Assert.True(GgmlTypes.TryGetBlock(12, out int n, out int size));
        Assert.Equal((256, 144), (n, size));
        Assert.False(GgmlTypes.TryGetBlock(4, out _, out _));
        Assert.False(GgmlTypes.TryGetBlock(GgmlTypes.Count, out _, out _));
        Assert.Equal("type99", GgmlTypes.Name((GgmlType)99));
    }

    private static void ZeroScales(GgmlType type, byte[] b)
    {
        int[] at = type switch
        {
            GgmlType.Q2_K => [80, 82],
            GgmlType.Q3_K => [108],
            GgmlType.Q6_K => [208],
            GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
            _ => [0],
        };
        foreach (int i in at)
        {
            b[i] = 0;
            b[i + 1] = 0;
        }
    }
}
