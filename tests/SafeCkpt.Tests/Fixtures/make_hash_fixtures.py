"""Expected model hashes of some fixture files, computed independently of SafeCkpt, for the ModelHashes tests: hashlib
and zlib from the definitions the web UIs and civitai use, and the BLAKE3 that `b3sum` (Debian package b3sum) prints.
    /usr/bin/python3 tests/SafeCkpt.Tests/Fixtures/make_hash_fixtures.py
Writes the small edge-case files under hash/ (deterministic bytes) and hashes.json:
{relative path: {sha256, autov1, autov2, autov3, data_sha256, crc32, crc32_zlib, blake3}}.
  sha256      SHA-256 of the whole file; autov2 = its first 10 hex digits (civitai AutoV2, A1111's checkpoint short hash)
  autov1      A1111 modules/sd_models.py model_hash: sha256 of the 0x10000 bytes read at offset 0x100000, first 8 hex
  data_sha256 the SHA-256 behind AutoV3, for safetensors files only: of everything after the 8-byte length and the
              header (kohya/A1111 addnet_hash_safetensors); null for other files and for a safetensors file whose
              declared header runs past its end. autov3 = its first 12 hex digits (the width civitai stores)
  crc32       civitai's CRC32 string: zlib.crc32 packed as 4 little-endian bytes, in hex ("hello world" -> 85114a0d)
  crc32_zlib  the same CRC as zlib's number, in hex (0d4a1185), for comparison
  blake3      `b3sum --no-names FILE`"""
import hashlib, json, os, struct, subprocess, zlib

here = os.path.dirname(os.path.abspath(__file__))

# Edge cases of the partial hashes' ranges, as raw bytes.
edge = {
    # civitai's own HashTask test file.
    "hash/hello_world.txt": b"hello world",
    "hash/empty.bin": b"",
    "hash/short7.bin": b"1234567",
    # A safetensors file cut short inside its header: no AutoV3.
    "hash/truncated.safetensors": struct.pack("<Q", 1000) + b'{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}',
    # A safetensors file with no tensors: AutoV3 is the SHA-256 of nothing.
    "hash/no_tensors.safetensors": struct.pack("<Q", 8) + b"{}      ",
}
os.makedirs(os.path.join(here, "hash"), exist_ok=True)
for rel, data in edge.items():
    with open(os.path.join(here, rel), "wb") as f:
        f.write(data)

files = ["casts/torch_casts.safetensors", "safetensors/sd_tiny.safetensors", "ckpt/sd1_tiny_ema.ckpt", "ckpt/zip_basic.ckpt", *edge]


def data_start(data, is_safetensors):
    if not is_safetensors or len(data) < 8:
        return None
    start = 8 + struct.unpack("<Q", data[:8])[0]
    return start if start <= len(data) else None


out = {}
for rel in files:
    path = os.path.join(here, rel)
    data = open(path, "rb").read()
    e = {"sha256": hashlib.sha256(data).hexdigest()}
    e["autov2"] = e["sha256"][:10]
    e["autov1"] = hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    start = data_start(data, rel.endswith(".safetensors"))
    e["data_sha256"] = None if start is None else hashlib.sha256(data[start:]).hexdigest()
    e["autov3"] = None if start is None else e["data_sha256"][:12]
    crc = zlib.crc32(data)
    e["crc32"] = struct.pack("<I", crc).hex()
    e["crc32_zlib"] = "%08x" % crc
    e["blake3"] = subprocess.run(["b3sum", "--no-names", path], check=True, capture_output=True, text=True).stdout.strip()
    out[rel] = e

assert out["hash/hello_world.txt"]["crc32"] == "85114a0d" and out["hash/hello_world.txt"]["crc32_zlib"] == "0d4a1185"
with open(os.path.join(here, "hashes.json"), "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
print(json.dumps(out, indent=1))
