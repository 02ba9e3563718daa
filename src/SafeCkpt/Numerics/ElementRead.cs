using System.Runtime.InteropServices;
using SafeCkpt.Tensors;

namespace SafeCkpt.Numerics;

/// <summary>
/// Which .NET element type reads which dtype in <see cref="TensorStore.ReadTensorAs{T}"/>: the type of the dtype
/// itself (float for F32, Half for F16, long for I64, ...), an unsigned integer of the element's size for its raw
/// bits (ushort for F16/BF16), or float/double for any floating dtype, converted exactly.
/// </summary>
internal static class ElementRead
{
    public static bool Matches(Type t, DType dtype)
    {
        int bits = dtype.BitSize();
        if ((t == typeof(byte) && bits == 8) || (t == typeof(ushort) && bits == 16) || (t == typeof(uint) && bits == 32) || (t == typeof(ulong) && bits == 64))
        {
            return true;
        }

        return dtype switch
        {
            DType.Float32 => t == typeof(float),
            DType.Float64 => t == typeof(double),
            DType.Float16 => t == typeof(Half),
            DType.Int8 => t == typeof(sbyte),
            DType.Int16 => t == typeof(short),
            DType.Int32 => t == typeof(int),
            DType.Int64 => t == typeof(long),
            DType.Bool => t == typeof(bool),
            _ => false,
        };
    }

    /// <summary>Whether a dtype's values can be read as float or double (every floating dtype, the 8-bit ones included).</summary>
    public static bool IsFloating(DType dtype) => ElementCast.IsCastable(dtype) || Float8.Is(dtype);

    /// <summary>F16, BF16, F64 or F8 bytes as F32 values, cast as torch casts (F8 and F16/BF16 exactly).</summary>
    public static float[] AsFloat32(byte[] bytes, DType dtype)
    {
        int count = (int)(bytes.Length / (dtype.BitSize() / 8));
        var values = new float[count];
        if (Float8.Is(dtype))
        {
            Float8.ToSingle(dtype, bytes, values);
            return values;
        }

        ElementCast.Convert(dtype, DType.Float32, bytes, MemoryMarshal.AsBytes(values.AsSpan()), count);
        return values;
    }

    /// <summary>F16, BF16, F32 or F8 bytes as F64 values (exact).</summary>
    public static double[] AsFloat64(byte[] bytes, DType dtype)
    {
        int count = (int)(bytes.Length / (dtype.BitSize() / 8));
        if (Float8.Is(dtype))
        {
            return [.. AsFloat32(bytes, dtype).Select(v => (double)v)];
        }

        var values = new double[count];
        ElementCast.Convert(dtype, DType.Float64, bytes, MemoryMarshal.AsBytes(values.AsSpan()), count);
        return values;
    }
}
