"""Ground truth for SafeCkpt's fp8 kernels: PyTorch's float8 rules, written out independently (torch 1.13 has no fp8).

    /usr/bin/python3 tests/SafeCkpt.Tests/Fixtures/make_fp8_fixtures.py

The rules (research/formats.md, "fp8", transcribed from c10's Float8_e4m3fn.h / Float8_e5m2.h) are applied here by
exact arithmetic, not by imitating c10's bit tricks: a source value is widened exactly to float64 (float64 sources are
first rounded to float32, as c10 does), its binade found with frexp, divided by the format's ulp there (a power of
two, so exact), rounded to the nearest integer with ties to even (numpy.rint), and looked up in the table of the
format's values. Then:
  e4m3fn (float8_e4m3fn, F8_E4M3): no infinity; NaN, +-Inf and anything rounding above 448 become 0x7F | sign (NaN).
  e5m2   (float8_e5m2,  F8_E5M2): NaN -> 0x7F | sign; +-Inf and anything rounding above 57344 -> 0x7C | sign (Inf).
  The sign bit is always copied (-0 -> 0x80, a negative value rounding to zero -> 0x80).
  "saturating" (ComfyUI's scaled fp8: torch.clamp(x, -max, max) before the cast): |x| is clamped to the largest
  finite value first, NaN stays NaN.
Decoding: e4m3fn NaN -> float32 0x7FF00000 | sign (c10); e5m2 is the top byte of an IEEE half, widened (NaNs quietened);
to float16 through float32 (NaN -> 0x7E00 | sign); to bfloat16 through float32 (NaN -> 0x7FC0).

Writes Fixtures/casts/fp8_reference.safetensors.gz: a safetensors file (written by hand from the spec), gzip'd, with
  f16_all, bf16_all                       the 65,536 patterns (U16) and, for each, their fp8 bytes (U8):
  {f16,bf16}_all_to_{e4m3fn,e5m2}[_sat]   plain and saturating casts
  f32_lows (U16)                          the low 16 bits paired with every one of the 65,536 high halves: the float32
                                          set is [hi << 16 | lo for hi in 0..65535 for lo in f32_lows] (10,485,760)
  f32_to_{e4m3fn,e5m2}[_sat]_sha256       per block of 128 high halves (one sign+exponent, 20,480 values, 512
                                          blocks): the first 8 bytes of SHA-256 of the block's output bytes
  f32_special, f32_special_to_*           hand-checked values (research/formats.md) and their bytes, in full
  f64_src, f64_src_to_{e4m3fn,e5m2}       float64 patterns (specials, rounding edges, random) and their bytes
  decode_{e4m3fn,e5m2}_to_{f32,f16,bf16}  the 256 codes decoded (U32/U16 bit patterns)
Deterministic; needs numpy only."""
import gzip, hashlib, io, json, os, struct
import numpy as np

FORMATS = {
    # name: (mantissa bits, smallest normal exponent, largest finite value, has infinity)
    "e4m3fn": (3, -6, 448.0, False),
    "e5m2": (2, -14, 57344.0, True),
}


def values_of(fmt):
    """The value of every code 0..255 of the format, from its definition (NaN where the code is NaN)."""
    m, emin, _, ieee = FORMATS[fmt]
    ebits = 7 - m
    bias = 1 - emin
    out = np.zeros(256)
    for b in range(256):
        s, e, f = b >> 7, (b >> m) & ((1 << ebits) - 1), b & ((1 << m) - 1)
        if ieee and e == (1 << ebits) - 1:
            v = np.inf if f == 0 else np.nan
        elif not ieee and e == (1 << ebits) - 1 and f == (1 << m) - 1:
            v = np.nan
        elif e == 0:
            v = f * 2.0 ** (1 - bias - m)
        else:
            v = (1 + f / 2 ** m) * 2.0 ** (e - bias)
        out[b] = -v if s else v
    return out


def encode(x, negative, fmt, saturate):
    """Exact values x (float64, sign included) with their sign bits -> fp8 codes under torch's rules."""
    m, emin, vmax, ieee = FORMATS[fmt]
    table = values_of(fmt)
    positive = table[:0x80]
    finite = np.where(np.isfinite(positive))[0]
    grid, codes = positive[finite], finite.astype(np.uint8)  # ascending
    a = np.abs(x)
    nan = np.isnan(a)
    if saturate:
        a = np.where(nan, a, np.minimum(a, vmax))
    inf = np.isinf(a)
    safe = np.where(nan | inf | (a == 0), 1.0, a)
    _, E = np.frexp(safe)                      # safe = f * 2**E, f in [0.5, 1)
    e = np.maximum(E - 1, emin)                # the binade (subnormals share the smallest normal's ulp)
    ulp = np.ldexp(1.0, e - m)
    v = np.rint(safe / ulp) * ulp              # exact: ulp is a power of two; rint rounds half to even
    v = np.where(a == 0, 0.0, v)
    over = ~nan & ~inf & (v > vmax)
    idx = np.clip(np.searchsorted(grid, np.where(over | nan | inf, 0.0, v)), 0, len(grid) - 1)
    assert np.all((grid[idx] == v) | over | nan | inf), "a rounded value is not on the grid"
    code = codes[idx]
    overflow_code = 0x7C if ieee else 0x7F
    code = np.where(over | inf, overflow_code, code)
    code = np.where(nan, 0x7F, code)
    return (code | np.where(negative, 0x80, 0)).astype(np.uint8)


def f32_bits_values(bits):
    bits = np.asarray(bits, dtype=np.uint32)
    with np.errstate(invalid="ignore"):
        return bits.view(np.float32).astype(np.float64), (bits >> 31).astype(bool)


def f16_values(bits):
    bits = np.asarray(bits, dtype=np.uint16)
    return bits.view(np.float16).astype(np.float64), (bits >> 15).astype(bool)


def bf16_values(bits):
    return f32_bits_values(np.asarray(bits, dtype=np.uint32) << 16)


def f64_values(bits):
    bits = np.asarray(bits, dtype=np.uint64)
    with np.errstate(over="ignore", invalid="ignore"):
        f = bits.view(np.float64).astype(np.float32)  # c10 rounds double to float first (RNE, overflow to inf)
    return f.astype(np.float64), (bits >> 63).astype(bool)


def decode(fmt):
    """The 256 codes -> (float32 bits, float16 bits, bfloat16 bits) as torch gives them."""
    v = values_of(fmt)
    sign = (np.arange(256) >> 7).astype(np.uint32)
    with np.errstate(invalid="ignore"):
        f32 = v.astype(np.float32).view(np.uint32).copy()
    nan = np.isnan(v)
    if fmt == "e4m3fn":
        f32 = np.where(nan, 0x7FF00000 | (sign << 31), f32)
    else:
        h = np.arange(256, dtype=np.uint32) << 8
        f32 = np.where(nan, (sign << 31) | 0x7F800000 | ((h & 0x3FF) << 13) | 0x400000, f32)
    f32 = f32.astype(np.uint32)
    f16 = np.where(nan, 0x7E00 | (sign << 15), v.astype(np.float16).view(np.uint16)).astype(np.uint16)
    bf16 = np.where(nan, 0x7FC0, f32 >> 16).astype(np.uint16)
    assert np.all(nan | (f32.view(np.float32).astype(np.float64) == v))
    return f32, f16, bf16


# Hand-checked values (research/formats.md, "Rules for SafeCkpt"): (float32 value, e4m3fn, e5m2).
def f(x): return np.float32(x)
def after(x): return np.nextafter(np.float32(x), np.float32(np.inf))
def before(x): return np.nextafter(np.float32(x), np.float32(-np.inf))
SPECIAL = [
    (f(448), 0x7E, 0x5F), (f(464), 0x7E, 0x5F), (after(464), 0x7F, 0x5F), (f(480), 0x7F, 0x60), (f(np.inf), 0x7F, 0x7C),
    (f(-np.inf), 0xFF, 0xFC), (f(np.nan), 0x7F, 0x7F), (f(0.0), 0x00, 0x00), (f(-0.0), 0x80, 0x80),
    (f(2.0 ** -10), 0x00, 0x14), (f(3 * 2.0 ** -10), 0x02, 0x1A), (f(15 * 2.0 ** -10), 0x08, 0x24), (f(1e-9), 0x00, 0x00),
    (f(-1e-9), 0x80, 0x80), (f(57344), 0x7F, 0x7B), (before(61440), 0x7F, 0x7B), (f(61440), 0x7F, 0x7C),
    (f(65536), 0x7F, 0x7C), (f(2.0 ** -17), 0x00, 0x00), (after(2.0 ** -17), 0x00, 0x01), (f(1.0), 0x38, 0x3C),
    (f(-2.0), 0xC0, 0xC0), (f(2.0 ** -9), 0x01, 0x18), (f(2.0 ** -16), 0x00, 0x01), (f(1.0625), 0x38, 0x3C),
    (after(1.0625), 0x39, 0x3C), (f(1.1875), 0x3A, 0x3D), (f(3.4e38), 0x7F, 0x7C),
]


def main():
    np.seterr(invalid="ignore")
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "casts", "fp8_reference.safetensors.gz")
    arrays = {}

    sv, sn = f32_bits_values(np.array([s[0] for s in SPECIAL], dtype=np.float32).view(np.uint32))
    for k, fmt in ((1, "e4m3fn"), (2, "e5m2")):
        got = encode(sv, sn, fmt, False)
        want = np.array([s[k] for s in SPECIAL], dtype=np.uint8)
        assert np.array_equal(got, want), (fmt, [(hex(int(a)), hex(int(b))) for a, b in zip(got, want) if a != b])
    arrays["f32_special"] = np.array([s[0] for s in SPECIAL], dtype=np.float32).view(np.uint32)

    all16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    arrays["f16_all"] = all16
    arrays["bf16_all"] = all16
    for fmt in FORMATS:
        for sat in (False, True):
            tag = fmt + ("_sat" if sat else "")
            arrays["f32_special_to_" + tag] = encode(sv, sn, fmt, sat)
            arrays["f16_all_to_" + tag] = encode(*f16_values(all16), fmt, sat)
            arrays["bf16_all_to_" + tag] = encode(*bf16_values(all16), fmt, sat)
        f32, f16, bf16 = decode(fmt)
        arrays[f"decode_{fmt}_to_f32"], arrays[f"decode_{fmt}_to_f16"], arrays[f"decode_{fmt}_to_bf16"] = f32, f16, bf16

    # float32: every high half with 160 low halves: the sticky bits below every rounding point of both formats.
    lows = [0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF] + [(k * 40503 + 12345) & 0xFFFF for k in range(154)]
    lows = np.array(lows, dtype=np.uint32)
    arrays["f32_lows"] = lows.astype(np.uint16)
    hashes = {fmt + s: [] for fmt in FORMATS for s in ("", "_sat")}
    for block in range(512):
        hi = np.arange(block * 128, block * 128 + 128, dtype=np.uint32)
        bits = ((hi[:, None] << 16) | lows[None, :]).reshape(-1)
        x, neg = f32_bits_values(bits)
        for fmt in FORMATS:
            for sat in (False, True):
                hashes[fmt + ("_sat" if sat else "")].append(hashlib.sha256(encode(x, neg, fmt, sat).tobytes()).digest()[:8])
    for tag, hs in hashes.items():
        arrays[f"f32_to_{tag}_sha256"] = np.frombuffer(b"".join(hs), dtype=np.uint8)

    # float64: specials, values around the float32 rounding point near fp8 rounding edges, random.
    rng = np.random.default_rng(20260830)
    special64 = np.array([0, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000001,
                          0xFFF8000000000000, 0x0000000000000001, 0x47EFFFFFF0000000, 0x47F0000000000000],
                         dtype=np.uint64)
    edges = []
    for v in (448.0, 464.0, 480.0, 57344.0, 61440.0, 65536.0, 2.0 ** -10, 3 * 2.0 ** -10, 2.0 ** -17, 1.0625):
        b = np.array([v], dtype=np.float64).view(np.uint64)[0]
        for d in (-(1 << 29), -1, 0, 1, (1 << 28), (1 << 29)):
            edges.append(np.uint64(int(b) + d))
    rand = (rng.normal(0, 1, 4000) * np.exp2(rng.integers(-20, 18, 4000))).view(np.uint64)
    f64 = np.concatenate([special64, np.array(edges, dtype=np.uint64), rand, rng.integers(0, 2 ** 63, 1000, dtype=np.uint64)])
    arrays["f64_src"] = f64
    for fmt in FORMATS:
        arrays["f64_src_to_" + fmt] = encode(*f64_values(f64), fmt, False)

    names = {np.dtype(np.uint8): "U8", np.dtype(np.uint16): "U16", np.dtype(np.uint32): "U32", np.dtype(np.uint64): "U64"}
    header = {"__metadata__": {"what": "PyTorch float8 cast rules, computed exactly in numpy", "numpy": np.__version__}}
    offset, blobs = 0, []
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        a = a.astype(a.dtype.newbyteorder("<"))
        b = a.tobytes()
        header[k] = {"dtype": names[a.dtype], "shape": [len(a)], "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    raw = io.BytesIO()
    raw.write(struct.pack("<Q", len(h)))
    raw.write(h)
    for b in blobs:
        raw.write(b)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as fh:
        with gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=9, mtime=0, filename="") as g:
            g.write(raw.getvalue())
    print("wrote", out, os.path.getsize(out), "bytes (", len(raw.getvalue()), "uncompressed )")


if __name__ == "__main__":
    main()
