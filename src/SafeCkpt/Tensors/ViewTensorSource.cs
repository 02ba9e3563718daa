using CommunityToolkit.HighPerformance.Buffers;
using SafeCkpt.IO;

namespace SafeCkpt.Tensors;

/// <summary>
/// A strided view of a storage (a transposed, permuted, sliced or broadcast tensor) read as its C-order bytes, chunk
/// by chunk: each storage byte is read about once over a sequential pass, with one budget-size buffer and reads of at
/// most <see cref="ChunkSizes.Stream"/> bytes.
/// </summary>
/// <remarks>
/// <para>
/// The geometry is normalised first: size-1 dimensions are dropped, neighbours that step through the storage as one
/// are merged, and the innermost elements that are contiguous in the storage form a <em>run</em>, the unit of copying.
/// The extent is the storage span the view touches. One of three ways to read is chosen once:
/// </para>
/// <list type="bullet">
/// <item><b>Direct</b>: runs of at least <see cref="ChunkSizes.ViewDirectRun"/> bytes met in storage order (a slice), or
/// in any order when the extent is larger than the window: each run is read straight into the destination.</item>
/// <item><b>Resident</b>: the extent fits the window (<see cref="ChunkSizes.ViewWindow"/>): it is read front to back as
/// far as each request needs and kept across calls; every chunk is gathered from memory.</item>
/// <item><b>Blocked</b>: a larger extent: the output is made in equal blocks of whole U steps (rows of a transpose) in
/// half the window, kept across calls; the other half stages what each block needs: a box's whole storage span when it
/// fits, else its U lines packed, one read per line (the columns of a transpose a block needs) when they are at least
/// <see cref="ChunkSizes.ViewMinRead"/> long, else the box split along its outermost level (then a pass reads the
/// extent up to output / block times).</item>
/// </list>
/// <para>
/// The buffer is released (returned to the pool) when a read ends at the view's last byte, when the view is disposed,
/// or when views read part-way hold more than <see cref="ChunkSizes.ViewBuffersHeld"/> in total (the oldest idle ones
/// go). Reads of one view are serialised by a lock; views sharing a storage keep separate buffers.
/// </para>
/// </remarks>
internal sealed partial class ViewTensorSource : TensorSource, IDisposable
{
    private readonly TensorSource _storage;
    private readonly long _base;
    private readonly long _runBytes;
    private readonly long _runs;
    private readonly long _extent;
    private readonly int _rank;
    private readonly long[] _sizes;
    private readonly long[] _strides;
    private readonly long[] _outStrides;
    private readonly int[] _order;
    private readonly Mode _mode;
    private readonly int _blockRuns;
    private readonly int _stageBytes;
    private readonly long _blockAlign = 1;
    private readonly int _budget;
    private readonly int _minRead;
    private readonly Lock _gate = new();

    private MemoryOwner<byte>? _buffer;
    private long _filled;
    private long _blockFirst;
    private long _blockEnd;

    /// <summary>Creates a view; sizes, strides and the offset must already be validated against the storage.</summary>
    /// <param name="storage">The storage, from its first element.</param>
    /// <param name="elementSize">Bytes per element.</param>
    /// <param name="offset">The view's first element in the storage.</param>
    /// <param name="sizes">The view's sizes.</param>
    /// <param name="strides">The view's strides, in elements.</param>
    /// <param name="limits">The sizes that choose how to read; <see cref="ViewLimits.Default"/> unless a test shrinks them.</param>
    public ViewTensorSource(TensorSource storage, int elementSize, long offset, IReadOnlyList<long> sizes, IReadOnlyList<long> strides, ViewLimits? limits = null)
    {
        ViewLimits l = limits ?? ViewLimits.Default;
        _minRead = l.MinRead;
        _storage = storage;
        _base = offset * elementSize;

        // Size-1 dimensions never move; a size-0 one empties the view.
        var dims = new List<(long Size, long Stride)>(sizes.Count);
        long count = 1;
        for (int i = 0; i < sizes.Count; i++)
        {
            count *= sizes[i];
            if (sizes[i] != 1)
            {
                dims.Add((sizes[i], strides[i]));
            }
        }

        Length = count * elementSize;
        if (count == 0)
        {
            dims.Clear();
        }

        // The innermost dimensions contiguous in the storage form one run.
        long runElements = 1;
        while (dims.Count > 0 && dims[^1].Stride == runElements)
        {
            runElements *= dims[^1].Size;
            dims.RemoveAt(dims.Count - 1);
        }

        // Neighbours where stepping the outer one equals a whole sweep of the inner one are one dimension.
        for (int i = dims.Count - 2; i >= 0; i--)
        {
            if (dims[i].Stride == dims[i + 1].Size * dims[i + 1].Stride)
            {
                dims[i] = (dims[i].Size * dims[i + 1].Size, dims[i + 1].Stride);
                dims.RemoveAt(i + 1);
            }
        }

        // At least two dimensions, so the kernel always has its two innermost levels.
        while (dims.Count < 2)
        {
            dims.Insert(0, (1, 0));
        }

        _rank = dims.Count;
        _runBytes = runElements * elementSize;
        _sizes = new long[_rank];
        _strides = new long[_rank];
        _outStrides = new long[_rank];
        long outStride = 1;
        _extent = count == 0 ? 0 : _runBytes;
        for (int d = _rank - 1; d >= 0; d--)
        {
            _sizes[d] = dims[d].Size;
            _strides[d] = dims[d].Size == 1 ? 0 : dims[d].Stride * elementSize;
            _outStrides[d] = outStride;
            outStride *= _sizes[d];
            _extent += (_sizes[d] - 1) * _strides[d];
        }

        _runs = count == 0 ? 0 : outStride;

        // The kernel walks the dimensions from the largest storage stride to the smallest: the two innermost levels
        // then step through the storage most closely, and a storage window prunes whole subtrees at the outer ones.
        _order = Enumerable.Range(0, _rank)
            .OrderBy(d => _sizes[d] == 1 ? 0 : 1)
            .ThenByDescending(d => _strides[d])
            .ThenBy(d => d)
            .ToArray();

        int budget = Math.Max(l.Window, (int)Math.Min(int.MaxValue / 2, Math.Max(64, 4 * _runBytes)));
        _budget = budget;
        if (_runs == 0)
        {
            _mode = Mode.Resident;
        }
        else if (_runBytes >= l.DirectRun && (InStorageOrder() || _extent > budget))
        {
            _mode = Mode.Direct;
        }
        else if (_extent <= budget)
        {
            _mode = Mode.Resident;
        }
        else
        {
            // Half the budget holds output runs, the other half stages the storage they need. Blocks hold whole steps of
            // U (the storage-innermost dimension; whole output rows of a transpose), so no block has a box of a single U
            // index spanning the whole extent.
            _mode = Mode.Blocked;
            long fit = budget / 2 / _runBytes;
            long step = _outStrides[_order[_rank - 1]];
            _blockAlign = step <= fit ? step : 1;

            // As many blocks as needed, all the same size, so the last one's lines are as long as the others'.
            long steps = (_runs + _blockAlign - 1) / _blockAlign;
            long perBlock = fit / _blockAlign;
            long blocks = (steps + perBlock - 1) / perBlock;
            _blockRuns = (int)Math.Clamp((steps + blocks - 1) / blocks * _blockAlign, 1, _runs);
            _stageBytes = budget - (_blockRuns * (int)_runBytes);
        }
    }

    private enum Mode
    {
        Direct,
        Resident,
        Blocked,
    }

    public override long Length { get; }

    public override (object? File, long Offset) Position => _storage.Position is (object file, long at) ? (file, at + _base) : (null, 0);

    /// <summary>The storage bytes the view spans, from its first element.</summary>
    internal long ExtentBytes => _extent;

    /// <summary>How the view reads (for tests): Direct, Resident or Blocked.</summary>
    internal string ReadMode => _mode.ToString();

    /// <summary>The output bytes one block holds in the blocked mode (for tests).</summary>
    internal long BlockBytes => _blockRuns * _runBytes;

    /// <summary>Whether the view holds a window or block buffer now (for tests).</summary>
    internal bool HoldsBuffer
    {
        get
        {
            lock (_gate)
            {
                return _buffer is not null;
            }
        }
    }

    public override void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        if (destination.IsEmpty)
        {
            return;
        }

        lock (_gate)
        {
            switch (_mode)
            {
                case Mode.Direct:
                    ReadDirect(offset, destination);
                    break;
                case Mode.Resident:
                    ReadResident(offset, destination);
                    break;
                default:
                    ReadBlocked(offset, destination);
                    break;
            }

            if (offset + destination.Length == Length)
            {
                Release(unregister: true);
            }
        }
    }

    /// <summary>Returns the buffer, if any, to the pool.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            Release(unregister: true);
        }
    }

    // ---------------- the three ways to read ----------------
    private void ReadDirect(long offset, Span<byte> destination)
    {
        long run = offset / _runBytes;
        long within = offset % _runBytes;
        while (!destination.IsEmpty)
        {
            int n = (int)Math.Min(destination.Length, _runBytes - within);
            _storage.Read(_base + RunOffset(run) + within, destination[..n]);
            destination = destination[n..];
            within = 0;
            run++;
        }
    }

    private void ReadResident(long offset, Span<byte> destination)
    {
        Acquire();
        long end = offset + destination.Length;
        long first = offset / _runBytes;
        long last = (end - 1) / _runBytes;
        long head = offset % _runBytes;
        if (first == last)
        {
            CopyPartRun(first, head, destination);
            return;
        }

        if (head != 0)
        {
            int n = (int)(_runBytes - head);
            CopyPartRun(first, head, destination[..n]);
            destination = destination[n..];
            first++;
        }

        long tail = end % _runBytes;
        long stop = tail == 0 ? last + 1 : last;
        int whole = (int)((stop - first) * _runBytes);
        if (whole > 0)
        {
            List<Box> boxes = Boxes(first, stop);
            Fill(boxes.Max(b => b.Hi));
            var target = new Target(_buffer!.Span[..(int)_filled], _strides, 0, long.MinValue, long.MaxValue, destination[..whole], first);
            foreach (Box box in boxes)
            {
                Gather(box, ref target);
            }
        }

        if (tail != 0)
        {
            CopyPartRun(last, 0, destination[whole..]);
        }
    }

    private void ReadBlocked(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            if (_buffer is null || offset < _blockFirst * _runBytes || offset >= _blockEnd * _runBytes)
            {
                FillBlock(offset / _runBytes);
            }

            int at = (int)(offset - (_blockFirst * _runBytes));
            int n = (int)Math.Min(destination.Length, (_blockEnd * _runBytes) - offset);
            _buffer!.Span.Slice(at, n).CopyTo(destination);
            destination = destination[n..];
            offset += n;
        }
    }

    /// <summary>Makes runs [first, first + block) in the block buffer, staging the storage each of their boxes needs.</summary>
    private void FillBlock(long first)
    {
        first = first / _blockAlign * _blockAlign;
        long stop = Math.Min(_runs, first + _blockRuns);
        Acquire();
        _blockFirst = _blockEnd = 0;
        Span<byte> all = _buffer!.Span;
        Span<byte> block = all[..(int)((stop - first) * _runBytes)];
        Span<byte> stage = all.Slice(_blockRuns * (int)_runBytes, _stageBytes);
        foreach (Box box in Boxes(first, stop))
        {
            Stage(box, block, stage, first);
        }

        _blockFirst = first;
        _blockEnd = stop;
    }

    /// <summary>
    /// Gathers one box of the block through the stage, the cheapest way that fits: its whole storage span; else its
    /// U lines packed, one read each when they are long; else the box split along its outermost level; a single line
    /// longer than the stage is swept in pieces.
    /// </summary>
    private void Stage(Box box, Span<byte> block, Span<byte> stage, long first)
    {
        if (box.Hi - box.Lo <= stage.Length)
        {
            ReadRange(box.Lo, stage[..(int)(box.Hi - box.Lo)]);
            var whole = new Target(stage, _strides, box.Lo, long.MinValue, long.MaxValue, block, first);
            Gather(box, ref whole);
            return;
        }

        int u = _order[_rank - 1];
        long lineBytes = ((box.To[u] - box.From[u] - 1) * _strides[u]) + _runBytes;
        long lines = 1;
        for (int level = 0; level < _rank - 1; level++)
        {
            lines *= box.To[_order[level]] - box.From[_order[level]];
        }

        if (lineBytes >= _minRead && lines * lineBytes <= stage.Length)
        {
            // Packed: line k of the box at k x lineBytes, in the kernel's level order.
            var strides = new long[_rank];
            strides[u] = _strides[u];
            long step = lineBytes;
            for (int level = _rank - 2; level >= 0; level--)
            {
                int d = _order[level];
                strides[d] = step;
                step *= box.To[d] - box.From[d];
            }

            long origin = 0;
            for (int d = 0; d < _rank; d++)
            {
                origin += box.From[d] * strides[d];
            }

            var reads = new LineReads(this, stage);
            ReadLines(box, ref reads, 0, box.From[u] * _strides[u], 0, strides, lineBytes);
            reads.Flush();
            var packed = new Target(stage[..(int)(lines * lineBytes)], strides, origin, long.MinValue, long.MaxValue, block, first);
            Gather(box, ref packed);
            return;
        }

        for (int level = 0; level < _rank - 1; level++)
        {
            int d = _order[level];
            long n = box.To[d] - box.From[d];
            if (n > 1)
            {
                long half = box.From[d] + (n / 2);
                Stage(box.With(this, d, box.From[d], half), block, stage, first);
                Stage(box.With(this, d, half, box.To[d]), block, stage, first);
                return;
            }
        }

        // One line longer than the stage: pieces that own the runs starting in them, read up to their last run's end.
        int piece = stage.Length - (int)_runBytes + 1;
        for (long p = box.Lo; p < box.Hi; p += piece)
        {
            int n = (int)(Math.Min(box.Hi, p + piece + _runBytes - 1) - p);
            ReadRange(p, stage[..n]);
            var target = new Target(stage[..n], _strides, p, p, p + piece, block, first);
            Gather(box, ref target);
        }
    }

    /// <summary>Reads the box's lines (level by level, outermost first) into their packed places.</summary>
    private void ReadLines(Box box, ref LineReads reads, int level, long source, long packed, long[] strides, long lineBytes)
    {
        if (level == _rank - 1)
        {
            reads.Add(source, packed, lineBytes);
            return;
        }

        int d = _order[level];
        for (long i = box.From[d]; i < box.To[d]; i++)
        {
            ReadLines(box, ref reads, level + 1, source + (i * _strides[d]), packed + ((i - box.From[d]) * strides[d]), strides, lineBytes);
        }
    }

    /// <summary>Reads storage bytes from <paramref name="at"/> (from the view's first element), a stream chunk at a time.</summary>
    private void ReadRange(long at, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int n = Math.Min(ChunkSizes.Stream, destination.Length);
            _storage.Read(_base + at, destination[..n]);
            destination = destination[n..];
            at += n;
        }
    }

    /// <summary>Copies part of one run from the resident window.</summary>
    private void CopyPartRun(long run, long from, Span<byte> destination)
    {
        long at = RunOffset(run) + from;
        Fill(at + destination.Length);
        _buffer!.Span.Slice((int)at, destination.Length).CopyTo(destination);
    }

    /// <summary>Reads the resident window on to at least <paramref name="end"/>, a whole stream chunk at a time.</summary>
    private void Fill(long end)
    {
        if (end <= _filled)
        {
            return;
        }

        end = Math.Min(_extent, Math.Max(end, _filled + ChunkSizes.Stream));
        Span<byte> window = _buffer!.Span;
        while (_filled < end)
        {
            int n = (int)Math.Min(ChunkSizes.Stream, end - _filled);
            _storage.Read(_base + _filled, window.Slice((int)_filled, n));
            _filled += n;
        }
    }

    // ---------------- geometry ----------------

    /// <summary>Whether the runs, in output order, move forward through the storage without overlapping.</summary>
    private bool InStorageOrder()
    {
        long span = _runBytes;
        for (int d = _rank - 1; d >= 0; d--)
        {
            if (_sizes[d] == 1)
            {
                continue;
            }

            if (_strides[d] < span)
            {
                return false;
            }

            span += (_sizes[d] - 1) * _strides[d];
        }

        return true;
    }

    /// <summary>The storage byte (from the view's first element) where run <paramref name="run"/> starts.</summary>
    private long RunOffset(long run)
    {
        long at = 0;
        for (int d = _rank - 1; d >= 0; d--)
        {
            at += run % _sizes[d] * _strides[d];
            run /= _sizes[d];
        }

        return at;
    }

    /// <summary>
    /// Splits the runs [first, stop) of the output (C order) into at most 2 x rank boxes: ranges per dimension whose
    /// product is a contiguous piece of the output.
    /// </summary>
    private List<Box> Boxes(long first, long stop)
    {
        var boxes = new List<Box>(2 * _rank);
        var index = new long[_rank];
        for (long run = first; run < stop;)
        {
            long rest = run;
            for (int d = _rank - 1; d >= 0; d--)
            {
                index[d] = rest % _sizes[d];
                rest /= _sizes[d];
            }

            // The widest dimension t whose inner dimensions are all at 0 and that fits at least one whole step.
            int t = _rank - 1;
            while (t > 0 && index[t] == 0 && _outStrides[t - 1] <= stop - run)
            {
                t--;
            }

            long count = Math.Min(_sizes[t] - index[t], (stop - run) / _outStrides[t]);
            var from = new long[_rank];
            var to = new long[_rank];
            for (int d = 0; d < _rank; d++)
            {
                (from[d], to[d]) = d < t ? (index[d], index[d] + 1) : d == t ? (index[d], index[d] + count) : (0, _sizes[d]);
            }

            boxes.Add(new Box(this, from, to));
            run += count * _outStrides[t];
        }

        return boxes;
    }

    // ---------------- buffers ----------------
    /// <summary>Rents the view's buffer: always the budget, so views take turns with one pooled array.</summary>
    private void Acquire()
    {
        if (_buffer is not null)
        {
            return;
        }

        _buffer = MemoryOwner<byte>.Allocate(_budget);
        _filled = 0;
        HeldBuffers.Add(this, _budget);
    }

    private void Release(bool unregister)
    {
        if (_buffer is null)
        {
            return;
        }

        _buffer.Dispose();
        _buffer = null;
        _filled = 0;
        _blockFirst = _blockEnd = 0;
        if (unregister)
        {
            HeldBuffers.Remove(this);
        }
    }

    /// <summary>
    /// The buffers of views read part-way, oldest first. Past <see cref="ChunkSizes.ViewBuffersHeld"/> in total, idle
    /// ones (not being read on another thread) are let go; a view let go reads its storage again if read again.
    /// </summary>
    private static class HeldBuffers
    {
        private static readonly Lock Gate = new();
        private static readonly List<(WeakReference<ViewTensorSource> View, long Bytes)> Held = [];
        private static long s_total;

        public static void Add(ViewTensorSource view, long bytes)
        {
            lock (Gate)
            {
                Held.Add((new WeakReference<ViewTensorSource>(view), bytes));
                s_total += bytes;
                for (int i = 0; i < Held.Count && s_total > ChunkSizes.ViewBuffersHeld;)
                {
                    (WeakReference<ViewTensorSource> weak, long size) = Held[i];
                    if (weak.TryGetTarget(out ViewTensorSource? other))
                    {
                        // Never wait here: a view being read (on another thread, or further up this one) keeps its buffer.
                        if (ReferenceEquals(other, view) || other._gate.IsHeldByCurrentThread || !other._gate.TryEnter())
                        {
                            i++;
                            continue;
                        }

                        try
                        {
                            other.Release(unregister: false);
                        }
                        finally
                        {
                            other._gate.Exit();
                        }
                    }

                    Held.RemoveAt(i);
                    s_total -= size;
                }
            }
        }

        public static void Remove(ViewTensorSource view)
        {
            lock (Gate)
            {
                for (int i = 0; i < Held.Count; i++)
                {
                    if (Held[i].View.TryGetTarget(out ViewTensorSource? other) && ReferenceEquals(other, view))
                    {
                        s_total -= Held[i].Bytes;
                        Held.RemoveAt(i);
                        return;
                    }
                }
            }
        }
    }
}

/// <summary>The sizes a strided view reads by (<see cref="ChunkSizes"/>); tests shrink them to reach every path with small tensors.</summary>
/// <param name="Window">The view's buffer: the largest extent held whole, else block plus stage.</param>
/// <param name="DirectRun">The shortest run read straight from the storage.</param>
/// <param name="MinRead">The shortest storage line a blocked view reads on its own.</param>
internal readonly record struct ViewLimits(int Window, int DirectRun, int MinRead)
{
    public static ViewLimits Default { get; } = new(ChunkSizes.ViewWindow, ChunkSizes.ViewDirectRun, ChunkSizes.ViewMinRead);
}
