using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SafeCkpt.Formats.Safetensors;
using SafeCkpt.Numerics;
using SafeCkpt.Tensors;
using SafeCkpt.Tests.TestSupport;

namespace SafeCkpt.Tests.Numerics;

/// <summary>
/// The cast kernels against PyTorch's own results (Fixtures/casts, made by make_cast_fixtures.py), and the vector
/// paths against their scalar references over every length up to past two vector widths.
/// </summary>
public class CastKernelsTests
{
    private static readonly Lazy<TensorStore> Torch = new(() => SafetensorsReader.Open(Fixtures.Path_("casts", "torch_casts.safetensors")));

    private static T[] Truth<T>(string name)
        where T : unmanaged => Torch.Value.ReadTensorAs<T>(name);

    private static void AssertBitsEqual<T>(T[] expected, T[] actual, Func<int, string> describe)
        where T : unmanaged, IEquatable<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (!expected[i].Equals(actual[i]))
            {
                Assert.Fail($"element {i}: {describe(i)}: expected 0x{expected[i]:x}, got 0x{actual[i]:x}");
            }
        }
    }

    [Fact]
    public void The_vector_paths_are_accelerated_on_this_machine_or_ci_says_so()
    {
        // CI runs the suite twice: normally, and with DOTNET_EnableHWIntrinsic=0 so the scalar tails carry everything.
        bool expectScalar = Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0";
        Assert.Equal(!expectScalar, Vector256.IsHardwareAccelerated || Vector128.IsHardwareAccelerated);
    }

    [Fact]
    public void F32_to_F16_matches_torch_half_on_specials_edges_and_random_patterns()
    {
        uint[] src = Truth<uint>("f32_src");
        ushort[] expected = Truth<ushort>("f32_src_to_f16");
        var vector = new ushort[src.Length];
        var scalar = new ushort[src.Length];
        CastKernels.SingleToHalf(MemoryMarshal.Cast<uint, float>(src), vector);
        CastKernels.SingleToHalfScalar(MemoryMarshal.Cast<uint, float>(src), scalar);
        AssertBitsEqual(expected, vector, i => $"f32 0x{src[i]:x8} (vector)");
        AssertBitsEqual(expected, scalar, i => $"f32 0x{src[i]:x8} (scalar)");
    }

    [Fact]
    public void F32_to_BF16_matches_torch_bfloat16_on_specials_edges_and_random_patterns()
    {
        uint[] src = Truth<uint>("f32_src");
        ushort[] expected = Truth<ushort>("f32_src_to_bf16");
        var vector = new ushort[src.Length];
        var scalar = new ushort[src.Length];
        CastKernels.SingleToBFloat16(MemoryMarshal.Cast<uint, float>(src), vector);
        CastKernels.SingleToBFloat16Scalar(MemoryMarshal.Cast<uint, float>(src), scalar);
        AssertBitsEqual(expected, vector, i => $"f32 0x{src[i]:x8} (vector)");
        AssertBitsEqual(expected, scalar, i => $"f32 0x{src[i]:x8} (scalar)");
    }

    [Fact]
    public void F16_to_F32_matches_torch_on_all_65536_patterns()
    {
        ushort[] src = Truth<ushort>("f16_all");
        uint[] expected = Truth<uint>("f16_all_to_f32");
        var vector = new float[src.Length];
        var scalar = new float[src.Length];
        CastKernels.HalfToSingle(src, vector);
        CastKernels.HalfToSingleScalar(src, scalar);
        AssertBitsEqual(expected, MemoryMarshal.Cast<float, uint>(vector).ToArray(), i => $"f16 0x{src[i]:x4} (vector)");
        AssertBitsEqual(expected, MemoryMarshal.Cast<float, uint>(scalar).ToArray(), i => $"f16 0x{src[i]:x4} (scalar)");
    }

    [Fact]
    public void BF16_to_F32_matches_torch_on_all_65536_patterns()
    {
        ushort[] src = Truth<ushort>("bf16_all");
        uint[] expected = Truth<uint>("bf16_all_to_f32");
        var vector = new float[src.Length];
        var scalar = new float[src.Length];
        CastKernels.BFloat16ToSingle(src, vector);
        CastKernels.BFloat16ToSingleScalar(src, scalar);
        AssertBitsEqual(expected, MemoryMarshal.Cast<float, uint>(vector).ToArray(), i => $"bf16 0x{src[i]:x4} (vector)");
        AssertBitsEqual(expected, MemoryMarshal.Cast<float, uint>(scalar).ToArray(), i => $"bf16 0x{src[i]:x4} (scalar)");
    }

    [Theory]
    [InlineData("f16_all", DType.Float16, DType.BFloat16, "f16_all_to_bf16")]
    [InlineData("bf16_all", DType.BFloat16, DType.Float16, "bf16_all_to_f16")]
    [InlineData("f64_src", DType.Float64, DType.Float32, "f64_src_to_f32")]
    [InlineData("f64_src", DType.Float64, DType.Float16, "f64_src_to_f16")]
    [InlineData("f64_src", DType.Float64, DType.BFloat16, "f64_src_to_bf16")]
    [InlineData("f32_src", DType.Float32, DType.Float16, "f32_src_to_f16")]
    [InlineData("f32_src", DType.Float32, DType.BFloat16, "f32_src_to_bf16")]
    [InlineData("f16_all", DType.Float16, DType.Float32, "f16_all_to_f32")]
    public void Element_casts_between_any_two_float_dtypes_match_torch(string source, DType from, DType to, string expected)
    {
        byte[] src = Torch.Value.ReadTensor(source);
        byte[] want = Torch.Value.ReadTensor(expected);
        int count = src.Length / (from.BitSize() / 8);
        var got = new byte[count * (to.BitSize() / 8)];
        ElementCast.Convert(from, to, src, got, count);
        Assert.Equal(want.Length, got.Length);
        int width = to.BitSize() / 8;
        for (int i = 0; i < count; i++)
        {
            if (!want.AsSpan(i * width, width).SequenceEqual(got.AsSpan(i * width, width)))
            {
                Assert.Fail($"{source}[{i}] {from}->{to}: expected {Convert.ToHexString(want, i * width, width)}, got {Convert.ToHexString(got, i * width, width)}");
            }
        }
    }

    public static TheoryData<int> Lengths() => [.. Enumerable.Range(0, 2 * 16 + 5), 63, 64, 65, 8191, 8192, 8193, 20000];

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Vector_and_scalar_paths_agree_for_every_length_and_leave_the_rest_untouched(int length)
    {
        var rng = new Random(length);
        float[] src = Enumerable.Range(0, length).Select(_ => BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32))).ToArray();
        ushort[] a = Enumerable.Repeat((ushort)0xABCD, length + 3).ToArray();
        ushort[] b = (ushort[])a.Clone();
        CastKernels.SingleToHalf(src, a);
        CastKernels.SingleToHalfScalar(src, b);
        Assert.Equal(b, a);
        CastKernels.SingleToBFloat16(src, a);
        CastKernels.SingleToBFloat16Scalar(src, b);
        Assert.Equal(b, a);
        Assert.All(a[length..], x => Assert.Equal(0xABCD, x));

        ushort[] h = a[..length];
        var fa = new float[length];
        var fb = new float[length];
        CastKernels.BFloat16ToSingle(h, fa);
        CastKernels.BFloat16ToSingleScalar(h, fb);
        Assert.Equal(MemoryMarshal.Cast<float, uint>(fb).ToArray(), MemoryMarshal.Cast<float, uint>(fa).ToArray());
        CastKernels.HalfToSingle(h, fa);
        CastKernels.HalfToSingleScalar(h, fb);
        Assert.Equal(MemoryMarshal.Cast<float, uint>(fb).ToArray(), MemoryMarshal.Cast<float, uint>(fa).ToArray());

        double[] d = src.Select(x => (double)x * 1.0000001).ToArray();
        CastKernels.DoubleToSingle(d, fa);
        CastKernels.DoubleToSingleScalar(d, fb);
        Assert.Equal(MemoryMarshal.Cast<float, uint>(fb).ToArray(), MemoryMarshal.Cast<float, uint>(fa).ToArray());
    }

    [Fact]
    public void Vector_kernels_equal_their_scalar_references_on_four_million_random_float32_patterns()
    {
        // The scalar references are checked against torch (above); this extends the vector paths to millions of
        // random bit patterns (every exponent, NaN payloads, subnormals) at the cost of a few milliseconds.
        const int n = 4 << 20;
        var rng = new Random(20261125);
        var bits = new uint[n];
        rng.NextBytes(MemoryMarshal.AsBytes(bits.AsSpan()));
        ReadOnlySpan<float> src = MemoryMarshal.Cast<uint, float>(bits);
        var vector = new ushort[n];
        var scalar = new ushort[n];
        CastKernels.SingleToHalf(src, vector);
        CastKernels.SingleToHalfScalar(src, scalar);
        Assert.True(vector.AsSpan().SequenceEqual(scalar), "F32->F16 vector and scalar differ");
        CastKernels.SingleToBFloat16(src, vector);
        CastKernels.SingleToBFloat16Scalar(src, scalar);
        Assert.True(vector.AsSpan().SequenceEqual(scalar), "F32->BF16 vector and scalar differ");
        var d = new double[n];
        var fv = new float[n];
        var fs = new float[n];
        for (int i = 0; i < n; i++)
        {
            d[i] = BitConverter.Int64BitsToDouble((long)(((ulong)bits[i] << 32) | bits[(i * 7) % n]));
        }

        CastKernels.DoubleToSingle(d, fv);
        CastKernels.DoubleToSingleScalar(d, fs);
        Assert.True(MemoryMarshal.Cast<float, uint>(fv.AsSpan()).SequenceEqual(MemoryMarshal.Cast<float, uint>(fs.AsSpan())), "F64->F32 vector and scalar differ");
    }

    [Fact]
    public void A_destination_shorter_than_the_source_is_refused() =>
        Assert.Throws<ArgumentException>(() => CastKernels.SingleToHalf(new float[4], new ushort[3]));

    [Property(MaxTest = 500)]
    public Property Widening_then_narrowing_returns_every_non_nan_half_and_bfloat16() =>
        Prop.ForAll(ArbMap.Default.GeneratorFor<ushort>().ArrayOf().ToArbitrary(), bits =>
        {
            ushort[] h = bits.Where(b => (b & 0x7FFF) <= 0x7C00).ToArray();
            var f = new float[h.Length];
            var back = new ushort[h.Length];
            CastKernels.HalfToSingle(h, f);
            CastKernels.SingleToHalf(f, back);
            bool half = h.SequenceEqual(back);
            ushort[] b = bits.Where(x => (x & 0x7FFF) <= 0x7F80).ToArray();
            f = new float[b.Length];
            back = new ushort[b.Length];
            CastKernels.BFloat16ToSingle(b, f);
            CastKernels.SingleToBFloat16(f, back);
            return half && b.SequenceEqual(back);
        });

    [Property(MaxTest = 500)]
    public Property Narrowing_is_monotonic_and_nan_stays_nan() =>
        Prop.ForAll(ArbMap.Default.GeneratorFor<float>().ArrayOf().ToArbitrary(), values =>
        {
            float[] sorted = values.Where(v => !float.IsNaN(v)).Order().ToArray();
            var h = new ushort[sorted.Length];
            CastKernels.SingleToHalf(sorted, h);
            var f = new float[h.Length];
            CastKernels.HalfToSingle(h, f);
            bool monotonic = f.Zip(f.Skip(1), (a, b) => a <= b || (a == 0 && b == 0)).All(x => x);
            var nan = new ushort[1];
            CastKernels.SingleToHalf([float.NaN], nan);
            return monotonic && Half.IsNaN(BitConverter.UInt16BitsToHalf(nan[0]));
        });
}
