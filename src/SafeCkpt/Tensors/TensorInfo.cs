using System.Collections.ObjectModel;

namespace SafeCkpt.Tensors;

/// <summary>What a tensor is, without its data: name, element type, shape and size in bytes.</summary>
public sealed class TensorInfo
{
    /// <summary>The largest number of dimensions SafeCkpt accepts (PyTorch's own limit is 64).</summary>
    public const int MaxRank = 64;

    private readonly long[] _shape;

    /// <summary>Describes a tensor.</summary>
    /// <param name="name">The tensor's name, e.g. <c>model.diffusion_model.out.2.weight</c>.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="shape">The dimensions, outermost first; empty for a 0-d scalar.</param>
    /// <exception cref="ArgumentException">A dimension is negative, there are more than <see cref="MaxRank"/>, or the size overflows.</exception>
    public TensorInfo(string name, DType dtype, IEnumerable<long> shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        _shape = shape.ToArray();
        if (_shape.Length > MaxRank)
        {
            throw new ArgumentException($"Tensor '{name}' has {_shape.Length} dimensions; at most {MaxRank} are supported.", nameof(shape));
        }

        foreach (long d in _shape)
        {
            if (d < 0)
            {
                throw new ArgumentException($"Tensor '{name}' has a negative dimension ({d}).", nameof(shape));
            }
        }

        if (!TryComputeSizes(dtype, _shape, out long elements, out long bytes, out bool wholeBytes))
        {
            throw new ArgumentException($"Tensor '{name}' is too large: its element count or byte size overflows 64 bits.", nameof(shape));
        }

        if (!wholeBytes)
        {
            throw new ArgumentException($"Tensor '{name}' of {dtype.ToSafetensorsName()} does not fill a whole number of bytes.", nameof(shape));
        }

        Name = name;
        DType = dtype;
        ElementCount = elements;
        ByteLength = bytes;
        Shape = new ReadOnlyCollection<long>(_shape);
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public DType DType { get; }

    /// <summary>The dimensions, outermost first; empty for a 0-d scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>The number of elements (the product of the dimensions; 1 for a scalar, 0 when any dimension is 0).</summary>
    public long ElementCount { get; }

    /// <summary>The size of the tensor's data in bytes (elements x bits / 8).</summary>
    public long ByteLength { get; }

    /// <summary>Returns a copy of this description with another name.</summary>
    /// <param name="name">The new name.</param>
    /// <returns>The renamed description.</returns>
    public TensorInfo WithName(string name) => new(name, DType, _shape);

    /// <summary>Returns a copy of this description with another dtype (same shape).</summary>
    /// <param name="dtype">The new element type.</param>
    /// <returns>The retyped description.</returns>
    public TensorInfo WithDType(DType dtype) => new(Name, dtype, _shape);

    /// <summary>The shape in the usual bracket notation, e.g. <c>[320, 4, 3, 3]</c>.</summary>
    /// <returns>The formatted shape.</returns>
    public string FormatShape() => "[" + string.Join(", ", _shape) + "]";

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {DType.ToSafetensorsName()} {FormatShape()}";

    /// <summary>
    /// Computes element count and byte size with overflow checks. <paramref name="wholeBytes"/> is false when a
    /// sub-byte dtype does not end on a byte boundary.
    /// </summary>
    internal static bool TryComputeSizes(DType dtype, ReadOnlySpan<long> shape, out long elements, out long bytes, out bool wholeBytes)
    {
        elements = 1;
        bytes = 0;
        wholeBytes = true;
        try
        {
            foreach (long d in shape)
            {
                elements = checked(elements * d);
            }

            long bits = checked(elements * dtype.BitSize());
            wholeBytes = bits % 8 == 0;
            bytes = bits / 8;
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }
}
