using System.Buffers.Binary;
using SafeCkpt.Numerics;

namespace SafeCkpt.Formats.Gguf;

/// <summary>
/// ggml's <c>dequantize_row_*</c> in float32, one rounding per operation and in the reference's order (no fused
/// multiply-add), so the values equal gguf-py's <c>gguf.quants.dequantize</c> bit for bit. Block layouts
/// (<c>ggml-common.h</c>; <c>half</c> = IEEE fp16 little-endian, byte-packed):
/// <list type="bullet">
/// <item>Q8_0 (34 B): d, qs[32] int8.</item>
/// <item>Q4_0 (18 B): d, qs[16] (element j = low nibble of qs[j], element j+16 = its high nibble).</item>
/// <item>Q4_1 (20 B): d, m, qs[16]. Q5_0 (22 B): d, qh u32, qs[16]. Q5_1 (24 B): d, m, qh u32, qs[16].</item>
/// <item>Q2_K (84 B): scales[16], qs[64], d, dmin. Q3_K (110 B): hmask[32], qs[64], scales[12], d.</item>
/// <item>Q4_K (144 B): d, dmin, scales[12], qs[128]. Q5_K (176 B): d, dmin, scales[12], qh[32], qs[128].</item>
/// <item>Q6_K (210 B): ql[128], qh[64], scales[16] int8, d.</item>
/// </list>
/// </summary>
/// <remarks>
/// The per-block functions in this file are the scalar reference. Every type also has Vector256 and Vector128 paths
/// (GgmlDequantizer.Vector.cs) that compute the same operations in the same order on whole blocks, so every tier
/// gives the same bits; the tier is <see cref="CastKernels.Tier"/>, as for the cast kernels (tests and benchmarks
/// lower it in-process, <c>DOTNET_EnableAVX2=0</c> / <c>DOTNET_EnableHWIntrinsic=0</c> lower the hardware's).
/// </remarks>
internal static partial class GgmlDequantizer
{
    /// <summary>Dequantizes whole blocks of <paramref name="type"/> into <paramref name="destination"/> (block elements per block).</summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> blocks, Span<float> destination) =>
        Dequantize(type, blocks, destination, CastKernels.Tier);

    /// <summary>Dequantizes on <paramref name="tier"/> (the same bits on every tier).</summary>
    internal static void Dequantize(GgmlType type, ReadOnlySpan<byte> blocks, Span<float> destination, VectorTier tier)
    {
        if (!GgmlTypes.TryGetBlock((uint)type, out int n, out int size) || !GgmlTypes.CanDequantize(type))
        {
            throw new ArgumentOutOfRangeException(nameof(type), $"ggml type {GgmlTypes.Name(type)} has no dequantizer.");
        }

        int count = blocks.Length / size;
        if (blocks.Length % size != 0 || destination.Length < count * n)
        {
            throw new ArgumentException($"{blocks.Length} bytes are not whole {GgmlTypes.Name(type)} blocks, or the destination holds fewer than {count * n} values.", nameof(blocks));
        }

        if (tier >= VectorTier.Vector128 && DequantizeVector(type, blocks, destination[..(count * n)], tier == VectorTier.Vector256))
        {
            return;
        }

        DequantizeScalar(type, blocks, destination);
    }

    /// <summary>The scalar reference for <see cref="Dequantize(GgmlType, ReadOnlySpan{byte}, Span{float})"/> (arguments checked there).</summary>
    internal static void DequantizeScalar(GgmlType type, ReadOnlySpan<byte> blocks, Span<float> destination)
    {
        GgmlTypes.TryGetBlock((uint)type, out int n, out int size);
        int count = blocks.Length / size;
        for (int b = 0; b < count; b++)
        {
            ReadOnlySpan<byte> x = blocks.Slice(b * size, size);
            Span<float> y = destination.Slice(b * n, n);
            switch (type)
            {
                case GgmlType.Q8_0: Q8_0(x, y); break;
                case GgmlType.Q4_0: Q4_0(x, y); break;
                case GgmlType.Q4_1: Q4_1(x, y); break;
                case GgmlType.Q5_0: Q5_0(x, y); break;
                case GgmlType.Q5_1: Q5_1(x, y); break;
                case GgmlType.Q2_K: Q2_K(x, y); break;
                case GgmlType.Q3_K: Q3_K(x, y); break;
                case GgmlType.Q4_K: Q4_K(x, y); break;
                case GgmlType.Q5_K: Q5_K(x, y); break;
                default: Q6_K(x, y); break;
            }
        }
    }

    private static float Half(ReadOnlySpan<byte> x, int at) => (float)BinaryPrimitives.ReadHalfLittleEndian(x[at..]);

    private static void Q8_0(ReadOnlySpan<byte> x, Span<float> y)
    {
        float d = Half(x, 0);
        for (int j = 0; j < 32; j++)
        {
            y[j] = (sbyte)x[2 + j] * d;
        }
    }

    private static void Q4_0(ReadOnlySpan<byte> x, Span<float> y)
    {
        float d = Half(x, 0);
        for (int j = 0; j < 16; j++)
        {
            y[j] = d * ((x[2 + j] & 0xF) - 8);
            y[j + 16] = d * ((x[2 + j] >> 4) - 8);
        }
    }

    // t + m, and t itself when t is NaN: the payload of the first operand, as x86 and Arm return it for t + m when
    // both are NaN. Written out because the JIT may swap the operands of a commutative add, and then the two NaN
    // scales of a block would give the min's payload on one path and the scale's on another.
    private static float AddMin(float t, float m) => float.IsNaN(t) ? t : t + m;

    private static void Q4_1(ReadOnlySpan<byte> x, Span<float> y)
    {
        float d = Half(x, 0), m = Half(x, 2);
        for (int j = 0; j < 16; j++)
        {
            y[j] = AddMin(d * (x[4 + j] & 0xF), m);
            y[j + 16] = AddMin(d * (x[4 + j] >> 4), m);
        }
    }

    private static void Q5_0(ReadOnlySpan<byte> x, Span<float> y)
    {
        float d = Half(x, 0);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(x[2..]);
        for (int j = 0; j < 16; j++)
        {
            y[j] = d * (((x[6 + j] & 0xF) | (int)(((qh >> j) & 1) << 4)) - 16);
            y[j + 16] = d * (((x[6 + j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16);
        }
    }

    private static void Q5_1(ReadOnlySpan<byte> x, Span<float> y)
    {
        float d = Half(x, 0), m = Half(x, 2);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(x[4..]);
        for (int j = 0; j < 16; j++)
        {
            y[j] = AddMin(d * ((x[8 + j] & 0xF) | (int)(((qh >> j) & 1) << 4)), m);
            y[j + 16] = AddMin(d * ((x[8 + j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)), m);
        }
    }

    // Q2_K: element e = half*128 + shift*32 + l takes bits 2*shift of qs[half*32 + l]; group e/16 picks the scale byte.
    private static void Q2_K(ReadOnlySpan<byte> x, Span<float> y)
    {
        float d = Half(x, 80), dmin = Half(x, 82);
        for (int e = 0; e < 256; e++)
        {
            int half = e >> 7, s = (e >> 5) & 3, l = e & 31;
            byte sc = x[e >> 4];
            float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            int q = (x[16 + (half * 32) + l] >> (2 * s)) & 3;
            y[e] = (dl * q) - ml;
        }
    }

    // Q3_K: 16 six-bit scales (low 4 bits in bytes 0-7, high 2 bits in bytes 8-11); element e's high bit is bit e/32 of hmask[e%32].
    private static void Q3_K(ReadOnlySpan<byte> x, Span<float> y)
    {
        ReadOnlySpan<byte> scales = x.Slice(96, 12);
        float d = Half(x, 108);
        Span<float> dl = stackalloc float[16];
        for (int k = 0; k < 16; k++)
        {
            int low = (scales[k % 8] >> (4 * (k / 8))) & 0xF;
            int high = (scales[8 + (k % 4)] >> (2 * (k / 4))) & 3;
            dl[k] = d * ((low | (high << 4)) - 32);
        }

        for (int e = 0; e < 256; e++)
        {
            int half = e >> 7, s = (e >> 5) & 3, l = e & 31;
            int ql = (x[32 + (half * 32) + l] >> (2 * s)) & 3;
            int hbit = (x[l] >> (e >> 5)) & 1;
            y[e] = dl[e >> 4] * (ql - ((hbit ^ 1) << 2));
        }
    }

    // get_scale_min_k4: eight six-bit scales and mins packed in 12 bytes.
    private static void ScaleMin(ReadOnlySpan<byte> s, Span<int> sc, Span<int> m)
    {
        for (int i = 0; i < 4; i++)
        {
            sc[i] = s[i] & 0x3F;
            m[i] = s[4 + i] & 0x3F;
            sc[4 + i] = (s[8 + i] & 0x0F) | ((s[i] >> 2) & 0x30);
            m[4 + i] = (s[8 + i] >> 4) | ((s[4 + i] >> 2) & 0x30);
        }
    }

    // Q4_K / Q5_K: sub-block j = element / 32 takes nibble (j % 2) of qs[(j / 2) * 32 + l]; Q5_K adds bit j of qh[l] as 16.
    private static void Q4_K(ReadOnlySpan<byte> x, Span<float> y) => QxK(x, y, x.Slice(16, 128), default);

    private static void Q5_K(ReadOnlySpan<byte> x, Span<float> y) => QxK(x, y, x.Slice(48, 128), x.Slice(16, 32));

    private static void QxK(ReadOnlySpan<byte> x, Span<float> y, ReadOnlySpan<byte> qs, ReadOnlySpan<byte> qh)
    {
        float d = Half(x, 0), dmin = Half(x, 2);
        Span<int> sc = stackalloc int[8];
        Span<int> m = stackalloc int[8];
        ScaleMin(x.Slice(4, 12), sc, m);
        for (int j = 0; j < 8; j++)
        {
            float dl = d * sc[j], ml = dmin * m[j];
            for (int l = 0; l < 32; l++)
            {
                int q = (qs[((j >> 1) * 32) + l] >> (4 * (j & 1))) & 0xF;
                if (!qh.IsEmpty)
                {
                    q |= ((qh[l] >> j) & 1) << 4;
                }

                y[(j * 32) + l] = (dl * q) - ml;
            }
        }
    }

    // Q6_K: element e = half*128 + h*64 + m: low 4 bits = nibble h of ql[half*64 + m]; high 2 bits = bits 2*(e%128/32) of qh[half*32 + e%32].
    private static void Q6_K(ReadOnlySpan<byte> x, Span<float> y)
    {
        float d = Half(x, 208);
        for (int e = 0; e < 256; e++)
        {
            int half = e >> 7, r = e & 127;
            int low = (x[(half * 64) + (r & 63)] >> (4 * (r >> 6))) & 0xF;
            int high = (x[128 + (half * 32) + (r & 31)] >> (2 * (r >> 5))) & 3;
            float dl = d * (sbyte)x[192 + (e >> 4)];
            y[e] = dl * ((low | (high << 4)) - 32);
        }
    }
}
