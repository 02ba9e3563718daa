#!/usr/bin/env python3
"""Consumer check for `safeckpt meta`: files whose metadata SafeCkpt edited are opened by readers that are not
SafeCkpt, and must show the metadata asked for and every tensor unchanged.

    /usr/bin/python3 tests/consumers/metadata_check.py TOOL [--reference-reader BIN] [--write-expectations]

TOOL is the built tool (`safeckpt`, or `SafeCkpt.Cli.dll`, run with dotnet). Readers used on every output:

- an independent reader written here from the safetensors spec (8-byte N, N bytes of JSON, the data section
  tiled exactly by the entries' data_offsets), with torch turning each tensor's bytes into a tensor;
- the `safetensors` package (safe_open: metadata() and get_tensor) when it is importable;
- with --reference-reader, a binary built outside the project on huggingface/safetensors' own Rust crate
  (`SafeTensors::read_metadata` + `deserialize`), printing {"metadata", "tensors": {name: {dtype, shape, bytes,
  fnv1a}}} as JSON. How it was built: see README.md beside this script.

Each scenario starts from a file this script writes itself (seeded bytes, no SafeCkpt), edits it with the tool and
compares. `metadata_expectations.json` records what was seen (mode, header length, metadata, data SHA-256 = AutoV3,
tensor checksums, the reference reader's verdicts); without --write-expectations each run is compared with it.
"""
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTATIONS = os.path.join(HERE, "metadata_expectations.json")
DTYPES = {"F16": torch.float16, "F32": torch.float32, "BF16": torch.bfloat16, "I64": torch.int64, "U8": torch.uint8}


def fnv1a(data: bytes) -> str:
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def write_source(path, metadata, seed):
    """A safetensors file written from the spec: tensors in name order, header padded with spaces to 8."""
    g = torch.Generator().manual_seed(seed)
    tensors = {
        "model.diffusion_model.a.weight": ("F16", [4, 8]),
        "model.diffusion_model.b.bias": ("F32", [8]),
        "first_stage_model.c": ("BF16", [3, 5]),
        "cond_stage_model.ids": ("I64", [1, 7]),
        "z.bytes": ("U8", [13]),
    }
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        dtype, shape = tensors[name]
        n = 1
        for d in shape:
            n *= d
        size = n * torch.tensor([], dtype=DTYPES[dtype]).element_size()
        data = bytes(torch.randint(0, 256, (size,), generator=g, dtype=torch.uint8).tolist())
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        blobs.append(data)
        offset += size
    if metadata:
        header = {"__metadata__": metadata, **header}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def own_reader(path):
    """The spec, as a reader: returns (N, metadata, {name: (dtype, shape, fnv1a)}, data section bytes)."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    assert n <= 100_000_000 and 8 + n <= len(raw), "header length outside the file"
    head = raw[8:8 + n]
    assert head[:1] == b"{", "header must start with {"
    header = json.loads(head.decode("utf-8"))  # trailing spaces are JSON whitespace
    metadata = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()), "metadata must be str -> str"
    data = raw[8 + n:]
    spans = sorted((e["data_offsets"][0], e["data_offsets"][1]) for e in header.values())
    at = 0
    for b, e in spans:
        assert b == at, "the data section has a hole or an overlap"
        at = e
    assert at == len(data), "trailing bytes after the last tensor"
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        blob = data[b:end]
        t = torch.frombuffer(bytearray(blob), dtype=DTYPES[e["dtype"]]).reshape(e["shape"]) if blob else None
        assert t is None or list(t.shape) == e["shape"]
        tensors[name] = (e["dtype"], e["shape"], fnv1a(blob))
    return n, metadata, tensors, data


def package_reader(path):
    try:
        from safetensors import safe_open  # noqa: PLC0415
    except ImportError:
        return None
    with safe_open(path, framework="pt") as f:
        md = f.metadata() or {}
        ts = {k: list(f.get_tensor(k).shape) for k in f.keys()}
    return md, ts


def reference_reader(binary, path):
    if not binary:
        return None
    out = subprocess.run([binary, path], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def tool_cmd(tool):
    return ["dotnet", tool] if tool.endswith(".dll") else [tool]


def run_tool(tool, args, env=None):
    return subprocess.run(tool_cmd(tool) + args, capture_output=True, text=True, env=env)


def observe(path, reference):
    n, metadata, tensors, data = own_reader(path)
    seen = {
        "header_length": n,
        "file_length": os.path.getsize(path),
        "metadata": metadata,
        "data_sha256": hashlib.sha256(data).hexdigest(),
        "tensors": {k: list(v) for k, v in sorted(tensors.items())},
    }
    pkg = package_reader(path)
    if pkg is not None:
        assert pkg[0] == metadata, "safetensors package sees other metadata"
        assert {k: v[1] for k, v in tensors.items()} == pkg[1], "safetensors package sees other tensors"
        seen["safetensors_package"] = "same"
    ref = reference_reader(reference, path)
    if ref is not None:
        assert "error" not in ref, f"reference reader refused the file: {ref}"
        assert ref["metadata"] == metadata, "reference reader sees other metadata"
        assert ref["header_length"] == n
        mine = {k: {"dtype": v[0], "shape": v[1], "fnv1a": v[2]} for k, v in tensors.items()}
        theirs = {k: {"dtype": v["dtype"], "shape": v["shape"], "fnv1a": v["fnv1a"]} for k, v in ref["tensors"].items()}
        assert mine == theirs, "reference reader sees other tensors"
        seen["reference_reader"] = "same"
    return seen


AWKWARD = {
    "quotes \"and\" \\backslashes\\": "value with \"quotes\", \\, / and \u00e9\u4e2d\u2713\U0001F600",
    "control": "tab\tnewline\nreturn\rbell\u0007nul\u0000esc\u001b[31m",
    "empty": "",
    "json-looking": "{\"nested\": [1, 2, {\"a\": null}]}",
}


def scenarios(tool, work, reference):
    results = {}

    def fresh(name, metadata, seed=1):
        p = os.path.join(work, name)
        write_source(p, metadata, seed)
        return p

    def check(name, path, source_data_sha, expect_meta, expect_mode, result):
        assert result.returncode == 0, f"{name}: tool failed: {result.stderr}"
        seen = observe(path, reference)
        assert seen["metadata"] == expect_meta, f"{name}: metadata {seen['metadata']} != {expect_meta}"
        assert seen["data_sha256"] == source_data_sha, f"{name}: the data section changed"
        mode = json.loads(result.stdout)["mode"] if result.stdout.strip().startswith("{") else None
        if expect_mode:
            assert mode == expect_mode, f"{name}: mode {mode} != {expect_mode}"
        seen["mode"] = mode
        results[name] = seen

    base = {"format": "pt", "ss_tag_frequency": json.dumps({"10_mychar": {"mychar": 12, "1girl": 10}}), "ss_note": "x" * 200}

    p = fresh("inplace.safetensors", base)
    src = observe(p, reference)
    r = run_tool(tool, ["meta", p, "--set", "modelspec.title=In place", "--unset", "ss_note", "-j"])
    check("in-place", p, src["data_sha256"], {"format": "pt", "ss_tag_frequency": base["ss_tag_frequency"], "modelspec.title": "In place"}, "in-place", r)
    assert results["in-place"]["file_length"] == src["file_length"] and results["in-place"]["header_length"] == src["header_length"]

    p = fresh("grow.safetensors", {"format": "pt"})
    src = observe(p, reference)
    r = run_tool(tool, ["meta", p, "--set", "modelspec.description=" + "long " * 2000, "-j"])
    check("rewritten", p, src["data_sha256"], {"format": "pt", "modelspec.description": "long " * 2000}, "rewritten", r)
    assert (8 + results["rewritten"]["header_length"]) % 4096 == 0

    p = fresh("awkward.safetensors", {"a": "1"})
    src = observe(p, reference)
    fj = os.path.join(work, "awkward.json")
    with open(fj, "w", encoding="utf-8") as f:
        json.dump(AWKWARD, f, ensure_ascii=False)
    r = run_tool(tool, ["meta", p, "--strip", "--from", fj, "-j"])
    check("awkward-strings", p, src["data_sha256"], AWKWARD, None, r)

    p = fresh("strip.safetensors", {**base, "modelspec.title": "keep me", "modelspec.author": "me"})
    src = observe(p, reference)
    before = open(p, "rb").read()
    out = os.path.join(work, "stripped.safetensors")
    r = run_tool(tool, ["meta", p, "--strip", "--keep", "modelspec.*", "-o", out, "-j"])
    check("copy-stripped", out, src["data_sha256"], {"modelspec.title": "keep me", "modelspec.author": "me"}, "copied", r)
    assert open(p, "rb").read() == before, "--out modified the input"

    p = fresh("spec.safetensors", {})
    src = observe(p, reference)
    r = run_tool(tool, ["meta", p, "--modelspec", "-j"])
    assert r.returncode == 0, r.stderr
    seen = observe(p, reference)
    assert seen["metadata"]["modelspec.hash_sha256"] == "0x" + src["data_sha256"], "hash_sha256 is not the SHA-256 after the header"
    assert seen["metadata"]["modelspec.title"] == "spec" and seen["metadata"]["modelspec.sai_model_spec"] == "1.0.1"
    seen["mode"] = json.loads(r.stdout)["mode"]
    results["modelspec"] = seen

    # Provenance (issue 13): a file SafeCkpt converts records its source's hashes, name and recipe under safeckpt.*,
    # and readers that are not SafeCkpt see them as plain metadata; --no-provenance writes none.
    p = fresh("source model.safetensors", {"format": "pt", "modelspec.title": "source"}, seed=7)
    raw = open(p, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    sha, data_sha = hashlib.sha256(raw).hexdigest(), hashlib.sha256(raw[8 + n:]).hexdigest()
    out = os.path.join(work, "converted.safetensors")
    r = run_tool(tool, ["convert", p, out, "--dtype", "fp16"])
    assert r.returncode == 0, r.stderr
    seen = observe(out, reference)
    meta = seen["metadata"]
    assert meta["safeckpt.source.name"] == "source model.safetensors", meta
    assert meta["safeckpt.source.format"] == "safetensors", meta
    assert meta["safeckpt.source.sha256"] == sha and meta["safeckpt.source.autov2"] == sha[:10], meta
    assert meta["safeckpt.source.autov3"] == data_sha, meta
    assert all(work not in v for v in meta.values()), "a local path leaked into the metadata"
    assert meta.pop("safeckpt.version"), "no safeckpt.version"
    del seen["header_length"], seen["file_length"]  # both move with the version string's length
    seen["mode"] = None
    results["provenance"] = seen
    out = os.path.join(work, "no-provenance.safetensors")
    r = run_tool(tool, ["convert", p, out, "--dtype", "fp16", "--no-provenance"])
    assert r.returncode == 0, r.stderr
    seen = observe(out, reference)
    assert not any(k.startswith("safeckpt.") for k in seen["metadata"]), seen["metadata"]
    seen["mode"] = None
    results["no-provenance"] = seen

    # A real kill -9 inside the in-place edit. Before SafeCkpt opens the file again, other readers see the old file
    # (journal written, header untouched), a torn header (half written: the window other programs have), or the new
    # one; after `safeckpt meta` they see the old or the new one, and the journal is gone.
    for step, expect in (("JournalWritten", "old"), ("HeaderHalfWritten", "old"), ("HeaderWritten", "new")):
        old = {"modelspec.title": "old", "ss_pad": "o" * 6000}
        p = fresh(f"kill-{step}.safetensors", old)
        src = observe(p, reference)
        marker = p + ".paused"
        env = dict(os.environ, SAFECKPT_TEST_META_PAUSE=f"{step}:{marker}")
        proc = subprocess.Popen(tool_cmd(tool) + ["meta", p, "--unset", "ss_pad", "--set", "modelspec.title=new"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not os.path.exists(marker) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        assert os.path.exists(marker), f"the tool did not reach {step}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        journal = os.path.join(os.path.dirname(p), "." + os.path.basename(p) + ".safeckpt-meta")
        assert os.path.exists(journal)
        try:
            before_recovery = observe(p, reference)["metadata"]
            before_state = "old" if before_recovery == old else "new" if before_recovery == {"modelspec.title": "new"} else "other"
        except Exception as e:  # noqa: BLE001 - a torn header: any reader error is the observation
            before_state = f"unreadable ({type(e).__name__})"
        r = run_tool(tool, ["meta", p, "-j"])
        assert r.returncode == 0, r.stderr
        assert not os.path.exists(journal), "the journal survived a SafeCkpt open"
        seen = observe(p, reference)
        want = old if expect == "old" else {"modelspec.title": "new"}
        assert seen["metadata"] == want, f"kill at {step}: {seen['metadata']}"
        assert seen["data_sha256"] == src["data_sha256"]
        seen["other_readers_before_recovery"] = before_state
        seen["mode"] = None
        results[f"kill-9-at-{step}"] = seen
    return results


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    tool = args[0]
    reference = args[args.index("--reference-reader") + 1] if "--reference-reader" in args else None
    with tempfile.TemporaryDirectory() as work:
        results = scenarios(tool, work, reference)
    for name, seen in results.items():
        extra = ", ".join(k for k in ("safetensors_package", "reference_reader") if k in seen)
        print(f"ok  {name}: mode {seen['mode']}, N {seen.get('header_length', '-')}, {len(seen['metadata'])} keys{', also ' + extra if extra else ''}"
              + (f", other readers before recovery: {seen['other_readers_before_recovery']}" if "other_readers_before_recovery" in seen else ""))
    if "--write-expectations" in args:
        with open(EXPECTATIONS, "w", encoding="utf-8") as f:
            json.dump({"reference_reader": "huggingface/safetensors v0.4.5 (SafeTensors::read_metadata + deserialize)" if reference else None,
                       "scenarios": results}, f, indent=1, ensure_ascii=False, sort_keys=True)
            f.write("\n")
        print(f"wrote {EXPECTATIONS}")
        return 0
    if os.path.exists(EXPECTATIONS):
        expected = json.load(open(EXPECTATIONS, encoding="utf-8"))["scenarios"]
        strip = lambda d: {k: v for k, v in d.items() if k not in ("safetensors_package", "reference_reader")}  # noqa: E731
        bad = [n for n in expected if n not in results or strip(expected[n]) != strip(results[n])]
        if bad:
            print(f"FAILED: differs from {os.path.basename(EXPECTATIONS)}: {', '.join(bad)}")
            return 1
        print(f"all {len(results)} scenarios match {os.path.basename(EXPECTATIONS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
