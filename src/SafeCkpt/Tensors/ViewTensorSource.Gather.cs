using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SafeCkpt.Tensors;

/// <summary>The gather kernel: copies the runs of an output box from a storage window into the output.</summary>
internal sealed partial class ViewTensorSource
{
    /// <summary>
    /// Copies the runs of <paramref name="box"/> whose storage start lies in [target.Lo, target.Hi) from target.Source
    /// (storage bytes from target.SourceStart) to target.Destination (output runs from target.FirstRun). The outer
    /// levels (largest strides first) prune indices whose whole subtree lies outside the window.
    /// </summary>
    private void Gather(Box box, ref Target target) => Level(box, ref target, 0, 0, 0);

    private void Level(Box box, ref Target target, int level, long source, long run)
    {
        if (level == _rank - 2)
        {
            Leaf(box, ref target, source, run);
            return;
        }

        int d = _order[level];
        (long i, long stop) = Prune(box, ref target, level, source);
        for (; i < stop; i++)
        {
            Level(box, ref target, level + 1, source + (i * target.Strides[d]), run + (i * _outStrides[d]));
        }
    }

    /// <summary>
    /// The two innermost levels: V, and U, the smallest storage stride. When the output is contiguous along U (a slice,
    /// a broadcast) each V line is copied straight; otherwise (a transpose) through <see cref="Transpose{T}"/>.
    /// </summary>
    private void Leaf(Box box, ref Target target, long source, long run)
    {
        int v = _order[_rank - 2];
        int u = _order[_rank - 1];
        (long v0, long v1) = Prune(box, ref target, _rank - 2, source);
        var lines = new Lines(source, target.Strides[v], run - target.FirstRun, _outStrides[v], box.From[u], box.To[u], target.Strides[u], _outStrides[u]);
        bool straight = _outStrides[u] == 1;
        switch (_runBytes)
        {
            case 1 when !straight:
                Transpose<byte>(ref target, lines, v0, v1);
                break;
            case 2 when !straight:
                if (!Blocks8x8(ref target, lines, v0, v1, 2))
                {
                    Transpose<ushort>(ref target, lines, v0, v1);
                }

                break;
            case 4 when !straight:
                if (!Blocks8x8(ref target, lines, v0, v1, 4))
                {
                    Transpose<uint>(ref target, lines, v0, v1);
                }

                break;
            case 8 when !straight:
                Transpose<ulong>(ref target, lines, v0, v1);
                break;
            default:
                Straight(ref target, lines, v0, v1);
                break;
        }
    }

    /// <summary>Each V line's runs copied in U order: destination[run(iv, iu)] = source[start(iv, iu)].</summary>
    private void Straight(ref Target target, Lines lines, long v0, long v1)
    {
        switch (_runBytes)
        {
            case 1:
                Straight<byte>(ref target, lines, v0, v1);
                break;
            case 2:
                Straight<ushort>(ref target, lines, v0, v1);
                break;
            case 4:
                Straight<uint>(ref target, lines, v0, v1);
                break;
            case 8:
                Straight<ulong>(ref target, lines, v0, v1);
                break;
            default:
                StraightRuns(ref target, lines, v0, v1, (int)_runBytes);
                break;
        }
    }

    /// <summary>Runs of sizeof(T) bytes, each line's first and last checked once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Straight<T>(ref Target target, Lines lines, long v0, long v1)
        where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        int fromStep = (int)lines.SourceU;
        int toStep = (int)lines.RunU * size;
        for (long iv = v0; iv < v1; iv++)
        {
            long start = lines.Source + (iv * lines.SourceV);
            (long a, long b) = Within(ref target, start, lines.SourceU, lines.U0, lines.U1);
            if (a >= b)
            {
                continue;
            }

            int count = (int)(b - a);
            ref byte from = ref Line(target.Source, start + (a * lines.SourceU) - target.SourceStart, fromStep, count, size);
            ref byte to = ref Line(target.Destination, (lines.Run + (iv * lines.RunV) + (a * lines.RunU)) * size, toStep, count, size);
            for (int k = 0; k < count; k++)
            {
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref to, (nint)k * toStep), Unsafe.ReadUnaligned<T>(ref Unsafe.Add(ref from, (nint)k * fromStep)));
            }
        }
    }

    private static void StraightRuns(ref Target target, Lines lines, long v0, long v1, int runBytes)
    {
        for (long iv = v0; iv < v1; iv++)
        {
            long start = lines.Source + (iv * lines.SourceV);
            (long a, long b) = Within(ref target, start, lines.SourceU, lines.U0, lines.U1);
            int from = (int)(start + (a * lines.SourceU) - target.SourceStart);
            int to = (int)((lines.Run + (iv * lines.RunV) + (a * lines.RunU)) * runBytes);
            for (long k = a; k < b; k++)
            {
                target.Source.Slice(from, runBytes).CopyTo(target.Destination.Slice(to, runBytes));
                from += (int)lines.SourceU;
                to += (int)lines.RunU * runBytes;
            }
        }
    }

    /// <summary>
    /// Tiles of one cache line by one cache line of runs of sizeof(T) bytes, through a tile buffer laid out [u][v]: the
    /// source is read along U (its small stride) and each output line along V is written whole, so neither side's
    /// power-of-two strides make the tile's lines fight over the same cache sets. A run outside the target's window is
    /// neither read nor written: for a fixed line the runs inside are a contiguous range either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose<T>(ref Target target, Lines lines, long v0, long v1)
        where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        int tileU = 64 / size;
        int tileV = tileU;
        Span<T> tile = stackalloc T[tileU * tileV];
        ref T tile0 = ref MemoryMarshal.GetReference(tile);
        ReadOnlySpan<byte> source = target.Source;
        Span<byte> destination = target.Destination;
        for (long vb = v0; vb < v1; vb += tileV)
        {
            long vEnd = Math.Min(v1, vb + tileV);
            for (long ub = lines.U0; ub < lines.U1; ub += tileU)
            {
                long uEnd = Math.Min(lines.U1, ub + tileU);

                // In: along U for each V line.
                for (long iv = vb; iv < vEnd; iv++)
                {
                    long start = lines.Source + (iv * lines.SourceV);
                    (long a, long b) = Within(ref target, start, lines.SourceU, ub, uEnd);
                    if (a >= b)
                    {
                        continue;
                    }

                    int count = (int)(b - a);
                    int step = (int)lines.SourceU;
                    ref byte from = ref Line(source, start + (a * lines.SourceU) - target.SourceStart, step, count, size);
                    ref T to = ref Unsafe.Add(ref tile0, (int)(((a - ub) * tileV) + (iv - vb)));
                    for (int k = 0; k < count; k++)
                    {
                        Unsafe.Add(ref to, k * tileV) = Unsafe.ReadUnaligned<T>(ref Unsafe.Add(ref from, k * step));
                    }
                }

                // Out: along V for each U line.
                for (long iu = ub; iu < uEnd; iu++)
                {
                    (long a, long b) = Within(ref target, lines.Source + (iu * lines.SourceU), lines.SourceV, vb, vEnd);
                    if (a >= b)
                    {
                        continue;
                    }

                    int count = (int)(b - a);
                    int step = (int)lines.RunV * size;
                    ref T from = ref Unsafe.Add(ref tile0, (int)(((iu - ub) * tileV) + (a - vb)));
                    long to = (lines.Run + (iu * lines.RunU) + (a * lines.RunV)) * size;
                    if (lines.RunV == 1)
                    {
                        MemoryMarshal.AsBytes(MemoryMarshal.CreateReadOnlySpan(ref from, count)).CopyTo(destination.Slice((int)to, count * size));
                        continue;
                    }

                    ref byte line = ref Line(destination, to, step, count, size);
                    for (int k = 0; k < count; k++)
                    {
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref line, k * step), Unsafe.Add(ref from, k));
                    }
                }
            }
        }
    }

    /// <summary>
    /// The plain transpose (source contiguous along U, output contiguous along V) of 2- or 4-byte runs, in 8 x 8 blocks
    /// transposed in registers, the edges left over through <see cref="Transpose{T}"/>. False when it does not apply:
    /// other strides, a restricted window, or no SSE2 / AVX.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool Blocks8x8(ref Target target, Lines lines, long v0, long v1, int size)
    {
        if (target.Restricted || lines.SourceU != size || lines.RunV != 1 || !(size == 4 ? Avx.IsSupported : Sse2.IsSupported))
        {
            return false;
        }

        long vFull = v0 + ((v1 - v0) & ~7L);
        long uFull = lines.U0 + ((lines.U1 - lines.U0) & ~7L);
        if (vFull > v0 && uFull > lines.U0)
        {
            // Offsets grow with both indices, so the two corners bound every load and store of the region.
            long srcFirst = lines.Source + (v0 * lines.SourceV) + (lines.U0 * size) - target.SourceStart;
            long srcLast = lines.Source + ((vFull - 1) * lines.SourceV) + ((uFull - 1) * size) - target.SourceStart;
            long dstFirst = (lines.Run + (lines.U0 * lines.RunU) + v0) * size;
            long dstLast = (lines.Run + ((uFull - 1) * lines.RunU) + (vFull - 1)) * size;
            ref byte src = ref Line(target.Source, srcFirst, (int)(srcLast - srcFirst), 2, size);
            ref byte dst = ref Line(target.Destination, dstFirst, (int)(dstLast - dstFirst), 2, size);
            nint srcRow = (nint)lines.SourceV;
            nint dstRow = (nint)(lines.RunU * size);
            if (vFull - v0 >= 64 / size)
            {
                LineTiles(ref src, srcRow, ref dst, dstRow, (int)(vFull - v0), (int)(uFull - lines.U0), size);
            }
            else
            {
                // Few lines (a channels-last kernel's kh x kw): 8 x 8 blocks straight, down the lines for each U block.
                for (int u = 0; u < uFull - lines.U0; u += 8)
                {
                    for (int v = 0; v < vFull - v0; v += 8)
                    {
                        Transpose8x8(ref Unsafe.Add(ref src, (v * srcRow) + (u * size)), srcRow, ref Unsafe.Add(ref dst, (u * dstRow) + (v * size)), dstRow, size);
                    }
                }
            }
        }

        // The edges, line by line: the last V lines whole (a channels-last kernel's ninth), then the last U columns.
        if (size == 4)
        {
            Straight<uint>(ref target, lines, vFull, v1);
            Straight<uint>(ref target, lines with { U0 = uFull }, v0, vFull);
        }
        else
        {
            Straight<ushort>(ref target, lines, vFull, v1);
            Straight<ushort>(ref target, lines with { U0 = uFull }, v0, vFull);
        }

        return true;
    }

    /// <summary>
    /// Tiles of one cache line by one cache line (16 x 16 4-byte or 32 x 32 2-byte values) over a region of
    /// <paramref name="lines"/> x <paramref name="columns"/> values (multiples of 8): each source line segment is first
    /// copied into a stack tile, then each output line is written whole by the 8 x 8 blocks along V back to back. Every
    /// source and output line is touched once, so power-of-two strides, whose lines share cache sets, cost nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LineTiles(ref byte src, nint srcRow, ref byte dst, nint dstRow, int lines, int columns, int size)
    {
        const int TileRow = 64;
        int perLine = TileRow / size;
        Span<byte> buffer = stackalloc byte[TileRow * perLine];
        ref byte tile = ref MemoryMarshal.GetReference(buffer);
        for (int vb = 0; vb < lines; vb += perLine)
        {
            int tv = Math.Min(perLine, lines - vb);
            for (int ub = 0; ub < columns; ub += perLine)
            {
                int bytes = Math.Min(perLine, columns - ub) * size;
                ref byte s = ref Unsafe.Add(ref src, (vb * srcRow) + (ub * size));
                ref byte d = ref Unsafe.Add(ref dst, (ub * dstRow) + (vb * size));
                for (int r = 0; r < tv; r++)
                {
                    ref byte from = ref Unsafe.Add(ref s, r * srcRow);
                    ref byte to = ref Unsafe.Add(ref tile, r * TileRow);
                    if (bytes == TileRow && Vector512.IsHardwareAccelerated)
                    {
                        Vector512.LoadUnsafe(ref from).StoreUnsafe(ref to);
                        continue;
                    }

                    int k = 0;
                    for (; k + 32 <= bytes; k += 32)
                    {
                        Vector256.LoadUnsafe(ref Unsafe.Add(ref from, k)).StoreUnsafe(ref Unsafe.Add(ref to, k));
                    }

                    if (k < bytes)
                    {
                        Vector128.LoadUnsafe(ref Unsafe.Add(ref from, k)).StoreUnsafe(ref Unsafe.Add(ref to, k));
                    }
                }

                for (int u = 0; u < bytes / size; u += 8)
                {
                    for (int v = 0; v < tv; v += 8)
                    {
                        Transpose8x8(ref Unsafe.Add(ref tile, (v * TileRow) + (u * size)), TileRow, ref Unsafe.Add(ref d, (u * dstRow) + (v * size)), dstRow, size);
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose8x8(ref byte src, nint srcRow, ref byte dst, nint dstRow, int size)
    {
        if (size == 4)
        {
            Transpose8x8x4(ref src, srcRow, ref dst, dstRow);
        }
        else
        {
            Transpose8x8x2(ref src, srcRow, ref dst, dstRow);
        }
    }

    /// <summary>
    /// out[k] = column k of the 8 x 8 block of 4-byte values whose row i is in[i] (rows <paramref name="srcRow"/> bytes
    /// apart; output rows <paramref name="dstRow"/> apart). Lanes: unpack pairs rows (r0 r1 interleaved per 128-bit
    /// half), shuffle makes 4-row columns per half, permute2x128 joins the halves: 24 shuffles for 64 values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose8x8x4(ref byte src, nint srcRow, ref byte dst, nint dstRow)
    {
        Vector256<float> r0 = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref src));
        Vector256<float> r1 = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref src, srcRow)));
        Vector256<float> r2 = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref src, 2 * srcRow)));
        Vector256<float> r3 = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref src, 3 * srcRow)));
        Vector256<float> r4 = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref src, 4 * srcRow)));
        Vector256<float> r5 = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref src, 5 * srcRow)));
        Vector256<float> r6 = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref src, 6 * srcRow)));
        Vector256<float> r7 = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref src, 7 * srcRow)));

        // [r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5]] and so on.
        Vector256<float> t0 = Avx.UnpackLow(r0, r1);
        Vector256<float> t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3);
        Vector256<float> t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5);
        Vector256<float> t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7);
        Vector256<float> t7 = Avx.UnpackHigh(r6, r7);

        // [r0[0] r1[0] r2[0] r3[0] | r0[4] r1[4] r2[4] r3[4]] and so on.
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44);
        Vector256<float> s1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> s2 = Avx.Shuffle(t1, t3, 0x44);
        Vector256<float> s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44);
        Vector256<float> s5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> s6 = Avx.Shuffle(t5, t7, 0x44);
        Vector256<float> s7 = Avx.Shuffle(t5, t7, 0xEE);

        // Column k: the low halves of rows 0-3 and 4-7 for k < 4, the high halves for k >= 4.
        Avx.Permute2x128(s0, s4, 0x20).StoreUnsafe(ref Unsafe.As<byte, float>(ref dst));
        Avx.Permute2x128(s1, s5, 0x20).StoreUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref dst, dstRow)));
        Avx.Permute2x128(s2, s6, 0x20).StoreUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref dst, 2 * dstRow)));
        Avx.Permute2x128(s3, s7, 0x20).StoreUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref dst, 3 * dstRow)));
        Avx.Permute2x128(s0, s4, 0x31).StoreUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref dst, 4 * dstRow)));
        Avx.Permute2x128(s1, s5, 0x31).StoreUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref dst, 5 * dstRow)));
        Avx.Permute2x128(s2, s6, 0x31).StoreUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref dst, 6 * dstRow)));
        Avx.Permute2x128(s3, s7, 0x31).StoreUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref dst, 7 * dstRow)));
    }

    /// <summary>
    /// The same for 2-byte values with 128-bit vectors: unpacking 16-, 32- then 64-bit pairs doubles the interleaved
    /// run each round (2, 4, 8 rows), so after three rounds vector k holds column k: 24 unpacks for 64 values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose8x8x2(ref byte src, nint srcRow, ref byte dst, nint dstRow)
    {
        Vector128<short> r0 = Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref src));
        Vector128<short> r1 = Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref src, srcRow)));
        Vector128<short> r2 = Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref src, 2 * srcRow)));
        Vector128<short> r3 = Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref src, 3 * srcRow)));
        Vector128<short> r4 = Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref src, 4 * srcRow)));
        Vector128<short> r5 = Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref src, 5 * srcRow)));
        Vector128<short> r6 = Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref src, 6 * srcRow)));
        Vector128<short> r7 = Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref Unsafe.Add(ref src, 7 * srcRow)));

        // [r0[0] r1[0] r0[1] r1[1] r0[2] r1[2] r0[3] r1[3]] and so on.
        Vector128<int> a0 = Sse2.UnpackLow(r0, r1).AsInt32();
        Vector128<int> a1 = Sse2.UnpackHigh(r0, r1).AsInt32();
        Vector128<int> a2 = Sse2.UnpackLow(r2, r3).AsInt32();
        Vector128<int> a3 = Sse2.UnpackHigh(r2, r3).AsInt32();
        Vector128<int> a4 = Sse2.UnpackLow(r4, r5).AsInt32();
        Vector128<int> a5 = Sse2.UnpackHigh(r4, r5).AsInt32();
        Vector128<int> a6 = Sse2.UnpackLow(r6, r7).AsInt32();
        Vector128<int> a7 = Sse2.UnpackHigh(r6, r7).AsInt32();

        // [r0[0] r1[0] r2[0] r3[0] r0[1] r1[1] r2[1] r3[1]] and so on.
        Vector128<long> b0 = Sse2.UnpackLow(a0, a2).AsInt64();
        Vector128<long> b1 = Sse2.UnpackHigh(a0, a2).AsInt64();
        Vector128<long> b2 = Sse2.UnpackLow(a1, a3).AsInt64();
        Vector128<long> b3 = Sse2.UnpackHigh(a1, a3).AsInt64();
        Vector128<long> b4 = Sse2.UnpackLow(a4, a6).AsInt64();
        Vector128<long> b5 = Sse2.UnpackHigh(a4, a6).AsInt64();
        Vector128<long> b6 = Sse2.UnpackLow(a5, a7).AsInt64();
        Vector128<long> b7 = Sse2.UnpackHigh(a5, a7).AsInt64();

        // Column k: the low or high 4 values of rows 0-3 next to the same of rows 4-7.
        Sse2.UnpackLow(b0, b4).StoreUnsafe(ref Unsafe.As<byte, long>(ref dst));
        Sse2.UnpackHigh(b0, b4).StoreUnsafe(ref Unsafe.As<byte, long>(ref Unsafe.Add(ref dst, dstRow)));
        Sse2.UnpackLow(b1, b5).StoreUnsafe(ref Unsafe.As<byte, long>(ref Unsafe.Add(ref dst, 2 * dstRow)));
        Sse2.UnpackHigh(b1, b5).StoreUnsafe(ref Unsafe.As<byte, long>(ref Unsafe.Add(ref dst, 3 * dstRow)));
        Sse2.UnpackLow(b2, b6).StoreUnsafe(ref Unsafe.As<byte, long>(ref Unsafe.Add(ref dst, 4 * dstRow)));
        Sse2.UnpackHigh(b2, b6).StoreUnsafe(ref Unsafe.As<byte, long>(ref Unsafe.Add(ref dst, 5 * dstRow)));
        Sse2.UnpackLow(b3, b7).StoreUnsafe(ref Unsafe.As<byte, long>(ref Unsafe.Add(ref dst, 6 * dstRow)));
        Sse2.UnpackHigh(b3, b7).StoreUnsafe(ref Unsafe.As<byte, long>(ref Unsafe.Add(ref dst, 7 * dstRow)));
    }

    /// <summary>
    /// The first byte of <paramref name="count"/> items of <paramref name="size"/> bytes, <paramref name="step"/> bytes
    /// apart from <paramref name="at"/>, after checking that the first and the last lie inside <paramref name="span"/>.
    /// </summary>
    private static ref byte Line(ReadOnlySpan<byte> span, long at, int step, int count, int size)
    {
        long last = at + ((long)(count - 1) * step);
        if (at < 0 || last < 0 || last > span.Length - size || at > span.Length - size)
        {
            throw new InvalidOperationException($"View gather out of range: [{at}, {last}] of {span.Length} bytes.");
        }

        return ref Unsafe.Add(ref MemoryMarshal.GetReference(span), (nint)at);
    }

    /// <summary>The indices of level <paramref name="level"/> in the box whose subtree may have a run starting in the window.</summary>
    private (long From, long To) Prune(Box box, ref Target target, int level, long source)
    {
        int d = _order[level];
        if (!target.Restricted)
        {
            return (box.From[d], box.To[d]);
        }

        // Index i holds run starts in [source + i*stride + RestLo, source + i*stride + RestLast].
        return Between(target.Lo - source - box.RestLast[level], target.Hi - source - box.RestLo[level], _strides[d], box.From[d], box.To[d]);
    }

    /// <summary>The indices i in [from, to) whose run start, start + i*stride, lies in the target's window.</summary>
    private static (long From, long To) Within(ref Target target, long start, long stride, long from, long to) =>
        target.Restricted ? Between(target.Lo - start, target.Hi - start, stride, from, to) : (from, to);

    /// <summary>The indices i in [from, to) with lo &lt;= i*stride &lt; hi (stride &gt;= 0).</summary>
    private static (long From, long To) Between(long lo, long hi, long stride, long from, long to)
    {
        if (stride == 0)
        {
            return lo <= 0 && hi > 0 ? (from, to) : (from, from);
        }

        return (Math.Max(from, CeilDiv(lo, stride)), Math.Min(to, CeilDiv(hi, stride)));
    }

    private static long CeilDiv(long a, long b)
    {
        long q = Math.DivRem(a, b, out long r);
        return r > 0 ? q + 1 : q;
    }

    /// <summary>
    /// The two innermost levels under one node: line iv of V starts at storage byte Source + iv*SourceV and output run
    /// Run + iv*RunV (relative to the target's first run); along it, U steps SourceU bytes and RunU runs over [U0, U1).
    /// </summary>
    private readonly record struct Lines(long Source, long SourceV, long Run, long RunV, long U0, long U1, long SourceU, long RunU);

    /// <summary>One gather: where the runs come from and go, and the window of run starts to take (restricted gathers only).</summary>
    /// <remarks>
    /// Source positions are sum(index[d] x Strides[d]) minus SourceStart: the storage strides over a storage window, or
    /// the strides of a packed copy of a box's lines.
    /// </remarks>
    private readonly ref struct Target(ReadOnlySpan<byte> source, long[] strides, long sourceStart, long lo, long hi, Span<byte> destination, long firstRun)
    {
        public ReadOnlySpan<byte> Source { get; } = source;

        public long[] Strides { get; } = strides;

        public long SourceStart { get; } = sourceStart;

        public long Lo { get; } = lo;

        public long Hi { get; } = hi;

        public bool Restricted => Lo != long.MinValue;

        public Span<byte> Destination { get; } = destination;

        public long FirstRun { get; } = firstRun;
    }

    /// <summary>
    /// A box of the output: [From[d], To[d]) per dimension; its storage span [Lo, Hi); and per kernel level the lowest
    /// and highest run start of the levels inside it.
    /// </summary>
    private sealed class Box
    {
        public Box(ViewTensorSource view, long[] from, long[] to)
        {
            From = from;
            To = to;
            RestLo = new long[view._rank];
            RestLast = new long[view._rank];
            long lo = 0;
            long last = 0;
            for (int level = view._rank - 1; level >= 0; level--)
            {
                RestLo[level] = lo;
                RestLast[level] = last;
                int d = view._order[level];
                lo += from[d] * view._strides[d];
                last += (to[d] - 1) * view._strides[d];
            }

            Lo = lo;
            Hi = last + view._runBytes;
        }

        public long[] From { get; }

        public long[] To { get; }

        public long[] RestLo { get; }

        public long[] RestLast { get; }

        public long Lo { get; }

        public long Hi { get; }

        /// <summary>This box with dimension <paramref name="d"/> narrowed to [from, to).</summary>
        public Box With(ViewTensorSource view, int d, long from, long to)
        {
            long[] f = (long[])From.Clone();
            long[] t = (long[])To.Clone();
            f[d] = from;
            t[d] = to;
            return new Box(view, f, t);
        }
    }

    /// <summary>Reads lines into their packed places, one read for each run of lines adjacent both in storage and in the stage.</summary>
    private ref struct LineReads(ViewTensorSource view, Span<byte> stage)
    {
        private readonly Span<byte> _stage = stage;
        private long _source;
        private long _packed;
        private long _length;

        public void Add(long source, long packed, long length)
        {
            if (_length > 0 && source == _source + _length && packed == _packed + _length)
            {
                _length += length;
                return;
            }

            Flush();
            (_source, _packed, _length) = (source, packed, length);
        }

        public void Flush()
        {
            if (_length > 0)
            {
                view.ReadRange(_source, _stage.Slice((int)_packed, (int)_length));
                _length = 0;
            }
        }
    }
}
