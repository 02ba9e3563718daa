using SafeCkpt.Formats.Gguf;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Formats.Gguf;

/// <summary>The quantizing source holds one step, never a tensor: bounded reads of its input, each byte read once.</summary>
public class QuantizingTensorSourceTests
{
    /// <summary>Zeros of any length that remember the largest read and the bytes read.</summary>
    private sealed class CountingZeros(long length) : TensorSource
    {
        public long Largest { get; private set; }

        public long Total { get; private set; }

        public override long Length => length;

        public override void Read(long offset, Span<byte> destination)
        {
            CheckRange(offset, destination.Length);
            lock (this)
            {
                Largest = Math.Max(Largest, destination.Length);
                Total += destination.Length;
            }

            destination.Clear();
        }
    }

    [Theory]
    [InlineData("Q8_0")]
    [InlineData("Q4_1")]
    [InlineData("F16")]
    public void A_large_tensor_is_read_one_mebibyte_at_most_at_a_time_and_once(string typeName)
    {
        GgmlType type = Enum.Parse<GgmlType>(typeName);
        const long elements = 16L << 20; // 64 MiB of float32
        var input = new CountingZeros(elements * sizeof(float));
        var source = new QuantizingTensorSource(input, type);
        var chunk = new byte[8 << 20];
        for (long at = 0; at < source.Length; at += chunk.Length)
        {
            source.Read(at, chunk.AsSpan(0, (int)Math.Min(chunk.Length, source.Length - at)));
        }

        Assert.True(input.Largest <= 1 << 20, $"largest read {input.Largest}");
        Assert.InRange(input.Total, elements * sizeof(float), (elements * sizeof(float)) + (2 * (source.Length / chunk.Length + 1) * 1024));
    }
}
