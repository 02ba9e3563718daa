"""GGUF fixtures for SafeCkpt's GGUF reader, written by llama.cpp's own gguf-py (GGUFWriter, gguf.quants).

    /usr/bin/python3 tests/SafeCkpt.Tests/Fixtures/make_gguf_fixtures.py /path/to/gguf-py

The argument is a folder holding the `gguf` package (llama.cpp's gguf-py/). It is imported, never copied here.
Writes Fixtures/gguf/:
  types.gguf      one [4, 256] tensor per type: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 made with
                  gguf.quants.quantize from N(0, 0.05) values (plus a few extremes), and Q2_K..Q6_K from random
                  block bytes whose d/dmin are finite fp16 values (gguf-py cannot quantize K-quants)
  sd1.gguf, sdxl.gguf, flux.gguf
                  ComfyUI-GGUF-style files: general.architecture, a tensor reshaped to (n/256, 256) with its torch
                  shape under comfy.gguf.orig_shape.<name> (ARRAY of INT32), unquantized small tensors as F32
  expected.json   per file and tensor: ggml type, torch shape, the reference dequantization's SHA-256 over its
                  float32 little-endian bytes (gguf.quants.dequantize, i.e. ggml's dequantize_row_* in fp32) and
                  its first 8 values as uint32 bit patterns. Deterministic (fixed seed).
"""
import hashlib, json, os, sys, types

import numpy as np

sys.path.insert(0, sys.argv[1])
# gguf/__init__ imports its vocab module, which imports sentencepiece; SafeCkpt never needs it.
sys.modules.setdefault("sentencepiece", types.SimpleNamespace(SentencePieceProcessor=None))
import gguf  # noqa: E402
from gguf import GGMLQuantizationType as T  # noqa: E402
from gguf.quants import quantize, dequantize  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "gguf")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261201)
expected = {}


def values(shape):
    x = rng.normal(0, 0.05, size=shape).astype(np.float32)
    flat = x.reshape(-1)
    flat[:6] = [0.0, -0.0, 1.5, -2.25, 65504.0, 1e-8]  # exact, signed zero, fp16 max, a subnormal after casting
    flat[32:64] = 0.0  # an all-zero block (d = 0)
    return x


def k_blocks(qtype, n_blocks):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    # Where the fp16 super-block scales sit in each K-quant block (ggml-common.h).
    places = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}[qtype]
    for p in places:
        h = rng.normal(0, 0.01, size=n_blocks).astype(np.float16)
        raw[:, p:p + 2] = h.view(np.uint8).reshape(n_blocks, 2)
    return raw


def record(file, name, qtype, data, torch_shape):
    if qtype == T.F32:
        deq = data.astype(np.float32)
    elif qtype == T.F16:
        deq = data.astype(np.float32)
    else:
        deq = dequantize(data, qtype)
    deq = np.ascontiguousarray(deq, dtype="<f4").reshape(-1)
    expected.setdefault(file, {})[name] = {
        "type": qtype.name,
        "shape": list(torch_shape),
        "sha256": hashlib.sha256(deq.tobytes()).hexdigest(),
        "first": [int(v) for v in deq[:8].view(np.uint32)],
    }


def add(w, file, name, qtype, x=None, raw=None, torch_shape=None):
    if raw is not None:
        data = raw
        w.add_tensor(name, data, raw_dtype=qtype)
    elif qtype == T.F32:
        data = x.astype(np.float32)
        w.add_tensor(name, data)
    elif qtype == T.F16:
        data = x.astype(np.float16)
        w.add_tensor(name, data)
    else:
        data = quantize(x, qtype)
        w.add_tensor(name, data, raw_dtype=qtype)
    shape = torch_shape if torch_shape is not None else (x.shape if x is not None else None)
    if shape is None:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        shape = (*raw.shape[:-1], raw.shape[-1] // size * block)
    record(file, name, qtype, data, shape)


def write(file, arch, fill):
    w = gguf.GGUFWriter(os.path.join(OUT, file), arch)
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def types_file(w):
    w.add_name("safeckpt gguf type fixture")
    for qt in [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1]:
        add(w, "types.gguf", qt.name.lower(), qt, x=values((4, 256)))
    for qt in [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
        raw = k_blocks(qt, 4).reshape(4, -1)
        add(w, "types.gguf", qt.name.lower(), qt, raw=raw, torch_shape=(4, 256))


def reshaped(w, file, name, qtype, torch_shape):
    """ComfyUI-GGUF's shape fix: (n/256, 256) plus comfy.gguf.orig_shape.<name>."""
    n = int(np.prod(torch_shape))
    x = values(torch_shape)
    flat = x.reshape(n // 256, 256)
    w.add_array(f"comfy.gguf.orig_shape.{name}", list(torch_shape))
    if qtype in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K):
        add(w, file, name, qtype, raw=k_blocks(qtype, n // 256), torch_shape=torch_shape)
    else:
        add(w, file, name, qtype, x=flat, torch_shape=torch_shape)


def sd1_file(w):
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    reshaped(w, "sd1.gguf", "input_blocks.1.0.in_layers.2.weight", T.F16, (32, 32, 3, 3))
    reshaped(w, "sd1.gguf", "input_blocks.1.1.proj_in.weight", T.Q8_0, (64, 64, 1, 1))
    add(w, "sd1.gguf", "input_blocks.1.0.in_layers.2.bias", T.F32, x=values((32,)))
    add(w, "sd1.gguf", "out.2.weight", T.F32, x=values((4, 32, 3, 3)))


def sdxl_file(w):
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_S)
    reshaped(w, "sdxl.gguf", "input_blocks.4.1.proj_in.weight", T.Q4_K, (128, 96))
    add(w, "sdxl.gguf", "label_emb.0.0.weight", T.F16, x=values((32, 64)))
    add(w, "sdxl.gguf", "label_emb.0.0.bias", T.F32, x=values((32,)))


def flux_file(w):
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    add(w, "flux.gguf", "double_blocks.0.img_attn.proj.weight", T.Q8_0, x=values((64, 64)))
    add(w, "flux.gguf", "double_blocks.0.img_attn.proj.bias", T.F32, x=values((64,)))
    add(w, "flux.gguf", "img_in.weight", T.BF16, x=values((64, 32)))


write("types.gguf", "safeckpt-test", types_file)
write("sd1.gguf", "sd1", sd1_file)
write("sdxl.gguf", "sdxl", sdxl_file)
write("flux.gguf", "flux", flux_file)
with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
print("wrote", sorted(os.listdir(OUT)))
