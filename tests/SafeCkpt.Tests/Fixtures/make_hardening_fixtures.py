#!/usr/bin/python3
"""Hardening fixtures for SafeCkpt: small hostile and edge-case checkpoint files built by
hand, each confirmed against real torch.load in a separate subprocess.

  /usr/bin/python3 make_hardening_fixtures.py make
      Writes hardening/*.{pt,ckpt,safetensors}, hardening/manifest.json and
      hardening/README.md. For every file it runs torch.load(path) (torch 1.13's default,
      the full unpickler) in a fresh subprocess whose cwd is a new temp dir, with a 60 s
      timeout, and records whether the payload ran (a MARKER_* file appeared in that dir),
      what loaded, or the exception. It asserts the outcome is the one the case was built
      for, so the manifest is proven, not assumed. It also records, informational only,
      what torch.load does when given the same bytes as an io.BytesIO (torch skips the
      legacy tar attempt for non-file objects).

  /usr/bin/python3 make_hardening_fixtures.py probe FILE
      Prints the torch outcome JSON for one file (same subprocess probe).

Payloads are harmless: posix.system("touch MARKER_<name>") in the probe's temp dir.
Output is deterministic (fixed bytes; no timestamps, fixed storage keys).
"""
import collections
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hardening")
sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402  (helpers only: pickle assembler, TorchZip, strict safetensors reader)

p_str, p_int, p_global, p_tuple, p_dict = mf.p_str, mf.p_int, mf.p_global, mf.p_tuple, mf.p_dict
PROTO2 = b"\x80\x02"
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
ODICT = p_global("collections", "OrderedDict") + b")R"


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def payload(name):
    """posix.system('touch MARKER_<name>') -> returns 0 (an int)."""
    return p_global("posix", "system") + p_str("touch MARKER_" + name) + b"\x85R"


def f32(vals):
    return struct.pack("<%df" % len(vals), *vals)


def pid(key, numel, cls="FloatStorage", location="cpu"):
    """BINPERSID for a zip-format storage: ('storage', torch.<cls>, key, location, numel)."""
    return p_tuple([p_str("storage"), p_global("torch", cls), p_str(key), p_str(location), p_int(numel)]) + b"Q"


def rebuild_v2(pid_bytes, offset, size, stride, requires_grad=b"\x89", hooks=ODICT):
    args = p_tuple([pid_bytes, p_int(offset), p_tuple(p_int(s) for s in size),
                    p_tuple(p_int(s) for s in stride), requires_grad, hooks])
    return p_global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def t_v2(key, numel, offset, size, stride, cls="FloatStorage", **kw):
    return rebuild_v2(pid(key, numel, cls), offset, size, stride, **kw)


def zckpt(pkl, storages, prefix="archive", pkl_name="data.pkl", extra=()):
    """A torch-1.13-layout zip: data.pkl, data/<key>..., version (like torch.save writes)."""
    recs = [(prefix + "/" + pkl_name, pkl)]
    recs += [(prefix + "/data/" + k if "/" not in k else prefix + "/" + k, v) for k, v in storages]
    recs += list(extra)
    recs.append((prefix + "/version", b"3\n"))
    return mf.torch_zip(recs)


# --------------------------------------------------------------------------------------------
# tar helpers (torch 1.x legacy tar format: members storages, tensors, pickle)

def tar_member_pickles(name):
    """storages: num_storages = posix.system(...) == 0, then storage_views = [];
    tensors: num_tensors = 0; pickle: {}. The payload runs while torch reads 'storages'."""
    storages = PROTO2 + payload(name) + b"." + PROTO2 + b"]."
    tensors = PROTO2 + b"K\x00."
    pkl = PROTO2 + b"}."
    return [("storages", storages), ("tensors", tensors), ("pickle", pkl)]


def tar_bytes(members, end_blocks=True):
    bio = io.BytesIO()
    tf = tarfile.open(fileobj=bio, mode="w", format=tarfile.USTAR_FORMAT)
    used = 0
    for n, data in members:
        ti = tarfile.TarInfo(n)
        ti.size, ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = len(data), 0, 0o644, 0, 0, "", ""
        tf.addfile(ti, io.BytesIO(data))
        used += 512 + ((len(data) + 511) // 512) * 512
    tf.close()
    b = bio.getvalue()
    # members with their data padded to 512 (tarfile's next() needs the byte before the next
    # header offset to exist); the end-of-archive blocks are optional for Python's reader
    return b if end_blocks else b[:used]


def tar_checksum_fix(hdr):
    """Write the checksum (7 octal digits + space, NUL-free) for a 512-byte header."""
    assert len(hdr) == 512
    hdr[148:156] = b" " * 8
    s = sum(hdr)
    hdr[148:156] = b"%07o " % s
    assert s in tarfile.calc_chksums(bytes(hdr))
    return hdr


def tar_fields(hdr, size, name=None, nul_free=False):
    """Fill the numeric fields of a tar header in place (name: bytes for 0..99 or None to keep)."""
    if name is not None:
        hdr[0:len(name)] = name
    term = b" " if nul_free else b"\x00"
    hdr[100:108] = b"0000644" + term
    hdr[108:116] = b"0000000" + term
    hdr[116:124] = b"0000000" + term
    hdr[124:136] = b"%011o" % size + term
    hdr[136:148] = b"00000000000" + term
    hdr[156:157] = b"0"
    if not nul_free:
        hdr[257:265] = b"ustar\x0000"
    return tar_checksum_fix(hdr)


def check_tar_header(buf):
    ti = tarfile.TarInfo.frombuf(bytes(buf[:512]), "utf-8", "surrogateescape")
    return ti


def tar_names(path):
    with tarfile.open(path, mode="r:") as t:
        return t.getnames()


# --------------------------------------------------------------------------------------------
# legacy (non-zip, non-tar) format by hand: magic, protocol 1001, sys_info, object, keys, raw

def legacy_file(obj_pkl, keys, raw, sys_info=None):
    si = sys_info or {"protocol_version": 1001, "little_endian": True,
                      "type_sizes": {"short": 2, "int": 4, "long": 4}}
    out = pickle.dumps(LEGACY_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2) + pickle.dumps(si, protocol=2)
    out += obj_pkl + pickle.dumps(list(keys), protocol=2)
    for k in keys:
        numel, b = raw[k]
        out += struct.pack("<q", numel) + b
    return out


def legacy_pid(key, numel, view=None, cls="FloatStorage"):
    v = b"N" if view is None else p_tuple([p_str(view[0]), p_int(view[1]), p_int(view[2])])
    return (b"(" + p_str("storage") + p_global("torch", cls) + p_str(key) + p_str("cpu") + p_int(numel) + v
            + b"tQ")


# --------------------------------------------------------------------------------------------
# the torch probe (runs in a subprocess)

PROBE = r'''
import sys, os, json, hashlib, io
import torch
path, mode = sys.argv[1], sys.argv[2]
ST = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16", torch.int32: "I32",
      torch.int64: "I64", torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32",
      torch.float64: "F64", torch.complex64: "C64", torch.complex128: "C128"}
res = {}
try:
    if mode == "bytesio":
        with open(path, "rb") as f:
            obj = torch.load(io.BytesIO(f.read()))
    else:
        obj = torch.load(path)
    res["status"] = "loads"
except BaseException as e:  # noqa
    res["status"] = "fails"
    msg = str(e).strip().splitlines()
    res["error"] = "%s: %s" % (type(e).__name__, msg[0][:200] if msg else "")
if any(n.startswith("MARKER") for n in os.listdir(".")):
    res["marker"] = True
def val(v):
    if isinstance(v, float):
        return v if v == v and abs(v) != float("inf") else repr(v)
    return v
if res["status"] == "loads":
    tensors, leaves = {}, {}
    def walk(o, p):
        if isinstance(o, torch.Tensor):
            t = o.detach().cpu()
            c = t.contiguous()
            raw = c.reshape(-1).view(torch.uint8).numpy().tobytes() if c.numel() else b""
            e = {"dtype": ST.get(t.dtype, str(t.dtype)), "shape": list(t.shape), "sha256": hashlib.sha256(raw).hexdigest(),
                 "first": [val(x) for x in c.reshape(-1)[:4].tolist()]}
            if type(o) is not torch.Tensor:
                e["type"] = type(o).__module__ + "." + type(o).__qualname__
            if o.requires_grad:
                e["requires_grad"] = True
            extra = {k: repr(v)[:60] for k, v in getattr(o, "__dict__", {}).items() if not k.startswith("_")}
            if extra:
                e["attrs"] = extra
            tensors[p] = e
        elif isinstance(o, dict):
            if not o:
                leaves[p] = type(o).__name__ + "()"
            for k, v in o.items():
                walk(v, (p + "." if p else "") + (k if isinstance(k, str) else repr(k)))
        elif isinstance(o, (list, tuple)):
            if not o:
                leaves[p] = type(o).__name__ + "()"
            for i, v in enumerate(o):
                walk(v, (p + "." if p else "") + str(i))
        elif o is None or isinstance(o, (bool, int, float, str)):
            leaves[p] = val(o)
        else:
            leaves[p] = "<%s>" % type(o).__qualname__
    walk(obj, "")
    res["tensors"] = tensors
    res["leaves"] = leaves
print(json.dumps(res, sort_keys=True))
'''


def probe(path, mode="file"):
    with tempfile.TemporaryDirectory(prefix="hprobe") as d:
        r = subprocess.run(["/usr/bin/python3", "-c", PROBE, os.path.abspath(path), mode], cwd=d,
                           capture_output=True, text=True, timeout=60)
        markers = [n for n in os.listdir(d) if n.startswith("MARKER")]
    if r.returncode != 0 or not r.stdout.strip():
        return {"status": "fails", "error": "probe process exited %d: %s" % (r.returncode, r.stderr.strip()[-300:]),
                "marker": bool(markers)}
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["marker"] = bool(markers)
    return res


def outcome(res):
    return "runs-payload" if res["marker"] else res["status"]


# --------------------------------------------------------------------------------------------
# cases

CASES = []


def case(name, cls, what, want, expect, note=None, check=None, expect_tensors=None):
    """want: the torch outcome the case was built for (asserted). check(result) -> error or None."""
    def deco(fn):
        CASES.append(dict(name=name, cls=cls, what=what, want=want, expect=expect, note=note,
                          check=check, build=fn, expect_tensors=expect_tensors))
        return fn
    return deco


def need_tensors(spec):
    """check: the loaded tensors are exactly these names with these first values."""
    def chk(res):
        got = {k: v["first"] for k, v in res.get("tensors", {}).items()}
        if got != spec:
            return "tensors %r, expected %r" % (got, spec)
        return None
    return chk


# ---- class 1: legacy tar format

@case("tar_plain.pt", 1, "A genuine tar (Python tarfile, USTAR) with members storages/tensors/pickle; "
      "the 'storages' member's first pickle (num_storages) is posix.system(...).",
      "runs-payload", ["unsafe"])
def _():
    return tar_bytes(tar_member_pickles("tar_plain"))


@case("tar_pickle_member_payload.pt", 1,
      "A genuine tar whose 'storages' (0 storages, no views) and 'tensors' (0) members are benign and whose "
      "'pickle' member (the object pickle) calls posix.system.",
      "runs-payload", ["unsafe"])
def _():
    m = tar_member_pickles("x")
    m[0] = ("storages", PROTO2 + b"K\x00." + PROTO2 + b"].")
    m[2] = ("pickle", PROTO2 + payload("tar_pickle_member_payload") + b".")
    return tar_bytes(m, end_blocks=False)


@case("tar_signed_checksum.pt", 1,
      "A tar whose first header has bytes >= 0x80 in its name and whose checksum field holds the SIGNED byte sum "
      "(old Sun/NeXT tars); Python's tarfile accepts either sum. Members carry the payload in 'storages'.",
      "runs-payload", ["unsafe"])
def _():
    h = bytearray(512)
    tar_fields(h, 0, name=b"\xff\xfe\xfd\xfc" * 8)
    h[148:156] = b" " * 8
    uns, sig = tarfile.calc_chksums(bytes(h))
    assert uns != sig
    h[148:156] = b"%07o " % sig
    assert check_tar_header(h).chksum == sig
    return bytes(h) + tar_bytes(tar_member_pickles("tar_signed_checksum"), end_blocks=False)


@case("tar_header_no_members.pt", 1,
      "A legacy-looking file (as tar_legacy_magic.pt: BINBYTES, POP, LONG1 magic, ...) whose first 512 bytes are a "
      "valid tar header but which has no 'storages' member. tarfile.open succeeds, tar.extract('storages') raises "
      "KeyError (not a TarError), so torch does NOT fall back to the legacy pickle path: the load fails.",
      "fails", ["malformed", "unsupported", "unsafe"])
def _():
    h = bytearray(512)
    blob_len = 512 - 7
    h[0:7] = PROTO2 + b"B" + struct.pack("<I", blob_len)
    tar_fields(h, 0)
    magic = LEGACY_MAGIC.to_bytes(10, "little")
    si = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return (bytes(h) + b"0" + b"\x8a\x0a" + magic + b"." + pickle.dumps(1001, protocol=2)
            + pickle.dumps(si, protocol=2) + PROTO2 + b"}." + pickle.dumps([], protocol=2))


@case("tar_safetensors_prefix.safetensors", 1,
      "Bytes 0..7 are a plausible safetensors header length (1016, LE), byte 8 is '{', and bytes 0..511 are a "
      "valid tar header (member of 512 bytes) followed by tar members storages/tensors/pickle carrying the payload.",
      "runs-payload", ["unsafe"])
def _():
    h = bytearray(512)
    h[0:8] = struct.pack("<Q", 1016)
    frag = b'{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    h[8:8 + len(frag)] = frag
    tar_fields(h, 512)
    body = bytearray(b" " * 512)
    return bytes(h) + bytes(body) + tar_bytes(tar_member_pickles("tar_safetensors_prefix"), end_blocks=False)


def valid_safetensors_tar():
    name = "tar_valid_safetensors"
    tail = tar_bytes(tar_member_pickles(name), end_blocks=False)
    K = len(tail)
    N = 1016  # header length; data starts at 1024 = 2 tar blocks
    pre = b'{"__metadata__":{"t":"'
    start = 8 + len(pre)                  # first byte of the metadata string value
    hdr_json = bytearray(pre + b"a" * (512 - start + 40))   # the string covers file bytes 30..551
    post = (b'"},"tar":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' % (K, K))
    hdr_json += post
    hdr_json += b" " * (N - len(hdr_json))
    assert len(hdr_json) == N
    f = bytearray(struct.pack("<Q", N) + hdr_json)
    h = f[0:512]
    # NUL-free tar fields (octal + space) inside the JSON string; prefix/uname/etc stay 'a'
    h[100:148] = b" " * 48
    h[329:345] = b" " * 16          # devmajor / devminor: spaces parse as 0
    tar_fields(h, 512, nul_free=True)
    f[0:512] = h
    data = bytes(f) + tail
    assert len(data) == 8 + N + K
    return data


@case("tar_valid_safetensors.safetensors", 1,
      "A fully valid safetensors file (strict reader: 8-byte LE length 1016, JSON header padded with spaces, "
      "__metadata__ string->string, one U8 tensor 'tar' tiling the data section, file ends at its end) whose first "
      "512 bytes are also a valid tar header (NUL-free octal fields inside the __metadata__ string, member size 512 "
      "= rest of the JSON header) and whose U8 tensor data holds tar members storages/tensors/pickle with the payload.",
      "runs-payload", ["unsafe"])
def _():
    return valid_safetensors_tar()


def pickle_tar_prefix(name, after):
    """PROTO 2, BINBYTES blob covering a whole tar (header 0 at byte 0, then members), POP, `after`."""
    tail = tar_bytes(tar_member_pickles(name), end_blocks=False)
    total = 512 + len(tail)
    blob_len = total - 7                      # blob runs from byte 7 to the end of the tar
    h = bytearray(512)
    h[0:7] = PROTO2 + b"B" + struct.pack("<I", blob_len)
    tar_fields(h, 0)                          # a 0-byte first member: next header at 512
    data = bytes(h) + tail
    assert len(data) == total
    return data + b"0" + after


@case("tar_bare_pickle.pt", 1,
      "A bare pickle: PROTO 2, BINBYTES whose bytes make file bytes 0..511 a valid tar header and then hold tar "
      "members (payload in 'storages'), POP, EMPTY_DICT, STOP. As a pickle it is just {} (no legacy magic).",
      "runs-payload", ["unsafe"])
def _():
    return pickle_tar_prefix("tar_bare_pickle", b"}.")


@case("tar_legacy_magic.pt", 1,
      "Looks like a legacy torch file: first pickle = PROTO 2, BINBYTES (tar header + tar members), POP, LONG1 "
      "legacy magic, STOP; then protocol 1001, sys_info, object {} and storage keys [] pickles. Bytes 0..511 are a "
      "valid tar header, so torch.load(path) takes the tar path and runs the payload in the 'storages' member.",
      "runs-payload", ["unsafe"])
def _():
    magic = LEGACY_MAGIC.to_bytes(10, "little")
    first = pickle_tar_prefix("tar_legacy_magic", b"\x8a\x0a" + magic + b".")
    si = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return (first + pickle.dumps(1001, protocol=2) + pickle.dumps(si, protocol=2) + PROTO2 + b"}."
            + pickle.dumps([], protocol=2))


# ---- class 2: two EOCD records

def cd_entry(name, off, data, flags=0x0808):
    n = name.encode()
    return struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 0, 0, flags, 0, 0, 0,
                       zlib.crc32(data), len(data), len(data), len(n), 0, 0, 0, 0, 0, off) + n


def local_entries(records):
    """[(name, data)] -> (bytes, [(name, offset, data)]) written like TorchZip (64-byte aligned data)."""
    z = mf.TorchZip()
    for n, d in records:
        z.add(n, d)
    offs = [(c[0].decode(), c[6]) for c in z.cd]
    return bytes(z.buf), [(n, o, d) for (n, o), (_, d) in zip(offs, records)]


def eocd(n, cd_size, cd_off, comment=b""):
    return struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, cd_size, cd_off, len(comment)) + comment


@case("zip_two_eocd.ckpt", 2,
      "Zip A (benign: data.pkl = {'w': tensor}) whose EOCD comment holds a second central directory + EOCD (zip B) "
      "whose archive/data.pkl entry points at a second local data.pkl that calls posix.system. Both local data.pkl "
      "entries precede the directories. miniz (and Python's zipfile) use the LAST EOCD signature, i.e. zip B.",
      "runs-payload", ["unsafe", "malformed"])
def _():
    st = f32([1, 2, 3, 4])
    good = PROTO2 + p_dict([(p_str("w"), t_v2("0", 4, 0, [4], [1]))]) + b"."
    bad = PROTO2 + payload("zip_two_eocd") + b"."
    body, ents = local_entries([("archive/data.pkl", good), ("archive/data.pkl", bad),
                                ("archive/data/0", st), ("archive/version", b"3\n")])
    e = {i: x for i, x in enumerate(ents)}
    cd_a = b"".join(cd_entry(n, o, d) for n, o, d in (e[0], e[2], e[3]))
    cd_b = b"".join(cd_entry(n, o, d) for n, o, d in (e[1], e[2], e[3]))
    cd_a_off = len(body)
    eocd_a_off = cd_a_off + len(cd_a)
    cd_b_off = eocd_a_off + 22
    tail_b = cd_b + eocd(3, len(cd_b), cd_b_off)
    return body + cd_a + eocd(3, len(cd_a), cd_a_off, tail_b)


@case("zip_eocd_in_tail.ckpt", 2,
      "A valid benign torch zip ({'w': tensor}) followed by 20 bytes: 'PK\\x05\\x06' + 16 zero bytes, i.e. an EOCD "
      "signature too close to the end for a 22-byte record. Python's zipfile takes that signature and rejects the "
      "file; miniz skips it and uses the real EOCD before it.",
      "loads", ["malformed"], check=need_tensors({"w": [1.0, 2.0, 3.0, 4.0]}))
def _():
    good = PROTO2 + p_dict([(p_str("w"), t_v2("0", 4, 0, [4], [1]))]) + b"."
    return zckpt(good, [("0", f32([1, 2, 3, 4]))]) + b"PK\x05\x06" + b"\x00" * 16


# ---- class 4: parser differentials

def one_tensor_pkl(key="0", n=4):
    return PROTO2 + p_dict([(p_str("w"), t_v2(key, n, 0, [n], [1]))]) + b"."


@case("zip_case_duplicate_records.ckpt", 4,
      "Two storage records archive/data/0 = [1,2,3,4] and archive/DATA/0 = [5,6,7,8] (in that order); data.pkl asks "
      "for key '0'. miniz looks names up case-insensitively (binary search over a case-folded sort).",
      "loads", ["malformed"], check=need_tensors({"w": [5.0, 6.0, 7.0, 8.0]}),
      note="torch 1.13 loads the LATER record (archive/DATA/0 = [5,6,7,8]).")
def _():
    return zckpt(one_tensor_pkl(), [("data/0", f32([1, 2, 3, 4])), ("DATA/0", f32([5, 6, 7, 8]))])


@case("zip_case_duplicate_records_rev.ckpt", 4,
      "As zip_case_duplicate_records.ckpt with the records in the other order: archive/DATA/0 = [5,6,7,8] first, "
      "then archive/data/0 = [1,2,3,4].",
      "loads", ["malformed"], check=need_tensors({"w": [1.0, 2.0, 3.0, 4.0]}),
      note="torch 1.13 again loads the LATER record (here archive/data/0 = [1,2,3,4]): with case-insensitively equal "
      "names the winner is decided by central-directory order, not by exact-case match.")
def _():
    return zckpt(one_tensor_pkl(), [("DATA/0", f32([5, 6, 7, 8])), ("data/0", f32([1, 2, 3, 4]))])


@case("zip_case_only_record.ckpt", 4,
      "The only storage record is archive/DATA/0 while data.pkl asks for key '0' (torch looks up 'archive/data/0').",
      "loads", ["clean", "malformed"], check=need_tensors({"w": [1.0, 2.0, 3.0, 4.0]}))
def _():
    return zckpt(one_tensor_pkl(), [("DATA/0", f32([1, 2, 3, 4]))])


@case("zip_case_data_pkl.ckpt", 4,
      "The pickle record is archive/DATA.PKL (upper case) instead of archive/data.pkl; storage record archive/data/0.",
      "loads", ["clean", "malformed"], check=need_tensors({"w": [1.0, 2.0, 3.0, 4.0]}))
def _():
    return zckpt(one_tensor_pkl(), [("0", f32([1, 2, 3, 4]))], pkl_name="DATA.PKL")


def py2_key(b):
    return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<I", len(b)) + b)


@case("zip_py2_utf8_keys.ckpt", 4,
      "data.pkl uses Python-2 str opcodes for the state-dict keys: SHORT_BINSTRING 'żółw.weight' and BINSTRING "
      "'ćma.bias' (UTF-8 bytes); torch.load passes encoding='utf-8' so they decode to str.",
      "loads", ["clean"], check=need_tensors({"żółw.weight": [1.0, 2.0, 3.0, 4.0], "ćma.bias": [0.5, -0.5]}))
def _():
    k1 = "żółw.weight".encode("utf-8")
    k2 = "ćma.bias".encode("utf-8")
    pkl = PROTO2 + p_dict([(py2_key(k1), t_v2("0", 4, 0, [4], [1])),
                           (b"T" + struct.pack("<I", len(k2)) + k2, t_v2("1", 2, 0, [2], [1]))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4])), ("1", f32([0.5, -0.5]))])


@case("zip_py2_bad_utf8_key.ckpt", 4,
      "As zip_py2_utf8_keys.ckpt but the SHORT_BINSTRING key is b'w\\xff\\xfe.weight' (not UTF-8): decoding fails.",
      "fails", ["malformed"])
def _():
    pkl = PROTO2 + p_dict([(py2_key(b"w\xff\xfe.weight"), t_v2("0", 4, 0, [4], [1]))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4]))])


def build_state(tensor_pkl, state_pkl):
    return tensor_pkl + state_pkl + b"b"


@case("zip_tensor_build_set.ckpt", 4,
      "'w' = _rebuild_tensor_v2(storage '0' [1,2,3,4], 0, (4,), (1,)) then BUILD with the 4-tuple "
      "(storage '1', 1, (2,), (2,)) - Tensor.__setstate__ calls self.set_(*state), so 'w' becomes a view of storage "
      "'1' = [10..15]. 'v' = storage '0' as written.",
      "loads", ["clean", "unsupported"], check=need_tensors({"w": [11.0, 13.0], "v": [1.0, 2.0, 3.0, 4.0]}))
def _():
    st = p_tuple([pid("1", 6), p_int(1), p_tuple([p_int(2)]), p_tuple([p_int(2)])])
    pkl = PROTO2 + p_dict([(p_str("w"), build_state(t_v2("0", 4, 0, [4], [1]), st)),
                           (p_str("v"), t_v2("0", 4, 0, [4], [1]))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4])), ("1", f32([10, 11, 12, 13, 14, 15]))])


@case("zip_tensor_build_variable5.ckpt", 4,
      "'w' = _rebuild_tensor_v2(storage '0' [1,2,3,4]) then BUILD with a 5-tuple (legacy Variable state): "
      "(tensor on storage '1' [10,11,12], None, OrderedDict(), False, None) - __setstate__ does self.data = state[0], "
      "then requires_grad=state[3], _backward_hooks=state[2].",
      "loads", ["clean", "unsupported"], check=need_tensors({"w": [10.0, 11.0, 12.0]}))
def _():
    st = p_tuple([t_v2("1", 3, 0, [3], [1]), b"N", ODICT, b"\x89", b"N"])
    pkl = PROTO2 + p_dict([(p_str("w"), build_state(t_v2("0", 4, 0, [4], [1]), st))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4])), ("1", f32([10, 11, 12]))])


@case("zip_tensor_build_3tuple.ckpt", 4,
      "_rebuild_tensor_v2 tensor then BUILD with (False, None, OrderedDict()): __setstate__ sets requires_grad and "
      "hooks only; data unchanged.",
      "loads", ["clean"], check=need_tensors({"w": [1.0, 2.0, 3.0, 4.0]}))
def _():
    st = p_tuple([b"\x89", b"N", ODICT])
    pkl = PROTO2 + p_dict([(p_str("w"), build_state(t_v2("0", 4, 0, [4], [1]), st))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4]))])


@case("zip_tensor_build_dict.ckpt", 4,
      "_rebuild_tensor_v2 tensor then BUILD with the dict state {'foo': 1}: Tensor.__setstate__ unpacks the dict "
      "(len 1) into three names and raises.",
      "fails", ["unsupported", "malformed"])
def _():
    st = p_dict([(p_str("foo"), p_int(1))])
    pkl = PROTO2 + p_dict([(p_str("w"), build_state(t_v2("0", 4, 0, [4], [1]), st))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4]))])


@case("zip_tensor_build_dict3.ckpt", 4,
      "_rebuild_tensor_v2 tensor then BUILD with the 3-key dict {False: 0, None: 1, 'h': 2}: Tensor.__setstate__ "
      "unpacks the KEYS: requires_grad=False, _backward_hooks='h'; data unchanged.",
      "loads", ["clean", "unsupported", "malformed"], check=need_tensors({"w": [1.0, 2.0, 3.0, 4.0]}))
def _():
    st = p_dict([(b"\x89", p_int(0)), (b"N", p_int(1)), (p_str("h"), p_int(2))])
    pkl = PROTO2 + p_dict([(p_str("w"), build_state(t_v2("0", 4, 0, [4], [1]), st))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4]))])


@case("zip_old_tensor_v1.ckpt", 4,
      "Like PyTorch's backcompat_oldtensor_v1_zip.pt: torch.Tensor REDUCE () then BUILD (storage '0' of 30 floats, "
      "offset 2, size (2,3), stride (9,3)) - a non-contiguous view set_ onto the storage. Top level is the tensor "
      "itself, wrapped here in {'t': ...}.",
      "loads", ["clean"], check=need_tensors({"t": [2.0, 5.0, 8.0, 11.0]}))
def _():
    st = b"(" + pid("0", 30) + p_int(2) + p_tuple([p_int(2), p_int(3)]) + p_tuple([p_int(9), p_int(3)]) + b"t"
    t = p_global("torch", "Tensor") + b")R" + st + b"b"
    pkl = PROTO2 + p_dict([(p_str("t"), t)]) + b"."
    return zckpt(pkl, [("0", f32(list(range(30))))])


def from_type(new_type, state_pkl, args_key="0"):
    args = p_tuple([pid(args_key, 4), p_int(0), p_tuple([p_int(4)]), p_tuple([p_int(1)]), b"\x89", ODICT])
    return (p_global("torch._tensor", "_rebuild_from_type_v2")
            + p_tuple([p_global("torch._utils", "_rebuild_tensor_v2"), new_type, args, state_pkl]) + b"R")


@case("zip_from_type_state.ckpt", 4,
      "'a' = _rebuild_from_type_v2(_rebuild_tensor_v2, torch.Tensor, args(storage '0'), {'data': tensor on storage "
      "'1'}); 'b' = the same with state {'foo': 1}. In 1.13 _rebuild_from_type_v2 returns func(*args) and ignores "
      "state when new_type is Tensor.",
      "loads", ["clean", "unsupported"],
      check=need_tensors({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 2.0, 3.0, 4.0]}))
def _():
    other = t_v2("1", 4, 0, [4], [1])
    pkl = PROTO2 + p_dict([(p_str("a"), from_type(p_global("torch", "Tensor"), p_dict([(p_str("data"), other)]))),
                           (p_str("b"), from_type(p_global("torch", "Tensor"), p_dict([(p_str("foo"), p_int(1))])))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4])), ("1", f32([9, 8, 7, 6]))])


@case("zip_from_type_param_state.ckpt", 4,
      "'a' = _rebuild_from_type_v2(_rebuild_tensor_v2, torch.nn.parameter.Parameter, args(storage '0' [1,2,3,4]), "
      "{'data': tensor on storage '1' [9,8,7,6]}); 'b' = same type with {'foo': 1}. For a subclass 1.13 does "
      "as_subclass(Parameter) then setattr(k, v) for every state item: 'a'.data is replaced by storage '1'.",
      "loads", ["clean", "unsupported"],
      check=need_tensors({"a": [9.0, 8.0, 7.0, 6.0], "b": [1.0, 2.0, 3.0, 4.0]}))
def _():
    P = p_global("torch.nn.parameter", "Parameter")
    other = t_v2("1", 4, 0, [4], [1])
    pkl = PROTO2 + p_dict([(p_str("a"), from_type(P, p_dict([(p_str("data"), other)]))),
                           (p_str("b"), from_type(P, p_dict([(p_str("foo"), p_int(1))])))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4])), ("1", f32([9, 8, 7, 6]))])


@case("zip_param_with_state.ckpt", 4,
      "'a' = torch._utils._rebuild_parameter_with_state(tensor, False, OrderedDict(), {'data': other tensor}) "
      "(written by torch >= 2.0 for Parameters with extra state). torch 1.13 has no such function: find_class fails.",
      "fails", ["unsupported", "malformed"],
      note="torch 2.x would load it and set the state attributes (a.data = other tensor); 1.13 cannot.")
def _():
    other = t_v2("1", 4, 0, [4], [1])
    pkl = PROTO2 + p_dict([(p_str("a"), p_global("torch._utils", "_rebuild_parameter_with_state")
                            + b"(" + t_v2("0", 4, 0, [4], [1]) + b"\x89" + ODICT
                            + p_dict([(p_str("data"), other)]) + b"tR")]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4])), ("1", f32([9, 8, 7, 6]))])


def legacy_views_obj(entries):
    """entries: [(name, root_key, root_numel, view or None, offset, size, stride)] -> object pickle (a dict)."""
    items = []
    for name, rk, rn, view, off, size, stride in entries:
        t = rebuild_v2(legacy_pid(rk, rn, view), off, size, stride)
        items.append((p_str(name), t))
    return PROTO2 + p_dict(items) + b"."


@case("legacy_view_key_reuse.pt", 4,
      "Legacy format (5 pickles + raw storages). Root 'R' = 8 floats [0..7]. 'a' uses view ('V', offset 1, size 3), "
      "'b' uses view ('V', offset 4, size 3) - the same view key with a different offset. torch caches views by key: "
      "the first definition wins, so 'b' reads [1,2,3] too.",
      "loads", ["clean", "malformed", "unsupported"],
      check=need_tensors({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]}))
def _():
    obj = legacy_views_obj([("a", "R", 8, ("V", 1, 3), 0, [3], [1]), ("b", "R", 8, ("V", 4, 3), 0, [3], [1])])
    return legacy_file(obj, ["R"], {"R": (8, f32(range(8)))})


@case("legacy_view_key_is_root.pt", 4,
      "Legacy format. Root 'R' = [0..7]; 'a' names storage root 'R' with view metadata ('R', 4, 2): the view key "
      "equals the root key, so torch returns the whole root (offset ignored) and 'a' = R[0:2]. 'b' = plain R[0:8].",
      "loads", ["clean", "malformed", "unsupported"],
      check=need_tensors({"a": [0.0, 1.0], "b": [0.0, 1.0, 2.0, 3.0]}))
def _():
    obj = legacy_views_obj([("a", "R", 8, ("R", 4, 2), 0, [2], [1]), ("b", "R", 8, None, 0, [8], [1])])
    return legacy_file(obj, ["R"], {"R": (8, f32(range(8)))})


@case("legacy_view_key_is_later_root.pt", 4,
      "Legacy format. 'a' = root 'A' (8 floats [0..7]) through view ('B', 2, 4); 'b' = root 'B' (4 floats "
      "[100..103]) without a view. torch registers the view under 'B' first, then uses it as root 'B', and reading "
      "the raw storage 'B' writes [100..103] into A[2:6]: 'a' and 'b' both read [100..103] and 'c' (all of A) shows "
      "the overwrite.",
      "loads", ["clean", "malformed", "unsupported"],
      check=need_tensors({"a": [100.0, 101.0, 102.0, 103.0], "b": [100.0, 101.0, 102.0, 103.0],
                          "c": [0.0, 1.0, 100.0, 101.0]}))
def _():
    obj = legacy_views_obj([("a", "A", 8, ("B", 2, 4), 0, [4], [1]), ("b", "B", 4, None, 0, [4], [1]),
                            ("c", "A", 8, None, 0, [8], [1])])
    return legacy_file(obj, ["A", "B"], {"A": (8, f32(range(8))), "B": (4, f32([100, 101, 102, 103]))})


@case("zip_newobj_ordereddict_args.ckpt", 4,
      "'sd' = NEWOBJ(collections.OrderedDict, ([('w', tensor)],)): OrderedDict.__new__ ignores its arguments (they "
      "go to __init__, which NEWOBJ does not call), so 'sd' is an EMPTY OrderedDict. 'b' = a plain tensor.",
      "loads", ["clean"], check=need_tensors({"b": [5.0, 6.0]}))
def _():
    lst = b"]" + b"(" + p_tuple([p_str("w"), t_v2("0", 4, 0, [4], [1])]) + b"e"
    sd = p_global("collections", "OrderedDict") + p_tuple([lst]) + b"\x81"
    pkl = PROTO2 + p_dict([(p_str("sd"), sd), (p_str("b"), t_v2("1", 2, 0, [2], [1]))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4])), ("1", f32([5, 6]))])


# ---- class 7: legit old files

BE_VALUES = {
    "f32": ("FloatStorage", "<f", ">f", [1.5, -2.25, 3.0e-5, float("inf")]),
    "f64": ("DoubleStorage", "<d", ">d", [1.0 / 3, -2.5, 1e300]),
    "i64": ("LongStorage", "<q", ">q", [1, -2, 2 ** 40 + 7]),
    "f16": ("HalfStorage", "<e", ">e", [1.0, -0.5, 65504.0, 2.0 ** -24]),
}


def be_expected():
    """What torch 2.x (serialization.py _load, load_tensor: `if byteorderdata.decode() != sys.byteorder: storage.byteswap(dtype)`)
    would load: the original values."""
    dt = {"FloatStorage": "F32", "DoubleStorage": "F64", "LongStorage": "I64", "HalfStorage": "F16"}
    out = {}
    for k, (cls, le, _, vals) in BE_VALUES.items():
        raw = b"".join(struct.pack(le, v) for v in vals)
        out[k] = {"dtype": dt[cls], "shape": [len(vals)], "sha256": sha256(raw),
                  "first": [v if v != float("inf") else "inf" for v in vals[:4]]}
    return out


@case("zip_byteorder_big.ckpt", 7,
      "Zip with an archive/byteorder record 'big' and big-endian storage bytes for F32, F64, I64, F16 tensors (like "
      "PyTorch's tensor_float_BE_BOM.pt). torch 1.13's serialization.py has no byteorder logic: it loads the bytes "
      "as little-endian (values garbled). torch 2.x byte-swaps each element (storage.byteswap(dtype)); expect_tensors holds those (the true) values.",
      "loads", ["clean", "unsupported"], expect_tensors=be_expected,
      note="'clean' means SafeCkpt reads expect_tensors (torch 2.x semantics), not torch 1.13's torch_tensors.")
def _():
    items, stor = [], []
    for i, (k, (cls, _, be, vals)) in enumerate(BE_VALUES.items()):
        items.append((p_str(k), t_v2(str(i), len(vals), 0, [len(vals)], [1], cls=cls)))
        stor.append((str(i), b"".join(struct.pack(be, v) for v in vals)))
    pkl = PROTO2 + p_dict(items) + b"."
    recs = [("archive/data.pkl", pkl), ("archive/byteorder", b"big")]
    recs += [("archive/data/" + k, v) for k, v in stor]
    recs.append(("archive/version", b"3\n"))
    return mf.torch_zip(recs)


@case("zip_backward_hooks_none.ckpt", 7,
      "_rebuild_tensor_v2(storage, 0, (2,2), (2,1), False, None): backward_hooks None, as torch 0.4.1 wrote.",
      "loads", ["clean"], check=need_tensors({"w": [1.0, 2.0, 3.0, 4.0]}))
def _():
    pkl = PROTO2 + p_dict([(p_str("w"), t_v2("0", 4, 0, [2, 2], [2, 1], hooks=b"N"))]) + b"."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4]))])


def proto0_tensor(key, numel, size, stride, persid_text=False):
    """Protocol-0 text opcodes only (GLOBAL, MARK, UNICODE/STRING, INT, LONG, TUPLE, PUT, REDUCE) except the
    persistent id: BINPERSID (protocol 1) of a tuple, or PERSID (protocol 0, a text line -> a str id)."""
    def tup(parts):
        return b"(" + b"".join(parts) + b"t"
    if persid_text:
        p = b"P" + key.encode() + b"\n"
    else:
        p = tup([b"Vstorage\n", b"ctorch\nFloatStorage\n", b"S'%s'\n" % key.encode(), b"Vcpu\n",
                 b"L%dL\n" % numel]) + b"Q"
    args = tup([p, b"I0\n", tup(b"I%d\n" % s for s in size), tup(b"L%dL\n" % s for s in stride), b"I00\n",
                b"ccollections\nOrderedDict\n(tR"])
    return b"ctorch._utils\n_rebuild_tensor_v2\np0\n" + args + b"R"


@case("zip_protocol0_text.ckpt", 7,
      "data.pkl in protocol-0 text opcodes (no PROTO): (dp / UNICODE keys / GLOBAL torch._utils _rebuild_tensor_v2 / "
      "STRING storage key / INT / LONG / I00 False / PUT / GET / SETITEM / REDUCE), with the persistent id passed by "
      "BINPERSID (protocol 1: the only way to give torch's persistent_load the tuple it asserts).",
      "loads", ["clean", "unsupported"],
      check=need_tensors({"w": [1.0, 2.0, 3.0, 4.0], "w2": [1.0, 2.0, 3.0, 4.0], "b": [0.5, -0.5]}))
def _():
    pkl = (b"(dp1\nVw\np2\n" + proto0_tensor("0", 4, [2, 2], [2, 1]) + b"p3\ns"
           + b"Vw2\ng3\ns" + b"S'b'\n" + proto0_tensor("1", 2, [2], [1]) + b"s.")
    return zckpt(pkl, [("0", f32([1, 2, 3, 4])), ("1", f32([0.5, -0.5]))])


@case("zip_protocol0_persid.ckpt", 7,
      "Pure protocol 0: as zip_protocol0_text.ckpt but the persistent id is a PERSID text line ('P0\\n'), so "
      "persistent_load receives the str '0'; torch's zip loader asserts a tuple and fails.",
      "fails", ["unsupported", "malformed"])
def _():
    pkl = b"(dp1\nVw\np2\n" + proto0_tensor("0", 4, [4], [1], persid_text=True) + b"s."
    return zckpt(pkl, [("0", f32([1, 2, 3, 4]))])


def big_endian_sysinfo_file():
    import torch
    sd = collections.OrderedDict([("w", torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4),
                                  ("i", torch.tensor([1, -2, 3], dtype=torch.int64)),
                                  ("h", torch.tensor([0.5, 2.0], dtype=torch.float16))])
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.pt")
        torch.save(sd, p, _use_new_zipfile_serialization=False)
        with open(p, "rb") as f:
            data = mf.legacy_make_deterministic(f.read())
    pk, pos = mf.split_legacy(data)
    si = pickle.loads(pk[2])
    assert si["little_endian"] is True and pickle.dumps(si, protocol=2) == pk[2], si
    si["little_endian"] = False
    return pk[0] + pk[1] + pickle.dumps(si, protocol=2) + pk[3] + pk[4] + data[pos:]


@case("legacy_big_endian_sysinfo.pt", 7,
      "A real legacy torch.save file (_use_new_zipfile_serialization=False; storage keys renumbered) with sys_info "
      "little_endian patched to False. torch 1.13's _legacy_load reads sys_info and ignores it; raw storages are "
      "always read as little-endian.",
      "loads", ["clean", "unsupported"],
      check=need_tensors({"w": [0.0, 0.25, 0.5, 0.75], "i": [1, -2, 3], "h": [0.5, 2.0]}))
def _():
    return big_endian_sysinfo_file()


# --------------------------------------------------------------------------------------------
# make

def run_case(c):
    name = c["name"]
    data = c["build"]()
    assert len(data) < 65536, (name, len(data))
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    res = probe(path)
    got = outcome(res)
    if got != c["want"]:
        raise SystemExit("FAIL %s: torch outcome %s, built for %s: %s" % (name, got, c["want"], json.dumps(res)))
    if c["check"] and got == "loads":
        err = c["check"](res)
        if err:
            raise SystemExit("FAIL %s: %s" % (name, err))
    bio = probe(path, "bytesio")
    e = collections.OrderedDict()
    e["file"] = "hardening/" + name
    e["size"] = len(data)
    e["sha256"] = sha256(data)
    e["what"] = c["what"]
    e["torch"] = got
    if res.get("error"):
        e["torch_error"] = res["error"]
    if got == "loads":
        e["torch_tensors"] = res["tensors"]
        if res.get("leaves"):
            e["torch_values"] = res["leaves"]
    if c["expect_tensors"]:
        e["expect_tensors"] = c["expect_tensors"]()
    e["torch_via_bytesio"] = outcome(bio) + (": " + bio["error"] if bio.get("error") else "")
    assert not (got == "runs-payload" and "clean" in c["expect"])
    e["expect"] = c["expect"]
    e["class"] = c["cls"]
    if c["note"]:
        e["note"] = c["note"]
    return e, data


def extra_checks(man):
    """Structural claims about the files, independent of torch."""
    p = lambda n: os.path.join(OUT, n)  # noqa: E731
    # tar headers parse with Python's tarfile at offset 0
    for n in ("tar_plain.pt", "tar_pickle_member_payload.pt", "tar_signed_checksum.pt",
              "tar_safetensors_prefix.safetensors", "tar_valid_safetensors.safetensors",
              "tar_bare_pickle.pt", "tar_legacy_magic.pt"):
        names = tar_names(p(n))
        assert {"storages", "tensors", "pickle"} <= set(names), (n, names)
    # the valid safetensors one passes the strict reader
    r = mf.read_safetensors(p("tar_valid_safetensors.safetensors"), strict=True)
    assert not r["errors"], r["errors"]
    assert list(r["tensors"]) == ["tar"] and r["metadata"] and list(r["metadata"]) == ["t"], r
    t = r["tensors"]["tar"]
    man["hardening/tar_valid_safetensors.safetensors"]["safetensors_tensors"] = {
        "tar": {"dtype": t["dtype"], "shape": t["shape"], "sha256": sha256(t["raw"])}}
    # the prefix file: bytes 0..7 and 8
    with open(p("tar_safetensors_prefix.safetensors"), "rb") as f:
        b = f.read(9)
    assert struct.unpack("<Q", b[:8])[0] == 1016 and b[8:9] == b"{"
    # the pickle-prefixed tars are well-formed pickles: bare one -> {}, legacy one -> 5 pickles
    import pickletools
    for n in ("tar_bare_pickle.pt", "tar_legacy_magic.pt"):
        with open(p(n), "rb") as f:
            data = f.read()
        bio = io.BytesIO(data)
        ops = [op.name for op, _, _ in pickletools.genops(bio)]
        assert ops[:3] == ["PROTO", "BINBYTES", "POP"], ops
        if n == "tar_bare_pickle.pt":
            assert bio.tell() == len(data)
        else:
            pk, pos = mf.split_legacy(data)
            assert pos == len(data)
            assert pickle.loads(pk[0]) == LEGACY_MAGIC  # our own bytes: BINBYTES, POP, LONG1 - nothing runs
    # Python's zipfile cannot open the EOCD-in-tail file
    import zipfile
    try:
        zipfile.ZipFile(p("zip_eocd_in_tail.ckpt"))
        raise AssertionError("zipfile opened zip_eocd_in_tail.ckpt")
    except zipfile.BadZipFile:
        pass
    man["hardening/zip_eocd_in_tail.ckpt"]["python_zipfile"] = "BadZipFile"
    with zipfile.ZipFile(p("zip_two_eocd.ckpt")) as z:
        assert b"posix" in z.read("archive/data.pkl")
        man["hardening/zip_two_eocd.ckpt"]["python_zipfile"] = "uses the LAST EOCD (zip B, payload data.pkl)"
    # a reader that takes the FIRST EOCD signature sees zip A (benign data.pkl)
    with open(p("zip_two_eocd.ckpt"), "rb") as f:
        data = f.read()
    i = data.find(b"PK\x05\x06")
    n, cd_size, cd_off, clen = struct.unpack_from("<HIIH", data, i + 10)
    assert clen == len(data) - i - 22 and data.rfind(b"PK\x05\x06") != i
    first_cd = data[cd_off:cd_off + cd_size]
    (off0,) = struct.unpack_from("<I", first_cd, 42)
    assert b"posix" not in data[off0:off0 + 200].split(b"PK\x07\x08")[0]


def cmd_make():
    import torch
    os.makedirs(OUT, exist_ok=True)
    man = collections.OrderedDict()
    written = set()
    for c in CASES:
        e, _ = run_case(c)
        man["hardening/" + c["name"]] = e
        written.add(c["name"])
        print("%-40s torch: %-12s %s" % (c["name"], e["torch"], e.get("torch_error", "")))
    extra_checks(man)
    for fn in sorted(os.listdir(OUT)):
        if fn not in written and fn not in ("manifest.json", "README.md"):
            print("warning: hardening/%s is not produced by this script" % fn)
    doc = {"schema_version": 1, "torch_version": torch.__version__,
           "python_version": "%d.%d.%d" % sys.version_info[:3], "fixtures": man}
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    write_readme(man, torch.__version__)
    print("wrote %d fixtures" % len(man))


def md(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def torch_cell(e):
    s = e["torch"]
    if e.get("torch_error"):
        s += ": `%s`" % md(e["torch_error"])[:160]
    if e["torch"] == "loads":
        parts = ["%s=%s%s" % (k, v["dtype"], v["first"]) for k, v in e["torch_tensors"].items()]
        s += ": " + (", ".join(parts) if parts else "no tensors")
        if e.get("torch_values"):
            s += "; values " + ", ".join("%s=%s" % (k, v) for k, v in e["torch_values"].items())
    return md(s)


README_HEAD = """# Hardening fixtures

Written by `../make_hardening_fixtures.py make` (run with `/usr/bin/python3`, Debian's torch {tv}). Every file is
built by hand (struct, hand-assembled pickle opcodes, Python's tarfile) and then given to real `torch.load(path)`
in a separate subprocess (fresh temp dir as cwd, 60 s timeout, torch 1.13's default full unpickler). Payloads only
run `touch MARKER_<name>` in that temp dir; "runs-payload" means the marker appeared. `make` fails unless torch's
outcome is the one each case was built for (and, where listed, the exact tensor values), so `manifest.json` records
measured behaviour. **Never load these files with pickle or torch outside a sandbox.**

`manifest.json`: `fixtures["hardening/NAME"]` has `file`, `size`, `sha256`, `what`, `torch`
(`runs-payload` / `loads` / `fails`), `torch_error` (exception type and first line), `torch_tensors` when torch
loads (flattened names: dict keys joined with `.`, list/tuple indices; `dtype` in safetensors spelling, `shape`,
`sha256` of the contiguous little-endian bytes, `first` values, `type` for tensor subclasses), `torch_values`
(non-tensor leaves, e.g. an empty OrderedDict), `torch_via_bytesio` (informational: torch.load of the same bytes as
an `io.BytesIO`, which skips the legacy tar attempt), `expect` (acceptable SafeCkpt scan verdicts) and `class`.
When torch runs the payload, `expect` never contains `clean`. When `clean` is acceptable, SafeCkpt must read exactly
`torch_tensors` - except where `expect_tensors` is present (zip_byteorder_big: torch 2.x semantics), then exactly
`expect_tensors`.

| file | what it does | torch {tv} | expect | class |
|---|---|---|---|---|
"""


README_TAIL = """
## Notes on torch {tv} code paths (read in /usr/lib/python3/dist-packages/torch)

* `serialization.load`: zip only when the first 4 bytes are `PK\\x03\\x04` (`_is_zipfile`); otherwise `_legacy_load`,
  which for a real file at offset 0 (`_should_read_directly`) first calls `legacy_load` ->
  `tarfile.open(fileobj=f, mode='r:')`. Python's tarfile accepts block 0 when its checksum field (octal, may end in
  a space instead of NUL) matches the unsigned or signed byte sum and the numeric fields parse as octal (spaces
  count as 0). It then extracts `storages` and reads `pickle.load(f)` for num_storages *with the full pickle
  module* - the payload here is that first pickle - then `tensors`, then unpickles `pickle` with persistent_load.
  Only `tarfile.TarError` makes torch fall back to the pickle path, so any file whose first block is a valid tar
  header and that contains the three members is loaded as a tar. For `io.BytesIO` input the tar attempt is skipped
  (see `torch_via_bytesio`).
* Tar detail: tarfile's `next()` raises `ReadError("unexpected end of data")` when the byte before the next header
  offset is missing, so member data must be padded to 512 bytes; a later invalid/truncated header just ends the
  member list (so trailing pickle bytes after the tar are fine).
* `_legacy_load` ignores `sys_info` entirely (`_sys_info = pickle_module.load(f)`), so `little_endian: False` changes
  nothing. The zip loader `_load` has no `byteorder` handling in 1.13 (torch 2.x `_load` reads it and calls `storage.byteswap(dtype)` when it differs from `sys.byteorder`).
* Legacy views: `persistent_load` caches `deserialized_objects[view_key]` only if the key is absent - first
  definition wins, a view key equal to an existing root returns that root, and a view registered under a key that is
  later used as a root makes the root *be* the view (its raw bytes are then read into the other storage).
* `Tensor.__setstate__`: 4-tuple -> `self.set_(*state)`; 5-tuple -> `self.data = state[0]`; otherwise
  `self.requires_grad, _, self._backward_hooks = state` (a 3-key dict unpacks its keys).
* `_rebuild_from_type_v2`: `if new_type is Tensor: return func(*args)` (state ignored); for other types
  `as_subclass` then `setattr` for each state item (Parameter has no own `__setstate__`).
* `torch._utils._rebuild_parameter_with_state` does not exist in 1.13.
* Zip (miniz in PyTorchStreamReader): the EOCD is the last `PK\x05\x06` with at least 22 bytes after it (a
  signature in the last 21 bytes is skipped; Python's zipfile instead rejects the file). Record lookup is
  case-insensitive (`archive/DATA/0` satisfies `data/0`, `archive/DATA.PKL` satisfies `data.pkl`); with two names
  equal up to case, 1.13 returned the one later in the central directory in both orders tried.
* `encoding='utf-8'` is passed to the unpickler, so Python-2 `SHORT_BINSTRING`/`BINSTRING` keys decode as UTF-8
  (invalid UTF-8 -> UnicodeDecodeError). The zip `persistent_load` asserts a tuple id, so protocol-0 `PERSID`
  (a str id) fails; `BINPERSID` is needed.
"""


def write_readme(man, tv):
    lines = [README_HEAD.format(tv=tv)]
    for k, e in man.items():
        what = e["what"] + ((" " + e["note"]) if e.get("note") else "")
        lines.append("| `%s` | %s | %s | %s | %d |\n" % (os.path.basename(k), md(what), torch_cell(e),
                                                          ", ".join(e["expect"]), e["class"]))
    lines.append(README_TAIL.format(tv=tv))
    with open(os.path.join(OUT, "README.md"), "w", encoding="utf-8") as f:
        f.write("".join(lines))


def main(argv):
    if argv[1:] == ["make"]:
        cmd_make()
    elif len(argv) == 3 and argv[1] == "probe":
        print(json.dumps(probe(argv[2]), indent=1))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
