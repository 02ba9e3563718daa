using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using SafeCkpt.IO;

namespace SafeCkpt.Tensors;

/// <summary>
/// A lazy, read-only set of named tensors: the names, dtypes and shapes are known up front, the bytes are read
/// from the file only when asked for (<see cref="ReadTensor(string)"/>, or in chunks with
/// <see cref="ReadTensorChunk"/>). Enumerating it yields the tensors in file order. Dispose it (or the
/// <see cref="ModelFile"/> that owns it) to close the file.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1710:Identifiers should have correct suffix", Justification = "A store of tensors, named as users know it; enumerable for convenience.")]
public sealed class TensorStore : IReadOnlyCollection<TensorInfo>, IDisposable
{
    /// <summary>The most tensors one file may hold, in every format (an SDXL checkpoint has about 2,500); checked while the header or pickle is read.</summary>
    internal const int MaxTensors = 262_144;

    private readonly TensorInfo[] _tensors;
    private readonly TensorSource[] _sources;
    private readonly Dictionary<string, int> _index;
    private readonly ByteSource? _owned;
    private bool _disposed;

    internal TensorStore(IReadOnlyList<(TensorInfo Info, TensorSource Source)> entries, IReadOnlyDictionary<string, string> metadata, ByteSource? owned)
    {
        _tensors = new TensorInfo[entries.Count];
        _sources = new TensorSource[entries.Count];
        _index = new Dictionary<string, int>(entries.Count, StringComparer.Ordinal);
        long total = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            // The readers and the builder validated names and sizes, each with the error its input deserves.
            (TensorInfo info, TensorSource source) = entries[i];
            Debug.Assert(source.Length == info.ByteLength, $"Tensor '{info.Name}' declares {info.ByteLength} bytes but its source has {source.Length}.");
            bool unique = _index.TryAdd(info.Name, i);
            Debug.Assert(unique, $"Tensor name '{info.Name}' appears twice.");

            _tensors[i] = info;
            _sources[i] = source;
            total += info.ByteLength;
        }

        Tensors = new ReadOnlyCollection<TensorInfo>(_tensors);
        Metadata = new ReadOnlyDictionary<string, string>(new Dictionary<string, string>(metadata, StringComparer.Ordinal));
        TotalBytes = total;
        _owned = owned;
    }

    /// <summary>The tensors, in the order of their data in the source file.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>The number of tensors.</summary>
    public int Count => _tensors.Length;

    /// <summary>The sum of all tensors' byte lengths.</summary>
    public long TotalBytes { get; }

    /// <summary>Free-form string metadata (safetensors <c>__metadata__</c>); empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor of this name.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <exception cref="SafeCkptException">No tensor has that name (code <see cref="SafeCkptErrorCode.TensorNotFound"/>).</exception>
    public TensorInfo this[string name] => _tensors[IndexOf(name)];

    /// <summary>Whether a tensor of this name exists.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns><see langword="true"/> when it exists.</returns>
    public bool Contains(string name) => _index.ContainsKey(name);

    /// <summary>Looks a tensor up by name.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="info">The tensor, when found.</param>
    /// <returns><see langword="true"/> when found.</returns>
    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TensorInfo? info)
    {
        if (_index.TryGetValue(name, out int i))
        {
            info = _tensors[i];
            return true;
        }

        info = null;
        return false;
    }

    /// <summary>Reads a whole tensor's bytes (little-endian, C order) into a new array.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>The bytes.</returns>
    /// <exception cref="SafeCkptException">No tensor has that name (code <see cref="SafeCkptErrorCode.TensorNotFound"/>).</exception>
    /// <exception cref="NotSupportedException">The tensor is larger than an array can hold; use <see cref="ReadTensorChunk"/>.</exception>
    public byte[] ReadTensor(string name)
    {
        int i = IndexOf(name);
        long length = _tensors[i].ByteLength;
        if (length > Array.MaxLength)
        {
            throw new NotSupportedException($"Tensor '{name}' has {length} bytes, more than one array can hold; read it in chunks with ReadTensorChunk.");
        }

        var bytes = GC.AllocateUninitializedArray<byte>((int)length);
        Read(i, 0, bytes);
        return bytes;
    }

    /// <summary>Reads a whole tensor's bytes into <paramref name="destination"/>, which must be exactly its size.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="destination">A span of exactly <see cref="TensorInfo.ByteLength"/> bytes.</param>
    public void ReadTensor(string name, Span<byte> destination)
    {
        int i = IndexOf(name);
        if (destination.Length != _tensors[i].ByteLength)
        {
            throw new ArgumentException($"Tensor '{name}' has {_tensors[i].ByteLength} bytes; the destination has {destination.Length}.", nameof(destination));
        }

        Read(i, 0, destination);
    }

    /// <summary>
    /// Reads a tensor's elements as an array of <typeparamref name="T"/>. The element type must match the tensor's
    /// dtype (<see cref="float"/> for F32, <see cref="Half"/> for F16, <see cref="long"/> for I64, ...); reading a
    /// floating tensor as <see cref="float"/> or <see cref="double"/> converts F16, BF16, F32, F64 and the 8-bit floats
    /// (F8_E4M3, F8_E5M2, their FNUZ variants, F8_E8M0) exactly.
    /// </summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="name">The tensor's name.</param>
    /// <returns>The elements.</returns>
    /// <exception cref="SafeCkptException">No tensor has that name (code <see cref="SafeCkptErrorCode.TensorNotFound"/>).</exception>
    /// <exception cref="ConversionException">The tensor's dtype cannot be read as <typeparamref name="T"/> (code <see cref="SafeCkptErrorCode.UnsupportedDType"/>).</exception>
    public T[] ReadTensorAs<T>(string name)
        where T : unmanaged
    {
        int i = IndexOf(name);
        DType dtype = _tensors[i].DType;
        if (typeof(T) == typeof(float) && dtype != DType.Float32 && Numerics.ElementRead.IsFloating(dtype))
        {
            return (T[])(object)Numerics.ElementRead.AsFloat32(ReadTensor(name), dtype);
        }

        if (typeof(T) == typeof(double) && dtype != DType.Float64 && Numerics.ElementRead.IsFloating(dtype))
        {
            return (T[])(object)Numerics.ElementRead.AsFloat64(ReadTensor(name), dtype);
        }

        if (!Numerics.ElementRead.Matches(typeof(T), dtype))
        {
            throw new ConversionException(SafeCkptErrorCode.UnsupportedDType, FilePath, $"Tensor '{name}' is {dtype.ToSafetensorsName()}; it cannot be read as {typeof(T).Name} (read floating dtypes as float or double, other dtypes as their own element type).") { TensorName = name };
        }

        long length = _tensors[i].ByteLength;
        int size = Marshal.SizeOf<T>();
        if (length % size != 0)
        {
            throw new ArgumentException($"Tensor '{name}' has {length} bytes, not a whole number of {typeof(T).Name} values.", nameof(T));
        }

        if (length / size > Array.MaxLength)
        {
            throw new NotSupportedException($"Tensor '{name}' is too large for one array; read it in chunks with ReadTensorChunk.");
        }

        var values = new T[length / size];
        Read(i, 0, MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    /// <summary>
    /// Reads part of a tensor's bytes, for streaming large tensors in bounded memory.
    /// </summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="offset">The first byte to read, from the start of the tensor's data.</param>
    /// <param name="destination">Where to put the bytes.</param>
    /// <returns>The number of bytes read: the destination's length, or fewer at the end of the tensor (0 past it).</returns>
    public int ReadTensorChunk(string name, long offset, Span<byte> destination)
    {
        int i = IndexOf(name);
        long length = _tensors[i].ByteLength;
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset >= length)
        {
            return 0;
        }

        int n = (int)Math.Min(destination.Length, length - offset);
        Read(i, offset, destination[..n]);
        return n;
    }

    /// <summary>Enumerates the tensors, in the order of their data in the source file.</summary>
    /// <returns>The enumerator.</returns>
    public IEnumerator<TensorInfo> GetEnumerator() => Tensors.GetEnumerator();

    /// <inheritdoc/>
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Closes the underlying file. Tensor descriptions stay readable; tensor bytes do not.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;

            // Strided views return their pooled buffers (held when a read stopped part-way).
            foreach (TensorSource source in _sources)
            {
                (source as IDisposable)?.Dispose();
            }

            _owned?.Dispose();
        }
    }

    /// <summary>The source of the named tensor, for transforms and reports; the store must be open.</summary>
    internal TensorSource SourceAt(string name)
    {
        ThrowIfDisposed();
        return _sources[IndexOf(name)];
    }

    /// <summary>The (description, source) pairs, in order; the store must be open.</summary>
    internal IEnumerable<(TensorInfo Info, TensorSource Source)> Entries()
    {
        ThrowIfDisposed();
        for (int i = 0; i < _tensors.Length; i++)
        {
            yield return (_tensors[i], _sources[i]);
        }
    }

    /// <summary>For PyTorch checkpoints, where each tensor sat in the pickle and the values beside them; null otherwise.</summary>
    internal Formats.Torch.PickleLayout? Layout { get; init; }

    /// <summary>For GGUF files, the version, alignment, architecture and each tensor's stored ggml type; null otherwise.</summary>
    internal Formats.Gguf.GgufLayout? Gguf { get; init; }

    /// <summary>The path of the file this store reads, or null for stores built in memory.</summary>
    internal string? FilePath => _owned is FileByteSource f ? f.Name : null;

    private int IndexOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!_index.TryGetValue(name, out int i))
        {
            throw new SafeCkptException(SafeCkptErrorCode.TensorNotFound, FilePath, $"{FilePath ?? "the model"}: no tensor named '{name}'. List the names with TensorStore.Tensors.") { TensorName = name };
        }

        return i;
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/>, naming the file, once the store is closed.</summary>
    internal void ThrowIfDisposed()
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(FilePath ?? nameof(TensorStore), $"{FilePath ?? "The model"} was closed; keep the ModelFile open until its tensors are read or saved.");
        }
    }

    private void Read(int i, long offset, Span<byte> destination)
    {
        ThrowIfDisposed();
        _sources[i].Read(offset, destination);
    }
}
