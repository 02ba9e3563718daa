#!/usr/bin/python3
"""Checks safetensors files SafeCkpt wrote against the reference writer (HF safetensors).

    /usr/bin/python3 reference_writer_check.py [FILE.safetensors ...]     (default: written/*.safetensors)

For each file:

1. order: the tensors' data order must be the reference writer's (`prepare` in safetensors/src/tensor.rs sorts by
   `right.dtype().cmp(&left.dtype()).then(lname.cmp(rname))`: dtype descending in the declaration order of its
   `Dtype` enum, then name by code point). The enum below is transcribed from the commit named beside it.
2. bytes: when the `safetensors` package is importable, the same tensors and metadata are written with
   `safetensors.torch.save_file` and compared with the file: byte for byte when the metadata has at most one key
   (the reference serializes metadata from a HashMap, so several keys come in any order), else entry by entry
   (order, dtype, shape, offsets), the metadata as a dict, and the data section byte for byte. A file holding a dtype
   the installed torch lacks is reported and skipped. Without the package (Debian bookworm has no
   python3-safetensors) this step is skipped with a note.

Exit status 0 = every check that ran passed, 1 = a difference (listed), 2 = usage error.
"""

import glob
import json
import os
import struct
import sys
import tempfile

# `pub enum Dtype` in declaration order: huggingface/safetensors safetensors/src/tensor.rs @ 24b0b2857fef49be734b9ab72ce97c09bb25f5b9
REFERENCE_ENUM = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
                  "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"]

# The torch dtype of each header spelling (the Python bindings' own mapping, bindings/python/src/lib.rs).
TORCH_NAMES = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16", "I32": "int32",
               "U32": "uint32", "I64": "int64", "U64": "uint64", "F16": "float16", "BF16": "bfloat16",
               "F32": "float32", "F64": "float64", "C64": "complex64", "F8_E4M3": "float8_e4m3fn",
               "F8_E5M2": "float8_e5m2", "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2FNUZ": "float8_e5m2fnuz",
               "F8_E8M0": "float8_e8m0fnu"}


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    pairs = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=list)
    metadata = None
    tensors = []
    for key, value in pairs:
        if key == "__metadata__":
            metadata = dict(value)
        else:
            tensors.append((key, dict(value)))
    return raw, n, metadata, tensors


def reference_order(tensors):
    return sorted(tensors, key=lambda t: (-REFERENCE_ENUM.index(t[1]["dtype"]), [ord(c) for c in t[0]]))


def check_order(path, tensors, problems):
    in_file = [name for name, _ in sorted(tensors, key=lambda t: tuple(t[1]["data_offsets"]))]
    expected = [name for name, _ in reference_order(tensors)]
    if in_file != expected:
        problems.append(f"{path}: data order {in_file} is not the reference order {expected}")
        return False
    return True


def check_bytes(path, raw, n, metadata, tensors, problems):
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError:
        return "skipped (the safetensors package is not installed)"

    data = raw[8 + n:]
    values = {}
    for name, info in tensors:
        dtype = getattr(torch, TORCH_NAMES.get(info["dtype"], "?"), None)
        if dtype is None:
            return f"skipped (torch {torch.__version__} has no dtype for {info['dtype']})"
        begin, end = info["data_offsets"]
        if begin == end:
            values[name] = torch.empty(info["shape"], dtype=dtype)
        else:
            values[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(info["shape"])

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "reference.safetensors")
        save_file(values, out, metadata=metadata)
        ref_raw, ref_n, ref_metadata, ref_tensors = read(out)

    if metadata is None or len(metadata) <= 1:
        if ref_raw != raw:
            problems.append(f"{path}: differs from the reference writer's file ({len(raw)} vs {len(ref_raw)} bytes, header {n} vs {ref_n})")
            return "differs"
        return "byte-identical"

    same = ref_tensors == tensors and ref_metadata == metadata and ref_raw[8 + ref_n:] == data
    if not same:
        problems.append(f"{path}: entries, metadata or data differ from the reference writer's file")
        return "differs"
    return "same entries, metadata and data (metadata key order is the reference's HashMap order)"


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    paths = argv or sorted(glob.glob(os.path.join(here, "written", "*.safetensors")))
    if not paths:
        print("usage: reference_writer_check.py [FILE.safetensors ...]", file=sys.stderr)
        return 2

    problems = []
    for path in paths:
        raw, n, metadata, tensors = read(path)
        order = "reference order" if check_order(path, tensors, problems) else "WRONG order"
        print(f"{os.path.relpath(path, here)}: {order}; bytes: {check_bytes(path, raw, n, metadata, tensors, problems)}")

    for p in problems:
        print("FAIL " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
