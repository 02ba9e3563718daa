using SafeCkpt.Safety;
using SafeCkpt.Tensors;

namespace SafeCkpt.Formats.Torch;

/// <summary>A storage's bytes and what they hold: the element type (null when untyped) and the byte count.</summary>
internal sealed record StorageData(TensorSource Bytes, TorchDType? DType, long Numel);

/// <summary>
/// Turns the tensors a pickle describes into (TensorInfo, TensorSource) pairs: checks each view against its storage
/// (non-negative strides, offset + sum((size-1)*stride) inside, overflow-checked), and reads contiguous views as a
/// plain byte range and others through <see cref="ViewTensorSource"/>.
/// </summary>
internal static class StorageTable
{
    /// <summary>Views up to this many bytes are not checked for expansion (small broadcast tensors are harmless).</summary>
    public const long MinExpansionCheckBytes = 64L << 20;

    /// <summary>Checks that all persistent ids naming one key agree on its type and element count.</summary>
    public static Dictionary<string, StorageRef> Distinct(IEnumerable<StorageRef> refs, string path)
    {
        var byKey = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
        foreach (StorageRef r in refs)
        {
            if (byKey.TryGetValue(r.Key, out StorageRef? first))
            {
                if (first.DType != r.DType || first.Numel != r.Numel)
                {
                    throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidStorage, path, $"{path}: storage '{r.Key}' is declared as {Describe(first)} and again as {Describe(r)} (pickle byte {r.PickleOffset}). One storage has one type and size; the file is corrupt or crafted.") { Offset = r.PickleOffset, TensorName = r.Key };
                }
            }
            else
            {
                byKey.Add(r.Key, r);
            }
        }

        return byKey;
    }

    /// <summary>The byte size a storage declares: numel x element size (numel is bytes for untyped storages).</summary>
    public static long ExpectedBytes(StorageRef s, string path)
    {
        try
        {
            return checked(s.Numel * (s.DType?.ElementSize ?? 1));
        }
        catch (OverflowException)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.InvalidStorage, path, $"{path}: storage '{s.Key}' declares {s.Numel:N0} elements, which overflows 64-bit sizes.") { Offset = s.PickleOffset, TensorName = s.Key };
        }
    }

    /// <summary>Builds the tensor description and lazy source of one tensor.</summary>
    public static (TensorInfo Info, TensorSource Source) Build(string name, TensorRef t, Func<StorageRef, StorageData> storageOf, string path, int maxExpansion)
    {
        TorchDType dtype = t.DType;
        if (dtype.SafeType is not DType safeType)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.UnsupportedDType, path, $"{path}: tensor '{name}' has dtype {dtype}, which has no safetensors equivalent; SafeCkpt does not read checkpoints holding such tensors (nothing is dropped silently).") { TensorName = name, Offset = t.PickleOffset };
        }

        if (t.Storage is null)
        {
            // torch.Tensor() never given data: an empty float32 tensor.
            return (new TensorInfo(name, safeType, t.Size), new MemoryTensorSource(ReadOnlyMemory<byte>.Empty));
        }

        StorageData storage = storageOf(t.Storage);
        int es = dtype.ElementSize;
        long available = storage.DType is null ? storage.Numel / es : storage.Numel;
        long baseElement = 0;
        if (t.Storage.ViewKey is not null)
        {
            // Legacy storage view: root[offset : offset + size] in elements.
            if (t.Storage.ViewOffset > available || t.Storage.ViewNumel > available - t.Storage.ViewOffset)
            {
                throw View(path, name, t, $"its legacy storage view [{t.Storage.ViewOffset}, +{t.Storage.ViewNumel}) reaches past the {available:N0} elements of storage '{t.Storage.Key}'");
            }

            baseElement = t.Storage.ViewOffset;
            available = t.Storage.ViewNumel;
        }

        long count = 1;
        long maxIndex = t.StorageOffset;
        try
        {
            for (int i = 0; i < t.Size.Length; i++)
            {
                if (t.Size[i] < 0)
                {
                    throw View(path, name, t, $"dimension {i} has the negative size {t.Size[i]}");
                }

                if (t.Stride[i] < 0)
                {
                    throw View(path, name, t, $"dimension {i} has the negative stride {t.Stride[i]}");
                }

                count = checked(count * t.Size[i]);
            }

            if (count > 0)
            {
                for (int i = 0; i < t.Size.Length; i++)
                {
                    maxIndex = checked(maxIndex + checked((t.Size[i] - 1) * t.Stride[i]));
                }
            }

            _ = checked(count * es);
        }
        catch (OverflowException)
        {
            throw View(path, name, t, "its size, stride or offset overflows 64-bit arithmetic");
        }

        if (count > 0 && maxIndex >= available)
        {
            throw View(path, name, t, $"offset {t.StorageOffset}, size ({string.Join(", ", t.Size)}) and stride ({string.Join(", ", t.Stride)}) reach element {maxIndex:N0}, but storage '{t.Storage.Key}' has {available:N0}");
        }

        // A view that repeats elements (stride 0, overlapping strides) writes more than it reads: bounded, or one
        // stored float becomes gigabytes of output.
        long extent = count > 0 ? maxIndex - t.StorageOffset + 1 : 0;
        if (count * (long)es > MinExpansionCheckBytes && count / maxExpansion > extent)
        {
            throw new InvalidCheckpointException(SafeCkptErrorCode.ResourceLimitExceeded, path, $"{path}: refused: tensor '{name}' repeats its {extent:N0} stored elements {count / Math.Max(extent, 1):N0} times (size ({string.Join(", ", t.Size)}), stride ({string.Join(", ", t.Stride)})): it would expand to {count * (long)es:N0} bytes. SafeCkpt expands a view at most {maxExpansion} times beyond what it stores (OpenOptions.MaxViewExpansion); this file is crafted, or holds a broadcast tensor: open it with a higher limit only if you trust it.") { TensorName = name, Offset = t.PickleOffset };
        }

        var info = new TensorInfo(name, safeType, t.Size);
        if (count == 0)
        {
            return (info, new MemoryTensorSource(ReadOnlyMemory<byte>.Empty));
        }

        long start = (baseElement + t.StorageOffset) * es;
        if (IsContiguous(t.Size, t.Stride))
        {
            return (info, Slice(storage.Bytes, start, count * es));
        }

        return (info, new ViewTensorSource(Slice(storage.Bytes, baseElement * es, storage.Bytes.Length - (baseElement * es)), es, t.StorageOffset, t.Size, t.Stride));
    }

    /// <summary>C order: the last dimension has stride 1, each outer one the product of the inner sizes (size-1 dims ignored).</summary>
    public static bool IsContiguous(long[] size, long[] stride)
    {
        long expected = 1;
        for (int i = size.Length - 1; i >= 0; i--)
        {
            if (size[i] != 1 && stride[i] != expected)
            {
                return false;
            }

            expected *= size[i];
        }

        return true;
    }

    private static TensorSource Slice(TensorSource source, long start, long length) => source switch
    {
        _ when start == 0 && length == source.Length => source,
        RangeTensorSource r => new RangeTensorSource(r.Source, r.Start + start, length),
        _ => new SliceTensorSource(source, start, length),
    };

    private static string Describe(StorageRef s) => $"{s.DType?.ToString() ?? "untyped"} x {s.Numel:N0}";

    private static InvalidCheckpointException View(string path, string name, TensorRef t, string what) =>
        new(SafeCkptErrorCode.ViewOutOfBounds, path, $"{path}: tensor '{name}': {what}. The file is corrupt or crafted to read outside its data.") { TensorName = name, Offset = t.PickleOffset };

    /// <summary>A sub-range of another source.</summary>
    private sealed class SliceTensorSource(TensorSource inner, long start, long length) : TensorSource
    {
        public override long Length => length;

        public override (object? File, long Offset) Position => inner.Position is (object file, long at) ? (file, at + start) : (null, 0);

        public override void Read(long offset, Span<byte> destination)
        {
            CheckRange(offset, destination.Length);
            inner.Read(start + offset, destination);
        }
    }
}
