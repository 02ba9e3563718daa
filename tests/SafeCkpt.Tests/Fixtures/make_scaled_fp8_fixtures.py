"""Ground truth for SafeCkpt's scaled fp8 (ComfyUI's per-tensor absmax fp8), computed with real torch ops.

    /usr/bin/python3 tests/SafeCkpt.Tests/Fixtures/make_scaled_fp8_fixtures.py

Writes Fixtures/scaled_fp8/source.safetensors, a tiny SD-1.x-shaped checkpoint (UNet linear weights in F32, F16, BF16
and F64 with planted edge cases, plus convolutions, norms, biases, a VAE and a text encoder tensor), and
Fixtures/scaled_fp8/expected.safetensors: for every linear weight of the UNet, what ComfyUI's quantizer makes of it
and what its loader's dequantization gives back:
  LAYER.q        U8   the fp8 bytes (float8_e4m3fn)
  LAYER.scale    U32  the float32 scale's bits
  LAYER.dq_f32   U32  q.to(float32)  * scale.to(float32)   (bits)
  LAYER.dq_f16   U16  q.to(float16)  * scale.to(float16)
  LAYER.dq_bf16  U16  q.to(bfloat16) * scale.to(bfloat16)
The arithmetic is ComfyUI's (comfy/quant_ops.py _TensorCoreFP8LayoutBase.quantize with scale="recalculate";
comfy-kitchen backends/eager/quantization.py quantize_per_tensor_fp8 / dequantize_per_tensor_fp8), run with torch
1.13's own CPU ops in the source dtype:
    scale = torch.amax(w.abs()).to(float32) / 448
    if w.dtype == float16: scale = 1.0 / torch.clamp(1.0 / scale, finfo(w.dtype).min, finfo(w.dtype).max)
      (ComfyUI writes "not float32 or bfloat16"; for float64 torch refuses that clamp, so it is skipped)
    q = torch.clamp(w * (1.0 / scale).to(w.dtype), -448, 448).to(float8_e4m3fn)
    dq = q.to(T) * scale.to(T)
Only the float8 casts themselves, which torch 1.13 lacks, come from make_fp8_fixtures.py's exact-rounding encoder and
decode table. One deliberate difference: an all-zero weight gets scale 1 (ComfyUI's formula divides by zero there
and stores NaN), as SafeCkpt documents. Deterministic."""
import json, os, struct, sys
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fp8_fixtures import encode, values_of  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "scaled_fp8")
U = "model.diffusion_model."
T = U + "input_blocks.1.1.transformer_blocks.0."
ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
             torch.uint8: "U8", torch.int16: "U16", torch.int32: "U32"}


def source_tensors():
    g = torch.Generator().manual_seed(20260830)
    t = {}

    def rnd(shape, std, dtype):
        return (torch.randn(shape, generator=g, dtype=torch.float64) * std).to(dtype)

    w = rnd([64, 48], 0.05, torch.float32)
    w[3, 7] = 3.7                                   # an outlier sets the scale
    w[5, 0:8] = torch.tensor([1e-6, -1e-6, 3e-5, -2e-4, 5e-7, 0.0, -0.0, 1e-30])  # fp8 subnormals, zeros, underflow
    t[U + "input_blocks.1.1.proj_in.weight"] = w
    t[T + "attn1.to_q.weight"] = rnd([64, 64], 0.08, torch.float16)
    t[T + "attn1.to_k.weight"] = rnd([64, 64], 0.08, torch.bfloat16)
    t[T + "ff.net.0.proj.weight"] = rnd([32, 64], 2e-6, torch.float16)  # tiny: 1/scale clamps to 65504 (F16 only)
    t[T + "ff.net.2.weight"] = torch.zeros([48, 32], dtype=torch.float32)  # all zero: scale 1 (documented)
    v = rnd([64, 40], 1.0, torch.float32) * torch.exp2(torch.randint(-30, 4, [64, 40], generator=g).to(torch.float32))
    t[T + "attn2.to_v.weight"] = v                  # a wide dynamic range: many fp8 subnormals and zeros
    t[T + "attn2.to_out.0.weight"] = rnd([40, 64], 0.03, torch.bfloat16)
    t[T + "attn2.to_out.0.bias"] = rnd([40], 0.01, torch.bfloat16)
    t[U + "time_embed.0.weight"] = rnd([16, 8], 0.2, torch.float64)       # F64: product and clamp in float64
    t[U + "time_embed.0.bias"] = rnd([16], 0.1, torch.float32)
    t[U + "input_blocks.0.0.weight"] = rnd([32, 4, 3, 3], 0.1, torch.float32)  # convolution: not quantized
    t[U + "out.0.weight"] = rnd([32], 1.0, torch.float16)                      # norm: not quantized
    t[U + "out.0.bias"] = rnd([32], 0.1, torch.float16)
    t["first_stage_model.decoder.conv_in.weight"] = rnd([8, 4, 3, 3], 0.1, torch.float32)
    t["cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight"] = rnd([16, 16], 0.1, torch.float16)
    return t


def quantize(w):
    """ComfyUI's quantizer, torch ops in w's dtype; returns (fp8 codes as numpy uint8, float32 scale tensor)."""
    amax = torch.amax(w.abs()).to(dtype=torch.float32)
    if amax.item() == 0:
        scale = torch.tensor(1.0, dtype=torch.float32)
    else:
        scale = amax / 448.0
        if w.dtype == torch.float16:
            # ComfyUI clamps for every dtype but float32/bfloat16; for float64 torch refuses the clamp (finfo(float64)
            # overflows the float32 scale), so SafeCkpt, like this script, leaves a float64 weight's scale unclamped.
            info = torch.finfo(w.dtype)
            scale = 1.0 / torch.clamp((1.0 / scale), min=info.min, max=info.max)
    temp = w * (1.0 / scale).to(w.dtype)
    if temp.dtype == torch.float16:
        # torch 1.13 has no CPU clamp for Half; a clamp only selects values, so it is exact through float32.
        temp = torch.clamp(temp.float(), -448.0, 448.0).half()
    else:
        temp = torch.clamp(temp, -448.0, 448.0)
    x = temp.to(torch.float32).to(torch.float64)  # c10 casts double to float first, then to fp8
    neg = np.signbit(x.numpy()).reshape(-1)
    q = encode(x.numpy().reshape(-1), neg, "e4m3fn", saturate=True)
    return q, scale


def dequantize(q, scale, dtype):
    values = torch.from_numpy(values_of("e4m3fn")[q.astype(np.int64)].astype(np.float32))  # exact
    return values.to(dtype) * scale.to(dtype)


def bits(t):
    return {torch.float32: t.contiguous().view(torch.int32), torch.float16: t.contiguous().view(torch.int16),
            torch.bfloat16: t.contiguous().view(torch.int16)}[t.dtype].numpy()


def write(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for k in sorted(tensors):
        a = tensors[k]
        raw = a.contiguous().view(torch.uint8).numpy().tobytes() if isinstance(a, torch.Tensor) and a.dtype in (torch.bfloat16,) else \
            (a.contiguous().numpy().tobytes() if isinstance(a, torch.Tensor) else np.ascontiguousarray(a).tobytes())
        dtype = ST_DTYPES[a.dtype] if isinstance(a, torch.Tensor) else {np.dtype(np.uint8): "U8", np.dtype(np.int16): "U16", np.dtype(np.uint16): "U16", np.dtype(np.int32): "U32", np.dtype(np.uint32): "U32"}[a.dtype]
        shape = list(a.shape)
        header[k] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print("wrote", path, os.path.getsize(path), "bytes")


def main():
    np.seterr(invalid="ignore")
    os.makedirs(OUT, exist_ok=True)
    src = source_tensors()
    write(os.path.join(OUT, "source.safetensors"), src, {"what": "scaled fp8 source, make_scaled_fp8_fixtures.py"})
    expected = {}
    for name, w in src.items():
        if not (name.startswith(U) and name.endswith(".weight") and w.dim() == 2):
            continue
        layer = name[: -len(".weight")]
        q, scale = quantize(w)
        expected[layer + ".q"] = q.reshape(list(w.shape))
        expected[layer + ".scale"] = np.array([scale.item()], dtype=np.float32).view(np.uint32)
        for dtype, tag in ((torch.float32, "f32"), (torch.float16, "f16"), (torch.bfloat16, "bf16")):
            expected[layer + ".dq_" + tag] = bits(dequantize(q, scale, dtype)).view(np.uint32 if tag == "f32" else np.uint16).reshape(list(w.shape))
        # Within fp8 precision of the source: half an e4m3 step (2^-4 relative; 2^-10 of the scale among subnormals),
        # plus the roundings of 1/scale and of the product to the source dtype (at most 2^-7 relative for BF16).
        dq = dequantize(q, scale, torch.float32).to(torch.float64).numpy().reshape(-1)
        wv = w.to(torch.float64).numpy().reshape(-1)
        s = scale.item()
        bound = np.maximum(np.abs(wv) * (2.0 ** -4 + 2.0 ** -7), s * (2.0 ** -10 + 2.0 ** -7 * 2.0 ** -6))
        assert np.all(np.abs(dq - wv) <= bound), (layer, float(np.max(np.abs(dq - wv) - bound)))
    write(os.path.join(OUT, "expected.safetensors"), expected, {"what": "ComfyUI scaled fp8 of source.safetensors, torch " + torch.__version__})


if __name__ == "__main__":
    main()
