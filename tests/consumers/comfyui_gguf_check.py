#!/usr/bin/python3
"""Checks the GGUF files SafeCkpt writes with llama.cpp's gguf-py and ComfyUI-GGUF's own code (tests/consumers/README.md, "GGUF").

    dotnet build src/SafeCkpt.Cli -c Release
    /usr/bin/python3 tests/consumers/comfyui_gguf_check.py src/SafeCkpt.Cli/bin/Release/net10.0/SafeCkpt.Cli.dll \
        --gguf-py GGUF_PY_DIR --comfyui-gguf COMFYUI_GGUF_ROOT [--write-expectations]

GGUF_PY_DIR holds llama.cpp's `gguf` package (gguf-py/); COMFYUI_GGUF_ROOT is city96/ComfyUI-GGUF. Both are imported
from where they are, never copied here. With the built tool it converts Fixtures/gguf-write/{sd1.safetensors,
sdxl.safetensors, flux.ckpt} to GGUF with every --quant (f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0), then:

- ComfyUI-GGUF tools/convert.py (`convert_file`, run as is; its tqdm and safetensors imports are stubbed, the stub
  load_file returns the tensors in safetensors' sorted order) makes the F16 file of each model (BF16 for the BF16
  one): SafeCkpt's file for that type must be byte-identical.
- For every other type the expected file is convert.py's output passed through the rules of ComfyUI-GGUF's patched
  llama-quantize (tools/lcpp.patch, transcribed below: a tensor is quantized when its name ends with "weight", it is
  2-D in ggml's count, its architecture does not keep it, and its rows are whole blocks; Q4_0/Q5_0 files get
  Q4_1/Q5_1 feed-forward outputs) with the values quantized by gguf-py's `quants.quantize` from the source's float32
  values. gguf-py's GGUFReader reads SafeCkpt's file: the same tensor names in the same order, shapes, types,
  metadata (general.architecture, general.quantization_version, general.file_type, comfy.gguf.orig_shape.*) and bytes.
- ComfyUI-GGUF loader.py `gguf_sd_loader` loads SafeCkpt's file (its comfy imports stubbed) and dequant.py's
  `dequantize_tensor` (in float32) gives, for every tensor, the original torch shape and the values gguf-py's `dequantize` gives.

--write-expectations records each SafeCkpt file's SHA-256 (after every check passed) in
tests/SafeCkpt.Tests/Fixtures/gguf-write/expectations.json; the unit tests write the same files and compare, without
Python. Exit 0 when every check passed.
"""

import argparse
import hashlib
import importlib.util
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
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "SafeCkpt.Tests", "Fixtures", "gguf-write"))
EXPECTATIONS = os.path.join(FIXTURES, "expectations.json")
MODELS = ["sd1.safetensors", "sdxl.safetensors", "flux.ckpt"]
QUANTS = ["f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0"]

# tools/lcpp.patch (city96/ComfyUI-GGUF @ 795e4515), llama_model_quantize_internal: names never quantized, per
# architecture (substrings, then whole names); img_tensor_get_type: the feed-forward outputs and the to_v exceptions.
KEEP = {
    "flux": (["txt_in.", "img_in.", "time_in.", "vector_in.", "guidance_in.", "final_layer."], []),
    "sd1": (["class_embedding.", "time_embedding.", "add_embedding.", "time_embed.", "label_emb.", "conv_in.", "conv_out."], ["input_blocks.0.0.weight", "out.2.weight"]),
}
KEEP["sdxl"] = KEEP["sd1"]
FFN = ["ffn_down", ".ffn.2.weight", ".ff.net.2.weight", ".mlp.layer2.weight", ".adaln_modulation_mlp.2.weight", ".feed_forward.w2.weight"]
TO_V = ["attn_v.weight", ".to_v.weight", ".v.weight", ".attn.w1v.weight", ".attn.w2v.weight", "_attn.v_proj.weight"]

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL", what)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name in sorted(k for k in header if k != "__metadata__"):  # safetensors' keys() order
            h = header[name]
            f.seek(base + h["data_offsets"][0])
            raw = f.read(h["data_offsets"][1] - h["data_offsets"][0])
            if h["dtype"] == "BF16":
                t = torch.from_numpy(np.frombuffer(raw, np.int16).copy()).view(torch.bfloat16)
            else:
                t = torch.from_numpy(np.frombuffer(raw, {"F32": np.float32, "F16": np.float16}[h["dtype"]]).copy())
            out[name] = t.reshape(h["shape"])
        return out


def load_convert(root):
    sys.modules.setdefault("tqdm", types.SimpleNamespace(tqdm=lambda it, **k: it, write=print))
    sys.modules["tqdm"].tqdm.write = print
    st = types.ModuleType("safetensors")
    st_torch = types.ModuleType("safetensors.torch")
    st_torch.load_file = read_safetensors
    st_torch.save_file = lambda *a, **k: None
    sys.modules["safetensors"], sys.modules["safetensors.torch"] = st, st_torch
    spec = importlib.util.spec_from_file_location("cgguf_convert", os.path.join(root, "tools", "convert.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def load_loader(root):
    class Stub:
        pass

    class ManualCast:
        Linear, Conv2d, Embedding, LayerNorm, GroupNorm = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.Embedding, torch.nn.LayerNorm, torch.nn.GroupNorm)

    comfy = types.ModuleType("comfy")
    comfy.ops = types.SimpleNamespace(manual_cast=ManualCast, cast_to=None)
    comfy.lora = Stub()
    comfy.model_management = Stub()
    sys.modules.update({"comfy": comfy, "comfy.ops": comfy.ops, "comfy.lora": comfy.lora, "comfy.model_management": comfy.model_management})
    pkg = types.ModuleType("cgguf")
    pkg.__path__ = [root]
    sys.modules["cgguf"] = pkg
    for name in ["dequant", "ops", "loader"]:
        spec = importlib.util.spec_from_file_location("cgguf." + name, os.path.join(root, name + ".py"))
        m = importlib.util.module_from_spec(spec)
        sys.modules["cgguf." + name] = m
        spec.loader.exec_module(m)
    return sys.modules["cgguf.loader"], sys.modules["cgguf.dequant"]


def source_values(path):
    sd = read_safetensors(path) if path.endswith(".safetensors") else torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.to(torch.float32).numpy() for k, v in sd.items()}


def ggml_dims(shape):
    for i, d in enumerate(shape):
        if d > 1:
            return len(shape) - i
    return 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool")
    ap.add_argument("--gguf-py", required=True)
    ap.add_argument("--comfyui-gguf", required=True)
    ap.add_argument("--write-expectations", action="store_true")
    a = ap.parse_args()
    sys.path.insert(0, a.gguf_py)
    sys.modules.setdefault("sentencepiece", types.SimpleNamespace(SentencePieceProcessor=None))
    global gguf
    import gguf
    from gguf import GGMLQuantizationType as T
    from gguf.quants import quantize, dequantize
    convert = load_convert(a.comfyui_gguf)
    loader, dequant = load_loader(a.comfyui_gguf)
    tool = ["dotnet", a.tool] if a.tool.endswith(".dll") else [a.tool]
    expectations = {}
    work = tempfile.mkdtemp(prefix="gguf-check-")
    for model in MODELS:
        src = os.path.join(FIXTURES, model)
        stem = os.path.splitext(model)[0]
        ref_path = os.path.join(work, stem + "-convert.gguf")
        convert.convert_file(src, ref_path, interact=False, overwrite=True)
        ref = gguf.GGUFReader(ref_path)
        arch = bytes(ref.get_field("general.architecture").parts[-1]).decode()
        ref_type = "bf16" if ref.get_field("general.file_type").parts[-1][0] == 32 else "f16"
        values = source_values(src)
        prefix = convert.strip_prefix({k: None for k in values})
        values = {k[len("model.diffusion_model."):] if k.startswith("model.diffusion_model.") else k: v for k, v in values.items()}
        for q in QUANTS:
            out = os.path.join(work, f"{stem}-{q}.gguf")
            # --no-provenance: convert.py writes no safeckpt.* keys, and the F16/BF16 files must be byte-identical to its.
            r = subprocess.run(tool + ["convert", src, out, "--quant", q, "--overwrite", "-q", "--no-provenance"], capture_output=True, text=True)
            check(r.returncode == 0, f"{model} {q}: safeckpt exited {r.returncode}: {r.stderr.strip()}")
            if r.returncode != 0:
                continue
            data = open(out, "rb").read()
            if q == ref_type:
                check(data == open(ref_path, "rb").read(), f"{model} {q}: not byte-identical to ComfyUI-GGUF convert.py's output")
            mine = gguf.GGUFReader(out)
            target = T[q.upper()]
            check(bytes(mine.get_field("general.architecture").parts[-1]).decode() == arch, f"{model} {q}: architecture")
            check(int(mine.get_field("general.quantization_version").parts[-1][0]) == 2, f"{model} {q}: quantization_version")
            ftype = {"f16": 1, "bf16": 32, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9}[q]
            check(int(mine.get_field("general.file_type").parts[-1][0]) == ftype, f"{model} {q}: file_type")
            ref_fields = sorted(f for f in ref.fields if f.startswith("comfy.gguf.orig_shape."))
            my_fields = sorted(f for f in mine.fields if f.startswith("comfy.gguf.orig_shape."))
            check(ref_fields == my_fields, f"{model} {q}: orig_shape keys differ")
            for f in ref_fields:
                check(list(ref.get_field(f).parts[-1]) == list(mine.get_field(f).parts[-1]) and mine.get_field(f).types == [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32], f"{model} {q}: {f}")
            check([t.name for t in ref.tensors] == [t.name for t in mine.tensors], f"{model} {q}: tensor names or order differ")
            keep_sub, keep_names = KEEP.get(arch, ([], []))
            for rt, mt in zip(ref.tensors, mine.tensors):
                shape = [int(d) for d in reversed(rt.shape)]  # as written (reshaped), torch order
                inter = rt.tensor_type
                if q in ("f16", "bf16"):
                    expected_type = inter if inter == T.F32 else target
                else:
                    expected_type = inter
                    if (rt.name.endswith("weight") and ggml_dims(shape) == 2 and not any(s in rt.name for s in keep_sub)
                            and rt.name not in keep_names and shape[-1] % 32 == 0):
                        expected_type = target
                        if target in (T.Q4_0, T.Q5_0) and any(s in rt.name for s in FFN) and not any(s in rt.name for s in TO_V):
                            expected_type = T.Q4_1 if target == T.Q4_0 else T.Q5_1
                check(mt.tensor_type == expected_type, f"{model} {q}: {rt.name} is {mt.tensor_type.name}, expected {expected_type.name}")
                check([int(d) for d in mt.shape] == [int(d) for d in rt.shape], f"{model} {q}: {rt.name} shape {list(mt.shape)} != {list(rt.shape)}")
                with np.errstate(all="ignore"):
                    expected = quantize(values[rt.name].reshape(shape), expected_type)
                check(np.ascontiguousarray(expected).view(np.uint8).tobytes() == mt.data.tobytes(), f"{model} {q}: {rt.name} bytes differ from gguf-py's quantize")
            sd, got_arch = loader.gguf_sd_loader(out, return_arch=True)
            check(got_arch == arch, f"{model} {q}: ComfyUI-GGUF loader architecture {got_arch}")
            check(list(sd.keys()) == [t.name for t in mine.tensors], f"{model} {q}: ComfyUI-GGUF loader keys")
            for mt in mine.tensors:
                orig = tuple(values[mt.name].shape)
                w = sd[mt.name]
                shape = tuple(getattr(w, "tensor_shape", w.shape))
                check(shape == orig, f"{model} {q}: loader shape of {mt.name} {shape} != {orig}")
                y = dequant.dequantize_tensor(w, dtype=torch.float32, dequant_dtype=torch.float32).reshape(orig).numpy()
                with np.errstate(all="ignore"):
                    ref_y = dequantize(mt.data, mt.tensor_type).astype(np.float32).reshape(orig)
                check(np.array_equal(y.view(np.uint32), ref_y.view(np.uint32)), f"{model} {q}: ComfyUI-GGUF dequantize of {mt.name} differs from gguf-py's")
            expectations[f"{stem}-{q}.gguf"] = {"source": model, "quant": q, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                                "types": {t.tensor_type.name: sum(1 for u in mine.tensors if u.tensor_type == t.tensor_type) for t in mine.tensors}}
            print(f"ok {model} -> {q}: {len(mine.tensors)} tensors, {len(data)} bytes")
    # Provenance (the default): safeckpt.* STRING keys after the layout's own; gguf-py reads them and the source's
    # SHA-256, and ComfyUI-GGUF's loader still loads the file.
    src = os.path.join(FIXTURES, MODELS[0])
    out = os.path.join(work, "provenance-q8_0.gguf")
    r = subprocess.run(tool + ["convert", src, out, "--quant", "q8_0", "--overwrite", "-q"], capture_output=True, text=True)
    check(r.returncode == 0, f"provenance: safeckpt exited {r.returncode}: {r.stderr.strip()}")
    if r.returncode == 0:
        mine = gguf.GGUFReader(out)
        field = lambda k: bytes(mine.get_field(k).parts[-1]).decode() if mine.get_field(k) is not None else None  # noqa: E731
        sha = hashlib.sha256(open(src, "rb").read()).hexdigest()
        check(field("safeckpt.source.sha256") == sha, "provenance: safeckpt.source.sha256 is not the source's SHA-256")
        check(field("safeckpt.source.autov2") == sha[:10], "provenance: safeckpt.source.autov2")
        check(field("safeckpt.source.name") == os.path.basename(src), "provenance: safeckpt.source.name")
        check(all(mine.get_field(k).types == [gguf.GGUFValueType.STRING] for k in mine.fields if k.startswith("safeckpt.")), "provenance: not STRING")
        sd, got_arch = loader.gguf_sd_loader(out, return_arch=True)
        check(len(sd) == len(mine.tensors), "provenance: ComfyUI-GGUF loader keys")
        print(f"ok provenance: {sum(1 for k in mine.fields if k.startswith('safeckpt.'))} safeckpt.* keys read by gguf-py, file loaded by ComfyUI-GGUF ({got_arch})")
    if failures:
        print(f"{len(failures)} checks failed")
        return 1
    if a.write_expectations:
        with open(EXPECTATIONS, "w") as f:
            json.dump(expectations, f, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote", EXPECTATIONS)
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
