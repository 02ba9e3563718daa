"""Expected model hashes of some fixture files, computed independently of SafeCkpt (hashlib, from the definitions
the web UIs use), for the ModelHashes tests.
    /usr/bin/python3 tests/SafeCkpt.Tests/Fixtures/make_hash_fixtures.py
Writes hashes.json: {relative path: {sha256, autov2, old_a1111, data_sha256, autov3}}.
  sha256      SHA-256 of the whole file; autov2 = its first 10 hex digits (Civitai, A1111 "sha256" short hash)
  old_a1111   A1111 modules/hashes.py model_hash: sha256 of 0x10000 bytes read at offset 0x100000, first 8 hex
  data_sha256 safetensors only: SHA-256 of everything after the 8-byte length and the header (kohya addnet hash);
              autov3 = its first 10 hex digits (Civitai AutoV3)"""
import hashlib, json, os, struct

here = os.path.dirname(os.path.abspath(__file__))
files = ["casts/torch_casts.safetensors", "safetensors/sd_tiny.safetensors", "ckpt/sd1_tiny_ema.ckpt", "ckpt/zip_basic.ckpt"]
out = {}
for rel in files:
    data = open(os.path.join(here, rel), "rb").read()
    e = {"sha256": hashlib.sha256(data).hexdigest()}
    e["autov2"] = e["sha256"][:10]
    e["old_a1111"] = hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    if rel.endswith(".safetensors"):
        n = struct.unpack("<Q", data[:8])[0]
        e["data_sha256"] = hashlib.sha256(data[8 + n:]).hexdigest()
        e["autov3"] = e["data_sha256"][:10]
    out[rel] = e
with open(os.path.join(here, "hashes.json"), "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
print(json.dumps(out, indent=1))
