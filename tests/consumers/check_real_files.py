#!/usr/bin/python3
"""Checks SafeCkpt against the real model files in ../shared/real-files (see tests/consumers/README.md).

    /usr/bin/python3 tests/consumers/check_real_files.py /tmp/sc/SafeCkpt.Cli [REAL_FILES_DIR]

For each file: `safeckpt inspect`; .pt/.pth -> .safetensors -> .pt and .safetensors -> .pt -> .safetensors with
the built tool; every tensor bit-exact through the round trip (torch.load(weights_only=True) for .pt, the small
safetensors reader below for .safetensors); and every output loads by the consumers' rules: A1111's and ComfyUI's
embedding loaders (written from shared/research/formats.md 4.1 and 4.2, not copied), and for TAESD / VAE-approx /
LoRA a top-level dict of tensors with the same keys that `load_state_dict(strict=True)` accepts.
Exit 0 when every check passed (or the folder is absent: skipped), 1 otherwise.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "real-files"))

# ---------------------------------------------------------------- a tiny safetensors reader (the spec, no library)

ST_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}


def read_safetensors(path):
    """Returns (ordered dict name -> tensor, metadata). Header: u64 LE length, JSON; data_offsets relative to the data."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = raw[8 + n:]
    out = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        start, end = e["data_offsets"]
        dtype = ST_DTYPES[e["dtype"]]
        buf = bytearray(data[start:end])
        t = torch.frombuffer(buf, dtype=dtype) if len(buf) else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(e["shape"])
    return out, meta


def load_pt(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def raw_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return (str(t.dtype), tuple(t.shape), t.numpy().tobytes())


def flatten(obj, prefix=""):
    """Tensors of a loaded pickle by SafeCkpt's naming: dict keys and list indexes joined with '.'."""
    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix or "tensor"] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    return out


# ---------------------------------------------------------------- consumers' loading rules (from formats.md)

def a1111_load_embedding(data, filename):
    """A1111 EmbeddingDatabase.load_from_file + create_embedding_from_data, v1.6+ (formats.md 4.1, accepted shapes 1-4).

    Returns (vec, shape, vectors, step). Raises when A1111 would refuse the file.
    """
    if not isinstance(data, dict):
        raise ValueError("A1111: embedding data is not a dict")
    if "string_to_param" in data:                                            # rule 1
        param_dict = data["string_to_param"]
        param_dict = getattr(param_dict, "_parameters", param_dict)          # ParameterDict accepted via _parameters
        if len(param_dict) != 1:
            raise ValueError("A1111: embedding file has multiple terms in it")
        emb = next(iter(param_dict.items()))[1]
        vec = emb.detach().to(dtype=torch.float32)
        shape, vectors = vec.shape[-1], vec.shape[0]
    elif "clip_g" in data and "clip_l" in data:                              # rule 2: SDXL
        vec = {k: v.detach().to(dtype=torch.float32) for k, v in data.items()}
        shape = data["clip_g"].shape[-1] + data["clip_l"].shape[-1]
        vectors = data["clip_g"].shape[0]
    elif len(data) > 0 and type(list(data.values())[0]) == torch.Tensor:     # rule 3: diffuser concept / emb_params
        if len(data.keys()) != 1:
            raise ValueError("A1111: embedding file has multiple terms in it")
        emb = next(iter(data.values()))
        if len(emb.shape) == 1:
            emb = emb.unsqueeze(0)
        vec = emb.detach().to(dtype=torch.float32)
        shape, vectors = vec.shape[-1], vec.shape[0]
    else:                                                                    # rule 4
        raise ValueError(f"A1111: Couldn't identify {filename} as neither textual inversion embedding nor diffuser concept.")
    return vec, shape, vectors, data.get("step", None)


def comfy_load_embed(embed, embedding_size=768, embed_key="clip_l"):
    """ComfyUI comfy/sd1_clip.py load_embed selection (formats.md 4.2), after torch.load(weights_only=True)/load_file."""
    if "string_to_param" in embed:
        return next(iter(embed["string_to_param"].values()))
    if isinstance(embed, list):
        out = [t.reshape(-1, t.shape[-1]) for x in embed for t in x.values() if t.shape[-1] == embedding_size]
        return torch.cat(out, dim=0)
    if embed_key is not None and embed_key in embed:
        return embed[embed_key]
    return next(iter(embed.values()))


def load_state_dict_strict(sd, like):
    """What torch.load(...) + module.load_state_dict(strict=True) needs: a module with exactly `like`'s keys and shapes."""
    root = torch.nn.Module()
    for k, v in like.items():
        parts = k.split(".")
        m = root
        for p in parts[:-1]:
            if p not in m._modules:
                m.add_module(p, torch.nn.Module())
            m = m._modules[p]
        m.register_buffer(parts[-1], torch.zeros_like(v))
    root.load_state_dict(sd, strict=True)


# ---------------------------------------------------------------- the checks

class Checker:
    def __init__(self, tool, work):
        self.tool = tool
        self.work = work
        self.failures = []
        self.passes = 0

    def run(self, *args):
        cmd = (["dotnet", self.tool] if self.tool.endswith(".dll") else [self.tool]) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"safeckpt {' '.join(args)} exited {p.returncode}: {p.stderr.strip()[:400]}")
        return p.stdout

    def check(self, name, what, fn):
        try:
            detail = fn()
            self.passes += 1
            print(f"  ok   {what}" + (f": {detail}" if detail else ""))
        except Exception as e:  # noqa: BLE001 - every failure is reported, the run goes on
            self.failures.append(f"{name}: {what}: {e}")
            print(f"  FAIL {what}: {e}")

    def convert(self, src, dst):
        if os.path.exists(dst):
            os.remove(dst)
        return self.run("convert", src, dst)


def same_tensors(a, b, what, ordered=True):
    """Same names and bytes; `ordered` also compares the order (a .safetensors is laid out by the reference writer's
    order, larger dtypes first then by name, so a trip through one does not keep a pickle's order)."""
    if (list(a) if ordered else sorted(a)) != (list(b) if ordered else sorted(b)):
        raise AssertionError(f"{what}: keys differ: {list(a)[:5]} vs {list(b)[:5]}")
    for k in a:
        if raw_bytes(a[k]) != raw_bytes(b[k]):
            raise AssertionError(f"{what}: tensor {k} differs")
    return f"{len(a)} tensors bit-exact"


def is_embedding(name):
    return name.startswith("ti_")


def check_embedding_pt(c, name, data, path, expected_vec):
    """The .pt loads in A1111 and ComfyUI with the expected vector."""
    def a1111():
        vec, shape, vectors, step = a1111_load_embedding(data, os.path.basename(path))
        if raw_bytes(vec) != raw_bytes(expected_vec.float()):
            raise AssertionError("A1111 reads a different vector")
        return f"A1111 rule ok: {vectors} vectors x {shape}, step {step}"

    def comfy():
        emb = comfy_load_embed(data)
        if raw_bytes(emb) != raw_bytes(expected_vec):
            raise AssertionError("ComfyUI reads a different vector")
        return f"ComfyUI load_embed ok: {tuple(emb.shape)}"

    c.check(name, f"{os.path.basename(path)} loads as an A1111 embedding", a1111)
    c.check(name, f"{os.path.basename(path)} loads in ComfyUI load_embed", comfy)


def check_pt_file(c, name, path):
    stem = os.path.splitext(name)[0]
    original = load_pt(path)
    flat = flatten(original)
    st = os.path.join(c.work, stem + ".safetensors")
    back = os.path.join(c.work, stem + ".back.pt")
    same = os.path.join(c.work, stem + ".same.pt")
    c.check(name, "pt -> safetensors", lambda: c.convert(path, st).strip().splitlines()[-1])
    c.check(name, "safetensors -> pt", lambda: c.convert(st, back).strip().splitlines()[-1])
    c.check(name, "pt -> pt", lambda: c.convert(path, same).strip().splitlines()[-1])
    if not (os.path.exists(st) and os.path.exists(back) and os.path.exists(same)):
        return
    st_tensors, _ = read_safetensors(st)
    back_data = load_pt(back)
    same_data = load_pt(same)
    if is_embedding(name):
        vec = flat["string_to_param.*"]
        c.check(name, "safetensors output is one emb_params tensor, bit-exact",
                lambda: same_tensors({"emb_params": vec}, st_tensors, "emb_params"))
        c.check(name, "round trip pt -> safetensors -> pt keeps the vector bit-exact",
                lambda: same_tensors({"string_to_param.*": vec}, {k: v for k, v in flatten(back_data).items() if k.startswith("string_to_param")}, "round trip"))
        check_embedding_pt(c, name, back_data, back, vec)
        check_embedding_pt(c, name, st_tensors, st, vec)

        def kept():
            for k in ("string_to_token", "string_to_param", "name", "step", "sd_checkpoint", "sd_checkpoint_name"):
                if k not in same_data:
                    raise AssertionError(f"pt -> pt lost '{k}'")
            if [k for k in same_data] != [k for k in original]:
                raise AssertionError("pt -> pt changed the key order")
            for k in ("name", "step", "sd_checkpoint", "sd_checkpoint_name"):
                if same_data[k] != original[k]:
                    raise AssertionError(f"pt -> pt changed '{k}'")
            if same_data["string_to_token"] != original["string_to_token"]:
                raise AssertionError("pt -> pt changed string_to_token")
            return f"name {same_data['name']!r}, step {same_data['step']}, token {same_data['string_to_token']}"

        c.check(name, "pt -> pt keeps the A1111 structure and values", kept)
        check_embedding_pt(c, name, same_data, same, vec)
    else:
        c.check(name, "safetensors holds every tensor bit-exact", lambda: same_tensors(flat, st_tensors, "safetensors", ordered=False))
        for label, data in (("safetensors -> pt", back_data), ("pt -> pt", same_data)):
            def top(data=data):
                if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
                    raise AssertionError(f"not a top-level dict of tensors: {type(data).__name__} with keys {list(data)[:3]}")
                same_tensors(flat, data, label, ordered=label == "pt -> pt")
                load_state_dict_strict(data, flat)
                return f"top-level {type(data).__name__} of {len(data)} tensors, bit-exact, load_state_dict(strict=True) ok"

            c.check(name, f"{label}: output is what torch.load + load_state_dict needs", top)


def check_safetensors_file(c, name, path):
    stem = os.path.splitext(name)[0]
    original, meta = read_safetensors(path)
    pt = os.path.join(c.work, stem + ".pt")
    back = os.path.join(c.work, stem + ".back.safetensors")
    c.check(name, "safetensors -> pt", lambda: c.convert(path, pt).strip().splitlines()[-1])
    c.check(name, "pt -> safetensors", lambda: c.convert(pt, back).strip().splitlines()[-1])
    if not (os.path.exists(pt) and os.path.exists(back)):
        return
    pt_data = load_pt(pt)
    back_tensors, back_meta = read_safetensors(back)
    c.check(name, "round trip safetensors -> pt -> safetensors is bit-exact", lambda: same_tensors(original, back_tensors, "round trip"))
    if is_embedding(name):
        vec = next(iter(original.values()))
        check_embedding_pt(c, name, pt_data, pt, vec)
        check_embedding_pt(c, name, original, path, vec)
    else:
        def top():
            if not isinstance(pt_data, dict) or "state_dict" in pt_data:
                raise AssertionError(f"not a top-level dict: keys {list(pt_data)[:3]}")
            same_tensors(original, pt_data, "pt")
            load_state_dict_strict(pt_data, original)
            return f"top-level {type(pt_data).__name__} of {len(pt_data)} tensors, bit-exact, load_state_dict(strict=True) ok"

        c.check(name, "pt output is what torch.load + load_state_dict needs", top)
    if meta and not back_meta:
        print(f"  note {len(meta)} safetensors metadata entries do not survive a .pt (a pickle has no place for them)")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    tool = sys.argv[1]
    folder = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_DIR
    if not os.path.isdir(folder):
        print(f"skipped: {folder} is not present (the real files live outside the repository)")
        return 0
    names = sorted(n for n in os.listdir(folder) if n.endswith((".pt", ".pth", ".ckpt", ".safetensors")))
    with tempfile.TemporaryDirectory(prefix="safeckpt-real-") as work:
        c = Checker(tool, work)
        for name in names:
            path = os.path.join(folder, name)
            print(name)
            c.check(name, "inspect", lambda: c.run("inspect", path).splitlines()[0].strip())
            if name.endswith(".safetensors"):
                check_safetensors_file(c, name, path)
            else:
                check_pt_file(c, name, path)
    print(f"\n{len(names)} files, {c.passes} checks passed, {len(c.failures)} failed")
    for f in c.failures:
        print("  " + f)
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
