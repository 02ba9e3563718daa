"""The Python way to turn an fp16 safetensors file into bf16 (what users script today): read every tensor into
memory with torch, .bfloat16() the floating ones, write safetensors. Written by hand from the spec (struct + json),
because the safetensors package is not installed here; the torch work is the same.
  /usr/bin/python3 py_st_to_bf16.py IN.safetensors OUT.safetensors"""
import json, struct, sys
import torch

src, dst = sys.argv[1], sys.argv[2]
names = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}
back = {v: k for k, v in names.items()}
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    meta = header.pop("__metadata__", None)
    data = f.read()
out = {}
for k, e in header.items():
    b, end = e["data_offsets"]
    t = torch.frombuffer(bytearray(data[b:end]), dtype=names[e["dtype"]]).reshape(e["shape"]) if end > b else torch.empty(e["shape"], dtype=names[e["dtype"]])
    out[k] = t.bfloat16() if t.is_floating_point() else t
h, off = {}, 0
for k in sorted(out):
    nb = out[k].numel() * out[k].element_size()
    h[k] = {"dtype": back[out[k].dtype], "shape": list(out[k].shape), "data_offsets": [off, off + nb]}
    off += nb
hb = json.dumps(h, separators=(",", ":")).encode()
hb += b" " * (-len(hb) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(hb))); f.write(hb)
    for k in sorted(out):
        f.write(out[k].contiguous().view(torch.uint8).numpy().tobytes())
print("wrote", dst, len(out), "tensors")
