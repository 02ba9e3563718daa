using System.Runtime.InteropServices;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Models;

/// <summary>
/// The rule for CLIP's <c>position_ids</c> (keys in <see cref="KeyPrefixes.PositionIds"/>), in one place: correct is
/// int64 <c>[[0, 1, ..., 76]]</c>; anything else is broken. The architecture report judges with it and
/// <c>FixClipPositionIds</c> repairs by it.
/// </summary>
internal static class ClipPositionIds
{
    /// <summary>CLIP's context length: one id per token position.</summary>
    public const int Count = 77;

    /// <summary>The shape position ids are stored in.</summary>
    public static IReadOnlyList<long> Shape { get; } = [1, Count];

    /// <summary>The dtype position ids are stored in.</summary>
    public const DType Type = DType.Int64;

    /// <summary>Whether a tensor holds 77 values of a dtype position ids are stored in, so its values can be checked (from its description alone).</summary>
    public static bool IsReadable(TensorInfo info) =>
        info.ElementCount == Count && info.DType is DType.Int64 or DType.Int32 or DType.Float64 or DType.Float32 or DType.Float16 or DType.BFloat16;

    /// <summary>
    /// Reads a position-ids tensor and returns the indices whose value is not their position, or null when it is
    /// not <see cref="Count"/> values of a dtype position ids are stored in (int64, int32 or a float type).
    /// </summary>
    public static List<int>? WrongPositions(TensorInfo info, TensorSource data)
    {
        if (!IsReadable(info))
        {
            return null;
        }

        var bytes = new byte[info.ByteLength];
        data.Read(0, bytes);
        double[] values = new double[Count];
        switch (info.DType)
        {
            case DType.Int64:
                MemoryMarshal.Cast<byte, long>(bytes).ToArray().Select(v => (double)v).ToArray().CopyTo(values, 0);
                break;
            case DType.Int32:
                MemoryMarshal.Cast<byte, int>(bytes).ToArray().Select(v => (double)v).ToArray().CopyTo(values, 0);
                break;
            case DType.Float64 or DType.Float32 or DType.Float16 or DType.BFloat16:
                var f = new byte[Count * 4];
                ElementCast.Convert(info.DType, DType.Float32, bytes, f, Count);
                MemoryMarshal.Cast<byte, float>(f).ToArray().Select(v => (double)v).ToArray().CopyTo(values, 0);
                break;
            default:
                return null;
        }

        // A float id that is not exactly its position counts as wrong: truncating it to int64 would shift a token.
        return Enumerable.Range(0, Count).Where(i => values[i] != i).ToList();
    }

    /// <summary>Whether position ids need the fix: unreadable (<paramref name="wrongPositions"/> null), wrong values, or not int64 <c>[1, 77]</c>.</summary>
    public static bool IsBroken(DType dtype, IReadOnlyList<long> shape, IReadOnlyList<int>? wrongPositions) =>
        wrongPositions is null || wrongPositions.Count > 0 || dtype != Type || !shape.SequenceEqual(Shape);

    /// <summary>The correct tensor under <paramref name="key"/>: int64 <c>[1, 77]</c> holding 0..76.</summary>
    public static (TensorInfo Info, TensorSource Data) Correct(string key) =>
        (new TensorInfo(key, Type, Shape), new MemoryTensorSource(MemoryMarshal.AsBytes(Enumerable.Range(0, Count).Select(i => (long)i).ToArray().AsSpan()).ToArray()));
}
