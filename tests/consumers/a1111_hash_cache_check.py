"""Checks with AUTOMATIC1111's own code that a folder hashed by SafeCkpt starts A1111 without rehashing, and that
SafeCkpt reuses the cache.json A1111 writes.

    /usr/bin/python3 tests/consumers/a1111_hash_cache_check.py TOOL --a1111 ROOT [--a1111 ROOT ...]
        [--diskcache DIR] [--write-expectations]

TOOL is the built `safeckpt` (an executable, or SafeCkpt.Cli.dll run with `dotnet`). Each ROOT holds A1111's
`modules/hashes.py` and `modules/cache.py` at a release (a checkout, or the two files saved from one; never committed
here). The script imports exactly those two files, with stand-ins for `modules.shared` (cmd_opts.no_hashing = False)
and `modules.paths` (data_path = the test install), and for each ROOT:

1. builds an A1111 install in a temporary folder (a checkpoint in a subfolder of models/Stable-diffusion, safetensors
   and .pt LoRAs in models/Lora, a LyCORIS, an embedding), copying committed fixture files and setting their
   modification times to fixed nanosecond values;
2. runs `safeckpt hash INSTALL -r --a1111 INSTALL` (with a throw-away SafeCkpt cache);
3. replaces A1111's `calculate_sha256` and `addnet_hash_safetensors` with functions that fail, and calls A1111's
   `sha256_from_cache(filename, title, use_addnet_hash)` and `sha256(...)` for every file under the title A1111
   gives it (`checkpoint/REL`, `lora/NAME`, `textual_inversion/NAME`); each must return the SHA-256 hashlib
   computes here (kohya's addnet hash for safetensors LoRAs) without rehashing, and the cached mtime must equal
   `os.path.getmtime` exactly (so the entry also holds where A1111's dev branch compares with `!=`). With a
   diskcache-era cache.py (1.9+) this goes through its conversion of cache.json into cache/ at first use, which
   needs the `diskcache` package (`--diskcache DIR` puts DIR on sys.path);
4. with a JSON-era cache.py (up to 1.8): lets A1111 hash a fresh copy of the install itself (its real
   `sha256`, and its delayed writer thread), then runs `safeckpt hash ... --a1111 ... --json` on it: every file must
   be marked `a1111-cache` with the same values.

`--write-expectations` (only after a run with no failure) rewrites
tests/SafeCkpt.Tests/Fixtures/hash/a1111/expectations.json (the files, their mtimes, the titles and hashes A1111
returned, the cache.json SafeCkpt wrote, and the SHA-256 of the A1111 sources used) and cache_written_by_a1111.json
(the cache.json A1111 1.8 wrote), which the unit tests check SafeCkpt against without A1111.
"""
import argparse, hashlib, importlib, json, os, shutil, subprocess, sys, tempfile, threading, types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, "tests", "SafeCkpt.Tests", "Fixtures")
OUT = os.path.join(FIXTURES, "hash", "a1111")

# (path in the install, committed fixture it is a copy of, modification time in ns: a multiple of 100 where the unit
# tests reproduce it, as .NET sets times in 100 ns ticks).
FILES = [
    ("models/Stable-diffusion/sub/tiny.safetensors", "safetensors/sd_tiny.safetensors", 1717171717_123456700),
    ("models/Lora/style.safetensors", "casts/torch_casts_f64.safetensors", 1700000000_999999900),
    ("models/Lora/old.pt", "ckpt/zip_basic.ckpt", 1600000000_000000100),
    ("models/LyCORIS/loha.safetensors", "safetensors/metadata.safetensors", 1723456789_500000000),
    ("embeddings/bad-hands.pt", "ckpt/textual_inversion.pt", 1698765432_987654300),
    # Not a multiple of 100 ns (the unit tests skip it): Python's float of it differs from the one of the time cut to
    # .NET's 100 ns ticks (1734000000.9876544 against ...542), so SafeCkpt must read the file system's nanoseconds.
    ("models/Stable-diffusion/ns.safetensors", "safetensors/unordered.safetensors", 1734000000_987654399),
]


def title_of(install, rel):
    """The section, title and addnet flag A1111 uses, written from its sources: sd_models.CheckpointInfo
    (abspath minus model_path, leading separator stripped), extensions-builtin/Lora (networks.process_network_files:
    splitext(basename)[0]; network.NetworkOnDisk: use_addnet_hash = is_safetensors), textual_inversion
    (load_from_file: splitext(filename)[0])."""
    path = os.path.join(install, rel)
    if rel.startswith("models/Stable-diffusion/"):
        model_path = os.path.abspath(os.path.join(install, "models", "Stable-diffusion"))
        name = os.path.abspath(path).replace(model_path, "")
        if name.startswith("\\") or name.startswith("/"):
            name = name[1:]
        return "hashes", "checkpoint/" + name, False
    stem = os.path.splitext(os.path.basename(path))[0]
    if rel.startswith("models/Lora/") or rel.startswith("models/LyCORIS/"):
        addnet = os.path.splitext(path)[1].lower() == ".safetensors"
        return ("hashes-addnet" if addnet else "hashes"), "lora/" + stem, addnet
    return "hashes", "textual_inversion/" + stem, False


def expected_sha(path, addnet):
    data = open(path, "rb").read()
    if addnet:
        n = int.from_bytes(data[:8], "little")
        data = data[8 + n:]
    return hashlib.sha256(data).hexdigest()


def build_install(root):
    for rel, fixture, ns in FILES:
        dst = os.path.join(root, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(FIXTURES, fixture), dst)
        os.utime(dst, ns=(ns, ns))


def load_a1111(a1111_root, data_path):
    """Imports A1111's modules/hashes.py and modules/cache.py from a1111_root, fresh, with stand-ins for the rest."""
    for name in [m for m in sys.modules if m == "modules" or m.startswith("modules.")]:
        del sys.modules[name]
    pkg = types.ModuleType("modules")
    pkg.__path__ = [os.path.join(a1111_root, "modules")]
    sys.modules["modules"] = pkg
    shared = types.ModuleType("modules.shared")
    shared.cmd_opts = types.SimpleNamespace(no_hashing=False)
    paths = types.ModuleType("modules.paths")
    paths.data_path = data_path
    paths.script_path = data_path
    errors = types.ModuleType("modules.errors")
    errors.report = lambda *a, **k: None
    for m in (shared, paths, errors):
        sys.modules[m.__name__] = m
        setattr(pkg, m.__name__.split(".")[1], m)
    os.environ.pop("SD_WEBUI_CACHE_FILE", None)
    os.environ.pop("SD_WEBUI_CACHE_DIR", None)
    cache = importlib.import_module("modules.cache")
    hashes = importlib.import_module("modules.hashes")
    return hashes, cache


def run_tool(tool, args, cache_file):
    cmd = (["dotnet", tool] if tool.endswith(".dll") else [tool]) + args
    env = dict(os.environ, SAFECKPT_HASH_CACHE=cache_file)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"safeckpt {' '.join(args)} exited {p.returncode}: {p.stderr.strip()[:600]}")
    return p


def sha256_of(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def check_version(tool, a1111_root, failures, record):
    diskcache_era = "diskcache" in open(os.path.join(a1111_root, "modules", "cache.py")).read()
    label = f"{a1111_root} ({'diskcache' if diskcache_era else 'cache.json'} era)"
    with tempfile.TemporaryDirectory() as tmp:
        install = os.path.join(tmp, "webui")
        build_install(install)
        run_tool(tool, ["hash", install, "-r", "-q", "--a1111", install], os.path.join(tmp, "own.json"))
        written = json.load(open(os.path.join(install, "cache.json"), encoding="utf8"))
        hashes, cache = load_a1111(a1111_root, install)

        def no_rehash(*_):
            raise AssertionError("A1111 rehashed a file")

        hashes.calculate_sha256 = no_rehash
        hashes.addnet_hash_safetensors = no_rehash
        files = []
        for rel, fixture, ns in FILES:
            path = os.path.join(install, rel)
            section, title, addnet = title_of(install, rel)
            want = expected_sha(path, addnet)
            try:
                got_cached = hashes.sha256_from_cache(path, title, use_addnet_hash=addnet)
                got = hashes.sha256(path, title, use_addnet_hash=addnet)
                entry = written[section][title]
                ok = got_cached == want and got == want and entry["mtime"] == os.path.getmtime(path) and entry["sha256"] == want
            except AssertionError as e:
                ok, got_cached, got, entry = False, None, repr(e), None
            print(f"{'ok  ' if ok else 'FAIL'} {label}: {title} -> {got}")
            if not ok:
                failures.append(f"{label} {title}: cached {got_cached}, sha256 {got}, entry {entry}, want {want} mtime {os.path.getmtime(path)!r}")
            files.append({"path": rel, "fixture": fixture, "mtime_ns": ns, "getmtime": os.path.getmtime(path),
                          "section": section, "title": title.replace(os.sep, "/"), "sha256": want, "a1111_returned": got})
        if diskcache_era:
            converted = os.path.isdir(os.path.join(install, "cache", "hashes"))
            print(f"{'ok  ' if converted else 'FAIL'} {label}: cache.json converted into cache/")
            if not converted:
                failures.append(f"{label}: cache.json was not converted into cache/")
        record.setdefault("files", files)
        record.setdefault("cache_json_safeckpt_wrote", written)
        record.setdefault("a1111", []).append({"root": os.path.basename(os.path.normpath(a1111_root)), "era": "diskcache" if diskcache_era else "cache.json",
                                                "hashes_py_sha256": sha256_of(os.path.join(a1111_root, "modules", "hashes.py")),
                                                "cache_py_sha256": sha256_of(os.path.join(a1111_root, "modules", "cache.py"))})

        if diskcache_era:
            return
        # The other way: A1111 hashes, then SafeCkpt reads the cache.json A1111 wrote.
        fresh = os.path.join(tmp, "fresh")
        build_install(fresh)
        hashes, cache = load_a1111(a1111_root, fresh)
        for rel, _, _ in FILES:
            section, title, addnet = title_of(fresh, rel)
            hashes.sha256(os.path.join(fresh, rel), title, use_addnet_hash=addnet)
        if getattr(cache, "dump_cache_thread", None) is not None:
            cache.dump_cache_thread.join()
        a1111_json = json.load(open(os.path.join(fresh, "cache.json"), encoding="utf8"))
        out = run_tool(tool, ["hash", fresh, "-r", "-q", "-j", "--a1111", fresh], os.path.join(tmp, "own2.json"))
        report = {os.path.relpath(f["file"], fresh).replace(os.sep, "/"): f for f in json.loads(out.stdout)["files"]}
        for rel, _, _ in FILES:
            path = os.path.join(fresh, rel)
            section, title, addnet = title_of(fresh, rel)
            r = report[rel]
            ok = r["source"] == "a1111-cache" and r["sha256"] == sha256_of(path) and (not addnet or r["dataSha256"] == expected_sha(path, True))
            print(f"{'ok  ' if ok else 'FAIL'} {label}: SafeCkpt reads A1111's entry {title}: {r['source']}")
            if not ok:
                failures.append(f"{label}: SafeCkpt did not take {title} from A1111's cache.json: {r}")
        record["cache_written_by_a1111"] = a1111_json


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tool")
    ap.add_argument("--a1111", action="append", required=True, help="a folder holding modules/hashes.py and modules/cache.py")
    ap.add_argument("--diskcache", help="a folder to put on sys.path for the diskcache package (A1111 1.9+)")
    ap.add_argument("--write-expectations", action="store_true")
    a = ap.parse_args()
    if a.diskcache:
        sys.path.insert(0, a.diskcache)
    failures, record = [], {}
    for root in a.a1111:
        check_version(os.path.abspath(a.tool) if not a.tool.endswith(".dll") else a.tool, root, failures, record)
    if failures:
        print("\n".join(["", "FAILED:"] + failures))
        return 1
    print("all checks passed")
    if a.write_expectations:
        os.makedirs(OUT, exist_ok=True)
        a1111_json = record.pop("cache_written_by_a1111", None)
        with open(os.path.join(OUT, "expectations.json"), "w", encoding="utf8") as f:
            json.dump(record, f, indent=1, ensure_ascii=False)
            f.write("\n")
        if a1111_json is not None:
            with open(os.path.join(OUT, "cache_written_by_a1111.json"), "w", encoding="utf8") as f:
                json.dump(a1111_json, f, indent=4, ensure_ascii=False)
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
