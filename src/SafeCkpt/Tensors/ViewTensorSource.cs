using System.Buffers;

namespace SafeCkpt.Tensors;

/// <summary>
/// A strided view of a storage (a transposed or sliced tensor) read as its contiguous C-order bytes, chunk by chunk.
/// The innermost dimensions that are contiguous in the storage are merged into runs; each run is one read of the
/// storage. When the whole view spans at most <see cref="GatherWindow"/> bytes of storage, each call reads that span
/// once and gathers from memory instead of issuing one small read per run.
/// </summary>
internal sealed class ViewTensorSource : TensorSource
{
    /// <summary>The largest storage span read at once to gather a chunk from memory.</summary>
    public const int GatherWindow = 16 << 20;

    private readonly TensorSource _storage;
    private readonly int _elementSize;
    private readonly long _offset;
    private readonly long[] _outerSizes;
    private readonly long[] _outerStrides;
    private readonly long _runBytes;
    private readonly long _extentBytes;

    /// <summary>Creates a view; sizes, strides and the offset must already be validated against the storage.</summary>
    public ViewTensorSource(TensorSource storage, int elementSize, long offset, IReadOnlyList<long> sizes, IReadOnlyList<long> strides)
    {
        _storage = storage;
        _elementSize = elementSize;
        _offset = offset;

        // Merge the contiguous innermost dimensions into one run of elements.
        int rank = sizes.Count;
        long runElements = 1;
        int d = rank - 1;
        while (d >= 0 && (sizes[d] == 1 || strides[d] == runElements))
        {
            runElements *= sizes[d];
            d--;
        }

        _outerSizes = new long[d + 1];
        _outerStrides = new long[d + 1];
        long count = runElements;
        long maxIndex = runElements - 1;
        for (int i = 0; i <= d; i++)
        {
            _outerSizes[i] = sizes[i];
            _outerStrides[i] = strides[i];
            count *= sizes[i];
            maxIndex += (sizes[i] - 1) * strides[i];
        }

        _runBytes = runElements * elementSize;
        Length = count * elementSize;
        _extentBytes = count == 0 ? 0 : (maxIndex + 1) * elementSize;
    }

    public override long Length { get; }

    public override (object? File, long Offset) Position => _storage.Position is (object file, long at) ? (file, at + (_offset * _elementSize)) : (null, 0);

    public override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        if (destination.IsEmpty)
        {
            return;
        }

        long run = offset / _runBytes;
        long within = offset % _runBytes;
        long[] index = Unravel(run);
        byte[]? window = null;
        try
        {
            if (_extentBytes <= GatherWindow)
            {
                window = ArrayPool<byte>.Shared.Rent((int)_extentBytes);
                _storage.Read(_offset * _elementSize, window.AsSpan(0, (int)_extentBytes));
            }

            while (!destination.IsEmpty)
            {
                long element = 0;
                for (int i = 0; i < index.Length; i++)
                {
                    element += index[i] * _outerStrides[i];
                }

                int n = (int)Math.Min(destination.Length, _runBytes - within);
                long at = (element * _elementSize) + within;
                if (window is not null)
                {
                    window.AsSpan((int)at, n).CopyTo(destination);
                }
                else
                {
                    _storage.Read((_offset * _elementSize) + at, destination[..n]);
                }

                destination = destination[n..];
                within = 0;
                Increment(index);
            }
        }
        finally
        {
            if (window is not null)
            {
                ArrayPool<byte>.Shared.Return(window);
            }
        }
    }

    private long[] Unravel(long run)
    {
        var index = new long[_outerSizes.Length];
        for (int i = index.Length - 1; i >= 0; i--)
        {
            index[i] = run % _outerSizes[i];
            run /= _outerSizes[i];
        }

        return index;
    }

    private void Increment(long[] index)
    {
        for (int i = index.Length - 1; i >= 0; i--)
        {
            if (++index[i] < _outerSizes[i])
            {
                return;
            }

            index[i] = 0;
        }
    }
}
