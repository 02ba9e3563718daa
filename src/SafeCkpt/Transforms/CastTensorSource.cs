using CommunityToolkit.HighPerformance.Buffers;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Transforms;

/// <summary>Converts <paramref name="count"/> elements of <paramref name="source"/> into <paramref name="destination"/>.</summary>
internal delegate void ElementConverter(ReadOnlySpan<byte> source, Span<byte> destination, int count);

/// <summary>
/// A tensor source that yields another source's elements cast to a new dtype: reading a range of the output reads
/// the matching range of the input once, into a pooled buffer, and converts it. It chooses no chunk size of its own:
/// the caller (the save's streaming loop) bounds each request. Other element-wise conversions (scaled fp8
/// quantization and dequantization) run through it with their own converter.
/// </summary>
internal sealed class CastTensorSource : TensorSource
{
    private readonly TensorSource _inner;
    private readonly ElementConverter _convert;
    private readonly int _fromSize;
    private readonly int _toSize;

    public CastTensorSource(TensorSource inner, DType from, DType to)
        : this(inner, from.BitSize() / 8, to.BitSize() / 8, (s, d, n) => ElementCast.Convert(from, to, s, d, n))
    {
    }

    public CastTensorSource(TensorSource inner, int fromSize, int toSize, ElementConverter convert)
    {
        _inner = inner;
        _convert = convert;
        _fromSize = fromSize;
        _toSize = toSize;
        Length = inner.Length / _fromSize * _toSize;
    }

    public override long Length { get; }

    public override (object? File, long Offset) Position => _inner.Position;

    public override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        if (offset % _toSize != 0 || destination.Length % _toSize != 0)
        {
            ReadUnaligned(offset, destination);
            return;
        }

        long first = offset / _toSize;
        int count = destination.Length / _toSize;
        using SpanOwner<byte> input = SpanOwner<byte>.Allocate(count * _fromSize);
        _inner.Read(first * _fromSize, input.Span);
        _convert(input.Span, destination, count);
    }

    private void ReadUnaligned(long offset, Span<byte> destination)
    {
        long start = offset / _toSize * _toSize;
        long end = Math.Min(Length, (offset + destination.Length + _toSize - 1) / _toSize * _toSize);
        using SpanOwner<byte> whole = SpanOwner<byte>.Allocate((int)(end - start));
        Read(start, whole.Span);
        whole.Span.Slice((int)(offset - start), destination.Length).CopyTo(destination);
    }
}
