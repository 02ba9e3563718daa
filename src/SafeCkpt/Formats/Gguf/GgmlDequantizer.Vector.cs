using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SafeCkpt.Formats.Gguf;

internal static partial class GgmlDequantizer
{
    // The vector paths: one block per step, its quants widened from bytes to uint lanes (zero- or sign-extended, in
    // element order), then the reference's float32 operations lane by lane in the reference's order: int → float
    // (exact), one multiply by the block's scale, then + min (Q4_1, Q5_1; a NaN product kept, see AddMin) or - min
    // (Q2_K, Q4_K, Q5_K). The scales are computed once per block exactly as the scalar code computes them (fp16 →
    // float32, times the integer sub-scale), so every lane equals the scalar element, NaN payloads included. Blocks
    // are whole, so there is no tail.

    /// <summary>Runs the vector path of <paramref name="type"/>; false for the types that have none.</summary>
    private static bool DequantizeVector(GgmlType type, ReadOnlySpan<byte> blocks, Span<float> destination, bool wide)
    {
        switch (type)
        {
            case GgmlType.Q8_0:
                Q8_0Vector(blocks, destination, wide);
                return true;
            case GgmlType.Q4_0:
                Nibbles32Vector(blocks, destination, wide, 18, 2, hasHighBits: false, hasMin: false);
                return true;
            case GgmlType.Q4_1:
                Nibbles32Vector(blocks, destination, wide, 20, 4, hasHighBits: false, hasMin: true);
                return true;
            case GgmlType.Q5_0:
                Nibbles32Vector(blocks, destination, wide, 22, 6, hasHighBits: true, hasMin: false);
                return true;
            case GgmlType.Q5_1:
                Nibbles32Vector(blocks, destination, wide, 24, 8, hasHighBits: true, hasMin: true);
                return true;
            case GgmlType.Q2_K:
                Q23_KVector(blocks, destination, wide, q3: false);
                return true;
            case GgmlType.Q3_K:
                Q23_KVector(blocks, destination, wide, q3: true);
                return true;
            case GgmlType.Q4_K:
                QxKVector(blocks, destination, wide, 144, 16, hasHighBits: false);
                return true;
            case GgmlType.Q5_K:
                QxKVector(blocks, destination, wide, 176, 48, hasHighBits: true);
                return true;
            case GgmlType.Q6_K:
                Q6_KVector(blocks, destination, wide);
                return true;
            default:
                return false;
        }
    }

    // ---------------------------------------------------------------- Q8_0: y[j] = float(qs[j]) * d

    private static void Q8_0Vector(ReadOnlySpan<byte> blocks, Span<float> destination, bool wide)
    {
        ref float y = ref MemoryMarshal.GetReference(destination);
        int count = blocks.Length / 34;
        for (int b = 0; b < count; b++)
        {
            ReadOnlySpan<byte> x = blocks.Slice(b * 34, 34);
            ref sbyte qs = ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref MemoryMarshal.GetReference(x), 2));
            ref float o = ref Unsafe.Add(ref y, b * 32);
            float d = Half(x, 0);
            if (wide)
            {
                // Lanes: elements 0-7, 8-15 from qs[0..16), 16-23, 24-31 from qs[16..32), sign-extended.
                var vd = Vector256.Create(d);
                for (int h = 0; h < 32; h += 16)
                {
                    (Vector256<int> a, Vector256<int> c) = SignedLanes256(ref Unsafe.Add(ref qs, h));
                    (Vector256.ConvertToSingle(a) * vd).StoreUnsafe(ref o, (nuint)h);
                    (Vector256.ConvertToSingle(c) * vd).StoreUnsafe(ref o, (nuint)(h + 8));
                }
            }
            else
            {
                // Lanes: four elements each, 0-3 to 28-31.
                var vd = Vector128.Create(d);
                for (int h = 0; h < 32; h += 16)
                {
                    (Vector128<short> s0, Vector128<short> s1) = Vector128.Widen(Vector128.LoadUnsafe(ref Unsafe.Add(ref qs, h)));
                    (Vector128<int> a, Vector128<int> c) = Vector128.Widen(s0);
                    (Vector128.ConvertToSingle(a) * vd).StoreUnsafe(ref o, (nuint)h);
                    (Vector128.ConvertToSingle(c) * vd).StoreUnsafe(ref o, (nuint)(h + 4));
                    (a, c) = Vector128.Widen(s1);
                    (Vector128.ConvertToSingle(a) * vd).StoreUnsafe(ref o, (nuint)(h + 8));
                    (Vector128.ConvertToSingle(c) * vd).StoreUnsafe(ref o, (nuint)(h + 12));
                }
            }
        }
    }

    // ------------------------------------------------- Q4_0, Q4_1, Q5_0, Q5_1: 32 elements from 16 nibble-pair bytes
    //   q[j] = qs[j] & 0xF, q[j + 16] = qs[j] >> 4 (j < 16); Q5_x: | 16 where bit j (j + 16) of qh is set
    //   Q4_0 / Q5_0: y = d * float(q - 8 / 16); Q4_1 / Q5_1: y = (d * float(q)) + m

    private static void Nibbles32Vector(ReadOnlySpan<byte> blocks, Span<float> destination, bool wide, int size, int qsAt, bool hasHighBits, bool hasMin)
    {
        ref float y = ref MemoryMarshal.GetReference(destination);
        int count = blocks.Length / size;
        int bias = hasMin ? 0 : hasHighBits ? 16 : 8;
        for (int b = 0; b < count; b++)
        {
            ReadOnlySpan<byte> x = blocks.Slice(b * size, size);
            ref byte qs = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), qsAt);
            ref float o = ref Unsafe.Add(ref y, b * 32);
            float d = Half(x, 0), m = hasMin ? Half(x, 2) : 0f;
            uint qh = hasHighBits ? Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref qs, -4)) : 0u;
            if (wide)
            {
                // Lanes: a = bytes 0-7, c = bytes 8-15; elements 0-7 = a & 0xF, 8-15 = c & 0xF, 16-23 = a >> 4,
                // 24-31 = c >> 4. Element e's fifth bit: qh & (1 << e), tested lane by lane against the mask 1 << e.
                var vd = Vector256.Create(d);
                var vm = Vector256.Create(m);
                var vqh = Vector256.Create(qh);
                Vector256<uint> bits = Vector256.Create(1u, 2u, 4u, 8u, 16u, 32u, 64u, 128u);
                (Vector256<uint> a, Vector256<uint> c) = UnsignedLanes256(ref qs);
                Affine(a & Vector256.Create(0xFu), 0, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
                Affine(c & Vector256.Create(0xFu), 8, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
                Affine(Vector256.ShiftRightLogical(a, 4), 16, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
                Affine(Vector256.ShiftRightLogical(c, 4), 24, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
            }
            else
            {
                // Lanes: u0-u3 = bytes 0-3, 4-7, 8-11, 12-15; elements 4k.. = u_k & 0xF, 16 + 4k.. = u_k >> 4.
                var vd = Vector128.Create(d);
                var vm = Vector128.Create(m);
                var vqh = Vector128.Create(qh);
                Vector128<uint> bits = Vector128.Create(1u, 2u, 4u, 8u);
                (Vector128<uint> u0, Vector128<uint> u1, Vector128<uint> u2, Vector128<uint> u3) = UnsignedLanes128(ref qs);
                Vector128<uint> low = Vector128.Create(0xFu);
                Affine(u0 & low, 0, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
                Affine(u1 & low, 4, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
                Affine(u2 & low, 8, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
                Affine(u3 & low, 12, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
                Affine(Vector128.ShiftRightLogical(u0, 4), 16, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
                Affine(Vector128.ShiftRightLogical(u1, 4), 20, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
                Affine(Vector128.ShiftRightLogical(u2, 4), 24, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
                Affine(Vector128.ShiftRightLogical(u3, 4), 28, ref o, vd, vm, vqh, bits, bias, hasHighBits, hasMin);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Affine(Vector256<uint> q, int at, ref float o, Vector256<float> d, Vector256<float> m, Vector256<uint> qh, Vector256<uint> bits, int bias, bool hasHighBits, bool hasMin)
    {
        if (hasHighBits)
        {
            Vector256<uint> mask = Vector256.ShiftLeft(bits, at);
            q |= Vector256.Equals(qh & mask, mask) & Vector256.Create(16u);
        }

        // + m as the scalar AddMin: a NaN product stays itself (v == v is false only there).
        Vector256<float> v = d * Vector256.ConvertToSingle(q.AsInt32() - Vector256.Create(bias));
        (hasMin ? Vector256.ConditionalSelect(Vector256.Equals(v, v), v + m, v) : v).StoreUnsafe(ref o, (nuint)at);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Affine(Vector128<uint> q, int at, ref float o, Vector128<float> d, Vector128<float> m, Vector128<uint> qh, Vector128<uint> bits, int bias, bool hasHighBits, bool hasMin)
    {
        if (hasHighBits)
        {
            Vector128<uint> mask = Vector128.ShiftLeft(bits, at);
            q |= Vector128.Equals(qh & mask, mask) & Vector128.Create(16u);
        }

        Vector128<float> v = d * Vector128.ConvertToSingle(q.AsInt32() - Vector128.Create(bias));
        (hasMin ? Vector128.ConditionalSelect(Vector128.Equals(v, v), v + m, v) : v).StoreUnsafe(ref o, (nuint)at);
    }

    // ------------------------------------------------------- Q4_K, Q5_K: y[32j + l] = (dl_j * float(q)) - ml_j
    //   sub-blocks 2i and 2i+1 share qs[32i..32i+32): low nibbles, then high nibbles; Q5_K: q |= 16 where bit j of
    //   qh[l] is set; dl_j, ml_j as the scalar computes them

    private static void QxKVector(ReadOnlySpan<byte> blocks, Span<float> destination, bool wide, int size, int qsAt, bool hasHighBits)
    {
        ref float y = ref MemoryMarshal.GetReference(destination);
        int count = blocks.Length / size;
        Span<int> sc = stackalloc int[8];
        Span<int> mn = stackalloc int[8];
        for (int b = 0; b < count; b++)
        {
            ReadOnlySpan<byte> x = blocks.Slice(b * size, size);
            ref byte qs = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), qsAt);
            ref byte qh = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), 16);
            ref float o = ref Unsafe.Add(ref y, b * 256);
            float d = Half(x, 0), dmin = Half(x, 2);
            ScaleMin(x.Slice(4, 12), sc, mn);
            for (int i = 0; i < 4; i++)
            {
                var k = new KPair(d * sc[2 * i], dmin * mn[2 * i], d * sc[(2 * i) + 1], dmin * mn[(2 * i) + 1], 2 * i, hasHighBits);
                ref byte q = ref Unsafe.Add(ref qs, 32 * i);
                ref float lo = ref Unsafe.Add(ref o, 64 * i);
                for (int h = 0; h < 32; h += 16)
                {
                    if (wide)
                    {
                        (Vector256<uint> a, Vector256<uint> c) = UnsignedLanes256(ref Unsafe.Add(ref q, h));
                        (Vector256<uint> ha, Vector256<uint> hc) = hasHighBits ? UnsignedLanes256(ref Unsafe.Add(ref qh, h)) : default;
                        k.Lanes(a, ha, ref lo, h);
                        k.Lanes(c, hc, ref lo, h + 8);
                    }
                    else
                    {
                        (Vector128<uint> u0, Vector128<uint> u1, Vector128<uint> u2, Vector128<uint> u3) = UnsignedLanes128(ref Unsafe.Add(ref q, h));
                        (Vector128<uint> h0, Vector128<uint> h1, Vector128<uint> h2, Vector128<uint> h3) = hasHighBits ? UnsignedLanes128(ref Unsafe.Add(ref qh, h)) : default;
                        k.Lanes(u0, h0, ref lo, h);
                        k.Lanes(u1, h1, ref lo, h + 4);
                        k.Lanes(u2, h2, ref lo, h + 8);
                        k.Lanes(u3, h3, ref lo, h + 12);
                    }
                }
            }
        }
    }

    /// <summary>The scales of sub-blocks j and j+1 of a Q4_K / Q5_K block, and their lanes.</summary>
    private readonly struct KPair(float dl0, float ml0, float dl1, float ml1, int j, bool hasHighBits)
    {
        // Lanes l..l+n of sub-block j (low nibbles of u, bit j of qh) at lo[l], of sub-block j+1 (high nibbles, bit
        // j+1) at lo[32 + l].
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Lanes(Vector256<uint> u, Vector256<uint> qh, ref float lo, int l)
        {
            Vector256<uint> q0 = u & Vector256.Create(0xFu), q1 = Vector256.ShiftRightLogical(u, 4);
            if (hasHighBits)
            {
                q0 |= Vector256.ShiftLeft(Vector256.ShiftRightLogical(qh, j) & Vector256<uint>.One, 4);
                q1 |= Vector256.ShiftLeft(Vector256.ShiftRightLogical(qh, j + 1) & Vector256<uint>.One, 4);
            }

            ((Vector256.Create(dl0) * Vector256.ConvertToSingle(q0.AsInt32())) - Vector256.Create(ml0)).StoreUnsafe(ref lo, (nuint)l);
            ((Vector256.Create(dl1) * Vector256.ConvertToSingle(q1.AsInt32())) - Vector256.Create(ml1)).StoreUnsafe(ref lo, (nuint)(32 + l));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Lanes(Vector128<uint> u, Vector128<uint> qh, ref float lo, int l)
        {
            Vector128<uint> q0 = u & Vector128.Create(0xFu), q1 = Vector128.ShiftRightLogical(u, 4);
            if (hasHighBits)
            {
                q0 |= Vector128.ShiftLeft(Vector128.ShiftRightLogical(qh, j) & Vector128<uint>.One, 4);
                q1 |= Vector128.ShiftLeft(Vector128.ShiftRightLogical(qh, j + 1) & Vector128<uint>.One, 4);
            }

            ((Vector128.Create(dl0) * Vector128.ConvertToSingle(q0.AsInt32())) - Vector128.Create(ml0)).StoreUnsafe(ref lo, (nuint)l);
            ((Vector128.Create(dl1) * Vector128.ConvertToSingle(q1.AsInt32())) - Vector128.Create(ml1)).StoreUnsafe(ref lo, (nuint)(32 + l));
        }
    }

    // ------------------------------------------------------- Q2_K, Q3_K: two bits of qs[32 half + l] per element
    //   e = 128 half + 32 s + l: q = (qs[32 half + l] >> 2s) & 3, scale k = e / 16 = 8 half + 2s + l / 16
    //   Q2_K: y = (dl_k * float(q)) - ml_k; Q3_K: y = dl_k * float((q | hbit << 2) - 4), hbit = bit e / 32 of hmask[l]

    private static void Q23_KVector(ReadOnlySpan<byte> blocks, Span<float> destination, bool wide, bool q3)
    {
        int size = q3 ? 110 : 84, qsAt = q3 ? 32 : 16;
        ref float y = ref MemoryMarshal.GetReference(destination);
        int count = blocks.Length / size;
        Span<float> dl = stackalloc float[16];
        Span<float> ml = stackalloc float[16];
        for (int b = 0; b < count; b++)
        {
            ReadOnlySpan<byte> x = blocks.Slice(b * size, size);
            ref byte qs = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), qsAt);
            ref byte hmask = ref MemoryMarshal.GetReference(x);
            ref float o = ref Unsafe.Add(ref y, b * 256);
            if (q3)
            {
                ReadOnlySpan<byte> scales = x.Slice(96, 12);
                float d = Half(x, 108);
                for (int k = 0; k < 16; k++)
                {
                    int low = (scales[k % 8] >> (4 * (k / 8))) & 0xF;
                    int high = (scales[8 + (k % 4)] >> (2 * (k / 4))) & 3;
                    dl[k] = d * ((low | (high << 4)) - 32);
                }
            }
            else
            {
                float d = Half(x, 80), dmin = Half(x, 82);
                for (int k = 0; k < 16; k++)
                {
                    dl[k] = d * (x[k] & 0xF);
                    ml[k] = dmin * (x[k] >> 4);
                }
            }

            for (int half = 0; half < 2; half++)
            {
                ref byte q = ref Unsafe.Add(ref qs, 32 * half);
                for (int l = 0; l < 32; l += 16)
                {
                    if (wide)
                    {
                        (Vector256<uint> a, Vector256<uint> c) = UnsignedLanes256(ref Unsafe.Add(ref q, l));
                        (Vector256<uint> ha, Vector256<uint> hc) = q3 ? UnsignedLanes256(ref Unsafe.Add(ref hmask, l)) : default;
                        for (int s = 0; s < 4; s++)
                        {
                            int e = (128 * half) + (32 * s) + l, k = e >> 4;
                            Q23_KLanes(a, ha, s, 4 * half + s, dl[k], ml[k], q3, ref o, e);
                            Q23_KLanes(c, hc, s, 4 * half + s, dl[k], ml[k], q3, ref o, e + 8);
                        }
                    }
                    else
                    {
                        (Vector128<uint> u0, Vector128<uint> u1, Vector128<uint> u2, Vector128<uint> u3) = UnsignedLanes128(ref Unsafe.Add(ref q, l));
                        (Vector128<uint> h0, Vector128<uint> h1, Vector128<uint> h2, Vector128<uint> h3) = q3 ? UnsignedLanes128(ref Unsafe.Add(ref hmask, l)) : default;
                        for (int s = 0; s < 4; s++)
                        {
                            int e = (128 * half) + (32 * s) + l, k = e >> 4;
                            Q23_KLanes(u0, h0, s, 4 * half + s, dl[k], ml[k], q3, ref o, e);
                            Q23_KLanes(u1, h1, s, 4 * half + s, dl[k], ml[k], q3, ref o, e + 4);
                            Q23_KLanes(u2, h2, s, 4 * half + s, dl[k], ml[k], q3, ref o, e + 8);
                            Q23_KLanes(u3, h3, s, 4 * half + s, dl[k], ml[k], q3, ref o, e + 12);
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q23_KLanes(Vector256<uint> qs, Vector256<uint> hmask, int s, int hbit, float dl, float ml, bool q3, ref float o, int at)
    {
        Vector256<uint> q = Vector256.ShiftRightLogical(qs, 2 * s) & Vector256.Create(3u);
        if (q3)
        {
            q |= Vector256.ShiftLeft(Vector256.ShiftRightLogical(hmask, hbit) & Vector256<uint>.One, 2);
            (Vector256.Create(dl) * Vector256.ConvertToSingle(q.AsInt32() - Vector256.Create(4))).StoreUnsafe(ref o, (nuint)at);
        }
        else
        {
            ((Vector256.Create(dl) * Vector256.ConvertToSingle(q.AsInt32())) - Vector256.Create(ml)).StoreUnsafe(ref o, (nuint)at);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q23_KLanes(Vector128<uint> qs, Vector128<uint> hmask, int s, int hbit, float dl, float ml, bool q3, ref float o, int at)
    {
        Vector128<uint> q = Vector128.ShiftRightLogical(qs, 2 * s) & Vector128.Create(3u);
        if (q3)
        {
            q |= Vector128.ShiftLeft(Vector128.ShiftRightLogical(hmask, hbit) & Vector128<uint>.One, 2);
            (Vector128.Create(dl) * Vector128.ConvertToSingle(q.AsInt32() - Vector128.Create(4))).StoreUnsafe(ref o, (nuint)at);
        }
        else
        {
            ((Vector128.Create(dl) * Vector128.ConvertToSingle(q.AsInt32())) - Vector128.Create(ml)).StoreUnsafe(ref o, (nuint)at);
        }
    }

    // ---------------------------------------------------------------- Q6_K: y[e] = dl[e / 16] * float(q - 32)
    //   per half (128 elements) and l < 32, with A = ql[64h + l], B = ql[64h + 32 + l], H = qh[32h + l]:
    //   r = l: (A & 0xF) | (H & 3) << 4; r = 32 + l: (B & 0xF) | (H >> 2 & 3) << 4;
    //   r = 64 + l: (A >> 4) | (H >> 4 & 3) << 4; r = 96 + l: (B >> 4) | (H >> 6) << 4

    private static void Q6_KVector(ReadOnlySpan<byte> blocks, Span<float> destination, bool wide)
    {
        ref float y = ref MemoryMarshal.GetReference(destination);
        int count = blocks.Length / 210;
        Span<float> dl = stackalloc float[16];
        for (int b = 0; b < count; b++)
        {
            ReadOnlySpan<byte> x = blocks.Slice(b * 210, 210);
            ref byte ql = ref MemoryMarshal.GetReference(x);
            ref float o = ref Unsafe.Add(ref y, b * 256);
            float d = Half(x, 208);
            for (int k = 0; k < 16; k++)
            {
                dl[k] = d * (sbyte)x[192 + k];
            }

            for (int half = 0; half < 2; half++)
            {
                ref byte qa = ref Unsafe.Add(ref ql, 64 * half);
                ref byte qb = ref Unsafe.Add(ref qa, 32);
                ref byte qh = ref Unsafe.Add(ref ql, 128 + (32 * half));
                ref float oh = ref Unsafe.Add(ref o, 128 * half);
                int s = 8 * half;
                if (wide)
                {
                    for (int h = 0; h < 32; h += 16)
                    {
                        (Vector256<uint> a0, Vector256<uint> a1) = UnsignedLanes256(ref Unsafe.Add(ref qa, h));
                        (Vector256<uint> b0, Vector256<uint> b1) = UnsignedLanes256(ref Unsafe.Add(ref qb, h));
                        (Vector256<uint> h0, Vector256<uint> h1) = UnsignedLanes256(ref Unsafe.Add(ref qh, h));
                        Q6_KLanes(a0, b0, h0, ref oh, h, dl, s + (h >> 4));
                        Q6_KLanes(a1, b1, h1, ref oh, h + 8, dl, s + (h >> 4));
                    }
                }
                else
                {
                    for (int h = 0; h < 32; h += 16)
                    {
                        (Vector128<uint> a0, Vector128<uint> a1, Vector128<uint> a2, Vector128<uint> a3) = UnsignedLanes128(ref Unsafe.Add(ref qa, h));
                        (Vector128<uint> b0, Vector128<uint> b1, Vector128<uint> b2, Vector128<uint> b3) = UnsignedLanes128(ref Unsafe.Add(ref qb, h));
                        (Vector128<uint> h0, Vector128<uint> h1, Vector128<uint> h2, Vector128<uint> h3) = UnsignedLanes128(ref Unsafe.Add(ref qh, h));
                        Q6_KLanes(a0, b0, h0, ref oh, h, dl, s + (h >> 4));
                        Q6_KLanes(a1, b1, h1, ref oh, h + 4, dl, s + (h >> 4));
                        Q6_KLanes(a2, b2, h2, ref oh, h + 8, dl, s + (h >> 4));
                        Q6_KLanes(a3, b3, h3, ref oh, h + 12, dl, s + (h >> 4));
                    }
                }
            }
        }
    }

    // One lane group at offset l of a half: its four outputs r = l, 32 + l, 64 + l, 96 + l, scale index s + 2r/32 (s
    // = the half's first scale plus l / 16).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6_KLanes(Vector256<uint> a, Vector256<uint> b, Vector256<uint> h, ref float o, int l, ReadOnlySpan<float> dl, int s)
    {
        Vector256<uint> low = Vector256.Create(0xFu), two = Vector256.Create(3u);
        Q6_KStore(a & low | Vector256.ShiftLeft(h & two, 4), ref o, l, dl[s]);
        Q6_KStore(b & low | Vector256.ShiftLeft(Vector256.ShiftRightLogical(h, 2) & two, 4), ref o, 32 + l, dl[s + 2]);
        Q6_KStore(Vector256.ShiftRightLogical(a, 4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(h, 4) & two, 4), ref o, 64 + l, dl[s + 4]);
        Q6_KStore(Vector256.ShiftRightLogical(b, 4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(h, 6), 4), ref o, 96 + l, dl[s + 6]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6_KLanes(Vector128<uint> a, Vector128<uint> b, Vector128<uint> h, ref float o, int l, ReadOnlySpan<float> dl, int s)
    {
        Vector128<uint> low = Vector128.Create(0xFu), two = Vector128.Create(3u);
        Q6_KStore(a & low | Vector128.ShiftLeft(h & two, 4), ref o, l, dl[s]);
        Q6_KStore(b & low | Vector128.ShiftLeft(Vector128.ShiftRightLogical(h, 2) & two, 4), ref o, 32 + l, dl[s + 2]);
        Q6_KStore(Vector128.ShiftRightLogical(a, 4) | Vector128.ShiftLeft(Vector128.ShiftRightLogical(h, 4) & two, 4), ref o, 64 + l, dl[s + 4]);
        Q6_KStore(Vector128.ShiftRightLogical(b, 4) | Vector128.ShiftLeft(Vector128.ShiftRightLogical(h, 6), 4), ref o, 96 + l, dl[s + 6]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6_KStore(Vector256<uint> q, ref float o, int at, float dl) =>
        (Vector256.Create(dl) * Vector256.ConvertToSingle(q.AsInt32() - Vector256.Create(32))).StoreUnsafe(ref o, (nuint)at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6_KStore(Vector128<uint> q, ref float o, int at, float dl) =>
        (Vector128.Create(dl) * Vector128.ConvertToSingle(q.AsInt32() - Vector128.Create(32))).StoreUnsafe(ref o, (nuint)at);

    // ---------------------------------------------------------------- widening 16 bytes

    /// <summary>16 bytes zero-extended: lanes 0-7 and 8-15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<uint> Lower, Vector256<uint> Upper) UnsignedLanes256(ref byte p)
    {
        Vector256<ushort> w = Vector256.WidenLower(Vector128.LoadUnsafe(ref p).ToVector256Unsafe());
        return (Vector256.WidenLower(w), Vector256.WidenUpper(w));
    }

    /// <summary>16 bytes sign-extended: lanes 0-7 and 8-15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<int> Lower, Vector256<int> Upper) SignedLanes256(ref sbyte p)
    {
        Vector256<short> w = Vector256.WidenLower(Vector128.LoadUnsafe(ref p).ToVector256Unsafe());
        return (Vector256.WidenLower(w), Vector256.WidenUpper(w));
    }

    /// <summary>16 bytes zero-extended: lanes 0-3, 4-7, 8-11, 12-15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<uint>, Vector128<uint>, Vector128<uint>, Vector128<uint>) UnsignedLanes128(ref byte p)
    {
        (Vector128<ushort> lo, Vector128<ushort> hi) = Vector128.Widen(Vector128.LoadUnsafe(ref p));
        return (Vector128.WidenLower(lo), Vector128.WidenUpper(lo), Vector128.WidenLower(hi), Vector128.WidenUpper(hi));
    }
}
