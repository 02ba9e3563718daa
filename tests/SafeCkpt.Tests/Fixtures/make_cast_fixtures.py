"""Ground truth for SafeCkpt's cast kernels, computed by real PyTorch on the CPU.

    apt-get install -y python3-torch python3-numpy
    /usr/bin/python3 tests/SafeCkpt.Tests/Fixtures/make_cast_fixtures.py

Writes Fixtures/casts/torch_casts.safetensors (by hand, from the safetensors spec; not with SafeCkpt) holding
source bit patterns and what torch's .half() / .bfloat16() / .float() / .double() make of them:
  f16_all (every one of the 65,536 F16 patterns) -> f16_all_to_f32, f16_all_to_bf16
  bf16_all (every BF16 pattern)                  -> bf16_all_to_f32, bf16_all_to_f16
  f32_src (specials, every exponent with edge mantissas, 200,000 random patterns) -> f32_src_to_f16, f32_src_to_bf16
  f64_src (specials + random)                    -> f64_src_to_f32, f64_src_to_f16, f64_src_to_bf16
and Fixtures/casts/torch_casts_f64.safetensors (added later, in its own file so the first keeps its bytes and the
hashes other tests expect of it):
  f32_src_to_f64 (f32_src above, widened by .double())
Tensors are stored as integer dtypes (U16/U32/U64) so the bit patterns are kept exactly. Deterministic."""
import json, os, struct, sys
import numpy as np
import torch

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "casts", "torch_casts.safetensors")
rng = np.random.default_rng(20261125)

def bits16(t): return t.contiguous().view(torch.int16).numpy().view(np.uint16)
def bits32(t): return t.contiguous().view(torch.int32).numpy().view(np.uint32)
def bits64(t): return t.contiguous().view(torch.int64).numpy().view(np.uint64)

arrays = {}
f16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
th = torch.from_numpy(f16.view(np.int16).copy()).view(torch.float16)
arrays["f16_all"] = f16
arrays["f16_all_to_f32"] = bits32(th.float())
arrays["f16_all_to_bf16"] = bits16(th.bfloat16())

tb = torch.from_numpy(f16.view(np.int16).copy()).view(torch.bfloat16)
arrays["bf16_all"] = f16
arrays["bf16_all_to_f32"] = bits32(tb.float())
arrays["bf16_all_to_f16"] = bits16(tb.half())

special32 = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF812345,
             0x00000001, 0x807FFFFF, 0x00800000, 0x33000000, 0x33000001, 0x387FC000, 0x38800000, 0x477FE000,
             0x477FEFFF, 0x477FF000, 0x7F7FFFFF, 0x3F808000, 0x3F818000, 0x3F80C000, 0x3F817FFF]
edges = []
for e in range(256):
    for m in (0, 1, 0x1000, 0x0FFF, 0x2000, 0x3FFF, 0x7FFF, 0x8000, 0x8001, 0x18000, 0x400000, 0x7FFFFF):
        for s in (0, 0x80000000):
            edges.append(s | (e << 23) | m)
rand32 = rng.integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32)
f32 = np.concatenate([np.array(special32 + edges, dtype=np.uint32), rand32])
tf = torch.from_numpy(f32.view(np.int32).copy()).view(torch.float32)
arrays["f32_src"] = f32
arrays["f32_src_to_f16"] = bits16(tf.half())
arrays["f32_src_to_bf16"] = bits16(tf.bfloat16())
widened = {"f32_src_to_f64": bits64(tf.double())}

special64 = [0, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000001, 0xFFF8000000000000,
             0x7FF0000000000001, 0x0000000000000001, 0x3FF0000010000000, 0x3FF0000010000001, 0x40EFFE0000000000]
rand64 = rng.normal(0, 1, size=50_000) * np.exp2(rng.integers(-40, 40, size=50_000))
f64 = np.concatenate([np.array(special64, dtype=np.uint64), rand64.view(np.uint64),
                      rng.integers(0, 2**63, size=20_000, dtype=np.uint64)])
td = torch.from_numpy(f64.view(np.int64).copy()).view(torch.float64)
arrays["f64_src"] = f64
arrays["f64_src_to_f32"] = bits32(td.float())
arrays["f64_src_to_f16"] = bits16(td.half())
arrays["f64_src_to_bf16"] = bits16(td.bfloat16())

names = {np.dtype(np.uint16): "U16", np.dtype(np.uint32): "U32", np.dtype(np.uint64): "U64"}


def write(path, arrays):
    header, offset, blobs = {"__metadata__": {"torch": torch.__version__, "what": "PyTorch CPU cast ground truth"}}, 0, []
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k]).astype(arrays[k].dtype.newbyteorder("<"))
        b = a.tobytes()
        header[k] = {"dtype": names[a.dtype], "shape": [len(a)], "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print("wrote", path, os.path.getsize(path), "bytes, torch", torch.__version__)


write(out, arrays)
write(out.replace("torch_casts.safetensors", "torch_casts_f64.safetensors"), widened)
