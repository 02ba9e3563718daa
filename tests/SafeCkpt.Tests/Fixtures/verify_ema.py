"""Checks a SafeCkpt EMA conversion against PyTorch doing the same selection itself.
    /usr/bin/python3 verify_ema.py SOURCE.ckpt CONVERTED.(ckpt|safetensors) [--half|--bfloat16] [--no-ema]
Loads SOURCE with torch (our own fixture: weights_only=False with a stand-in for the pytorch_lightning class), applies
the LitEma rule (key "model.X" <- "model_ema." + X with dots removed, A1111/model-converter), drops model_ema.*,
casts floating tensors with torch's .half()/.bfloat16(), and compares with CONVERTED loaded by torch.load(
weights_only=True) (ckpt) or read by hand from the safetensors spec. Exit 0 when every tensor is bit-identical."""
import json, struct, sys, types
import torch

for name in ("pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules["pytorch_lightning.callbacks.model_checkpoint"].ModelCheckpoint = type("ModelCheckpoint", (), {})

src, out = sys.argv[1], sys.argv[2]
cast = "--half" in sys.argv and torch.float16 or "--bfloat16" in sys.argv and torch.bfloat16 or None
use_ema = "--no-ema" not in sys.argv
sd = torch.load(src, map_location="cpu", weights_only=False)["state_dict"]
ema = {k[len("model_ema."):]: v for k, v in sd.items() if k.startswith("model_ema.")}
expected = {}
for k, v in sd.items():
    if k.startswith("model_ema."):
        continue
    if use_ema and k.startswith("model."):
        v = ema.get(k[len("model."):].replace(".", ""), v)
    if cast is not None and v.is_floating_point() and v.numel() > 0:
        v = v.to(cast)
    expected[k] = v

if out.endswith(".safetensors"):
    names = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}
    with open(out, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n)); header.pop("__metadata__", None); data = f.read()
    got = {}
    for k, e in header.items():
        b, end = e["data_offsets"]
        if end > b:
            got[k] = torch.frombuffer(bytearray(data[b:end]), dtype=names[e["dtype"]]).reshape(e["shape"])
        else:
            got[k] = torch.empty(e["shape"], dtype=names[e["dtype"]])
else:
    got = torch.load(out, map_location="cpu", weights_only=True)["state_dict"]

bad = [k for k in expected if k not in got] + [k for k in got if k not in expected]
for k in expected:
    if k in got and (expected[k].dtype != got[k].dtype or expected[k].shape != got[k].shape or not torch.equal(expected[k].view(torch.uint8) if expected[k].numel() else expected[k], got[k].view(torch.uint8) if got[k].numel() else got[k])):
        bad.append(k)
swapped = sum(1 for k in expected if use_ema and k.startswith("model.") and k[len("model."):].replace(".", "") in ema)
print(("OK" if not bad else "FAIL"), out, f"{len(expected)} tensors, {swapped} from EMA, {len(bad)} differences", bad[:5])
sys.exit(1 if bad else 0)
