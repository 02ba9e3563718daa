"""A checkpoint whose big tensors are strided views, written by real torch.save, and what its fp16 conversion must hold.

    apt-get install -y python3-torch python3-numpy
    /usr/bin/python3 tests/SafeCkpt.Tests/Fixtures/views/make_view_fixtures.py

Writes views/transposed_views.ckpt: a state dict of 2-D weights saved transposed (stored [in, out], read [out, in]),
conv weights in channels-last order, a 1x1 conv stored transposed, F16 and BF16 transposed weights, two row slices of
one storage, a strided column slice, contiguous biases and an int64 tensor. Every storage is used by exactly one tensor,
except the two row slices (which split theirs). And views/expected.json: per tensor the dtype, shape and SHA-256 of
torch's `.contiguous().half()` (floating) or `.contiguous()` (integer) little-endian bytes, plus the file's SHA-256
and the bytes of all storages. Deterministic for a given torch version (recorded)."""
import hashlib, json, os, zipfile
import torch

here = os.path.dirname(os.path.abspath(__file__))
ckpt = os.path.join(here, "transposed_views.ckpt")
g = torch.Generator().manual_seed(20261201)

def randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=g).to(dtype)

base = randn(128, 64)
wide = randn(48, 300)
sd = {
    "proj.weight": randn(256, 320).t(),                                   # [320, 256], stride (1, 320)
    "lin.weight": randn(96, 160).t(),                                     # [160, 96]
    "emb.weight": randn(40, 1000).t(),                                    # [1000, 40]: few long lines
    "conv.weight": randn(64, 3, 3, 48).permute(0, 3, 1, 2),               # channels-last [64, 48, 3, 3]
    "conv1x1.weight": randn(32, 1, 1, 64).permute(3, 0, 1, 2),            # [64, 32, 1, 1], stride (1, 64, 64, 64)
    "half.weight": randn(200, 72, dtype=torch.float16).t(),               # F16 [72, 200]
    "bf16.weight": randn(48, 40, dtype=torch.bfloat16).t(),               # BF16 [40, 48]
    "odd.weight": randn(37, 29).t(),                                      # edges of every 8 x 8 block
    "q.weight": base[:64],                                                # row slices of one storage
    "k.weight": base[64:],
    "cols.weight": wide[:, ::3],                                          # [48, 100], stride (300, 3)
    "proj.bias": randn(256),
    "position_ids": torch.arange(77).unsqueeze(0),
}
for k in ("proj.weight", "lin.weight", "emb.weight", "conv.weight", "conv1x1.weight", "half.weight", "bf16.weight", "odd.weight", "cols.weight"):
    assert not sd[k].is_contiguous(), k
torch.save({"state_dict": sd, "global_step": 7}, ckpt, _use_new_zipfile_serialization=True)

def expected(t):
    t = t.contiguous()
    if t.is_floating_point():
        t = t.half()
    return t

tensors = {}
for k, v in sd.items():
    e = expected(v)
    data = e.numpy().tobytes()
    tensors[k] = {"dtype": {torch.float16: "F16", torch.int64: "I64"}[e.dtype], "shape": list(v.shape),
                  "stride": list(v.stride()), "sha256": hashlib.sha256(data).hexdigest()}
with zipfile.ZipFile(ckpt) as z:
    storage_bytes = sum(i.file_size for i in z.infolist() if "/data/" in i.filename)

# The bytes a reader needs: per storage, the union of its tensors' extents [offset, offset + sum((size-1)*stride) + 1).
ranges = {}
for v in sd.values():
    end = v.storage_offset() + sum((n - 1) * st for n, st in zip(v.shape, v.stride())) + 1
    ranges.setdefault(v.storage().data_ptr(), []).append((v.storage_offset() * v.element_size(), end * v.element_size()))
extent_bytes = 0
for spans in ranges.values():
    at = 0
    for a, b in sorted(spans):
        extent_bytes += max(0, b - max(a, at))
        at = max(at, b)
loaded = torch.load(ckpt)["state_dict"]
for k, v in sd.items():
    assert torch.equal(loaded[k], v) and loaded[k].stride() == v.stride(), k
out = {"file": "views/transposed_views.ckpt", "sha256": hashlib.sha256(open(ckpt, "rb").read()).hexdigest(),
       "size": os.path.getsize(ckpt), "storage_bytes": storage_bytes, "extent_bytes": extent_bytes, "torch_version": torch.__version__, "tensors": tensors}
with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {ckpt}: {len(sd)} tensors, {out['size']} bytes, {storage_bytes} in storages")
