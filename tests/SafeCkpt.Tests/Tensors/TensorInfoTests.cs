using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.Tensors;

public class TensorInfoTests
{
    [Fact]
    public void A_scalar_has_one_element_and_its_dtype_size()
    {
        var t = new TensorInfo("s", DType.Float32, []);
        Assert.Equal(1, t.ElementCount);
        Assert.Equal(4, t.ByteLength);
        Assert.Equal("[]", t.FormatShape());
    }

    [Fact]
    public void A_zero_dimension_makes_an_empty_tensor()
    {
        var t = new TensorInfo("e", DType.Float64, [2, 0, 5]);
        Assert.Equal(0, t.ElementCount);
        Assert.Equal(0, t.ByteLength);
    }

    [Fact]
    public void Negative_dimensions_are_rejected() =>
        Assert.Throws<ArgumentException>(() => new TensorInfo("x", DType.Float32, [3, -1]));

    [Fact]
    public void Overflowing_sizes_are_rejected() =>
        Assert.Throws<ArgumentException>(() => new TensorInfo("x", DType.Float32, [long.MaxValue / 2, 3]));

    [Fact]
    public void Sub_byte_dtypes_must_fill_whole_bytes()
    {
        Assert.Equal(2, new TensorInfo("f4", DType.Float4E2M1, [4]).ByteLength);
        Assert.Throws<ArgumentException>(() => new TensorInfo("f4", DType.Float4E2M1, [3]));
    }

    [Fact]
    public void More_than_64_dimensions_are_rejected() =>
        Assert.Throws<ArgumentException>(() => new TensorInfo("x", DType.UInt8, Enumerable.Repeat(1L, 65)));

    [Property(MaxTest = 300)]
    public Property Byte_length_is_elements_times_bits_over_eight() =>
        Prop.ForAll(
            Gen.Choose(0, 6).SelectMany(rank => Gen.Choose(0, 9).ArrayOf(rank)).ToArbitrary(),
            Gen.Elements(DTypeExtensions.All.Where(d => d.BitSize() % 8 == 0).ToArray()).ToArbitrary(),
            (dims, dtype) =>
            {
                var t = new TensorInfo("t", dtype, dims.Select(d => (long)d));
                long elements = dims.Aggregate(1L, (a, d) => a * d);
                return t.ElementCount == elements && t.ByteLength == elements * dtype.BitSize() / 8 && t.Shape.SequenceEqual(dims.Select(d => (long)d));
            });
}
