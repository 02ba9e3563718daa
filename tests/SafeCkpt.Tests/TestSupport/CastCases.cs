using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;

namespace SafeCkpt.Tests.TestSupport;

/// <summary>One cast kernel seen as bytes in, bytes out: its tiered entry point, its scalar reference, and how to
/// make inputs for it.</summary>
internal sealed class CastCase
{
    public delegate void Tiered(ReadOnlySpan<byte> source, Span<byte> destination, VectorTier tier);

    public delegate void Scalar(ReadOnlySpan<byte> source, Span<byte> destination);

    private delegate void TypedTiered<TFrom, TTo>(ReadOnlySpan<TFrom> source, Span<TTo> destination, VectorTier tier);

    private delegate void TypedScalar<TFrom, TTo>(ReadOnlySpan<TFrom> source, Span<TTo> destination);

    private CastCase(string name, int fromSize, int toSize, Gen<byte[]> inputs, Func<int, ulong, byte[]> sample, Tiered run, Scalar reference)
    {
        Name = name;
        FromSize = fromSize;
        ToSize = toSize;
        Inputs = inputs;
        Sample = sample;
        Run = run;
        Reference = reference;
    }

    public string Name { get; }

    public int FromSize { get; }

    public int ToSize { get; }

    /// <summary>Random source arrays (as bytes) for property tests.</summary>
    public Gen<byte[]> Inputs { get; }

    /// <summary>A reproducible source of the given element count (as bytes).</summary>
    public Func<int, ulong, byte[]> Sample { get; }

    public Tiered Run { get; }

    public Scalar Reference { get; }

    /// <summary>Every kernel of <see cref="CastKernels"/>, by name.</summary>
    public static IReadOnlyDictionary<string, CastCase> All { get; } = new[]
    {
        Make<uint, float, ushort>("F32->F16", FloatBits.F32, (s, d, t) => CastKernels.SingleToHalf(s, d, t), (s, d) => CastKernels.SingleToHalfScalar(s, d)),
        Make<uint, float, ushort>("F32->BF16", FloatBits.F32, (s, d, t) => CastKernels.SingleToBFloat16(s, d, 0xFFFF, t), (s, d) => CastKernels.SingleToBFloat16Scalar(s, d)),
        Make<uint, float, ushort>("F32->BF16 (NaN 0x7FC0)", FloatBits.F32, (s, d, t) => CastKernels.SingleToBFloat16(s, d, 0x7FC0, t), (s, d) => CastKernels.SingleToBFloat16Scalar(s, d, 0x7FC0)),
        Make<ushort, ushort, float>("F16->F32", FloatBits.F16, (s, d, t) => CastKernels.HalfToSingle(s, d, t), (s, d) => CastKernels.HalfToSingleScalar(s, d)),
        Make<ushort, ushort, float>("BF16->F32", FloatBits.F16, (s, d, t) => CastKernels.BFloat16ToSingle(s, d, t), (s, d) => CastKernels.BFloat16ToSingleScalar(s, d)),
        Make<ulong, double, float>("F64->F32", FloatBits.F64, (s, d, t) => CastKernels.DoubleToSingle(s, d, t), (s, d) => CastKernels.DoubleToSingleScalar(s, d)),
        Make<uint, float, double>("F32->F64", FloatBits.F32, (s, d, t) => CastKernels.SingleToDouble(s, d, t), (s, d) => CastKernels.SingleToDoubleScalar(s, d)),
        Make<uint, float, byte>("F32->F8_E4M3", FloatBits.F32, (s, d, t) => CastKernels.SingleToFloat8(s, d, DType.Float8E4M3, false, t), (s, d) => CastKernels.SingleToFloat8Scalar(s, d, DType.Float8E4M3)),
        Make<uint, float, byte>("F32->F8_E5M2", FloatBits.F32, (s, d, t) => CastKernels.SingleToFloat8(s, d, DType.Float8E5M2, false, t), (s, d) => CastKernels.SingleToFloat8Scalar(s, d, DType.Float8E5M2)),
        Make<uint, float, byte>("F32->F8_E4M3 (saturating)", FloatBits.F32, (s, d, t) => CastKernels.SingleToFloat8(s, d, DType.Float8E4M3, true, t), (s, d) => CastKernels.SingleToFloat8Scalar(s, d, DType.Float8E4M3, true)),
        Make<uint, float, byte>("F32->F8_E5M2 (saturating)", FloatBits.F32, (s, d, t) => CastKernels.SingleToFloat8(s, d, DType.Float8E5M2, true, t), (s, d) => CastKernels.SingleToFloat8Scalar(s, d, DType.Float8E5M2, true)),
        Make<byte, byte, float>("F8_E4M3->F32", FloatBits.F8, (s, d, t) => CastKernels.Float8ToSingle(s, d, DType.Float8E4M3, t), (s, d) => CastKernels.Float8ToSingleScalar(s, d, DType.Float8E4M3)),
        Make<byte, byte, float>("F8_E5M2->F32", FloatBits.F8, (s, d, t) => CastKernels.Float8ToSingle(s, d, DType.Float8E5M2, t), (s, d) => CastKernels.Float8ToSingleScalar(s, d, DType.Float8E5M2)),
    }.ToDictionary(c => c.Name);

    /// <summary>A reproducible source of <paramref name="count"/> elements of a floating dtype (as bytes).</summary>
    public static byte[] SampleOf(DType dtype, int count, ulong seed) => dtype switch
    {
        DType.Float32 => Bytes(FloatBits.Sample(FloatBits.F32, count, seed)),
        DType.Float64 => Bytes(FloatBits.Sample(FloatBits.F64, count, seed)),
        DType.Float8E4M3 or DType.Float8E5M2 => FloatBits.Sample(FloatBits.F8, count, seed),
        _ => Bytes(FloatBits.Sample(FloatBits.F16, count, seed)),
    };

    /// <summary>
    /// What PyTorch makes of <paramref name="source"/> cast from one floating dtype to another, composed of the scalar
    /// references only: direct where a kernel exists, else through float32 (F16→BF16 writing NaN as 0x7FC0).
    /// </summary>
    public static byte[] ScalarCast(DType from, DType to, byte[] source)
    {
        if (from == to)
        {
            return (byte[])source.Clone();
        }

        int count = source.Length / (from.BitSize() / 8);
        var f32 = new float[count];
        switch (from)
        {
            case DType.Float32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(f32);
                break;
            case DType.Float64:
                CastKernels.DoubleToSingleScalar(MemoryMarshal.Cast<byte, double>(source), f32);
                break;
            case DType.Float16:
                CastKernels.HalfToSingleScalar(MemoryMarshal.Cast<byte, ushort>(source), f32);
                break;
            case DType.Float8E4M3 or DType.Float8E5M2:
                CastKernels.Float8ToSingleScalar(source, f32, from);
                break;
            default:
                CastKernels.BFloat16ToSingleScalar(MemoryMarshal.Cast<byte, ushort>(source), f32);
                break;
        }

        var result = new byte[count * (to.BitSize() / 8)];
        switch (to)
        {
            case DType.Float32:
                MemoryMarshal.AsBytes(f32.AsSpan()).CopyTo(result);
                break;
            case DType.Float64:
                CastKernels.SingleToDoubleScalar(f32, MemoryMarshal.Cast<byte, double>(result.AsSpan()));
                break;
            case DType.Float16:
                CastKernels.SingleToHalfScalar(f32, MemoryMarshal.Cast<byte, ushort>(result.AsSpan()));
                break;
            case DType.Float8E4M3 or DType.Float8E5M2:
                CastKernels.SingleToFloat8Scalar(f32, result, to);
                break;
            default:
                CastKernels.SingleToBFloat16Scalar(f32, MemoryMarshal.Cast<byte, ushort>(result.AsSpan()), from is DType.Float16 or DType.Float8E4M3 or DType.Float8E5M2 ? (ushort)0x7FC0 : (ushort)0xFFFF);
                break;
        }

        return result;
    }

    /// <summary>Fails naming the first element where <paramref name="actual"/> differs from <paramref name="expected"/>,
    /// with its source bits.</summary>
    public static void AssertSameBits(byte[] source, int fromSize, ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, int toSize, string what)
    {
        if (expected.SequenceEqual(actual))
        {
            return;
        }

        Assert.Equal(expected.Length, actual.Length);
        int i = 0;
        while (expected.Slice(i * toSize, toSize).SequenceEqual(actual.Slice(i * toSize, toSize)))
        {
            i++;
        }

        Assert.Fail($"{what}: element {i} of {expected.Length / toSize}, source bits 0x{Hex(source.AsSpan(i * fromSize, fromSize))}: " +
            $"expected 0x{Hex(expected.Slice(i * toSize, toSize))}, got 0x{Hex(actual.Slice(i * toSize, toSize))}");
    }

    /// <summary>The bits of a little-endian element, most significant first.</summary>
    public static string Hex(ReadOnlySpan<byte> element)
    {
        byte[] b = element.ToArray();
        Array.Reverse(b);
        return Convert.ToHexString(b);
    }

    /// <summary>Runs this kernel on <paramref name="tier"/> and asserts the bits equal the scalar reference's and that
    /// the destination past the source's length is untouched.</summary>
    public void AssertTierMatchesReference(byte[] source, VectorTier tier)
    {
        int count = source.Length / FromSize;
        var expected = new byte[(count + 3) * ToSize];
        expected.AsSpan().Fill(0xA5);
        byte[] actual = (byte[])expected.Clone();
        Reference(source, expected.AsSpan(0, count * ToSize));
        Run(source, actual.AsSpan(0, count * ToSize), tier);
        AssertSameBits(source, FromSize, expected.AsSpan(0, count * ToSize), actual.AsSpan(0, count * ToSize), ToSize, $"{Name} on {tier}");
        Assert.True(actual.AsSpan(count * ToSize).IndexOfAnyExcept((byte)0xA5) < 0, $"{Name} on {tier} wrote past {count} elements");
    }

    public override string ToString() => Name;

    private static byte[] Bytes<T>(T[] values)
        where T : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static CastCase Make<TBits, TFrom, TTo>(string name, Gen<TBits> bits, TypedTiered<TFrom, TTo> run, TypedScalar<TFrom, TTo> reference)
        where TBits : unmanaged
        where TFrom : unmanaged
        where TTo : unmanaged
    {
        int fromSize = Marshal.SizeOf<TFrom>();
        int toSize = Marshal.SizeOf<TTo>();
        return new CastCase(
            name,
            fromSize,
            toSize,
            bits.ArrayOf().Select(Bytes),
            (count, seed) => Bytes(FloatBits.Sample(bits, count, seed)),
            (s, d, t) => run(MemoryMarshal.Cast<byte, TFrom>(s), MemoryMarshal.Cast<byte, TTo>(d), t),
            (s, d) => reference(MemoryMarshal.Cast<byte, TFrom>(s), MemoryMarshal.Cast<byte, TTo>(d)));
    }
}
