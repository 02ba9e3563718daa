#!/usr/bin/python3
"""Checks SafeCkpt against the real model files in ../shared/real-files (see tests/consumers/README.md).

    /usr/bin/python3 tests/consumers/check_real_files.py /tmp/sc/SafeCkpt.Cli [REAL_FILES_DIR]
        [--a1111 A1111_ROOT_OR_textual_inversion.py] [--comfy COMFYUI_ROOT_OR_sd1_clip.py] [--write-expectations]

For each file: `safeckpt inspect`; .pt/.pth -> .safetensors -> .pt and .safetensors -> .pt -> .safetensors with
the built tool; every tensor bit-exact through the round trip (torch.load(weights_only=True) for .pt, the small
safetensors reader below for .safetensors); and every output loads by the consumers' rules: A1111's and ComfyUI's
embedding loaders (written from shared/research/formats.md 4.1 and 4.2, not copied), and for TAESD / VAE-approx /
LoRA a top-level dict of tensors with the same keys that `load_state_dict(strict=True)` accepts.
With --a1111 / --comfy the embedding checks run the consumers' REAL loader code instead, read at run time with
`ast` from the given files (fetched outside the repository; never copied in): A1111's `EmbeddingDatabase` class
(load_from_file, and create_embedding_from_data where that version has it) and ComfyUI's `load_embed` with the
module functions it calls. What each real loader returned is in real_loader_expectations.json (rewritten with
--write-expectations); without the paths the rules from the notes are used and checked against that file.
Exit 0 when every check passed (or the folder is absent: skipped), 1 otherwise.
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

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "real-files"))
EXPECTATIONS = os.path.join(HERE, "real_loader_expectations.json")

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


# ---------------------------------------------------------------- the consumers' real code (--a1111 / --comfy)
#
# The consumer's source is read from the given file at run time, the definitions needed are taken out with `ast`
# and executed with stand-ins for the modules they touch injected as module globals. Nothing of it is stored here.

class Missing:
    """A global the extracted code names but the embedding path should never reach: any use fails loudly."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        raise RuntimeError(f"consumer code reached the stubbed global '{self._name}.{attr}'")

    def __call__(self, *a, **k):
        raise RuntimeError(f"consumer code called the stubbed global '{self._name}'")


def safetensors_modules():
    """(safetensors, safetensors.torch, is_real). The real package when installed, else a stand-in whose load_file
    returns torch tensors from the reader above, keys by name as safetensors' safe_open.keys() lists them."""
    try:
        import safetensors.torch as real  # noqa: F401
        return sys.modules["safetensors"], real, True
    except ImportError:
        pass

    def load_file(filename, device="cpu"):
        tensors, _ = read_safetensors(filename)
        return {k: tensors[k].clone().to(device) for k in sorted(tensors)}

    pkg = types.ModuleType("safetensors")
    sub = types.ModuleType("safetensors.torch")
    sub.load_file = load_file
    pkg.torch = sub
    return pkg, sub, False


class TorchProxy(types.ModuleType):
    """`torch` for the extracted code: everything is torch's, except `load` when a replacement is given."""

    def __init__(self, load):
        super().__init__("torch")
        self._load = load

    def __getattr__(self, attr):
        return getattr(torch, attr)

    def load(self, *a, **k):
        return self._load(*a, **k)


def consumer_file(path, rel):
    path = os.path.abspath(path)
    return path if os.path.isfile(path) else os.path.join(path, rel)


def extract(path, roots):
    """Top-level definitions `roots` and the module's own definitions they name (transitively), in file order;
    returns (compiled module, free global names)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    missing = [r for r in roots if r not in defs]
    if missing:
        raise RuntimeError(f"{path} has no top-level {', '.join(missing)}")
    want, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in want or name not in defs:
            continue
        want.add(name)
        todo.extend(n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name))
    body = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in want]
    module = ast.Module(body=body, type_ignores=[])
    bound = set(want)
    for node in body:
        for n in ast.walk(node):
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                bound.add(n.name)
            if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda)):
                args = n.args if not isinstance(n, ast.ClassDef) else None
                if args:
                    bound.update(a.arg for a in args.posonlyargs + args.args + args.kwonlyargs)
                    bound.update(a.arg for a in (args.vararg, args.kwarg) if a)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                bound.add(n.id)
            elif isinstance(n, ast.alias):
                bound.add((n.asname or n.name).split(".")[0])
            elif isinstance(n, ast.ExceptHandler) and n.name:
                bound.add(n.name)
            elif isinstance(n, ast.arg):
                bound.add(n.arg)
    free = sorted({n.id for node in body for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
                  - bound - set(dir(builtins)))
    return compile(module, path, "exec"), free, sorted(want)


def run_extracted(code, free, given, module_name):
    g = {"__name__": module_name, "__builtins__": builtins}
    stubbed = []
    for name in free:
        if name in given:
            g[name] = given[name]
        else:
            g[name] = Missing(name)
            stubbed.append(name)
    exec(code, g)
    return g, stubbed


class RealA1111:
    """A1111's EmbeddingDatabase (load_from_file [+ create_embedding_from_data]) as written in the fetched file."""

    def __init__(self, path):
        self.path = consumer_file(path, os.path.join("modules", "textual_inversion", "textual_inversion.py"))
        code, free, self.defs = extract(self.path, ["Embedding", "EmbeddingDatabase"])
        st_pkg, _, self.real_safetensors = safetensors_modules()
        self.loads = []

        def load(f, *a, **k):
            # A1111 replaces torch.load with its restricted unpickler (modules/safe.py); weights_only is the stand-in
            self.loads.append(f)
            k.pop("weights_only", None)
            return torch.load(f, *a, weights_only=True, **k)

        tokenizer_ids = {}
        cond = types.SimpleNamespace(tokenize=lambda names: [[tokenizer_ids.setdefault(n, 1000 + len(tokenizer_ids))] for n in names])
        given = {
            "os": os, "torch": TorchProxy(load), "safetensors": st_pkg,
            "shared": types.SimpleNamespace(sd_model=types.SimpleNamespace(cond_stage_model=cond),
                                            opts=types.SimpleNamespace(textual_inversion_print_at_load=False)),
            "devices": types.SimpleNamespace(device=torch.device("cpu"), cpu=torch.device("cpu")),
            "hashes": types.SimpleNamespace(sha256=lambda *a, **k: None),   # no cache: set_hash gets ''
        }
        self.g, self.stubbed = run_extracted(code, free, given, "a1111_textual_inversion_real")
        self.given = sorted(set(given) & set(free))

    def load(self, path, expected_shape):
        """Runs load_from_file(path, filename) on a fresh database whose model expects `expected_shape`."""
        db = self.g["EmbeddingDatabase"]()
        db.expected_shape = expected_shape
        filename = os.path.basename(path)
        db.load_from_file(path, filename)
        name = os.path.splitext(filename)[0]
        if name in db.skipped_embeddings:
            e = db.skipped_embeddings[name]
            raise AssertionError(f"A1111 skipped it: shape {e.shape} != the model's {expected_shape}")
        if name not in db.word_embeddings:
            raise AssertionError("A1111 registered no embedding")
        return db.word_embeddings[name]


class RealComfy:
    """ComfyUI's load_embed (and the sd1_clip functions it calls) as written in the fetched file."""

    def __init__(self, path):
        self.path = consumer_file(path, os.path.join("comfy", "sd1_clip.py"))
        code, free, self.defs = extract(self.path, ["load_embed"])
        self.st_pkg, self.st_sub, self.real_safetensors = safetensors_modules()
        self.load_errors = []

        def load(*a, **k):
            try:
                return torch.load(*a, **k)
            except Exception as e:  # recorded: load_embed swallows it and falls back to reading the zip raw
                self.load_errors.append(f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
                raise

        import logging
        import traceback
        import zipfile
        given = {"os": os, "torch": TorchProxy(load), "logging": logging, "traceback": traceback, "zipfile": zipfile}
        self.g, self.stubbed = run_extracted(code, free, given, "comfy_sd1_clip_real")
        self.given = sorted(set(given) & set(free))

    def load(self, path, embedding_size=768, embed_key="clip_l"):
        """load_embed(file name, its folder, 768, 'clip_l') as SD1's SDTokenizer calls it; returns (tensor, note)."""
        self.load_errors.clear()
        saved = {k: sys.modules.get(k) for k in ("safetensors", "safetensors.torch")}
        if not self.real_safetensors:
            sys.modules["safetensors"], sys.modules["safetensors.torch"] = self.st_pkg, self.st_sub
        try:
            out = self.g["load_embed"](os.path.basename(path), os.path.dirname(os.path.abspath(path)), embedding_size, embed_key)
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v
        if out is None:
            raise AssertionError("ComfyUI load_embed returned None (the file did not load)")
        if self.load_errors:
            raise AssertionError(f"torch.load(weights_only=True) failed and load_embed fell back to safe_load_embed_zip: {self.load_errors[0]}")
        return out


REAL = {"a1111": None, "comfy": None}
RESULTS = {}          # label -> {"a1111": {...}, "comfy": {...}}, what this run's loaders returned


def digest(t):
    dtype, shape, data = raw_bytes(t)
    return {"dtype": dtype.replace("torch.", ""), "shape": list(shape), "sha256": hashlib.sha256(data).hexdigest()}


def source_id(path):
    with open(path, "rb") as f:
        return {"file": os.path.basename(path), "sha256": hashlib.sha256(f.read()).hexdigest()}


def load_expectations():
    if os.path.exists(EXPECTATIONS):
        with open(EXPECTATIONS, encoding="utf-8") as f:
            return json.load(f).get("results", {})
    return {}


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


def check_embedding_pt(c, name, data, path, expected_vec, is_input=False):
    """The file loads in A1111 and ComfyUI with the expected vector: by their real code when given, else by the rules
    from the notes (then also compared with what the real code returned when the expectations were recorded)."""
    label = os.path.basename(path) + (" (input, control)" if is_input else "")
    expected = load_expectations().get(label, {})
    width = expected_vec.shape[-1]

    def recorded(consumer, got):
        RESULTS.setdefault(label, {})[consumer] = got
        if REAL[consumer] is None:
            if consumer not in expected:
                return " (no recorded real-loader result)"
            if expected[consumer] != got:
                raise AssertionError(f"differs from what the real {consumer} loader returned: {expected[consumer]} vs {got}")
            return " (= recorded real-loader result)"
        return ""

    def a1111():
        if REAL["a1111"] is not None:
            e = REAL["a1111"].load(path, width)
            vec, shape, vectors, step = e.vec, e.shape, e.vectors, e.step
            how = "A1111 EmbeddingDatabase.load_from_file (real code)"
        else:
            vec, shape, vectors, step = a1111_load_embedding(data, os.path.basename(path))
            how = "A1111 rule"
        if raw_bytes(vec) != raw_bytes(expected_vec.float()):
            raise AssertionError("A1111 reads a different vector")
        note = recorded("a1111", {**digest(vec), "vectors": int(vectors), "width": int(shape), "step": step})
        return f"{how} ok: {vectors} vectors x {shape}, step {step}, float32 bit-exact" + note

    def comfy():
        if REAL["comfy"] is not None:
            emb = REAL["comfy"].load(path)
            how = "ComfyUI load_embed (real code)"
        else:
            emb = comfy_load_embed(data)
            how = "ComfyUI load_embed rule"
        if raw_bytes(emb) != raw_bytes(expected_vec):
            raise AssertionError(f"ComfyUI reads a different vector: {emb.dtype} {tuple(emb.shape)}")
        note = recorded("comfy", digest(emb))
        return f"{how} ok: {emb.dtype} {tuple(emb.shape)} bit-exact" + note

    c.check(name, f"{label} loads as an A1111 embedding", a1111)
    c.check(name, f"{label} loads in ComfyUI load_embed", comfy)


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
        check_embedding_pt(c, name, original, path, vec, is_input=True)
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
        check_embedding_pt(c, name, original, path, vec, is_input=True)
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
    args, opts, i = [], {"--a1111": None, "--comfy": None}, 1
    write = False
    while i < len(sys.argv):
        a = sys.argv[i]
        if a in opts and i + 1 < len(sys.argv):
            opts[a] = sys.argv[i + 1]
            i += 2
            continue
        if a == "--write-expectations":
            write = True
        else:
            args.append(a)
        i += 1
    if not args:
        print(__doc__)
        return 2
    tool = args[0]
    folder = args[1] if len(args) > 1 else DEFAULT_DIR
    if not os.path.isdir(folder):
        print(f"skipped: {folder} is not present (the real files live outside the repository)")
        return 0
    if opts["--a1111"]:
        REAL["a1111"] = RealA1111(opts["--a1111"])
    if opts["--comfy"]:
        REAL["comfy"] = RealComfy(opts["--comfy"])
    for key, r in REAL.items():
        if r is None:
            print(f"{key}: real code not given, the rules written from the notes are used")
        else:
            with open(r.path, "rb") as f:
                sha = hashlib.sha256(f.read()).hexdigest()
            print(f"{key}: real code from {r.path} (sha256 {sha[:16]}): {', '.join(r.defs)}; "
                  f"injected {', '.join(r.given)}; safetensors {'installed' if r.real_safetensors else 'stand-in'}; "
                  f"left as fail-on-use stubs: {', '.join(r.stubbed) or '-'}")
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
    if write:
        if REAL["a1111"] is None or REAL["comfy"] is None or c.failures:
            print("not writing expectations: they are recorded only from both real loaders on a run with no failure")
        else:
            with open(EXPECTATIONS, "w", encoding="utf-8") as f:
                json.dump({"about": "What the consumers' real loaders returned for each embedding file "
                                    "(tests/consumers/README.md): written by check_real_files.py --write-expectations",
                           "a1111": source_id(REAL["a1111"].path), "comfy": source_id(REAL["comfy"].path),
                           "results": RESULTS}, f, indent=1, sort_keys=True)
                f.write("\n")
            print(f"wrote {EXPECTATIONS} ({len(RESULTS)} files)")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
