using System.Runtime.InteropServices;
using CommunityToolkit.HighPerformance.Buffers;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Analysis;

/// <summary>How one tensor present in both models differs.</summary>
/// <param name="Name">The tensor's name.</param>
/// <param name="A">The tensor in the first model.</param>
/// <param name="B">The tensor in the second model.</param>
/// <param name="MaxAbsDiff">The largest |a - b| over the elements (0 when equal; NaN when the values cannot be compared).</param>
/// <param name="MeanAbsDiff">The mean |a - b| over the elements.</param>
/// <param name="BytesEqual">Whether the two tensors hold the same dtype, shape and bytes.</param>
public sealed record TensorDiff(string Name, TensorInfo A, TensorInfo B, double MaxAbsDiff, double MeanAbsDiff, bool BytesEqual)
{
    /// <summary>Whether the shapes differ (then no values are compared).</summary>
    public bool ShapeDiffers => !A.Shape.SequenceEqual(B.Shape);

    /// <summary>Whether the dtypes differ (values are still compared, as numbers).</summary>
    public bool DTypeDiffers => A.DType != B.DType;
}

/// <summary>The differences between two models.</summary>
/// <param name="OnlyInA">Tensor names only the first model has.</param>
/// <param name="OnlyInB">Tensor names only the second model has.</param>
/// <param name="Common">Every tensor both have, compared.</param>
public sealed record DiffReport(IReadOnlyList<string> OnlyInA, IReadOnlyList<string> OnlyInB, IReadOnlyList<TensorDiff> Common);

/// <summary>
/// Compares two models tensor by tensor, streaming both in chunks (bounded memory, whatever the model size):
/// missing and extra keys, shape and dtype changes, and the maximum and mean absolute difference of the values
/// (floating tensors compared as float64 after an exact widening; integers as integers).
/// </summary>
internal static class ModelDiff
{
    private const int ChunkElements = 1 << 20;

    /// <summary>Compares two stores.</summary>
    /// <param name="a">The first model's tensors.</param>
    /// <param name="b">The second model's tensors.</param>
    /// <param name="cancellationToken">Cancels the comparison.</param>
    /// <returns>The report.</returns>
    public static DiffReport Compare(TensorStore a, TensorStore b, CancellationToken cancellationToken = default) => Compare(a, b, null, cancellationToken);

    /// <summary>Compares two stores, reporting progress.</summary>
    /// <param name="a">The first model's tensors.</param>
    /// <param name="b">The second model's tensors.</param>
    /// <param name="progress">Receives the bytes of <paramref name="a"/>'s common tensors compared so far, after each tensor (the tool's progress line).</param>
    /// <param name="cancellationToken">Cancels the comparison.</param>
    /// <returns>The report.</returns>
    public static DiffReport Compare(TensorStore a, TensorStore b, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var onlyA = a.Tensors.Where(t => !b.Contains(t.Name)).Select(t => t.Name).ToList();
        var onlyB = b.Tensors.Where(t => !a.Contains(t.Name)).Select(t => t.Name).ToList();
        var common = new List<TensorDiff>();
        long compared = 0;
        foreach (TensorInfo ta in a.Tensors)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (b.TryGet(ta.Name, out TensorInfo? tb))
            {
                common.Add(CompareTensor(a, ta, b, tb, cancellationToken));
                compared += ta.ByteLength;
                progress?.Report(compared);
            }
        }

        return new DiffReport(onlyA, onlyB, common);
    }

    private static bool Numeric(DType d) => ElementCast.IsCastable(d) || d is DType.Int64 or DType.Int32 or DType.Int16 or DType.Int8 or DType.UInt8 or DType.UInt16 or DType.UInt32 or DType.UInt64 or DType.Bool;

    private static TensorDiff CompareTensor(TensorStore sa, TensorInfo a, TensorStore sb, TensorInfo b, CancellationToken cancellationToken)
    {
        if (!a.Shape.SequenceEqual(b.Shape))
        {
            return new TensorDiff(a.Name, a, b, double.NaN, double.NaN, false);
        }

        bool sameLayout = a.DType == b.DType;
        if (!Numeric(a.DType) || !Numeric(b.DType))
        {
            bool equal = sameLayout && BytesEqual(sa, sb, a, cancellationToken);
            return new TensorDiff(a.Name, a, b, equal ? 0 : double.NaN, equal ? 0 : double.NaN, equal);
        }

        using SpanOwner<double> va = SpanOwner<double>.Allocate(ChunkElements);
        using SpanOwner<double> vb = SpanOwner<double>.Allocate(ChunkElements);
        using SpanOwner<byte> rawA = SpanOwner<byte>.Allocate(ChunkElements * 8);
        using SpanOwner<byte> rawB = SpanOwner<byte>.Allocate(ChunkElements * 8);
        {
            double max = 0, sum = 0;
            bool bytesEqual = sameLayout;
            for (long first = 0; first < a.ElementCount; first += ChunkElements)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = (int)Math.Min(ChunkElements, a.ElementCount - first);
                Span<byte> bytesA = Load(sa, a, first, n, rawA.Span);
                Span<byte> bytesB = Load(sb, b, first, n, rawB.Span);
                bytesEqual = bytesEqual && bytesA.SequenceEqual(bytesB);
                ToDoubles(a.DType, bytesA, va.Span[..n]);
                ToDoubles(b.DType, bytesB, vb.Span[..n]);

                Span<double> xa = va.Span;
                Span<double> xb = vb.Span;
                for (int i = 0; i < n; i++)
                {
                    double d = Math.Abs(xa[i] - xb[i]);
                    if (double.IsNaN(d))
                    {
                        // NaN in both at the same place is no difference; NaN against a number is an infinite one.
                        d = double.IsNaN(xa[i]) && double.IsNaN(xb[i]) ? 0 : double.PositiveInfinity;
                    }

                    max = Math.Max(max, d);
                    sum += d;
                }
            }

            return new TensorDiff(a.Name, a, b, max, a.ElementCount == 0 ? 0 : sum / a.ElementCount, bytesEqual);
        }
    }

    private static Span<byte> Load(TensorStore store, TensorInfo t, long firstElement, int count, Span<byte> buffer)
    {
        int size = t.DType.BitSize() / 8;
        Span<byte> bytes = buffer[..(count * size)];
        store.ReadTensorChunk(t.Name, firstElement * size, bytes);
        return bytes;
    }

    private static void ToDoubles(DType dtype, ReadOnlySpan<byte> bytes, Span<double> values)
    {
        switch (dtype)
        {
            case DType.Float64:
                MemoryMarshal.Cast<byte, double>(bytes).CopyTo(values);
                return;
            case DType.Float32 or DType.Float16 or DType.BFloat16:
                using (SpanOwner<float> f = SpanOwner<float>.Allocate(values.Length))
                {
                    ElementCast.Convert(dtype, DType.Float32, bytes, MemoryMarshal.AsBytes(f.Span), values.Length);
                    for (int i = 0; i < values.Length; i++)
                    {
                        values[i] = f.Span[i];
                    }
                }

                return;
        }

        for (int i = 0; i < values.Length; i++)
        {
            values[i] = dtype switch
            {
                DType.Int64 => MemoryMarshal.Cast<byte, long>(bytes)[i],
                DType.Int32 => MemoryMarshal.Cast<byte, int>(bytes)[i],
                DType.Int16 => MemoryMarshal.Cast<byte, short>(bytes)[i],
                DType.Int8 => (sbyte)bytes[i],
                DType.UInt8 or DType.Bool => bytes[i],
                DType.UInt16 => MemoryMarshal.Cast<byte, ushort>(bytes)[i],
                DType.UInt32 => MemoryMarshal.Cast<byte, uint>(bytes)[i],
                DType.UInt64 => MemoryMarshal.Cast<byte, ulong>(bytes)[i],
                _ => double.NaN,
            };
        }
    }

    private static bool BytesEqual(TensorStore sa, TensorStore sb, TensorInfo t, CancellationToken cancellationToken)
    {
        using SpanOwner<byte> x = SpanOwner<byte>.Allocate(ChunkElements);
        using SpanOwner<byte> y = SpanOwner<byte>.Allocate(ChunkElements);
        for (long at = 0; at < t.ByteLength; at += ChunkElements)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = (int)Math.Min(ChunkElements, t.ByteLength - at);
            sa.ReadTensorChunk(t.Name, at, x.Span[..n]);
            sb.ReadTensorChunk(t.Name, at, y.Span[..n]);
            if (!x.Span[..n].SequenceEqual(y.Span[..n]))
            {
                return false;
            }
        }

        return true;
    }
}
