using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.IO;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;
using SafeCkpt.Transforms;

namespace SafeCkpt.Tests.Tensors;

/// <summary>The tests that count storage reads share the process-wide budget of held view buffers: one at a time.</summary>
[CollectionDefinition(nameof(ViewReads), DisableParallelization = true)]
public sealed class ViewReads
{
}

[Collection(nameof(ViewReads))]
public class ViewTensorSourceTests
{
    private const int MiB = 1 << 20;

    // ---------------- reads per pass ----------------
    [Fact]
    public void A_transposed_16_MiB_F32_view_read_in_8_MiB_chunks_reads_its_storage_once()
    {
        (CountingTensorSource storage, byte[] bytes) = Storage(16 * MiB);
        var view = new ViewTensorSource(storage, 4, 0, [2048, 2048], [1, 2048]);

        byte[] got = ReadAll(view, ChunkSizes.Stream);

        Assert.Equal(Gather(bytes, 4, 0, [2048, 2048], [1, 2048]), got);
        AtMostOnce(storage.Counts, 16 * MiB);
        Assert.False(view.HoldsBuffer);
    }

    [Fact]
    public void A_transposed_16_MiB_F32_view_cast_to_F16_reads_its_storage_once()
    {
        (CountingTensorSource storage, byte[] bytes) = Storage(16 * MiB);
        var view = new ViewTensorSource(storage, 4, 0, [2048, 2048], [1, 2048]);
        var cast = new CastTensorSource(view, DType.Float32, DType.Float16);

        byte[] got = ReadAll(cast, ChunkSizes.Stream);

        var reference = new CastTensorSource(new MemoryTensorSource(Gather(bytes, 4, 0, [2048, 2048], [1, 2048])), DType.Float32, DType.Float16);
        Assert.Equal(ReadAll(reference, ChunkSizes.Stream), got);
        AtMostOnce(storage.Counts, 16 * MiB);
    }

    [Fact]
    public void An_extent_one_element_past_16_MiB_is_read_in_a_few_large_reads_not_one_per_run()
    {
        // [838861, 5] transposed from [5, 838861]: 4,194,305 F32 elements, 16 MiB + 4 bytes, runs of one element.
        (CountingTensorSource storage, byte[] bytes) = Storage((16 * MiB) + 4);
        var view = new ViewTensorSource(storage, 4, 0, [838861, 5], [1, 838861]);
        Assert.Equal((16 * MiB) + 4, view.ExtentBytes);

        view.Read(0, new byte[MiB]);
        Assert.InRange(storage.Counts.Reads, 1, 2);

        // The rest of the pass is gathered from the same window.
        byte[] got = ReadAll(view, ChunkSizes.Stream);
        Assert.Equal(Gather(bytes, 4, 0, [838861, 5], [1, 838861]), got);
        AtMostOnce(storage.Counts, (16 * MiB) + 4);
    }

    [Fact]
    public void A_transposed_view_larger_than_the_window_reads_each_storage_byte_once_in_line_reads()
    {
        // 40 MiB stored [2560, 4096], read [4096, 2560]: three equal blocks of output rows; each needs a 5.3 KB piece of
        // every stored row, read on its own into the stage.
        (CountingTensorSource storage, byte[] bytes) = Storage(40 * MiB);
        var view = new ViewTensorSource(storage, 4, 0, [4096, 2560], [1, 4096]);
        Assert.Equal("Blocked", view.ReadMode);

        byte[] got = ReadAll(view, ChunkSizes.Stream);

        Assert.Equal(Gather(bytes, 4, 0, [4096, 2560], [1, 4096]), got);
        Assert.Equal(40 * MiB, storage.Counts.Bytes);
        long blocks = (view.Length + view.BlockBytes - 1) / view.BlockBytes;
        Assert.Equal(3, blocks);
        Assert.Equal(blocks * 2560, storage.Counts.Reads);
    }

    [Fact]
    public void A_view_whose_lines_are_too_short_to_read_alone_reads_its_extent_once_per_output_block()
    {
        // 4 MiB transposed with a 1 MiB window: blocks of 512 KiB need 512 bytes of each 4 KiB stored row, too short to
        // read alone, so each block sweeps the extent in stage-sized spans: extent x passes.
        (CountingTensorSource storage, byte[] bytes) = Storage(4 * MiB);
        var view = new ViewTensorSource(storage, 4, 0, [1024, 1024], [1, 1024], Window(MiB));
        Assert.Equal("Blocked", view.ReadMode);
        long passes = (view.Length + view.BlockBytes - 1) / view.BlockBytes;
        Assert.Equal(8, passes);

        byte[] got = ReadAll(view, ChunkSizes.Stream);

        Assert.Equal(Gather(bytes, 4, 0, [1024, 1024], [1, 1024]), got);
        long extent = view.ExtentBytes;
        Assert.InRange(storage.Counts.Bytes, passes * extent * 0.99, passes * extent * 1.01);
        Assert.InRange(storage.Counts.Reads, passes, passes * ((extent / (MiB / 2)) + 2));
        Assert.InRange(storage.Counts.Largest, 1, MiB / 2);
    }

    [Fact]
    public void A_blocked_slice_reads_only_the_storage_its_blocks_touch()
    {
        // The first 64 columns of a [1024, 4096] F32 storage (16 MiB): 256 KiB of output, one block, the rows read once.
        (CountingTensorSource storage, byte[] bytes) = Storage(16 * MiB);
        var view = new ViewTensorSource(storage, 4, 0, [1024, 64], [4096, 1], Window(MiB));
        Assert.Equal("Blocked", view.ReadMode);

        byte[] got = ReadAll(view, 100_000);

        Assert.Equal(Gather(bytes, 4, 0, [1024, 64], [4096, 1]), got);
        Assert.InRange(storage.Counts.Bytes, view.ExtentBytes, view.ExtentBytes * 1.01);
    }

    [Fact]
    public void Runs_of_64_KiB_or_more_in_storage_order_are_read_directly_once()
    {
        // Every other 64 KiB row of a [64, 16384] F32 storage.
        (CountingTensorSource storage, byte[] bytes) = Storage(4 * MiB);
        var view = new ViewTensorSource(storage, 4, 0, [32, 16384], [32768, 1]);
        Assert.Equal("Direct", view.ReadMode);

        byte[] got = ReadAll(view, ChunkSizes.Stream);

        Assert.Equal(Gather(bytes, 4, 0, [32, 16384], [32768, 1]), got);
        Assert.Equal(view.Length, storage.Counts.Bytes);
        Assert.Equal(32, storage.Counts.Reads);
    }

    [Fact]
    public void A_broadcast_view_reads_its_few_stored_bytes_once()
    {
        // One 4 KiB row repeated 4096 times: 16 MiB of output from 4 KiB of storage.
        (CountingTensorSource storage, byte[] bytes) = Storage(4096);
        var view = new ViewTensorSource(storage, 4, 0, [4096, 1024], [0, 1]);

        byte[] got = ReadAll(view, ChunkSizes.Stream);

        Assert.Equal(Gather(bytes, 4, 0, [4096, 1024], [0, 1]), got);
        Assert.Equal(1, storage.Counts.Reads);
        Assert.Equal(4096, storage.Counts.Bytes);
    }

    // ---------------- buffers ----------------
    [Fact]
    public void The_window_is_released_when_the_last_byte_is_read_and_read_again_if_asked_again()
    {
        (CountingTensorSource storage, byte[] bytes) = Storage(MiB);
        var view = new ViewTensorSource(storage, 4, 0, [512, 512], [1, 512]);
        byte[] expected = Gather(bytes, 4, 0, [512, 512], [1, 512]);

        view.Read(0, new byte[1000]);
        Assert.True(view.HoldsBuffer);
        Assert.Equal(expected, ReadAll(view, 300_000));
        Assert.False(view.HoldsBuffer);
        Assert.Equal(expected, ReadAll(view, 300_000));
        Assert.Equal(2 * MiB, storage.Counts.Bytes);
    }

    [Fact]
    public void Dispose_releases_the_window_of_a_view_read_part_way()
    {
        (CountingTensorSource storage, _) = Storage(MiB);
        var view = new ViewTensorSource(storage, 4, 0, [512, 512], [1, 512]);
        view.Read(0, new byte[1000]);
        Assert.True(view.HoldsBuffer);

        view.Dispose();

        Assert.False(view.HoldsBuffer);
    }

    [Fact]
    public void Views_read_part_way_never_hold_more_than_the_held_budget_together()
    {
        // 16 views of 100 MiB extent (zeros: nothing is allocated for the storage), each read for 4 KiB only.
        var views = Enumerable.Range(0, 16)
            .Select(_ => new ViewTensorSource(new ZeroTensorSource(100 * MiB), 4, 0, [5 * MiB, 5], [1, 5 * MiB]))
            .ToArray();
        try
        {
            foreach (ViewTensorSource v in views)
            {
                v.Read(0, new byte[4096]);
                Assert.True(v.HoldsBuffer);
            }

            int held = views.Count(v => v.HoldsBuffer);
            Assert.InRange(held, 1, (int)(ChunkSizes.ViewBuffersHeld / ChunkSizes.ViewWindow) + 1);
        }
        finally
        {
            foreach (ViewTensorSource v in views)
            {
                v.Dispose();
            }
        }
    }

    [Fact]
    public void Two_views_of_one_storage_read_interleaved_and_on_two_threads_give_their_own_bytes()
    {
        (CountingTensorSource storage, byte[] bytes) = Storage(4 * MiB);
        var a = new ViewTensorSource(storage, 4, 0, [1024, 1024], [1, 1024]);
        var b = new ViewTensorSource(storage, 4, 3, [1000, 512], [1, 2048], Window(MiB));
        byte[] expectedA = Gather(bytes, 4, 0, [1024, 1024], [1, 1024]);
        byte[] expectedB = Gather(bytes, 4, 3, [1000, 512], [1, 2048]);

        // Interleaved on one thread, chunk by chunk.
        var gotA = new byte[a.Length];
        var gotB = new byte[b.Length];
        for (long at = 0; at < Math.Max(a.Length, b.Length); at += 65536)
        {
            if (at < a.Length)
            {
                a.Read(at, gotA.AsSpan((int)at, (int)Math.Min(65536, a.Length - at)));
            }

            if (at < b.Length)
            {
                b.Read(at, gotB.AsSpan((int)at, (int)Math.Min(65536, b.Length - at)));
            }
        }

        Assert.Equal(expectedA, gotA);
        Assert.Equal(expectedB, gotB);

        // Concurrently, the same views, several times over.
        Parallel.For(0, 8, i =>
        {
            Assert.Equal(i % 2 == 0 ? expectedA : expectedB, ReadAll(i % 2 == 0 ? a : b, 100_003));
        });
    }

    // ---------------- against a naive gather ----------------

    /// <summary>A random view: element size, offset, sizes, strides, storage length, a chunk size and the limits.</summary>
    internal sealed record ViewCase(int ElementSize, long Offset, long[] Sizes, long[] Strides, int StorageBytes, int Chunk, ViewLimits Limits, int Seed)
    {
        public override string ToString() =>
            $"es {ElementSize} offset {Offset} size ({string.Join(",", Sizes)}) stride ({string.Join(",", Strides)}) storage {StorageBytes} chunk {Chunk} {Limits}";
    }

    private static Gen<ViewCase> ViewCases { get; } =
        from es in Gen.Elements(1, 2, 3, 4, 8)
        from rank in Gen.Choose(0, 5)
        from shapeKind in Gen.Choose(0, 2)
        from sizes in Gen.Frequency((1, Gen.Choose(0, 3)), (6, Gen.Choose(1, 9))).ArrayOf(rank)
        from perm in Gen.Shuffle(Enumerable.Range(0, rank).ToArray())
        from steps in Gen.Frequency((4, Gen.Constant(1)), (1, Gen.Choose(0, 3))).ArrayOf(rank)
        from randomStrides in Gen.Choose(0, 40).ArrayOf(rank)
        from offset in Gen.Choose(0, 7)
        from slack in Gen.Choose(0, 16)
        from chunkKind in Gen.Choose(0, 2)
        from chunk in Gen.Choose(1, 4096)
        from limits in Limits
        from seed in Gen.Choose(0, int.MaxValue)
        let strides = shapeKind == 0 ? randomStrides.Select(s => (long)s).ToArray() : PermutedStrides(sizes, perm, steps)
        let size = sizes.Select(s => (long)s).ToArray()
        let storageBytes = (int)((offset + MaxIndex(size, strides) + 1) * es) + slack
        select new ViewCase(es, offset, size, strides, storageBytes, chunkKind == 0 ? chunk * es : chunk, limits, seed);

    private static Gen<ViewLimits> Limits { get; } =
        from window in Gen.Elements(0, 64, 100, 1000, 5000, 20000, 1 << 20)
        from directRun in Gen.Elements(1, 4, 16, 64, int.MaxValue)
        from minRead in Gen.Elements(1, 8, 64, int.MaxValue)
        select new ViewLimits(window, directRun, minRead);

    /// <summary>Transposes and permutations big enough for the 8 x 8 register blocks and their edges, some sliced.</summary>
    private static Gen<ViewCase> TransposeCases { get; } =
        from es in Gen.Elements(2, 4, 2, 4, 1, 8)
        from rank in Gen.Choose(2, 4)
        from sizes in Gen.Frequency((1, Gen.Choose(1, 8)), (4, Gen.Choose(7, 70))).ArrayOf(rank)
        from perm in Gen.Shuffle(Enumerable.Range(0, rank).ToArray())
        from steps in Gen.Frequency((8, Gen.Constant(1)), (1, Gen.Choose(2, 3))).ArrayOf(rank)
        from offset in Gen.Choose(0, 7)
        from chunk in Gen.Choose(1, 100_000)
        from limits in Gen.Frequency((3, Gen.Constant(ViewLimits.Default)), (2, Limits))
        from seed in Gen.Choose(0, int.MaxValue)
        where sizes.Aggregate(1L, (a, x) => a * x) <= 200_000
        let size = sizes.Select(s => (long)s).ToArray()
        let strides = PermutedStrides(sizes, perm, steps)
        let storageBytes = (int)((offset + MaxIndex(size, strides) + 1) * es)
        select new ViewCase(es, offset, size, strides, storageBytes, chunk / es * es, limits, seed);

    [Property(MaxTest = 600)]
    public Property A_view_read_sequentially_in_any_chunks_equals_an_element_by_element_gather() =>
        Prop.ForAll(ViewCases.ToArbitrary(), c =>
        {
            (CountingTensorSource storage, byte[] bytes) = Storage(c.StorageBytes, c.Seed);
            var view = new ViewTensorSource(storage, c.ElementSize, c.Offset, c.Sizes, c.Strides, c.Limits);
            byte[] expected = Gather(bytes, c.ElementSize, c.Offset, c.Sizes, c.Strides);
            return expected.AsSpan().SequenceEqual(ReadAll(view, c.Chunk)) && !view.HoldsBuffer;
        });

    [Property(MaxTest = 200)]
    public Property A_transposed_or_permuted_view_read_in_chunks_equals_an_element_by_element_gather() =>
        Prop.ForAll(TransposeCases.ToArbitrary(), c =>
        {
            (CountingTensorSource storage, byte[] bytes) = Storage(c.StorageBytes, c.Seed);
            var view = new ViewTensorSource(storage, c.ElementSize, c.Offset, c.Sizes, c.Strides, c.Limits);
            byte[] expected = Gather(bytes, c.ElementSize, c.Offset, c.Sizes, c.Strides);
            return expected.AsSpan().SequenceEqual(ReadAll(view, Math.Max(c.ElementSize, c.Chunk))) && !view.HoldsBuffer;
        });

    [Property(MaxTest = 300)]
    public Property A_view_read_at_random_offsets_equals_an_element_by_element_gather() =>
        Prop.ForAll(ViewCases.ToArbitrary(), c =>
        {
            (CountingTensorSource storage, byte[] bytes) = Storage(c.StorageBytes, c.Seed);
            var view = new ViewTensorSource(storage, c.ElementSize, c.Offset, c.Sizes, c.Strides, c.Limits);
            byte[] expected = Gather(bytes, c.ElementSize, c.Offset, c.Sizes, c.Strides);
            var random = new Random(c.Seed);
            for (int k = 0; k < 20 && expected.Length > 0; k++)
            {
                int at = random.Next(expected.Length);
                int n = random.Next(1 + Math.Min(c.Chunk, expected.Length - at));
                var got = new byte[n];
                view.Read(at, got);
                if (!expected.AsSpan(at, n).SequenceEqual(got))
                {
                    return false;
                }
            }

            return true;
        });

    // ---------------- helpers ----------------

    /// <summary>Strides of a contiguous tensor of the permuted sizes, read back in the original order with steps (0 broadcasts).</summary>
    private static long[] PermutedStrides(int[] sizes, int[] perm, int[] steps)
    {
        var strides = new long[sizes.Length];
        long stride = 1;
        for (int k = sizes.Length - 1; k >= 0; k--)
        {
            int d = perm[k];
            strides[d] = stride * steps[d];
            stride *= Math.Max(1, sizes[d]) * Math.Max(1, steps[d]);
        }

        return strides;
    }

    private static long MaxIndex(long[] sizes, long[] strides)
    {
        if (sizes.Any(s => s == 0))
        {
            return 0;
        }

        return sizes.Select((s, i) => (s - 1) * strides[i]).Sum();
    }

    /// <summary>The view's bytes, element by element: the reference.</summary>
    private static byte[] Gather(byte[] storage, int es, long offset, long[] sizes, long[] strides)
    {
        long count = sizes.Aggregate(1L, (a, s) => a * s);
        var output = new byte[count * es];
        var index = new long[sizes.Length];
        for (long e = 0; e < count; e++)
        {
            long at = offset;
            for (int d = 0; d < sizes.Length; d++)
            {
                at += index[d] * strides[d];
            }

            storage.AsSpan((int)(at * es), es).CopyTo(output.AsSpan((int)(e * es)));
            for (int d = sizes.Length - 1; d >= 0 && ++index[d] == sizes[d]; d--)
            {
                index[d] = 0;
            }
        }

        return output;
    }

    private static ViewLimits Window(int bytes) => ViewLimits.Default with { Window = bytes };

    private static (CountingTensorSource Source, byte[] Bytes) Storage(int length, int seed = 11)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return (new CountingTensorSource(new MemoryTensorSource(bytes)), bytes);
    }

    private static byte[] ReadAll(TensorSource source, int chunk)
    {
        var output = new byte[source.Length];
        for (long at = 0; at < output.Length; at += chunk)
        {
            source.Read(at, output.AsSpan((int)at, (int)Math.Min(chunk, output.Length - at)));
        }

        return output;
    }

    /// <summary>About once (at most 5% more), in a few reads of at most a stream chunk each.</summary>
    private static void AtMostOnce(ReadCounts counts, long extent)
    {
        Assert.InRange(counts.Bytes, extent, extent * 1.05);
        Assert.InRange(counts.Reads, 1, (extent / ChunkSizes.Stream) + 2);
        Assert.InRange(counts.Largest, 1, ChunkSizes.Stream);
    }
}
