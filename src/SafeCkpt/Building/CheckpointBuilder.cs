using System.Runtime.InteropServices;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Tensors;

namespace SafeCkpt.Building;

/// <summary>
/// Builds a small checkpoint in code, for another application's unit tests or for tools that make model files:
/// add named tensors from arrays or spans, add metadata, then save or open it as a <see cref="TensorStore"/>.
/// </summary>
/// <example>
/// <code>
/// new CheckpointBuilder()
///     .Add("model.diffusion_model.out.2.bias", new float[] { 0.1f, 0.2f, 0.3f, 0.4f })
///     .Add("cond_stage_model.transformer.text_model.embeddings.position_ids", Enumerable.Range(0, 77).Select(i => (long)i).ToArray(), 1, 77)
///     .WithMetadata("format", "pt")
///     .SaveSafetensors("tiny.safetensors");
/// </code>
/// </example>
public sealed class CheckpointBuilder
{
    private readonly List<(TensorInfo Info, TensorSource Source)> _tensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    /// <summary>The number of tensors added so far.</summary>
    public int Count => _tensors.Count;

    /// <summary>Adds a tensor from raw little-endian bytes in C order; the bytes are copied.</summary>
    /// <param name="name">The tensor's name (unique).</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="shape">The dimensions; empty for a scalar.</param>
    /// <param name="data">Exactly elements x bits / 8 bytes.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException">The name is taken or reserved, or the byte count does not match the shape.</exception>
    public CheckpointBuilder Add(string name, DType dtype, IReadOnlyList<long> shape, ReadOnlySpan<byte> data)
    {
        var info = new TensorInfo(name, dtype, shape);
        if (data.Length != info.ByteLength)
        {
            throw new ArgumentException($"Tensor '{name}' of {dtype.ToSafetensorsName()} {info.FormatShape()} needs {info.ByteLength} bytes; {data.Length} were given.", nameof(data));
        }

        return AddSource(info, new MemoryTensorSource(data.ToArray()));
    }

    /// <summary>Adds a tensor from an array of values; the dtype follows from <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">
    /// <see cref="float"/> (F32), <see cref="Half"/> (F16), <see cref="double"/> (F64), <see cref="long"/> (I64),
    /// <see cref="int"/> (I32), <see cref="short"/> (I16), <see cref="sbyte"/> (I8), <see cref="byte"/> (U8),
    /// <see cref="ulong"/> (U64), <see cref="uint"/> (U32), <see cref="ushort"/> (U16) or <see cref="bool"/> (BOOL).
    /// For BF16, pass the bit patterns as <see cref="ushort"/> to <see cref="Add(string, DType, IReadOnlyList{long}, ReadOnlySpan{byte})"/>.
    /// </typeparam>
    /// <param name="name">The tensor's name (unique).</param>
    /// <param name="values">The elements in C order.</param>
    /// <param name="shape">The dimensions; when omitted, a 1-d tensor of <c>values.Length</c>.</param>
    /// <returns>This builder.</returns>
    public CheckpointBuilder Add<T>(string name, T[] values, params long[] shape)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(values);
        DType dtype = DTypeOf<T>();
        long[] dims = shape is { Length: > 0 } ? shape : [values.LongLength];
        return Add(name, dtype, dims, MemoryMarshal.AsBytes(values.AsSpan()));
    }

    /// <summary>Adds a 0-d (scalar) tensor.</summary>
    /// <typeparam name="T">An element type accepted by <see cref="Add{T}(string, T[], long[])"/>.</typeparam>
    /// <param name="name">The tensor's name (unique).</param>
    /// <param name="value">The value.</param>
    /// <returns>This builder.</returns>
    public CheckpointBuilder AddScalar<T>(string name, T value)
        where T : unmanaged
    {
        T[] one = [value];
        return Add(name, DTypeOf<T>(), [], MemoryMarshal.AsBytes(one.AsSpan()));
    }

    /// <summary>
    /// Adds an all-zero tensor of any size without allocating it: layout fixtures (key names and shapes of a real
    /// architecture) cost no memory, and the bytes are produced while saving.
    /// </summary>
    /// <param name="name">The tensor's name (unique).</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="shape">The dimensions.</param>
    /// <returns>This builder.</returns>
    public CheckpointBuilder AddZeros(string name, DType dtype, params long[] shape)
    {
        var info = new TensorInfo(name, dtype, shape);
        return AddSource(info, new ZeroTensorSource(info.ByteLength));
    }

    /// <summary>Sets a metadata entry (safetensors <c>__metadata__</c>); a later value for the same key replaces the earlier.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <returns>This builder.</returns>
    public CheckpointBuilder WithMetadata(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        _metadata[key] = value;
        return this;
    }

    /// <summary>Returns the tensors built so far as an open model (in memory; nothing to dispose but harmless to).</summary>
    /// <param name="name">The name errors and reports use for the model.</param>
    /// <returns>A model over the added tensors, ready to inspect or convert.</returns>
    public ModelFile Build(string name = "<built>") => ModelFile.FromStore(new TensorStore(_tensors.ToList(), _metadata, owned: null), name);

    /// <summary>Writes the tensors and metadata to a safetensors file: <c>Build().SaveSafetensors(path)</c>.</summary>
    /// <param name="path">The output file.</param>
    /// <param name="options">Overwrite, flush and progress settings.</param>
    /// <returns>What was written.</returns>
    /// <exception cref="OutputException">The output exists or cannot be written.</exception>
    public ConversionResult SaveSafetensors(string path, SaveOptions? options = null) => Build().SaveSafetensors(path, options);

    /// <summary>
    /// Writes the tensors as a PyTorch zip checkpoint, laid out as a conversion of a safetensors file would be
    /// (<c>{"state_dict": ...}</c> for a full checkpoint, A1111's dict for an embedding, else a top-level dict);
    /// metadata is not kept (a .ckpt has no place for it). <c>Build().SaveCkpt(path)</c>.
    /// </summary>
    /// <param name="path">The output file.</param>
    /// <param name="options">Overwrite, flush and progress settings.</param>
    /// <returns>What was written.</returns>
    /// <exception cref="ConversionException">A tensor's dtype cannot be held by a .ckpt (U16/U32/U64/F8...).</exception>
    /// <exception cref="OutputException">The output exists or cannot be written.</exception>
    public ConversionResult SaveCkpt(string path, SaveOptions? options = null) => Build().SaveCkpt(path, options);

    private CheckpointBuilder AddSource(TensorInfo info, TensorSource source)
    {
        if (info.Name == SafetensorsLayout.MetadataKey)
        {
            throw new ArgumentException($"'{SafetensorsLayout.MetadataKey}' is reserved for metadata.", nameof(info));
        }

        if (!_names.Add(info.Name))
        {
            throw new ArgumentException($"A tensor named '{info.Name}' was already added.", nameof(info));
        }

        _tensors.Add((info, source));
        return this;
    }

    private static DType DTypeOf<T>()
        where T : unmanaged => typeof(T) switch
        {
            Type t when t == typeof(float) => DType.Float32,
            Type t when t == typeof(Half) => DType.Float16,
            Type t when t == typeof(double) => DType.Float64,
            Type t when t == typeof(long) => DType.Int64,
            Type t when t == typeof(int) => DType.Int32,
            Type t when t == typeof(short) => DType.Int16,
            Type t when t == typeof(sbyte) => DType.Int8,
            Type t when t == typeof(byte) => DType.UInt8,
            Type t when t == typeof(ulong) => DType.UInt64,
            Type t when t == typeof(uint) => DType.UInt32,
            Type t when t == typeof(ushort) => DType.UInt16,
            Type t when t == typeof(bool) => DType.Bool,
            _ => throw new ArgumentException($"{typeof(T).Name} has no tensor dtype; use float, Half, double, long, int, short, sbyte, byte, ulong, uint, ushort or bool, or add raw bytes with a DType.", nameof(T)),
        };
}
