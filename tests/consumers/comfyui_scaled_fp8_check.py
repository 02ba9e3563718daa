#!/usr/bin/python3
"""Checks SafeCkpt's scaled fp8 with ComfyUI's own code (see tests/consumers/README.md, "Scaled fp8").

    dotnet build src/SafeCkpt.Cli -c Release
    /usr/bin/python3 tests/consumers/comfyui_scaled_fp8_check.py src/SafeCkpt.Cli/bin/Release/net10.0/SafeCkpt.Cli.dll \
        --comfy COMFYUI_ROOT --kitchen COMFY_KITCHEN_ROOT [--write-expectations]

With the built tool it writes Fixtures/scaled_fp8/source.safetensors as scaled fp8 in both layouts (current and
--legacy-scaled-fp8) and converts each back to fp32, fp16 and bf16. Then it runs, on those files, the definitions it
reads at run time with `ast` from the two fetched repositories (never copied in):

- ComfyUI comfy/utils.py `convert_old_quants`: the current file must come out with a `.comfy_quant` tensor per layer
  (from `_quantization_metadata`) equal to the one in the file; the legacy file must come out as the current one
  (same keys, same tensors, same configs): ComfyUI reads both layouts the same way.
- ComfyUI comfy/ops.py `_load_quantized_module` (with comfy/quant_ops.py `QUANT_ALGOS`) loads every layer of the
  converted state dict into a stand-in Linear module for each compute dtype, and comfy-kitchen's eager
  `dequantize_per_tensor_fp8` (comfy_kitchen/backends/eager/quantization.py) dequantizes it: SafeCkpt's
  `convert --dtype fp32|fp16|bf16` must give the same bits.
- ComfyUI comfy/quant_ops.py `_TensorCoreFP8LayoutBase.quantize(scale="recalculate")` with comfy-kitchen's eager
  `quantize_per_tensor_fp8`, on every source weight: SafeCkpt's fp8 bytes and scale must be the same bits, except
  where SafeCkpt documents a difference (a float64 weight: torch refuses ComfyUI's float16-range clamp; an all-zero
  weight: ComfyUI divides by zero).

torch 1.13 has no float8: the float8 dtypes are stand-ins, a float8 tensor is held as its exact float32 values, and
the cast to float8 is make_fp8_fixtures.py's exact-rounding encoder (PyTorch's rules, checked there). torch 1.13's
CPU clamp has no float16 kernel; a float16 clamp runs through float32 (exact: a clamp only selects values).
Everything else is ComfyUI's and comfy-kitchen's code with torch 1.13's own ops.

What ComfyUI's code returned is written to tests/SafeCkpt.Tests/Fixtures/scaled_fp8/comfyui_expectations.json with
--write-expectations (SHA-256 of every weight, scale and dequantized tensor); the unit tests check SafeCkpt against it
without Python. Exit 0 when every check passed.
"""

import ast
import builtins
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "SafeCkpt.Tests", "Fixtures"))
SOURCE = os.path.join(FIXTURES, "scaled_fp8", "source.safetensors")
EXPECTATIONS = os.path.join(FIXTURES, "scaled_fp8", "comfyui_expectations.json")
PREFIX = "model.diffusion_model."
sys.path.insert(0, FIXTURES)
from make_fp8_fixtures import encode, values_of  # noqa: E402

ST = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "U8": torch.uint8,
      "I64": torch.int64}


# ---------------------------------------------------------------- float8 stand-ins (torch 1.13 has none)

class Float8Dtype:
    def __init__(self, name, fmt, vmax):
        self.name, self.fmt, self.max = name, fmt, vmax

    def __repr__(self):
        return "torch." + self.name


E4M3 = Float8Dtype("float8_e4m3fn", "e4m3fn", 448.0)
E5M2 = Float8Dtype("float8_e5m2", "e5m2", 57344.0)
torch.float8_e4m3fn, torch.float8_e5m2 = E4M3, E5M2
torch.float8_e8m0fnu = Float8Dtype("float8_e8m0fnu", None, None)
_finfo = torch.finfo
torch.finfo = lambda d=None: types.SimpleNamespace(max=d.max, min=-d.max) if isinstance(d, Float8Dtype) else _finfo(d)


def _dtype_arg(args, kwargs):
    d = kwargs.get("dtype")
    for a in args:
        if isinstance(a, (torch.dtype, Float8Dtype)):
            d = a
    return d


class Fp8(torch.Tensor):
    """A float8 tensor: its exact values in float32, its format in .fmt."""

    @staticmethod
    def of(values, fmt):
        t = values.to(torch.float32).as_subclass(Fp8)
        t.fmt = fmt
        return t

    def codes(self):
        x = self.as_subclass(torch.Tensor).to(torch.float64).numpy().reshape(-1)
        return encode(x, np.signbit(x), self.fmt.fmt, saturate=False)

    def to(self, *args, **kwargs):
        d = _dtype_arg(args, kwargs)
        if isinstance(d, Float8Dtype):
            if d is not self.fmt:
                raise TypeError(f"stand-in: {self.fmt} -> {d} is not emulated")
            return self
        return self.as_subclass(torch.Tensor).to(*args, **kwargs)


class Wide(torch.Tensor):
    """A source weight whose cast to float8 is emulated; float16 clamp runs through float32."""

    @classmethod
    def __torch_function__(cls, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.clamp and args and args[0].dtype == torch.float16:
            x = args[0].as_subclass(torch.Tensor)
            lo, hi = (list(args[1:]) + [kwargs.get("min"), kwargs.get("max")])[:2]
            r = torch.clamp(x.float(), lo, hi).half()
            out = kwargs.get("out")
            if out is not None:
                out.as_subclass(torch.Tensor).copy_(r)
                return out
            return r.as_subclass(Wide)
        return super().__torch_function__(func, types_, args, kwargs)

    def to(self, *args, **kwargs):
        d = _dtype_arg(args, kwargs)
        if isinstance(d, Float8Dtype):
            # c10 casts a double to float first, then to float8; float32/16/bf16 widen exactly.
            x = self.as_subclass(torch.Tensor).to(torch.float32).to(torch.float64).numpy().reshape(-1)
            codes = encode(x, np.signbit(x), d.fmt, saturate=False)
            return Fp8.of(torch.from_numpy(values_of(d.fmt)[codes.astype(np.int64)].reshape(tuple(self.shape))), d)
        return super().to(*args, **kwargs)


# ---------------------------------------------------------------- reading the consumers' definitions

def extract(path, names, assigns=()):
    """The top-level definitions `names` (and the simple assignments `assigns`) of a file, compiled."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    body = [n for n in tree.body if (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names)
            or (isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id in assigns for t in n.targets))]
    found = {n.name for n in body if hasattr(n, "name")} | {t.id for n in body if isinstance(n, ast.Assign) for t in n.targets}
    missing = set(names) | set(assigns)
    missing -= found
    if missing:
        raise RuntimeError(f"{path}: no top-level {', '.join(sorted(missing))}")
    return compile(ast.Module(body=body, type_ignores=[]), path, "exec")


def run(code, given):
    g = {"__builtins__": builtins, **given}
    exec(code, g)
    return g


def sha(b):
    return hashlib.sha256(b).hexdigest()


class Comfy:
    def __init__(self, root, kitchen):
        self.files = {rel: os.path.join(root, rel) for rel in ("comfy/utils.py", "comfy/ops.py", "comfy/quant_ops.py")}
        kfiles = {rel: os.path.join(kitchen, rel) for rel in ("comfy_kitchen/backends/eager/quantization.py", "comfy_kitchen/float_utils.py")}
        self.files.update(kfiles)
        consts = run(extract(kfiles["comfy_kitchen/float_utils.py"], [], ["F8_E4M3_MAX", "F8_E5M2_MAX"]), {"torch": torch})
        eager = run(extract(kfiles["comfy_kitchen/backends/eager/quantization.py"], ["quantize_per_tensor_fp8", "dequantize_per_tensor_fp8"]),
                    {"torch": torch, "F8_E4M3_MAX": consts["F8_E4M3_MAX"], "F8_E5M2_MAX": consts["F8_E5M2_MAX"]})
        self.eager = eager
        ck = types.SimpleNamespace(quantize_per_tensor_fp8=eager["quantize_per_tensor_fp8"],
                                   dequantize_per_tensor_fp8=eager["dequantize_per_tensor_fp8"])

        class CKFp8Layout:
            """Stands in for comfy_kitchen.tensor.TensorCoreFP8Layout: its Params and its dequantize (tensor/fp8.py)."""

            class Params(types.SimpleNamespace):
                pass

            @classmethod
            def dequantize(cls, qdata, params):
                return ck.dequantize_per_tensor_fp8(qdata, params.scale.to(torch.float32), params.orig_dtype)

        qo = run(extract(self.files["comfy/quant_ops.py"], ["_TensorCoreFP8LayoutBase", "TensorCoreFP8E4M3Layout", "TensorCoreFP8E5M2Layout"], ["QUANT_ALGOS"]),
                 {"torch": torch, "ck": ck, "_CKFp8Layout": CKFp8Layout, "comfy": types.SimpleNamespace(float=None)})
        self.quant_ops = qo
        layouts = {"TensorCoreFP8E4M3Layout": qo["TensorCoreFP8E4M3Layout"], "TensorCoreFP8E5M2Layout": qo["TensorCoreFP8E5M2Layout"]}

        class QuantizedTensor:
            def __init__(self, qdata, layout_type, params):
                self._qdata, self._layout_type, self._params = qdata, layout_type, params

            def dequantize(self):
                return layouts[self._layout_type].dequantize(self._qdata, self._params)

        torch_proxy = types.ModuleType("torch")
        torch_proxy.__dict__.update({k: getattr(torch, k) for k in dir(torch) if not k.startswith("__")})
        torch_proxy.nn = types.SimpleNamespace(Parameter=lambda x, requires_grad=False: x)
        self.ops = run(extract(self.files["comfy/ops.py"], ["_load_quantized_module"]),
                       {"torch": torch_proxy, "json": json, "logging": types.SimpleNamespace(warning=print),
                        "QUANT_ALGOS": qo["QUANT_ALGOS"], "get_layout_class": layouts.get, "QuantizedTensor": QuantizedTensor})
        self.utils = run(extract(self.files["comfy/utils.py"], ["convert_old_quants"]), {"torch": torch, "json": json})

    def sources(self):
        return {rel: sha(open(p, "rb").read()) for rel, p in sorted(self.files.items())}

    @staticmethod
    def commit(root):
        """The commit a checkout was taken at: its COMMIT file (written beside a `git archive`), or git's HEAD."""
        f = os.path.join(root, "COMMIT")
        if os.path.isfile(f):
            return open(f).read().strip()
        r = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True)
        return r.stdout.strip() or None

    def load_layer(self, sd, layer, compute):
        """ComfyUI's loader on one layer: returns the dequantized weight in the compute dtype."""
        module = types.SimpleNamespace(factory_kwargs={"device": torch.device("cpu"), "dtype": compute}, _disabled_formats=[],
                                       _full_precision_mm=False, _orig_shape=tuple(sd[layer + ".weight"].shape),
                                       register_parameter=lambda *a: None)
        missing = []
        self.ops["_load_quantized_module"](module, lambda *a: None, sd, layer + ".", {}, True, missing, [], [])
        return module.weight.dequantize()

    def quantize(self, w, fmt):
        layout = self.quant_ops["TensorCoreFP8E4M3Layout" if fmt is E4M3 else "TensorCoreFP8E5M2Layout"]
        qdata, params = layout.quantize(w.as_subclass(Wide), scale="recalculate")
        return qdata, params.scale


# ---------------------------------------------------------------- files

def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for k, v in header.items():
        b, e = v["data_offsets"]
        raw = data[b:e]
        out[k] = (v["dtype"], v["shape"], raw)
    return out, meta


def state_dict(entries):
    """torch tensors; float8 ones as Fp8 (exact values) for the loader."""
    sd = {}
    for k, (dt, shape, raw) in entries.items():
        if dt in ("F8_E4M3", "F8_E5M2"):
            fmt = E4M3 if dt == "F8_E4M3" else E5M2
            codes = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
            sd[k] = Fp8.of(torch.from_numpy(values_of(fmt.fmt)[codes].reshape(shape) if codes.size else np.zeros(shape)), fmt)
        else:
            t = torch.frombuffer(bytearray(raw), dtype=ST[dt]) if raw else torch.empty(0, dtype=ST[dt])
            sd[k] = t.reshape(shape).clone()
    return sd


def tensor_bytes(t):
    t = t.as_subclass(torch.Tensor).contiguous()
    return t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()


def tool(cmd, *args):
    exe = [cmd] if not cmd.endswith(".dll") else ["dotnet", cmd]
    r = subprocess.run(exe + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"safeckpt {' '.join(args)}: exit {r.returncode}: {r.stderr}")


def main(argv):
    if len(argv) < 2 or "--comfy" not in argv or "--kitchen" not in argv:
        print(__doc__)
        return 2
    comfy = Comfy(argv[argv.index("--comfy") + 1], argv[argv.index("--kitchen") + 1])
    failures, result = [], {"comfyui_sources": comfy.sources(), "layers": {}, "layouts": {},
                            "commits": {"comfyui": Comfy.commit(argv[argv.index("--comfy") + 1]), "comfy-kitchen": Comfy.commit(argv[argv.index("--kitchen") + 1])}}
    compared = 0
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for layout, extra in (("current", []), ("legacy", ["--legacy-scaled-fp8"])):
            files[layout] = os.path.join(tmp, layout + ".safetensors")
            tool(argv[1], "convert", SOURCE, files[layout], "--dtype", "fp8-scaled", "-q", "--no-provenance", *extra)
            for tag in dtypes:
                tool(argv[1], "convert", files[layout], os.path.join(tmp, f"{layout}-{tag}.safetensors"), "--dtype", tag, "-q", "--no-provenance")

        source, _ = read(SOURCE)
        converted = {}
        for layout in ("current", "legacy"):
            entries, meta = read(files[layout])
            sd, meta = comfy.utils["convert_old_quants"](state_dict(entries), PREFIX, metadata=meta)
            converted[layout] = sd
            layers = sorted(k[: -len(".comfy_quant")] for k in sd if k.endswith(".comfy_quant"))
            result["layouts"][layout] = {"layers": layers, "configs": sorted({bytes(sd[l + ".comfy_quant"].numpy()).decode() for l in layers}),
                                         "keys_after_convert_old_quants": sha("\n".join(sorted(sd)).encode())}
            if layout == "current":
                for l in layers:
                    if entries[l + ".comfy_quant"][2] != bytes(sd[l + ".comfy_quant"].numpy()):
                        failures.append(f"{l}: the file's .comfy_quant differs from the one ComfyUI makes from _quantization_metadata")

        cur, leg = converted["current"], converted["legacy"]
        if sorted(cur) != sorted(leg):
            failures.append(f"legacy and current layouts give different keys after convert_old_quants: {sorted(set(cur) ^ set(leg))[:6]}")
        for k in sorted(set(cur) & set(leg)):
            if tensor_bytes(cur[k]) != tensor_bytes(leg[k]) or cur[k].dtype != leg[k].dtype:
                failures.append(f"{k}: differs between the legacy and the current layout after convert_old_quants")

        layers = result["layouts"]["current"]["layers"]
        for layer in layers:
            rec = {}
            entries, _ = read(files["current"])
            rec["weight_sha256"] = sha(entries[layer + ".weight"][2])
            rec["scale_f32"] = entries[layer + ".weight_scale"][2].hex()
            for tag, dt in dtypes.items():
                for layout in ("current", "legacy"):
                    sd = {k: v for k, v in converted[layout].items()}
                    dq = comfy.load_layer(sd, layer, dt)
                    got = read(os.path.join(tmp, f"{layout}-{tag}.safetensors"))[0][layer + ".weight"][2]
                    compared += 1
                    if tensor_bytes(dq) != got:
                        failures.append(f"{layer}: SafeCkpt's {tag} from the {layout} layout differs from ComfyUI's loader")
                rec["dequantized_" + tag + "_sha256"] = sha(tensor_bytes(dq))

            dt, shape, raw = source[layer + ".weight"]
            w = torch.frombuffer(bytearray(raw), dtype=ST[dt]).reshape(shape).clone()
            try:
                q, scale = comfy.quantize(w, E4M3)
                rec["comfyui_quantize"] = {"weight_sha256": sha(q.codes().tobytes()), "scale_f32": struct.pack("<f", scale.item()).hex(),
                                           "nan_codes": int(np.sum((q.codes() & 0x7F) == 0x7F))}
                same = rec["comfyui_quantize"]["weight_sha256"] == rec["weight_sha256"] and rec["comfyui_quantize"]["scale_f32"] == rec["scale_f32"]
                rec["safeckpt_equals_comfyui_quantize"] = same
                if not same and not (w == 0).all():
                    failures.append(f"{layer}: SafeCkpt's fp8 bytes or scale differ from ComfyUI's quantize")
            except Exception as e:  # noqa: BLE001 - what ComfyUI does is the record
                rec["comfyui_quantize"] = {"error": f"{type(e).__name__}: {e}"}
                rec["safeckpt_equals_comfyui_quantize"] = False
                if dt != "F64":
                    failures.append(f"{layer}: ComfyUI's quantize failed: {e}")
            result["layers"][layer] = rec

    for f in failures:
        print("FAIL", f)
    for layer, rec in result["layers"].items():
        print(f"{layer}: quantize {'==' if rec['safeckpt_equals_comfyui_quantize'] else '!='} ComfyUI {rec['comfyui_quantize'].get('error', '')}")
    print(f"{len(layers)} layers; {compared} dequantized tensors compared with ComfyUI's loader; {len(failures)} failures")
    if "--write-expectations" in argv and not failures:
        with open(EXPECTATIONS, "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote", EXPECTATIONS)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
