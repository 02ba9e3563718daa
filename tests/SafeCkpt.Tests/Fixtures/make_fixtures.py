#!/usr/bin/python3
"""Test fixtures for SafeCkpt: small checkpoints and safetensors files, plus an
independent checker for files that SafeCkpt writes.

  /usr/bin/python3 make_fixtures.py make
      Writes every fixture under this script's folder (safetensors/, ckpt/,
      hostile/) and manifest.json. Deterministic: fixed seeds, fixed names,
      PYTHONHASHSEED=0; re-running gives byte-identical files for one torch
      version. Needs Debian's python3-torch and python3-numpy.

  /usr/bin/python3 make_fixtures.py verify FILE.safetensors SOURCE [options]
      Reads FILE with a safetensors reader written here from the format spec
      (struct + json; the safetensors package is NOT used), checks the format
      rules strictly and compares every tensor (name, dtype, shape, bytes)
      with manifest entry SOURCE (a manifest key such as "ckpt/zip_basic.ckpt",
      or a unique file name or stem such as "zip_basic").

  /usr/bin/python3 make_fixtures.py verify-ckpt FILE.ckpt SOURCE [options]
      torch.load(FILE, weights_only=True) and the same comparison, bit-exact.

  Options for verify / verify-ckpt:
      --float-dtype F16|BF16|F32|F64   floating tensors are expected converted
                                       to this dtype (expected bytes are then
                                       computed with torch .to() from the
                                       source fixture); empty (0-element)
                                       tensors are expected unchanged, as
                                       SafeCkpt keeps marker tensors as they are
      --skip-prefix P                  source tensors whose name starts with P
                                       are expected to be absent (repeatable)
Exit status: 0 when everything matches, 1 on any difference, 2 on usage errors.

Hostile fixtures are written as raw bytes. This script never unpickles them
and never passes them to torch.load.
"""
import collections
import copy
import hashlib
import io
import json
import math
import os
import pickle
import pickletools
import struct
import sys
import types
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240601

# --------------------------------------------------------------------------------------------
# dtype tables

# safetensors dtype -> size in bits (huggingface/safetensors src/tensor.rs enum Dtype)
ST_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}

_torch = None


def T():
    """Import torch lazily (the verify of a safetensors file needs it only for values)."""
    global _torch
    if _torch is None:
        import torch
        _torch = torch
    return _torch


def torch_st_tables():
    torch = T()
    t2s = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
           torch.int32: "I32", torch.int64: "I64", torch.float16: "F16",
           torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
           torch.complex64: "C64"}
    for tn, sn in (("uint16", "U16"), ("uint32", "U32"), ("uint64", "U64"),
                   ("float8_e4m3fn", "F8_E4M3"), ("float8_e5m2", "F8_E5M2")):
        if hasattr(torch, tn):
            t2s[getattr(torch, tn)] = sn
    return t2s, {v: k for k, v in t2s.items()}


def st_name(dtype):
    t2s, _ = torch_st_tables()
    return t2s.get(dtype, str(dtype).replace("torch.", ""))


FLOAT_ST = ("F16", "BF16", "F32", "F64")

# --------------------------------------------------------------------------------------------
# small helpers


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def tensor_bytes(t):
    """Contiguous little-endian bytes of a tensor (this machine is little-endian)."""
    assert sys.byteorder == "little"
    t = t.detach()
    c = t.contiguous()
    if c.numel() == 0:
        return b""
    return c.reshape(-1).view(T().uint8).numpy().tobytes()


def first_hex(raw, itemsize, n=4):
    out = []
    for i in range(min(n, len(raw) // itemsize)):
        v = int.from_bytes(raw[i * itemsize:(i + 1) * itemsize], "little")
        out.append("0x%0*x" % (2 * itemsize, v))
    return out


def from_bits(bits, dtype, shape=None):
    """Tensor of `dtype` whose elements have the given unsigned bit patterns."""
    import numpy as np
    torch = T()
    size = torch.tensor([], dtype=dtype).element_size()
    npu = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[size]
    raw = np.array([b & ((1 << (8 * size)) - 1) for b in bits], dtype=npu).tobytes()
    t = torch.frombuffer(bytearray(raw), dtype=dtype).clone()
    return t.reshape(shape) if shape is not None else t


def tensor_entry(t, name_dtype=None):
    raw = tensor_bytes(t)
    return {
        "dtype": name_dtype or st_name(t.dtype),
        "torch_dtype": str(t.dtype),
        "shape": list(t.shape),
        "numel": t.numel(),
        "nbytes": len(raw),
        "sha256": sha256(raw),
        "first_hex": first_hex(raw, t.element_size()),
    }


def write_file(rel, data):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def file_info(rel):
    with open(os.path.join(HERE, rel), "rb") as f:
        b = f.read()
    return {"file": rel, "size": len(b), "sha256": sha256(b)}


def fake_lightning():
    """A stand-in pytorch_lightning ModelCheckpoint class, pickled by name only
    (the real package is not needed; nothing of it is executed)."""
    name = "pytorch_lightning.callbacks.model_checkpoint"
    mod = sys.modules.get(name)
    if mod is not None and hasattr(mod, "ModelCheckpoint"):
        return mod.ModelCheckpoint
    for n in ("pytorch_lightning", "pytorch_lightning.callbacks"):
        sys.modules.setdefault(n, types.ModuleType(n))
    mod = types.ModuleType(name)

    class ModelCheckpoint:
        pass
    ModelCheckpoint.__module__ = name
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    mod.ModelCheckpoint = ModelCheckpoint
    sys.modules[name] = mod
    return ModelCheckpoint


# --------------------------------------------------------------------------------------------
# hand-assembled pickle opcodes (protocol 0..4); used for the derived and hostile fixtures

def p_str(s):  # BINUNICODE
    e = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(e)) + e


def p_sstr(s):  # SHORT_BINUNICODE (protocol 4)
    e = s.encode("utf-8")
    return b"\x8c" + bytes([len(e)]) + e


def p_int(n):
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    if -2 ** 31 <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    b = n.to_bytes((n.bit_length() >> 3) + 1, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


def p_global(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def p_tuple(parts):
    parts = list(parts)
    if not parts:
        return b")"
    if len(parts) <= 3:
        return b"".join(parts) + {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(parts)]
    return b"(" + b"".join(parts) + b"t"


def p_tensor_v2(storage_cls, key, numel, offset, size, stride, location="cpu"):
    pid = p_tuple([p_str("storage"), p_global("torch", storage_cls), p_str(key),
                   p_str(location), p_int(numel)]) + b"Q"
    args = p_tuple([pid, p_int(offset), p_tuple(p_int(s) for s in size),
                    p_tuple(p_int(s) for s in stride), b"\x89",
                    p_global("collections", "OrderedDict") + b")R"])
    return p_global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def p_dict(items):
    """items: list of (key_bytes, value_bytes)."""
    if not items:
        return b"}"
    return b"}(" + b"".join(k + v for k, v in items) + b"u"


PROTO2 = b"\x80\x02"
PAYLOAD_POSIX = p_global("posix", "system") + p_str("echo pwned") + b"\x85R"


# --------------------------------------------------------------------------------------------
# a zip writer that reproduces what torch.save (miniz, PyTorchStreamWriter) writes:
# stored entries, flags 0x0808 (data descriptor + UTF-8), zero time/date, zero CRC/sizes in
# the local header, an "FB" extra field padded with 'Z' so data starts on a 64-byte
# boundary, PK\x07\x08 data descriptors, a zip64 end record + locator + classic end record.

class TorchZip:
    def __init__(self):
        self.buf = bytearray()
        self.cd = []

    def add(self, name, data, *, method=0, local_name=None, crc=None, align=64):
        name_b = name.encode("utf-8")
        lname = (local_name if local_name is not None else name).encode("utf-8")
        off = len(self.buf)
        if method == 0:
            comp = data
        else:
            co = zlib.compressobj(9, zlib.DEFLATED, -15)
            comp = co.compress(data) + co.flush()
        pad = (-(off + 30 + len(lname) + 4)) % align
        extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        crcv = zlib.crc32(data) if crc is None else crc
        # miniz writes an empty record without the data-descriptor flag and descriptor
        flags = 0x0808 if data else 0x0800
        self.buf += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 0, flags, method, 0, 0,
                                0, 0, 0, len(lname), len(extra)) + lname + extra + comp
        if data:
            self.buf += struct.pack("<4sIII", b"PK\x07\x08", crcv, len(comp), len(data))
        self.cd.append((name_b, flags, method, crcv, len(comp), len(data), off))

    def finish(self):
        cd_off = len(self.buf)
        for (n, fl, m, crc, cs, us, off) in self.cd:
            self.buf += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 0, 0, fl, m, 0, 0,
                                    crc, cs, us, len(n), 0, 0, 0, 0, 0, off) + n
        cd_size = len(self.buf) - cd_off
        z64 = len(self.buf)
        n = len(self.cd)
        self.buf += struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 0x031E, 0x2D, 0, 0, n, n,
                                cd_size, cd_off)
        self.buf += struct.pack("<4sIQI", b"PK\x06\x07", 0, z64, 1)
        self.buf += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, cd_size, cd_off, 0)
        return bytes(self.buf)


def torch_zip(records, **kw):
    z = TorchZip()
    for name, data in records:
        z.add(name, data, **kw)
    return z.finish()


def zip_records(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


# --------------------------------------------------------------------------------------------
# reading back what torch.save wrote (our OWN fixtures only): a recording unpickler gives the
# storage key / class / numel / offset / stride of every tensor; the static opcode walk gives
# the globals the pickle names.

class TensorDesc:
    def __init__(self, pid, offset, size, stride, requires_grad, rebuild):
        self.pid, self.offset, self.size, self.stride = pid, offset, size, stride
        self.requires_grad, self.rebuild, self.parameter = requires_grad, rebuild, False


class StorageTag:
    def __init__(self, name):
        self.name = name


class RecordingUnpickler(pickle.Unpickler):
    def find_class(self, mod, name):
        if mod == "torch._utils" and name == "_rebuild_tensor_v2":
            return lambda st, off, size, stride, rg, hooks, *a: TensorDesc(st, off, size, stride, rg, name)
        if mod == "torch._utils" and name == "_rebuild_tensor_v3":
            return lambda st, off, size, stride, rg, hooks, dt, *a: TensorDesc(st, off, size, stride, rg, name)
        if mod == "torch._utils" and name == "_rebuild_parameter":
            def rp(data, rg, hooks):
                data.parameter, data.requires_grad = True, rg
                return data
            return rp
        if mod == "torch" and name.endswith("Storage"):
            return StorageTag(name)
        return super().find_class(mod, name)

    def persistent_load(self, pid):
        return tuple(pid)


def pickle_globals(data):
    names = []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            n = arg.replace(" ", ".", 1)
            if n not in names:
                names.append(n)
    return names


def walk(obj, path=()):
    """Yield (path, tensor-like) for every tensor in an object graph (dicts, lists, tuples,
    nn.Module _parameters/_buffers). Works on real objects and on recorded ones."""
    torch = T()
    if isinstance(obj, (torch.Tensor, TensorDesc)):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk(v, path + (key_name(k),))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from walk(v, path + (str(i),))
    elif isinstance(obj, torch.nn.Module):
        for k, v in obj._parameters.items():
            yield from walk(v, path + (k,))
        for k, v in obj._buffers.items():
            yield from walk(v, path + (k,))


def key_name(k):
    if isinstance(k, str):
        return k
    if isinstance(k, type):
        return "<%s.%s>" % (k.__module__, k.__qualname__)
    return repr(k)


def encode_value(v, path, tensor_paths):
    """JSON form of a non-tensor value; tensors become {"__tensor__": path}."""
    import numpy as np
    torch = T()
    if isinstance(v, (torch.Tensor, TensorDesc)):
        return {"__tensor__": "/".join(path)}
    if isinstance(v, np.generic):  # before float: np.float64 is a float subclass
        raw = v.tobytes()
        return {"__numpy_scalar__": str(v.dtype), "value": v.item(), "hex": first_hex(raw, len(raw), 1)[0]}
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isfinite(v):
            return v
        return {"__float__": repr(v), "hex": "0x%016x" % struct.unpack("<Q", struct.pack("<d", v))[0]}
    if isinstance(v, np.ndarray):
        raw = np.ascontiguousarray(v).tobytes()
        return {"__ndarray__": str(v.dtype), "shape": list(v.shape), "sha256": sha256(raw),
                "first_hex": first_hex(raw, v.dtype.itemsize)}
    if isinstance(v, type):
        return {"__global__": "%s.%s" % (v.__module__, v.__qualname__)}
    if isinstance(v, tuple):
        return {"__tuple__": [encode_value(x, path + (str(i),), tensor_paths) for i, x in enumerate(v)]}
    if isinstance(v, list):
        return [encode_value(x, path + (str(i),), tensor_paths) for i, x in enumerate(v)]
    if isinstance(v, dict):
        if all(isinstance(k, str) for k in v):
            return {k: encode_value(x, path + (k,), tensor_paths) for k, x in v.items()}
        return {"__dict_items__": [[encode_value(k, path, tensor_paths),
                                    encode_value(x, path + (key_name(k),), tensor_paths)]
                                   for k, x in v.items()]}
    if isinstance(v, torch.nn.Module):
        return {"__module__": "%s.%s" % (type(v).__module__, type(v).__qualname__),
                "parameters": {k: encode_value(x, path + (k,), tensor_paths) for k, x in v._parameters.items()}}
    if isinstance(v, (set, frozenset)):
        return {"__set__": sorted(encode_value(x, path, tensor_paths) for x in v)}
    raise TypeError("cannot encode %r at %s" % (type(v), "/".join(path)))


def get_path(obj, path):
    for p in path:
        obj = obj[p]
    return obj


# --------------------------------------------------------------------------------------------
# legacy (non-zip) torch.save files: split into 5 pickles + raw storages; make the storage keys
# deterministic (torch writes str(storage._cdata), a memory address)

STORAGE_ITEMSIZE = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
                    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
                    "ByteStorage": 1, "BoolStorage": 1, "ComplexFloatStorage": 8,
                    "ComplexDoubleStorage": 16}


def split_legacy(data):
    f = io.BytesIO(data)
    pickles = []
    for _ in range(5):
        start = f.tell()
        list(pickletools.genops(f))
        pickles.append(data[start:f.tell()])
    return pickles, f.tell()


def legacy_storages(object_pickle):
    """key -> (storage class name, numel), in first-use order, by unpickling our own file."""
    found = collections.OrderedDict()
    obj = RecordingUnpickler(io.BytesIO(object_pickle)).load()
    for _, d in walk(obj):
        found.setdefault(d.pid[2], (d.pid[1].name, d.pid[4]))
    return found


def legacy_read_raw(data, pos, keys, storages):
    blocks = {}
    for k in keys:
        (n,) = struct.unpack_from("<q", data, pos)
        pos += 8
        nb = n * STORAGE_ITEMSIZE[storages[k][0]]
        blocks[k] = (n, data[pos:pos + nb])
        pos += nb
    assert pos == len(data), (pos, len(data))
    return blocks


def legacy_make_deterministic(data):
    pickles, pos = split_legacy(data)
    storages = legacy_storages(pickles[3])
    keys = pickle.loads(pickles[4])  # our own file: a list of str
    blocks = legacy_read_raw(data, pos, keys, storages)
    # address-like keys of equal length: sorted order == first-use order
    newkey = {k: str(94000000000000 + 4096 * i) for i, k in enumerate(storages)}
    out = bytearray()
    f = io.BytesIO(pickles[3])
    ops = list(pickletools.genops(f))
    for i, (op, arg, p) in enumerate(ops):
        q = ops[i + 1][2] if i + 1 < len(ops) else len(pickles[3])
        if op.name == "BINUNICODE" and arg in newkey:
            out += p_str(newkey[arg])
        else:
            out += pickles[3][p:q]
    new_keys = sorted(newkey[k] for k in keys)
    inv = {v: k for k, v in newkey.items()}
    res = pickles[0] + pickles[1] + pickles[2] + bytes(out) + pickle.dumps(new_keys, protocol=2)
    for nk in new_keys:
        n, raw = blocks[inv[nk]]
        res += struct.pack("<q", n) + raw
    return res


# --------------------------------------------------------------------------------------------
# safetensors writing by hand (spec: 8-byte LE header size, JSON header, raw data)

def st_bytes(tensors, metadata=None, json_order=None, leading_ws="", ensure_ascii=False,
             indent=None, align_sort=False):
    """tensors: list of dicts {name, dtype, shape, raw}. Data is laid out in list order (or in
    the reference writer's order when align_sort: dtype size descending, then name)."""
    items = list(tensors)
    if align_sort:
        items.sort(key=lambda t: (-ST_BITS[t["dtype"]], t["name"]))
    hdr = collections.OrderedDict()
    offsets = {}
    pos = 0
    for t in items:
        offsets[t["name"]] = [pos, pos + len(t["raw"])]
        pos += len(t["raw"])
    names = json_order or [t["name"] for t in items]
    byname = {t["name"]: t for t in items}
    meta_first = metadata is not None and not (json_order and "__metadata__" in json_order)
    if meta_first:
        hdr["__metadata__"] = metadata
    for n in names:
        if n == "__metadata__":
            hdr[n] = metadata
            continue
        t = byname[n]
        hdr[n] = collections.OrderedDict([("dtype", t["dtype"]), ("shape", list(t["shape"])),
                                          ("data_offsets", offsets[n])])
    sep = (",", ":") if indent is None else (",", ": ")
    h = (leading_ws + json.dumps(hdr, ensure_ascii=ensure_ascii, separators=sep, indent=indent)).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(t["raw"] for t in items), items, offsets


def st_fixture(rel, tensors, notes, **kw):
    data, items, offsets = st_bytes(tensors, **kw)
    write_file(rel, data)
    (n,) = struct.unpack_from("<Q", data)
    entry = file_info(rel)
    entry.update({"kind": "safetensors", "notes": notes, "header_length": n,
                  "metadata": kw.get("metadata"), "data_order": [t["name"] for t in items],
                  "tensors": collections.OrderedDict()})
    for t in tensors:
        raw = t["raw"]
        isz = max(1, ST_BITS[t["dtype"]] // 8)
        entry["tensors"][t["name"]] = {
            "dtype": t["dtype"], "torch_dtype": t.get("torch_dtype"), "shape": list(t["shape"]),
            "numel": math.prod(t["shape"]), "nbytes": len(raw), "data_offsets": offsets[t["name"]],
            "sha256": sha256(raw), "first_hex": first_hex(raw, isz)}
    return entry


def st_t(name, tensor, dtype=None):
    return {"name": name, "dtype": dtype or st_name(tensor.dtype), "shape": list(tensor.shape),
            "raw": tensor_bytes(tensor), "torch_dtype": str(tensor.dtype)}


# --------------------------------------------------------------------------------------------
# content generators

def gen(seed):
    return T().Generator().manual_seed(seed)


def specials_f32():
    # nan, +inf, -inf, -0.0, smallest subnormal, largest subnormal, FLT_MAX, 1.0
    return from_bits([0x7FC00000, 0x7F800000, 0xFF800000, 0x80000000, 0x00000001, 0x007FFFFF,
                      0x7F7FFFFF, 0x3F800000], T().float32)


def specials_f16():
    return from_bits([0x7E00, 0x7C00, 0xFC00, 0x8000, 0x0001, 0x03FF, 0x7BFF, 0x3C00], T().float16)


def specials_bf16():
    return from_bits([0x7FC0, 0x7F80, 0xFF80, 0x8000, 0x0001, 0x007F, 0x7F7F, 0x3F80], T().bfloat16)


def specials_f64():
    return from_bits([0x7FF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
                      0x8000000000000000, 0x0000000000000001, 0x7FEFFFFFFFFFFFFF], T().float64)


def with_specials(rand, specials):
    flat = rand.reshape(-1).clone()
    k = min(flat.numel(), specials.numel())
    flat[:k] = specials[:k]
    return flat.reshape(rand.shape)


def basic_state_dict(seed):
    torch = T()
    g = gen(seed)
    sd = collections.OrderedDict()
    sd["model.conv.weight"] = with_specials(torch.randn(4, 3, 2, 2, generator=g), specials_f32())
    sd["model.conv.bias"] = torch.randn(4, generator=g)
    sd["model.half"] = with_specials(torch.randn(3, 4, generator=g), specials_f32()[:4]).half()
    sd["model.half_specials"] = specials_f16()
    sd["model.bf16"] = with_specials(torch.randn(2, 5, generator=g).to(torch.bfloat16), specials_bf16())
    sd["model.f64"] = with_specials(torch.randn(7, generator=g, dtype=torch.float64), specials_f64())
    sd["model.i64"] = torch.cat([torch.tensor([-2 ** 63, 2 ** 63 - 1]),
                                 torch.randint(-10 ** 12, 10 ** 12, (4,), generator=g)])
    sd["model.i32"] = torch.cat([torch.tensor([-2 ** 31, 2 ** 31 - 1], dtype=torch.int32),
                                 torch.randint(-1000, 1000, (2,), generator=g, dtype=torch.int32)]).reshape(2, 2)
    sd["model.i16"] = torch.tensor([-32768, 32767, 7], dtype=torch.int16)
    sd["model.i8"] = torch.tensor([-128, 127, 0, -1], dtype=torch.int8)
    sd["model.u8"] = torch.tensor([0, 255, 128, 1, 42], dtype=torch.uint8)
    sd["model.mask"] = torch.rand(2, 3, generator=g) < 0.5
    sd["model.scalar"] = torch.tensor(0.125)
    sd["model.num_batches_tracked"] = torch.tensor(12345)
    sd["model.empty"] = torch.zeros(2, 0)
    sd["model.requires_grad"] = torch.randn(3, generator=g).requires_grad_(True)
    return sd


def views_dict():
    torch = T()
    a = torch.arange(24.).reshape(4, 6)
    big = torch.arange(100, dtype=torch.int32)
    z = torch.tensor([1.5, -2.5, 3.5])
    h = torch.arange(12, dtype=torch.float16).reshape(3, 4)
    return collections.OrderedDict([
        ("a", a),                      # the base, contiguous
        ("b", a[1:3]),                 # storage offset 6
        ("c", a.t()),                  # transposed: stride (1, 6)
        ("d", a[:, 2]),                # offset 2, stride (6,)
        ("e", a.view(-1)[5:11]),       # offset 5
        ("f", big[10:13]),             # storage (100 elements) much larger than the view
        ("g", z.expand(4, 3)),         # zero stride (0, 1)
        ("h", h[:, 1::2]),             # fp16 view, offset 1, stride (4, 2)
        ("h_base", h),
    ])


def tiny_sd1_layout():
    """A few keys of each SD 1.x component with tiny channel counts (names as in LDM files)."""
    c, ctx, w = 8, 8, 8
    U, V, C = "model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.text_model."
    d = collections.OrderedDict()
    for k in ("betas", "alphas_cumprod", "alphas_cumprod_prev"):
        d[k] = [1000]
    d.update([
        (U + "time_embed.0.weight", [4 * c, c]), (U + "time_embed.0.bias", [4 * c]),
        (U + "input_blocks.0.0.weight", [c, 4, 3, 3]), (U + "input_blocks.0.0.bias", [c]),
        (U + "input_blocks.1.0.in_layers.0.weight", [c]), (U + "input_blocks.1.0.in_layers.2.weight", [c, c, 3, 3]),
        (U + "input_blocks.1.0.emb_layers.1.weight", [c, 4 * c]),
        (U + "input_blocks.1.1.proj_in.weight", [c, c, 1, 1]),
        (U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", [c, ctx]),
        (U + "input_blocks.1.1.transformer_blocks.0.ff.net.0.proj.weight", [8 * c, c]),
        (U + "middle_block.1.norm.weight", [c]),
        (U + "output_blocks.0.0.skip_connection.weight", [c, 2 * c, 1, 1]),
        (U + "out.0.weight", [c]), (U + "out.2.weight", [4, c, 3, 3]), (U + "out.2.bias", [4]),
        (V + "encoder.conv_in.weight", [c, 3, 3, 3]), (V + "encoder.mid.attn_1.q.weight", [c, c, 1, 1]),
        (V + "encoder.conv_out.weight", [8, c, 3, 3]),
        (V + "decoder.conv_in.weight", [c, 4, 3, 3]), (V + "decoder.conv_out.weight", [3, c, 3, 3]),
        (V + "quant_conv.weight", [8, 8, 1, 1]), (V + "post_quant_conv.weight", [4, 4, 1, 1]),
        (C + "embeddings.token_embedding.weight", [64, w]),
        (C + "embeddings.position_embedding.weight", [77, w]),
        (C + "encoder.layers.0.self_attn.q_proj.weight", [w, w]),
        (C + "encoder.layers.0.self_attn.q_proj.bias", [w]),
        (C + "encoder.layers.0.mlp.fc1.weight", [4 * w, w]),
        (C + "final_layer_norm.weight", [w]),
    ])
    return d


def ema_name(k):
    return "model_ema." + k[len("model."):].replace(".", "")


def tiny_sd1_state_dict(seed, dtype):
    torch = T()
    g = gen(seed)
    sd = collections.OrderedDict()
    for k, shape in tiny_sd1_layout().items():
        if k in ("betas", "alphas_cumprod", "alphas_cumprod_prev"):
            sd[k] = torch.linspace(0.00085, 0.012, 1000).to(dtype)
        else:
            sd[k] = (torch.randn(shape, generator=g) * 0.02).to(dtype)
    sd["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77).unsqueeze(0)
    return sd


# --------------------------------------------------------------------------------------------
# ckpt fixtures

def analyse_ckpt(rel, obj, sd_path, notes, derived_from=None, fmt=None):
    """Manifest entry for a checkpoint written from `obj` (the in-memory ground truth)."""
    torch = T()
    path = os.path.join(HERE, rel)
    entry = file_info(rel)
    entry.update({"kind": "ckpt", "notes": notes})
    if derived_from:
        entry["derived_from"] = derived_from
    with open(path, "rb") as f:
        data = f.read()
    storages = {}
    if data[:4] == b"PK\x03\x04":
        recs = zip_records(path)
        names = [n for n, _ in recs]
        prefix = names[0].split("/")[0]
        rec = dict(recs)
        pkl = rec[prefix + "/data.pkl"]
        byteorder = rec.get(prefix + "/byteorder", b"little").decode()
        entry.update({"format": "zip", "zip_prefix": prefix, "records": names,
                      "zip_compressed": any(i.compress_type != 0 for i in zipfile.ZipFile(path).infolist())})
        recorded = RecordingUnpickler(io.BytesIO(pkl)).load()
        entry["pickle_globals"] = pickle_globals(pkl)
        for _, d in walk(recorded):
            key = d.pid[2]
            raw = rec[prefix + "/data/" + key]
            storages[key] = {"class": d.pid[1].name, "location": d.pid[3], "numel": d.pid[4],
                             "nbytes": len(raw), "sha256": sha256(raw)}
        entry["byteorder"] = byteorder
    else:
        pickles, pos = split_legacy(data)
        st = legacy_storages(pickles[3])
        keys = pickle.loads(pickles[4])
        blocks = legacy_read_raw(data, pos, keys, st)
        recorded = RecordingUnpickler(io.BytesIO(pickles[3])).load()
        entry.update({"format": "legacy", "legacy_storage_keys": keys,
                      "pickle_globals": pickle_globals(pickles[3])})
        for _, d in walk(recorded):
            key = d.pid[2]
            n, raw = blocks[key]
            storages[key] = {"class": d.pid[1].name, "location": d.pid[3], "numel": d.pid[4],
                             "nbytes": len(raw), "sha256": sha256(raw), "view_metadata": d.pid[5]}
    rec_tensors = dict(walk(recorded))
    sd = get_path(obj, sd_path) if sd_path is not None else None
    entry["state_dict_path"] = list(sd_path) if sd_path is not None else None
    entry["tensors"] = collections.OrderedDict()
    entry["other_tensors"] = collections.OrderedDict()
    sd_tensor_ids = set()
    if sd is not None:
        for k, v in sd.items():
            if isinstance(v, torch.Tensor):
                sd_tensor_ids.add(tuple(sd_path) + (k,))
    for p, t in walk(obj):
        d = rec_tensors[p]
        e = tensor_entry(t)
        e.update({"storage_key": d.pid[2], "storage_class": d.pid[1].name,
                  "storage_numel": d.pid[4], "storage_offset": d.offset, "stride": list(d.stride),
                  "contiguous": t.is_contiguous(), "requires_grad": bool(d.requires_grad),
                  "parameter": d.parameter, "rebuild": d.rebuild})
        assert list(d.size) == list(t.shape) and d.offset == t.storage_offset() \
            and tuple(d.stride) == t.stride(), (rel, p)
        if p in sd_tensor_ids:
            entry["tensors"][p[len(sd_path)]] = e
        elif sd is None:
            entry["tensors"]["/".join(p)] = e
        else:
            entry["other_tensors"]["/".join(p)] = e
    entry["storages"] = storages
    # non-tensor values: everything at top level except the state dict itself
    if sd is not None and len(sd_path) == 0:
        entry["values"] = {}
    else:
        top = obj
        if sd_path:
            top = copy.copy(obj)
            # replace the state dict by a marker (without copying tensors)
            cur = top
            for i, pth in enumerate(sd_path[:-1]):
                cur[pth] = copy.copy(cur[pth])
                cur = cur[pth]
            cur[sd_path[-1]] = "__state_dict__"
        entry["values"] = encode_value(top, (), None) if isinstance(top, dict) else {}
    # can torch's own weights_only unpickler load it? (informational)
    try:
        torch.load(path, weights_only=True, map_location="cpu")
        entry["torch_weights_only_load"] = "ok"
    except Exception as ex:  # noqa: BLE001 - informational only
        msg = str(ex).strip()
        entry["torch_weights_only_load"] = "refused: " + msg[msg.find("WeightsUnpickler error"):][:200]
    return entry


def check_loaded_equals(rel, obj):
    """Cross-check: torch.load of our own fixture gives the ground-truth tensors bit-exactly."""
    torch = T()
    fake_lightning()
    loaded = torch.load(os.path.join(HERE, rel), map_location="cpu")
    a = dict(walk(obj))
    b = dict(walk(loaded))
    assert a.keys() == b.keys(), (rel, set(a) ^ set(b))
    for p in a:
        x, y = a[p], b[p]
        assert x.dtype == y.dtype and x.shape == y.shape, (rel, p)
        assert tensor_bytes(x) == tensor_bytes(y), (rel, p)


def make_ckpts(manifest):
    import numpy as np
    torch = T()
    ck = {}

    def save(rel, obj, sd_path, notes, legacy=False, fileobj=False):
        path = os.path.join(HERE, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if fileobj:
            with open(path, "wb") as f:
                torch.save(obj, f)
        else:
            torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
        if legacy:
            with open(path, "rb") as f:
                data = f.read()
            write_file(rel, legacy_make_deterministic(data))
            notes += " Storage keys (torch writes memory addresses) were renumbered to fixed address-like strings for determinism."
        check_loaded_equals(rel, obj)
        manifest[rel] = analyse_ckpt(rel, obj, sd_path, notes)
        ck[rel] = obj

    basic = {"state_dict": basic_state_dict(SEED + 1), "global_step": 123, "epoch": 4}
    save("ckpt/zip_basic.ckpt", basic, ["state_dict"],
         "torch.save zip: every dtype torch.save supports here, special floats, 0-d, empty, requires_grad.")

    # self-test of the torch-like zip writer: rebuilding the records must give the same bytes
    p = os.path.join(HERE, "ckpt/zip_basic.ckpt")
    with open(p, "rb") as f:
        orig = f.read()
    rebuilt = torch_zip(zip_records(p))
    torch_zip_identical = rebuilt == orig

    views = views_dict()
    save("ckpt/zip_views.pt", views, [],
         "Bare dict of views sharing storages: offsets, transposed and zero strides, a view of a larger storage.")

    torch.manual_seed(SEED + 2)
    lin = torch.nn.Linear(3, 2)
    seq = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    param_obj = {"state_dict": lin.state_dict(keep_vars=True), "model": seq.state_dict()}
    save("ckpt/zip_parameter.pt", param_obj, ["state_dict"],
         "state_dict holds nn.Parameter values (_rebuild_parameter); both dicts are OrderedDicts with _metadata (BUILD).")

    ModelCheckpoint = fake_lightning()
    light = {
        "epoch": 1, "global_step": 10, "pytorch-lightning_version": "1.4.2",
        "state_dict": collections.OrderedDict([("model.w", torch.randn(2, 3, generator=gen(SEED + 3))),
                                               ("model.b", torch.zeros(3))]),
        "callbacks": {ModelCheckpoint: {
            "monitor": "val/loss", "best_model_score": torch.tensor(0.25),
            "best_model_path": "/ckpt/epoch=1.ckpt", "current_score": np.float64(0.5),
            "kth_count": np.int64(3), "scores_hist": np.arange(4, dtype=np.float32).reshape(2, 2),
            "dirpath": None, "save_top_k": -1}},
        "optimizer_states": [], "lr_schedulers": [],
    }
    save("ckpt/zip_lightning.ckpt", light, ["state_dict"],
         "Lightning callback keyed by the ModelCheckpoint CLASS (a global used as a dict key), numpy scalars "
         "(numpy.core.multiarray.scalar + numpy.dtype + _codecs.encode) and an ndarray (_reconstruct).")

    nested = {"model": {"state_dict": collections.OrderedDict([
        ("encoder.weight", torch.randn(3, 2, generator=gen(SEED + 4))),
        ("encoder.bias", torch.randn(3, generator=gen(SEED + 5)).half())])},
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08,
                                                     "weight_decay": 0.0, "amsgrad": False, "params": [0, 1]}]},
        "step": 7}
    save("ckpt/zip_nested.ckpt", nested, ["model", "state_dict"], "State dict two levels down: model/state_dict.")

    torch.manual_seed(SEED + 6)
    bare = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.GroupNorm(1, 3)).state_dict()
    save("ckpt/bare_state_dict.pt", bare, [], "A module state_dict() OrderedDict (with _metadata) at top level.")

    save("ckpt/legacy.ckpt", basic, ["state_dict"],
         "Same content as zip_basic.ckpt, legacy (_use_new_zipfile_serialization=False) format.", legacy=True)
    save("ckpt/legacy_views.pt", views, [], "Same content as zip_views.pt, legacy format.", legacy=True)

    sd = tiny_sd1_state_dict(SEED + 7, torch.float32)
    for k in list(sd):
        if k.startswith("model.diffusion_model."):
            sd[ema_name(k)] = sd[k] + 0.001
    sd["model_ema.decay"] = torch.tensor(0.9999, dtype=torch.float32)
    sd["model_ema.num_updates"] = torch.tensor(840000, dtype=torch.int32)
    sd1 = {"epoch": 5, "global_step": 840000, "pytorch-lightning_version": "1.4.2", "state_dict": sd,
           "callbacks": {ModelCheckpoint: {"monitor": None, "best_model_path": "", "current_score": None,
                                           "best_model_score": None, "dirpath": "logs/checkpoints"}}}
    save("ckpt/sd1_tiny_ema.ckpt", sd1, ["state_dict"],
         "Tiny SD-1.x training checkpoint layout: UNet/VAE/CLIP prefixes, schedule buffers, position_ids int64, "
         "model_ema.* keys (dots removed after 'model.'), model_ema.decay/num_updates, Lightning callback.")

    ti = {"string_to_token": {"*": torch.tensor(265)},
          "string_to_param": torch.nn.ParameterDict({"*": torch.nn.Parameter(torch.randn(2, 768, generator=gen(SEED + 8)))}),
          "name": "x", "step": 10, "sd_checkpoint": "abc", "sd_checkpoint_name": "y"}
    save("ckpt/textual_inversion.pt", ti, None,
         "A1111 embedding: ParameterDict (NEWOBJ + BUILD, __builtin__.set) with a Parameter. No state dict: "
         "'tensors' are keyed by path.")

    arch = collections.OrderedDict([("w", torch.randn(2, 2, generator=gen(SEED + 9))), ("n", torch.tensor(3))])
    save("ckpt/zip_archive_prefix.pt", arch, [], "Saved through a file object: records under 'archive/'.",
         fileobj=True)

    # ---- derived variants (records rebuilt; the tensors are the same as the source) ----
    def derive(rel, src_rel, obj, sd_path, records, notes, torch_check=True, **zipkw):
        write_file(rel, records if isinstance(records, bytes) else torch_zip(records, **zipkw))
        if torch_check:
            check_loaded_equals(rel, obj)
        manifest[rel] = analyse_ckpt(rel, obj, sd_path, notes, derived_from=src_rel)

    src = zip_records(os.path.join(HERE, "ckpt/zip_basic.ckpt"))
    pre = "zip_basic/"
    # 1. records a torch >= 2.x writer adds (the installed torch is older)
    newer = [(n, d) for n, d in src if n.endswith("/data.pkl")]
    newer += [(pre + ".format_version", b"1"), (pre + ".storage_alignment", b"64"), (pre + "byteorder", b"little")]
    newer += [(n, d) for n, d in src if "/data/" in n]
    newer += [(pre + "version", b"3\n"), (pre + ".data/serialization_id", b"1234567890123456789012345678901234567890")]
    newer = [(n.replace("zip_basic/", "zip_newer_records/"), d) for n, d in newer]
    derive("ckpt/zip_newer_records.ckpt", "ckpt/zip_basic.ckpt", basic, ["state_dict"], newer,
           "zip_basic re-packed with the records newer torch writes: byteorder, .format_version, "
           ".storage_alignment, .data/serialization_id (emulated; values as torch 2.x writes them).")
    # 2. third-party re-zip with DEFLATE (Python zipfile, fixed timestamps)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, d in src:
            zi = zipfile.ZipInfo(n.replace("zip_basic/", "zip_deflated/"), date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, d, compresslevel=9)
    derive("ckpt/zip_deflated.ckpt", "ckpt/zip_basic.ckpt", basic, ["state_dict"], buf.getvalue(),
           "zip_basic re-zipped by Python zipfile with DEFLATE-compressed records (no alignment, no data descriptors).")
    # 3. big-endian byteorder record with byte-swapped storages (torch >= 2.1 swaps on load)
    itemsize = {k: STORAGE_ITEMSIZE[v["class"]] for k, v in manifest["ckpt/zip_basic.ckpt"]["storages"].items()}
    big = []
    for n, d in src:
        if "/data/" in n:
            s = itemsize[n.rsplit("/", 1)[1]]
            d = b"".join(d[i:i + s][::-1] for i in range(0, len(d), s))
        big.append((n.replace("zip_basic/", "zip_byteorder_big/"), d))
        if n.endswith("/data.pkl"):
            big.append(("zip_byteorder_big/byteorder", b"big"))
    derive("ckpt/zip_byteorder_big.ckpt", "ckpt/zip_basic.ckpt", basic, ["state_dict"], big,
           "Like zip_basic but with a 'byteorder' record 'big' and every storage byte-swapped per element; "
           "the LOGICAL tensors equal zip_basic (storages sha256 are of the swapped bytes). torch < 2.1 ignores "
           "the record, so no torch cross-check here.", torch_check=False)
    # 4. storages on 'cuda:0' (as in textual-inversion files saved on a GPU)
    tsrc = zip_records(os.path.join(HERE, "ckpt/zip_archive_prefix.pt"))
    cud = []
    for n, d in tsrc:
        if n.endswith("/data.pkl"):
            ops = list(pickletools.genops(d))
            out = bytearray()
            for i, (op, arg, pp) in enumerate(ops):
                q = ops[i + 1][2] if i + 1 < len(ops) else len(d)
                out += p_str("cuda:0") if (op.name == "BINUNICODE" and arg == "cpu") else d[pp:q]
            d = bytes(out)
        cud.append((n, d))
    derive("ckpt/zip_cuda_location.pt", "ckpt/zip_archive_prefix.pt", arch, [], cud,
           "zip_archive_prefix with storage location 'cuda:0' (map to CPU when reading).")
    return ck, torch_zip_identical


# --------------------------------------------------------------------------------------------
# safetensors fixtures

def make_safetensors(manifest):
    import numpy as np
    torch = T()
    g = gen(SEED + 100)
    ts = []
    ts.append(st_t("bool", torch.rand(2, 3, generator=g) < 0.5))
    ts.append(st_t("u8", torch.cat([torch.tensor([0, 255], dtype=torch.uint8),
                                    torch.randint(0, 256, (3,), generator=g, dtype=torch.uint8)])))
    ts.append(st_t("i8", torch.tensor([-128, 127, -1, 5], dtype=torch.int8).reshape(2, 2)))
    ts.append(st_t("i16", torch.cat([torch.tensor([-32768, 32767], dtype=torch.int16),
                                     torch.randint(-500, 500, (1,), generator=g, dtype=torch.int16)])))
    r = torch.randint(0, 65536, (2,), generator=g).numpy()
    u16 = np.concatenate([np.array([0, 65535]), r]).astype(np.uint16)
    ts.append({"name": "u16", "dtype": "U16", "shape": [4], "raw": u16.tobytes(), "torch_dtype": None})
    ts.append(st_t("i32", torch.cat([torch.tensor([-2 ** 31, 2 ** 31 - 1], dtype=torch.int32),
                                     torch.randint(-10 ** 6, 10 ** 6, (6,), generator=g, dtype=torch.int32)]).reshape(2, 2, 2)))
    u32 = np.concatenate([np.array([4294967295, 2147483648]), torch.randint(0, 2 ** 31, (1,), generator=g).numpy()]).astype(np.uint32)
    ts.append({"name": "u32", "dtype": "U32", "shape": [3], "raw": u32.tobytes(), "torch_dtype": None})
    ts.append(st_t("i64_scalar", torch.tensor(-9007199254740993)))
    ts.append(st_t("i64", torch.tensor([-2 ** 63, 2 ** 63 - 1, 77])))
    u64 = np.array([18446744073709551615, 9223372036854775808, 12345678901234567890], dtype=np.uint64)
    ts.append({"name": "u64", "dtype": "U64", "shape": [3], "raw": u64.tobytes(), "torch_dtype": None})
    ts.append(st_t("f16", with_specials(torch.randn(12, generator=g).half(), specials_f16())))
    ts.append(st_t("bf16", with_specials(torch.randn(3, 4, generator=g).to(torch.bfloat16), specials_bf16())))
    ts.append(st_t("f32_conv", with_specials(torch.randn(3, 2, 3, 3, generator=g), specials_f32())))
    ts.append(st_t("f64", with_specials(torch.randn(8, generator=g, dtype=torch.float64), specials_f64())))
    ts.append(st_t("f32_scalar", torch.tensor(-0.0)))
    ts.append(st_t("f32_empty", torch.zeros(2, 0)))
    ts.append(st_t("i64_empty", torch.zeros(0, dtype=torch.int64)))
    # float8: the installed torch may have no float8 types; bytes are chosen by hand
    e4 = [0x00, 0x80, 0x7F, 0xFF, 0x01, 0x38, 0x7E, 0xFE] + torch.randint(0, 256, (4,), generator=g).tolist()
    e5 = [0x00, 0x80, 0x7C, 0xFC, 0x7E, 0x01, 0x3C, 0x7B] + torch.randint(0, 256, (4,), generator=g).tolist()
    ts.append({"name": "f8_e4m3", "dtype": "F8_E4M3", "shape": [3, 4], "raw": bytes(e4),
               "torch_dtype": "torch.float8_e4m3fn" if hasattr(torch, "float8_e4m3fn") else None})
    ts.append({"name": "f8_e5m2", "dtype": "F8_E5M2", "shape": [12], "raw": bytes(e5),
               "torch_dtype": "torch.float8_e5m2" if hasattr(torch, "float8_e5m2") else None})
    manifest["safetensors/dtypes.safetensors"] = st_fixture(
        "safetensors/dtypes.safetensors", ts,
        "One tensor per dtype; float ones start with nan, inf, -inf, -0.0, subnormals, max. F8_E4M3: "
        "00 80(-0) 7f/ff(nan) 01(subnormal) 38(1.0) 7e(448) fe(-448). F8_E5M2: 00 80 7c(inf) fc(-inf) "
        "7e(nan) 01(subnormal) 3c(1.0) 7b(57344). U16/U32/U64/F8 have no torch dtype in torch < 2.1/2.3 "
        "(torch_dtype null): compare bytes. Reference writer order (dtype size desc, then name): aligned.",
        metadata={"format": "pt"}, align_sort=True)

    g = gen(SEED + 101)
    mt = [st_t("model.diffusion_model.input_blocks.0.0.weight", torch.randn(4, 2, 3, 3, generator=g)),
          st_t("emb.héllo✓.weight", torch.randn(3, 4, generator=g).half()),
          st_t("lora_te_text_model_encoder_layers_0_self_attn_k_proj.alpha", torch.tensor(8.0)),
          st_t("a..b/c:d", torch.arange(5, dtype=torch.int32)),
          st_t("日本語", torch.tensor([True, False]))]
    manifest["safetensors/metadata.safetensors"] = st_fixture(
        "safetensors/metadata.safetensors", mt,
        "__metadata__ with JSON-in-a-string and a non-ASCII value; names with dots, '/', ':' and non-ASCII "
        "(raw UTF-8 in the header). Written in the reference writer's order (dtype size desc, then name).",
        metadata={"format": "pt", "ss_tag_frequency": "{\"a\": 1}", "note": "héllo ✓"}, align_sort=True)

    g = gen(SEED + 102)
    un = [st_t("u8_first", torch.tensor([1, 2, 3], dtype=torch.uint8)),
          st_t("f32_unaligned", torch.randn(2, generator=g)),
          st_t("f16_mid", torch.randn(3, generator=g).half()),
          st_t("é_escaped", torch.tensor([7, -7])),
          st_t("zz_last", torch.randn(2, 2, generator=g).double())]
    manifest["safetensors/unordered.safetensors"] = st_fixture(
        "safetensors/unordered.safetensors", un,
        "Legal but unusual: JSON keys in reverse data order with __metadata__ last; leading whitespace "
        "('\\n\\t  ') before '{'; indented JSON; non-ASCII name written as a \\u escape; offsets NOT aligned "
        "to the dtype size (f32 at offset 3); header padded with spaces.",
        metadata={}, json_order=["zz_last", "é_escaped", "f16_mid", "f32_unaligned", "u8_first", "__metadata__"],
        leading_ws="\n\t  ", ensure_ascii=True, indent=1)

    sd = tiny_sd1_state_dict(SEED + 103, torch.float16)
    stt = [st_t(k, v) for k, v in sd.items()]
    manifest["safetensors/sd_tiny.safetensors"] = st_fixture(
        "safetensors/sd_tiny.safetensors", stt,
        "Tiny SD-1.x layout in F16 (position_ids I64 [1,77]); reference writer order.",
        metadata={"format": "pt"}, align_sort=True)

    # every hand-written file must read back with the independent reader
    for rel, e in list(manifest.items()):
        if e.get("kind") == "safetensors":
            res = read_safetensors(os.path.join(HERE, rel), strict=False)
            assert not res["errors"], (rel, res["errors"])
            for n, t in e["tensors"].items():
                got = res["tensors"][n]
                assert got["dtype"] == t["dtype"] and got["shape"] == t["shape"] and sha256(got["raw"]) == t["sha256"]


# --------------------------------------------------------------------------------------------
# hostile fixtures: raw bytes only

def make_hostile(manifest):
    torch = T()
    H = collections.OrderedDict()

    def add(name, data, expect, what, glob=None, acceptable=(), reason=None):
        rel = "hostile/" + name
        write_file(rel, data)
        e = file_info(rel)
        e.update({"kind": "hostile", "expect": expect, "global": glob, "reason": reason,
                  "also_acceptable": list(acceptable), "what": what})
        H[rel] = e

    def zipped(pkl, prefix="archive", extra=(), storages=(("0", b"\x00" * 16),)):
        recs = [(prefix + "/data.pkl", pkl)]
        recs += [(prefix + "/data/" + k, d) for k, d in storages]
        recs += [(prefix + "/version", b"3\n")]
        return recs + list(extra)

    benign = PROTO2 + p_dict([(p_str("state_dict"), p_dict([(p_str("w"), p_tensor_v2("FloatStorage", "0", 4, 0, (4,), (1,)))]))]) + b"."
    evil_sd = PROTO2 + p_dict([(p_str("state_dict"), p_dict([(p_str("w"), p_tensor_v2("FloatStorage", "0", 4, 0, (4,), (1,)))])),
                               (p_str("x"), PAYLOAD_POSIX)]) + b"."

    # --- plain pickles named like checkpoints ---
    nomagic = "invalid: not a zip and no legacy magic number"
    add("p0_os_system.pt", b"cos\nsystem\n(S'echo pwned'\ntR.", "unsafe",
        "Protocol 0 GLOBAL os.system + REDUCE.", "os.system", [nomagic])
    add("p2_builtins_eval.pt", PROTO2 + p_global("builtins", "eval") + p_str("print('pwned')") + b"\x85R.",
        "unsafe", "Protocol 2 GLOBAL builtins.eval + REDUCE.", "builtins.eval", [nomagic])
    add("p2_builtin_exec_py2name.pt", PROTO2 + p_global("__builtin__", "exec") + p_str("print('pwned')") + b"\x85R.",
        "unsafe", "Python-2 spelling __builtin__.exec (mapped to builtins by fix_imports).", "__builtin__.exec", [nomagic])
    add("p2_posix_system.pt", PROTO2 + PAYLOAD_POSIX + b".", "unsafe",
        "os.system as pickled on Linux (module 'posix').", "posix.system", [nomagic])
    body = p_sstr("os") + b"\x94" + p_sstr("system") + b"\x94\x93\x94" + p_sstr("echo pwned") + b"\x94\x85\x94R\x94."
    add("p4_stack_global.pt", b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body, "unsafe",
        "Protocol 4: FRAME, SHORT_BINUNICODE 'os'/'system' + MEMOIZE, STACK_GLOBAL, REDUCE.", "os.system",
        [nomagic, "invalid: STACK_GLOBAL/MEMOIZE/FRAME not supported"])
    body = (b"(" + p_sstr("torch._utils") + b"q\x01" + p_sstr("_rebuild_tensor_v2") + b"q\x02" + p_sstr("os") + b"q\x03"
            + p_sstr("system") + b"q\x04" + b"1" + b"h\x01h\x02\x930" + b"h\x03h\x04\x93" + p_sstr("echo pwned") + b"\x85R.")
    add("p4_stack_global_memo.pt", b"\x80\x04" + body, "unsafe",
        "STACK_GLOBAL operands fetched from the memo with BINGET (decoy torch._utils._rebuild_tensor_v2 resolved and "
        "popped first); the called global is os.system.", "os.system",
        [nomagic, "invalid: STACK_GLOBAL not supported"])
    add("p0_inst.pt", b"(S'echo pwned'\nios\nsystem\n.", "unsafe", "INST opcode: resolves and calls os.system.",
        "os.system", [nomagic, "invalid: INST not supported"])
    add("p1_obj.pt", b"(cos\nsystem\nS'echo pwned'\no.", "unsafe", "OBJ opcode calling os.system.", "os.system",
        [nomagic, "invalid: OBJ not supported"])
    add("p4_dotted_eval_call.pt", b"\x80\x04" + p_sstr("builtins") + p_sstr("eval.__call__") + b"\x93"
        + p_sstr("print('pwned')") + b"\x85R.", "unsafe",
        "Dotted name: STACK_GLOBAL builtins + 'eval.__call__' (protocol >= 4 walks attributes).",
        "builtins.eval.__call__", [nomagic, "invalid: STACK_GLOBAL not supported"])
    add("p4_dotted_allowlisted.pt", b"\x80\x04" + p_global("torch._utils", "_rebuild_tensor_v2.__globals__") + b".",
        "unsafe", "Dotted name below an allowlisted function: torch._utils._rebuild_tensor_v2.__globals__ "
        "(must be refused: only exact names are allowed).", "torch._utils._rebuild_tensor_v2.__globals__", [nomagic])
    add("p2_partial_torch_load.pt", PROTO2 + p_global("functools", "partial") + p_global("torch", "load")
        + p_str("other.pt") + b"\x86R)R.", "unsafe",
        "functools.partial(torch.load, 'other.pt')() - indirect full torch.load.", "functools.partial", [nomagic])
    add("p2_huge_binbytes.pt", b"\x80\x03B\xff\xff\xff\x7fabc", "invalid",
        "BINBYTES claiming 2 GiB in a 10-byte file.", None, [], "length beyond end of data (must not allocate it)")

    # --- zip checkpoints ---
    add("zip_data_pkl_os_system.ckpt", torch_zip(zipped(evil_sd)), "unsafe",
        "Valid torch zip layout (archive/); data.pkl is a real-looking state dict plus a posix.system REDUCE.",
        "posix.system")
    add("zip_crc_mismatch_payload.ckpt", _zip_bad_crc(zipped(evil_sd)), "unsafe",
        "As zip_data_pkl_os_system but data.pkl's CRC is wrong (torch does not check CRCs).", "posix.system",
        ["invalid: CRC mismatch"])
    add("zip_local_name_mismatch.ckpt", _zip_local_name(zipped(evil_sd)), "unsafe",
        "Local header names 'archive/datap.kl', central directory 'archive/data.pkl' (torch uses the central "
        "directory); payload posix.system.", "posix.system", ["invalid: local/central name mismatch"])
    tsrecs = zipped(benign) + [("archive/constants.pkl", PROTO2 + b")."),
                               ("archive/code/__torch__.py", b"def forward(self):\n  return torch.ones(1)\n")]
    add("zip_torchscript_constants.pt", torch_zip(tsrecs), "invalid",
        "TorchScript-style archive (constants.pkl + code/) - torch would hand it to torch.jit.load "
        "(CVE-2025-32434).", None, [], "TorchScript archive, not a weights checkpoint")
    two = zipped(benign, "a") + zipped(evil_sd, "b", storages=())
    add("zip_two_data_pkl.ckpt", torch_zip(two), "invalid",
        "Two top folders each with data.pkl: a/ benign, b/ with posix.system (torch only reads a/).", None,
        ["unsafe: posix.system"], "more than one top-level folder / data.pkl")
    add("zip_path_traversal.ckpt", torch_zip(zipped(benign) + [("../evil", b"x")]), "invalid",
        "Valid archive plus an entry named '../evil'.", None, [], "entry name outside the archive folder")
    add("zip_duplicate_names.ckpt", torch_zip(zipped(benign) + [("archive/data.pkl", evil_sd)]), "invalid",
        "archive/data.pkl twice: benign first, posix.system payload second.", None, ["unsafe: posix.system"],
        "duplicate entry name")
    add("polyglot_pickle_zip.ckpt", PROTO2 + PAYLOAD_POSIX + b"." + torch_zip(zipped(benign)), "unsafe",
        "A pickle (posix.system) followed by a valid torch zip; torch checks the magic at offset 0 and would "
        "unpickle the prefix. A reader must not find the zip by its end record.", "posix.system",
        ["invalid: not a zip at offset 0 and no legacy magic"])

    # storage/view consistency
    real = zip_records(os.path.join(HERE, "ckpt/zip_archive_prefix.pt"))
    trunc = [(n, d[:-4] if n.endswith("/data/0") else d) for n, d in real]
    add("zip_storage_truncated.ckpt", torch_zip(trunc), "invalid",
        "Real torch.save zip (zip_archive_prefix.pt) with record data/0 4 bytes shorter than numel*itemsize.",
        None, [], "storage record size does not match numel")
    oob = PROTO2 + p_dict([(p_str("w"), p_tensor_v2("FloatStorage", "0", 4, 2, (4,), (1,)))]) + b"."
    add("zip_view_out_of_bounds.ckpt", torch_zip(zipped(oob)), "invalid",
        "FloatStorage numel 4 (16 bytes), view offset 2 size (4,) stride (1,) needs 6 elements.", None, [],
        "view reaches outside its storage")
    ovf = PROTO2 + p_dict([(p_str("w"), p_tensor_v2("FloatStorage", "0", 4, 0, (2 ** 62, 4), (4, 1)))]) + b"."
    add("zip_view_size_overflow.ckpt", torch_zip(zipped(ovf)), "invalid",
        "Size (2**62, 4): numel and byte counts overflow 64-bit arithmetic.", None, [], "size overflow")
    two_cls = PROTO2 + p_dict([(p_str("a"), p_tensor_v2("FloatStorage", "0", 4, 0, (4,), (1,))),
                               (p_str("b"), p_tensor_v2("LongStorage", "0", 2, 0, (2,), (1,)))]) + b"."
    add("zip_storage_dtype_conflict.ckpt", torch_zip(zipped(two_cls)), "invalid",
        "Two tensors name storage '0' with different classes (FloatStorage, LongStorage).", None, [],
        "one storage key with two dtypes")
    missing = PROTO2 + p_dict([(p_str("w"), p_tensor_v2("FloatStorage", "1", 4, 0, (4,), (1,)))]) + b"."
    add("zip_missing_storage_record.ckpt", torch_zip(zipped(missing)), "invalid",
        "data.pkl references storage '1'; only data/0 exists.", None, [], "missing storage record")
    persid = PROTO2 + p_dict([(p_str("w"), p_tuple([p_str("module"), p_str("x"), p_str("y")]) + b"Q")]) + b"."
    add("zip_persid_not_storage.ckpt", torch_zip(zipped(persid)), "invalid",
        "BINPERSID with a ('module', ...) id (legacy full-model pickles) instead of ('storage', ...).", None,
        ["unsafe"], "persistent id is not a storage")

    # resource exhaustion
    levels, fan = 40, 30
    bl = PROTO2 + p_dict([(p_str("state_dict"), p_dict([(p_str("w"), p_tensor_v2("FloatStorage", "0", 4, 0, (4,), (1,)))])),
                          (p_str("laughs"), _laughs(levels, fan))]) + b"."
    add("zip_billion_laughs.ckpt", torch_zip(zipped(bl)), "bounded",
        "Valid state dict plus 'laughs': %d nested lists each holding %d memo references to the previous one "
        "(%d**%d leaves if expanded). Must finish fast with bounded memory: either refuse (expansion limit) or "
        "load 'w' without ever expanding 'laughs'." % (levels, fan, fan, levels), None,
        ["invalid: expansion limit", "ok: tensors ['w']"], "must not expand shared references")
    n = 100000
    deep = PROTO2 + b"]" * n + b"a" * (n - 1) + b"."
    add("zip_deep_nesting.ckpt", torch_zip(zipped(deep)), "invalid",
        "100000 EMPTY_LIST then 99999 APPEND: a list nested 100000 deep (recursive code overflows the stack).",
        None, [], "nesting/stack depth limit (must not crash the process)")
    add("zip_huge_binunicode.ckpt", torch_zip(zipped(PROTO2 + b"}" + b"X\xff\xff\xff\x7f" + b"abcdefgh")), "invalid",
        "data.pkl: BINUNICODE claiming 2 GiB with 8 bytes left.", None, [], "length beyond end of data")
    add("zip_huge_binbytes.ckpt", torch_zip(zipped(b"\x80\x03}B\xff\xff\xff\x7fabc")), "invalid",
        "data.pkl: BINBYTES claiming 2 GiB with 3 bytes left.", None, ["invalid: BINBYTES not supported"],
        "length beyond end of data")
    memo = PROTO2 + p_dict([(p_str("w"), p_tensor_v2("FloatStorage", "0", 4, 0, (4,), (1,))),
                            (p_str("m"), p_str("x") + b"r\xff\xff\xff\xff"),
                            (p_str("n"), b"j\xff\xff\xff\xff")]) + b"."
    add("zip_memo_huge_index.ckpt", torch_zip(zipped(memo)), "bounded",
        "LONG_BINPUT/LONG_BINGET index 0xFFFFFFFF (a memo sized by index would allocate 4 G slots).", None,
        ["ok: tensors ['w']", "invalid: memo index limit"],
        "memo must not be allocated by index")

    # legacy format
    leg = os.path.join(HERE, "ckpt/legacy_views.pt")
    with open(leg, "rb") as f:
        ld = f.read()
    pk, pos = split_legacy(ld)
    keys = pickle.loads(pk[4])
    p5 = PROTO2 + b"](" + b"".join(p_str(k) for k in keys) + PAYLOAD_POSIX + b"e."
    add("legacy_pickle5_os_system.pt", pk[0] + pk[1] + pk[2] + pk[3] + p5 + ld[pos:], "unsafe",
        "Real legacy file (legacy_views.pt) whose 5th pickle (storage key list) also calls posix.system.",
        "posix.system")
    (cnt,) = struct.unpack_from("<q", ld, pos)
    bad = bytearray(ld)
    struct.pack_into("<q", bad, pos, cnt + 1)
    add("legacy_storage_size_mismatch.pt", bytes(bad), "invalid",
        "Real legacy file (legacy_views.pt) whose first raw storage claims numel+1 elements.", None, [],
        "storage has wrong byte size")

    # not checkpoints at all
    add("html_page.ckpt", b"<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head>\n"
        b"<body><p>Checking your browser before accessing the site.</p></body></html>\n", "invalid",
        "An HTML page saved under a checkpoint name (failed download).", None, [], "not a checkpoint (HTML)")
    add("empty.ckpt", b"", "invalid", "Empty file.", None, [], "empty file")
    add("git_lfs_pointer.ckpt", b"version https://git-lfs.github.com/spec/v1\n"
        b"oid sha256:fe4efff1e174c627256e44ec2991ba279b3816e364b49f9be2abc0b3ff3f8556\nsize 4265380512\n",
        "invalid", "Git LFS pointer text instead of the file.", None, [], "Git LFS pointer")

    # --- safetensors ---
    def st(hdr_obj=None, data=b"", raw_header=None, n=None, pad=b" "):
        h = raw_header if raw_header is not None else json.dumps(hdr_obj, separators=(",", ":")).encode()
        if raw_header is None:
            h += pad * ((-len(h)) % 8)
        return struct.pack("<Q", len(h) if n is None else n) + h + data

    f4 = {"dtype": "F32", "shape": [1]}
    add("st_too_small.safetensors", b"\x08\x00\x00\x00\x00", "invalid", "5-byte file.", None, [], "shorter than 8 bytes")
    add("st_header_len_beyond_file.safetensors", st({"a": dict(f4, data_offsets=[0, 4])}, b"\0" * 4, n=1000),
        "invalid", "Header length 1000, file much shorter.", None, [], "header length exceeds file")
    add("st_header_too_large.safetensors", struct.pack("<Q", 0xFFFFFF0000003C) + b"{}      ", "invalid",
        "Header length 0xffffff0000003c.", None, [], "header too large (> 100 MB)")
    add("st_not_json.safetensors", st(raw_header=b"{"), "invalid", "Header is '{'.", None, [], "header is not JSON")
    add("st_invalid_utf8.safetensors", st(raw_header=b'{"\xff":1}  '), "invalid", "Header bytes are not UTF-8.",
        None, [], "header not UTF-8")
    add("st_header_array.safetensors", st(raw_header=b"[]      "), "invalid", "Header is a JSON array.", None, [],
        "header is not a JSON object")
    add("st_nul_padded.safetensors", st({"a": dict(f4, data_offsets=[0, 4])}, b"\0\0\x80\x3f", pad=b"\0"), "invalid",
        "Header padded with NUL bytes instead of spaces (rejected by the reference reader).", None, [],
        "trailing characters after JSON")
    dup = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    add("st_duplicate_key.safetensors", st(raw_header=dup + b" " * ((-len(dup)) % 8)) + b"\0" * 8, "invalid",
        "The same tensor name twice (tiling only works if both count).", None, [], "duplicate key")
    add("st_overlap.safetensors", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
        "invalid", "Two tensors overlap.", None, [], "offsets overlap")
    add("st_gap.safetensors", st({"a": dict(f4, data_offsets=[0, 4]), "b": dict(f4, data_offsets=[8, 12])}, b"\0" * 12),
        "invalid", "A 4-byte hole between tensors.", None, [], "offsets leave a gap")
    add("st_trailing_bytes.safetensors", st({"a": dict(f4, data_offsets=[0, 4])}, b"\0\0\x80\x3f"
                                            + b"extra_bogus_data_for_polyglot_file"),
        "invalid", "Bytes after the last tensor (polyglot).", None, [], "file longer than header + data")
    add("st_truncated.safetensors", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 6),
        "invalid", "Data 2 bytes short.", None, [], "file shorter than header + data")
    add("st_size_mismatch.safetensors", st({"a": {"dtype": "I32", "shape": [2, 2], "data_offsets": [0, 4]}}, b"\0" * 4),
        "invalid", "Shape [2,2] I32 with 4 data bytes.", None, [], "byte size does not match shape")
    add("st_shape_overflow.safetensors", st({"a": {"dtype": "F32", "shape": [2, 18446744073709551614],
                                                   "data_offsets": [0, 4]}}, b"\0" * 4),
        "invalid", "Shape [2, 2**64-2]: element count overflows.", None, [], "shape overflow")
    add("st_bad_dtype.safetensors", st({"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
        "invalid", "Unknown dtype 'F33'.", None, [], "unknown dtype")
    add("st_metadata_not_string.safetensors", st({"__metadata__": {"a": 1}, "x": dict(f4, data_offsets=[0, 4])},
                                                 b"\0" * 4), "invalid", "__metadata__ value is a number.", None, [],
        "__metadata__ must map strings to strings")
    add("st_offsets_malformed.safetensors", st({"a": {"dtype": "F32", "shape": [1], "data_offsets": []}}, b"\0" * 4),
        "invalid", "data_offsets is [].", None, [], "data_offsets must be two integers")
    add("st_negative_offset.safetensors", st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}, b"\0" * 4),
        "invalid", "data_offsets [-4, 0].", None, [], "negative offset")
    add("st_end_before_begin.safetensors", st({"a": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]},
                                               "b": dict(f4, data_offsets=[0, 4])}, b"\0" * 4),
        "invalid", "data_offsets [4, 0] (end < begin).", None, [], "end before begin")
    add("st_shape_float.safetensors", st(raw_header=b'{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}') + b"\0" * 4,
        "invalid", "Shape holds a float 1.0.", None, [], "shape must be integers")
    add("st_offset_beyond_file.safetensors", st({"a": {"dtype": "F32", "shape": [1000, 1000],
                                                       "data_offsets": [0, 4000000]}}, b"\0" * 4),
        "invalid", "A 4 MB tensor in an 8-byte data section.", None, [], "data beyond end of file")
    for k, v in H.items():
        manifest[k] = v
    return H


def _laughs(levels, fan):
    """{'l0': L0, 'l1': L1, ...}: L0 = [], Li = [L(i-1)] * fan through memo GETs (no POP needed)."""
    out = b"}(" + p_str("l0") + b"]q\x00"
    for i in range(1, levels + 1):
        put = b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)
        out += p_str("l%d" % i) + b"]" + put + b"(" + (b"h" + bytes([i - 1])) * fan + b"e"
    return out + b"u"


def _zip_bad_crc(records):
    z = TorchZip()
    for i, (n, d) in enumerate(records):
        z.add(n, d, crc=(zlib.crc32(d) ^ 0xFFFFFFFF) if i == 0 else None)
    return z.finish()


def _zip_local_name(records):
    z = TorchZip()
    for n, d in records:
        z.add(n, d, local_name=n.replace("data.pkl", "datap.kl") if n.endswith("data.pkl") else None)
    return z.finish()


# --------------------------------------------------------------------------------------------
# make

HOSTILE_README_HEAD = """# Hostile inputs

Malicious or malformed files written as raw bytes by `../make_fixtures.py` (never unpickled
and never passed to `torch.load` by it). Each must be refused by SafeCkpt WITHOUT executing
anything, quickly and with bounded memory. Machine-readable copy: `manifest.json`, entries
with `"kind": "hostile"` (`expect`, `global`, `reason`, `also_acceptable`).

Outcomes: `unsafe: X` - the file names global X that is not allowed (report X);
`invalid: reason` - structurally wrong; `bounded` - legal structure built to exhaust a naive
reader: must finish fast without expanding it (see the listed acceptable results). Where a
second outcome is listed it is acceptable too (e.g. a plain pickle with no legacy magic may be
rejected as "not a checkpoint" before its globals are looked at).

| file | bytes | what it does | expected | also acceptable |
|---|---|---|---|---|
"""


def write_hostile_readme(H):
    lines = [HOSTILE_README_HEAD]
    for rel, e in H.items():
        exp = "unsafe: names global `%s`" % e["global"] if e["expect"] == "unsafe" else (
            "%s: %s" % (e["expect"], e["reason"]))
        lines.append("| `%s` | %d | %s | %s | %s |\n" % (
            rel.split("/", 1)[1], e["size"], e["what"].replace("|", "\\|"), exp,
            "; ".join(e["also_acceptable"]).replace("|", "\\|") or "-"))
    write_file("hostile/README.md", "".join(lines).encode("utf-8"))


def cmd_make():
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)
    torch = T()
    import numpy as np
    torch.use_deterministic_algorithms(True)
    manifest = collections.OrderedDict()
    make_safetensors(manifest)
    _, zip_ok = make_ckpts(manifest)
    H = make_hostile(manifest)
    write_hostile_readme(H)
    out = collections.OrderedDict([
        ("schema_version", 1),
        ("generator", "tests/SafeCkpt.Tests/Fixtures/make_fixtures.py"),
        ("torch_version", torch.__version__),
        ("numpy_version", np.__version__),
        ("python_version", "%d.%d" % sys.version_info[:2]),
        ("torch_zip_writer_reproduces_torch_save", zip_ok),
        ("fixtures", manifest),
    ])
    write_file("manifest.json", (json.dumps(out, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    known = set(manifest) | {"hostile/README.md"}
    for sub in ("safetensors", "ckpt", "hostile"):
        for fn in sorted(os.listdir(os.path.join(HERE, sub))):
            if sub + "/" + fn not in known:
                print("warning: %s/%s is not produced by this script" % (sub, fn))
    total = 0
    for rel in manifest:
        total += manifest[rel]["size"]
    print("wrote %d fixtures, %d bytes (torch %s); torch-like zip writer reproduces torch.save: %s"
          % (len(manifest), total, torch.__version__, zip_ok))


# --------------------------------------------------------------------------------------------
# independent safetensors reader (spec: huggingface/safetensors README "Format")

class _Dup(Exception):
    pass


def _no_dups(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise _Dup(k)
        d[k] = v
    return d


def _no_const(c):
    raise ValueError("non-standard JSON constant %s" % c)


def read_safetensors(path, strict=True):
    """Returns {errors, warnings, metadata, tensors{name: {dtype, shape, data_offsets, raw}}}.
    strict: the rules for files SafeCkpt writes (header starts with '{"', padded with spaces
    to a multiple of 8)."""
    errors, warnings = [], []
    res = {"errors": errors, "warnings": warnings, "metadata": None, "tensors": collections.OrderedDict()}
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        errors.append("file is %d bytes, shorter than the 8-byte header length" % len(data))
        return res
    (n,) = struct.unpack_from("<Q", data, 0)
    if n > 100_000_000:
        errors.append("header length %d exceeds 100 MB" % n)
        return res
    if 8 + n > len(data):
        errors.append("header length %d exceeds the file (%d bytes)" % (n, len(data)))
        return res
    hb = data[8:8 + n]
    if strict:
        if n % 8:
            errors.append("header length %d is not a multiple of 8 (data not 8-byte aligned)" % n)
        if not (hb.startswith(b'{"') or hb.startswith(b"{}")):
            errors.append("header does not start with '{\"': %r" % hb[:8])
    try:
        text = hb.decode("utf-8")
    except UnicodeDecodeError as ex:
        errors.append("header is not UTF-8: %s" % ex)
        return res
    stripped = text.lstrip(" \t\r\n")
    lead = len(text) - len(stripped)
    try:
        obj, end = json.JSONDecoder(object_pairs_hook=_no_dups, parse_constant=_no_const).raw_decode(stripped)
    except _Dup as ex:
        errors.append("duplicate JSON key %r" % str(ex))
        return res
    except ValueError as ex:
        errors.append("header is not valid JSON: %s" % ex)
        return res
    rest = stripped[end:]
    if strict and rest.strip(" "):
        errors.append("header padding contains bytes other than spaces: %r" % rest[:16])
    elif rest.strip(" \t\r\n"):
        errors.append("trailing characters after the header JSON: %r" % rest[:16])
    if lead:
        (errors if strict else warnings).append("%d whitespace characters before '{'" % lead)
    if not isinstance(obj, dict):
        errors.append("header is not a JSON object")
        return res
    entries = []
    for name, info in obj.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                errors.append("__metadata__ must be an object of string values")
            else:
                res["metadata"] = info
            continue
        if not isinstance(info, dict):
            errors.append("%r: entry is not an object" % name)
            continue
        if set(info) != {"dtype", "shape", "data_offsets"}:
            errors.append("%r: keys are %s, expected dtype, shape, data_offsets" % (name, sorted(info)))
            continue
        dt, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in ST_BITS:
            errors.append("%r: unknown dtype %r" % (name, dt))
            continue
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            errors.append("%r: shape %r is not a list of non-negative integers" % (name, shape))
            continue
        if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int and o >= 0 for o in offs)):
            errors.append("%r: data_offsets %r is not two non-negative integers" % (name, offs))
            continue
        b, e = offs
        if e < b:
            errors.append("%r: data_offsets end %d < begin %d" % (name, e, b))
            continue
        bits = math.prod(shape) * ST_BITS[dt]
        if bits % 8:
            errors.append("%r: %d bits is not a whole number of bytes" % (name, bits))
            continue
        if bits // 8 != e - b:
            errors.append("%r: shape %s x %s needs %d bytes, data_offsets give %d" % (name, shape, dt, bits // 8, e - b))
            continue
        if max(1, ST_BITS[dt] // 8) > 1 and b % (ST_BITS[dt] // 8):
            warnings.append("%r: offset %d not aligned to %s element size" % (name, b, dt))
        entries.append((b, e, name, dt, shape))
    if errors:
        return res
    entries.sort()
    pos = 0
    for b, e, name, dt, shape in entries:
        if b != pos:
            errors.append("%r: begins at %d, expected %d (%s)" % (name, b, pos, "gap" if b > pos else "overlap"))
        pos = max(pos, e)
    if 8 + n + pos != len(data):
        errors.append("file is %d bytes; header + data end at %d (%s)" % (
            len(data), 8 + n + pos, "trailing bytes" if len(data) > 8 + n + pos else "truncated"))
    if errors:
        return res
    base = 8 + n
    for b, e, name, dt, shape in entries:
        res["tensors"][name] = {"dtype": dt, "shape": shape, "data_offsets": [b, e], "raw": data[base + b:base + e]}
    # keep the header's order for reporting
    res["tensors"] = collections.OrderedDict((k, res["tensors"][k]) for k in obj if k in res["tensors"])
    return res


# --------------------------------------------------------------------------------------------
# verify

def load_manifest():
    with open(os.path.join(HERE, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)["fixtures"]


def find_source(man, src):
    if src in man:
        return src
    hits = [k for k in man if os.path.basename(k) == src or os.path.splitext(os.path.basename(k))[0] == src]
    if len(hits) == 1:
        return hits[0]
    sys.stderr.write("unknown or ambiguous source %r; manifest keys: %s\n" % (
        src, ", ".join(k for k in man if man[k]["kind"] != "hostile")))
    sys.exit(2)


def source_tensors(key, entry):
    """Source tensors as torch tensors (from our own fixture file), for --float-dtype."""
    torch = T()
    path = os.path.join(HERE, key)
    _, s2t = torch_st_tables()
    out = {}
    if entry["kind"] == "safetensors":
        r = read_safetensors(path, strict=False)
        for n, t in r["tensors"].items():
            if t["dtype"] in s2t:
                dt = s2t[t["dtype"]]
                if not t["raw"]:  # empty tensor: frombuffer cannot take an empty buffer
                    out[n] = torch.empty(t["shape"], dtype=dt)
                    continue
                out[n] = torch.frombuffer(bytearray(t["raw"]), dtype=dt)[:math.prod(t["shape"])].reshape(t["shape"])
        return out
    fake_lightning()
    obj = torch.load(path, map_location="cpu")  # a fixture this script wrote
    sd_path = entry["state_dict_path"]
    if sd_path is None:
        return {"/".join(p): t for p, t in walk(obj)}
    sd = get_path(obj, sd_path)
    return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}


def widen_fp8(raw, dtype, to):
    """fp8 bytes widened to F32/F16/BF16/F64 bytes by torch's rules (make_fp8_fixtures.decode)."""
    import numpy as np
    from make_fp8_fixtures import decode as fp8_decode
    f32, f16, bf16 = fp8_decode("e4m3fn" if dtype == "F8_E4M3" else "e5m2")
    codes = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
    table = {"F32": f32, "F16": f16, "BF16": bf16, "F64": f32}[to]
    out = table[codes]
    if to == "F64":
        out = out.astype(np.uint32).view(np.float32).astype(np.float64)
    return out.astype(out.dtype.newbyteorder("<")).tobytes()


def expected_for(key, entry, float_dtype, skip):
    torch = T()
    _, s2t = torch_st_tables()
    exp = collections.OrderedDict()
    src = source_tensors(key, entry) if float_dtype else None
    for n, t in entry["tensors"].items():
        if any(n.startswith(p) for p in skip):
            continue
        e = {"dtype": t["dtype"], "shape": t["shape"], "sha256": t["sha256"], "raw": None}
        # Every floating tensor is cast, 0-element markers such as v_pred too, as torch's .to() casts them.
        if float_dtype and t["dtype"] in FLOAT_ST and t["dtype"] != float_dtype:
            conv = src[n].detach().to(s2t[float_dtype])
            raw = tensor_bytes(conv)
            e = {"dtype": float_dtype, "shape": t["shape"], "sha256": sha256(raw), "raw": raw}
        # fp8 widens exactly (torch 1.13 has no fp8: the decode tables of make_fp8_fixtures.py, torch's rules).
        elif float_dtype and t["dtype"] in ("F8_E4M3", "F8_E5M2"):
            raw = widen_fp8(read_safetensors(os.path.join(HERE, key), strict=False)["tensors"][n]["raw"], t["dtype"], float_dtype)
            e = {"dtype": float_dtype, "shape": t["shape"], "sha256": sha256(raw), "raw": raw}
        exp[n] = e
    return exp


def decode(raw, dtype, n=6):
    _, s2t = torch_st_tables()
    if dtype not in s2t or not raw:
        return raw[:16].hex()
    torch = T()
    return str(torch.frombuffer(bytearray(raw), dtype=s2t[dtype])[:n].tolist())


def nan_only_difference(a, b, dtype):
    _, s2t = torch_st_tables()
    if dtype not in FLOAT_ST or len(a) != len(b):
        return False
    torch = T()
    x = torch.frombuffer(bytearray(a), dtype=s2t[dtype]) if a else None
    y = torch.frombuffer(bytearray(b), dtype=s2t[dtype]) if b else None
    if x is None:
        return False
    diff = x.view(torch.uint8 if x.element_size() == 1 else {2: torch.int16, 4: torch.int32, 8: torch.int64}[
        x.element_size()]) != y.view({1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[x.element_size()])
    return bool((x[diff].isnan() & y[diff].isnan()).all())


def compare(got, exp, problems, notes):
    for n in exp:
        if n not in got:
            problems.append("missing tensor %r" % n)
    for n in got:
        if n not in exp:
            problems.append("unexpected tensor %r" % n)
    for n, e in exp.items():
        if n not in got:
            continue
        g = got[n]
        if g["dtype"] != e["dtype"]:
            problems.append("%r: dtype %s, expected %s" % (n, g["dtype"], e["dtype"]))
            continue
        if list(g["shape"]) != list(e["shape"]):
            problems.append("%r: shape %s, expected %s" % (n, g["shape"], e["shape"]))
            continue
        if sha256(g["raw"]) != e["sha256"]:
            if e["raw"] is not None and nan_only_difference(g["raw"], e["raw"], e["dtype"]):
                notes.append("%r: differs only in NaN payloads" % n)
                continue
            msg = "%r: bytes differ (sha256 %s, expected %s); got %s" % (
                n, sha256(g["raw"])[:16], e["sha256"][:16], decode(g["raw"], g["dtype"]))
            if e["raw"] is not None:
                msg += ", expected %s" % decode(e["raw"], e["dtype"])
            problems.append(msg)


def parse_opts(args):
    float_dtype, skip = None, []
    i = 0
    while i < len(args):
        if args[i] == "--float-dtype" and i + 1 < len(args) and args[i + 1] in FLOAT_ST:
            float_dtype = args[i + 1]
            i += 2
        elif args[i] == "--skip-prefix" and i + 1 < len(args):
            skip.append(args[i + 1])
            i += 2
        else:
            sys.stderr.write("bad option %r\n%s" % (args[i], __doc__))
            sys.exit(2)
    return float_dtype, skip


def finish(kind, path, key, problems, notes):
    for m in notes:
        print("note: " + m)
    if problems:
        print("FAIL %s %s vs %s: %d problem(s)" % (kind, path, key, len(problems)))
        for m in problems[:40]:
            print("  - " + m)
        if len(problems) > 40:
            print("  ... and %d more" % (len(problems) - 40))
        sys.exit(1)
    print("OK %s %s matches %s" % (kind, path, key))


def cmd_verify(path, src, opts):
    man = load_manifest()
    key = find_source(man, src)
    float_dtype, skip = parse_opts(opts)
    r = read_safetensors(path, strict=True)
    problems, notes = list(r["errors"]), list(r["warnings"])
    if not problems:
        exp = expected_for(key, man[key], float_dtype, skip)
        compare(r["tensors"], exp, problems, notes)
        smeta = man[key].get("metadata") or {}
        for k, v in smeta.items():
            if (r["metadata"] or {}).get(k) != v:
                notes.append("source __metadata__ %r=%r not carried over (got %r)" % (
                    k, v, (r["metadata"] or {}).get(k)))
        notes.append("__metadata__: %s" % json.dumps(r["metadata"], ensure_ascii=False))
    finish("safetensors", path, key, problems, notes)


def cmd_verify_ckpt(path, src, opts):
    torch = T()
    man = load_manifest()
    key = find_source(man, src)
    float_dtype, skip = parse_opts(opts)
    entry = man[key]
    problems, notes = [], []
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as ex:  # noqa: BLE001
        finish("ckpt", path, key, ["torch.load(weights_only=True) failed: %s" % ex], notes)
        return
    sd = None
    sd_path = entry.get("state_dict_path")
    if sd_path:
        try:
            sd = get_path(obj, sd_path)
        except (KeyError, TypeError, IndexError):
            sd = None
    if sd is None and isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        sd = obj["state_dict"]
        if sd_path:
            notes.append("state dict found under 'state_dict', the source has it under %s" % "/".join(sd_path))
    if sd is None and isinstance(obj, dict):
        sd = obj
    got = {}
    if entry.get("state_dict_path") is None and entry["kind"] == "ckpt" and sd is obj:
        items = {"/".join(p): t for p, t in walk(obj)}
        if set(items) != {k for k, v in obj.items() if isinstance(v, torch.Tensor)}:
            notes.append("source has no state dict; comparing tensors by path")
    else:
        items = {k: v for k, v in (sd or {}).items() if isinstance(v, torch.Tensor)}
        for k, v in (sd or {}).items():
            if not isinstance(v, torch.Tensor):
                problems.append("state dict value %r is %s, not a tensor" % (k, type(v).__name__))
    for k, v in items.items():
        got[k] = {"dtype": st_name(v.dtype), "shape": list(v.shape), "raw": tensor_bytes(v)}
    exp = expected_for(key, entry, float_dtype, skip)
    compare(got, exp, problems, notes)
    if isinstance(obj, dict) and sd is not obj:
        for k, v in (entry.get("values") or {}).items():
            if isinstance(v, (int, float, str)) and not isinstance(v, bool) and v != "__state_dict__":
                if k not in obj:
                    notes.append("top-level value %r=%r not carried over" % (k, v))
                elif obj[k] != v:
                    problems.append("top-level value %r is %r, expected %r" % (k, obj[k], v))
    finish("ckpt", path, key, problems, notes)


def main(argv):
    if len(argv) >= 2 and argv[1] == "make" and len(argv) == 2:
        cmd_make()
    elif len(argv) >= 4 and argv[1] == "verify":
        cmd_verify(argv[2], argv[3], argv[4:])
    elif len(argv) >= 4 and argv[1] == "verify-ckpt":
        cmd_verify_ckpt(argv[2], argv[3], argv[4:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
