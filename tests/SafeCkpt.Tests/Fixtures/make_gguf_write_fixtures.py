"""Fixtures for SafeCkpt's GGUF writer: reference quantized bytes from llama.cpp's gguf-py, and tiny models to write.

    PYTHONPATH=/path/to/gguf-py /usr/bin/python3 tests/SafeCkpt.Tests/Fixtures/make_gguf_write_fixtures.py

gguf-py (llama.cpp's gguf-py/ folder) is imported from PYTHONPATH, never copied here. Writes Fixtures/gguf-write/:
  values.bin        float32 little-endian, 640 blocks of 32: edge blocks first (zeros, signed zeros, constants,
                    denormals, fp16 overflow, huge values, NaN, +-Inf, max/-max ties, exact .5 products for Q8_0's
                    rounding, values that land on Q4/Q5 truncation edges), then N(0, 0.05), log-uniform magnitudes
                    with random signs, and integers
  <type>.bin        gguf.quants.quantize(values reshaped to (-1, 32), type) for F16, BF16, Q8_0, Q5_1, Q5_0, Q4_1,
                    Q4_0 (the bytes SafeCkpt must equal)
  sd1.safetensors   a tiny SD1-shaped full checkpoint, F32: model.diffusion_model.* (convert.py's sd1 keys, 3x3 and
                    1x1 convs, 320-ish linears, norms, a feed-forward output, a to_v, embedders, a 40-wide weight),
                    first_stage_model.*, cond_stage_model.*, model_ema.* and a schedule buffer
  sdxl.safetensors  a tiny SDXL-shaped UNet without prefix, BF16 (label_emb.0.0.weight)
  flux.ckpt         a tiny Flux-shaped transformer (double_blocks.0.img_attn.proj.weight), F16, torch.save zip
Deterministic (fixed seed).
"""
import json, os, struct, sys, types

import numpy as np
import torch

sys.modules.setdefault("sentencepiece", types.SimpleNamespace(SentencePieceProcessor=None))
from gguf import GGMLQuantizationType as T  # noqa: E402
from gguf.quants import quantize  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "gguf-write")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261201)
TYPES = [T.F16, T.BF16, T.Q8_0, T.Q5_1, T.Q5_0, T.Q4_1, T.Q4_0]


def edge_blocks():
    f = np.float32
    b = []
    b.append(np.zeros(32, f))
    z = np.zeros(32, f); z[::2] = -0.0; b.append(z)
    z = np.full(32, -0.0, f); z[5] = 0.0; b.append(z)
    b.append(np.full(32, 0.75, f))
    b.append(np.full(32, -3.0, f))
    d = np.zeros(32, f); d[:8] = [1e-45, -1e-45, 1e-40, -3e-39, 1.1754942e-38, 6e-8, -6e-8, 3e-5]; b.append(d)
    d = (np.arange(32, dtype=f) - 16) * f(1e-41); b.append(d)
    h = np.linspace(-70000, 70000, 32, dtype=f); h[3] = 65504; h[4] = 65520; h[5] = -65519.99; b.append(h)
    h = np.linspace(-3e38, 3e38, 32, dtype=f); b.append(h)
    h = np.full(32, 1.0, f); h[0] = 3.4e38; h[1] = -3.4e38; b.append(h)
    for special in [np.nan, np.inf, -np.inf]:
        s = np.linspace(-1, 1, 32, dtype=f); s[7] = special; b.append(s)
        s = np.linspace(-1, 1, 32, dtype=f); s[0] = special; b.append(s)
    s = np.linspace(-1, 1, 32, dtype=f); s[2] = np.inf; s[9] = -np.inf; s[20] = np.nan; b.append(s)
    nanbits = np.array([0x7F800001, 0xFFC00001, 0x7FFFFFFF, 0x7FA00000, 0xFF812345], np.uint32).view(f)
    s = np.linspace(-1, 1, 32, dtype=f); s[:5] = nanbits; b.append(s)
    t = np.linspace(-0.5, 0.5, 32, dtype=f); t[3] = -2.0; t[17] = 2.0; b.append(t)  # |max| tie, negative first
    t = np.linspace(-0.5, 0.5, 32, dtype=f); t[3] = 2.0; t[17] = -2.0; b.append(t)  # |max| tie, positive first
    t = np.zeros(32, f); t[0] = 127; t[1:16] = np.arange(15, dtype=f) + 0.5; t[16:31] = -(np.arange(15, dtype=f) + 0.5); b.append(t)
    t = np.zeros(32, f); t[0] = -8; t[1:] = np.linspace(-8, 7.999, 31, dtype=f); b.append(t)
    t = np.zeros(32, f); t[0] = 16; t[1:] = np.linspace(-16, 15.999, 31, dtype=f); b.append(t)
    t = np.arange(32, dtype=f) / 2 - 3; b.append(t)  # Q4_1 / Q5_1 steps exactly on .5
    t = np.arange(32, dtype=f) * f(0.1) - f(1.55); b.append(t)
    t = np.full(32, 1e-3, f); t[0] = 1e-3 + 1e-10; b.append(t)
    for k in range(6):
        x = rng.normal(0, 1, 32).astype(f)
        x[rng.integers(0, 32)] = np.float32(10.0 ** rng.integers(-6, 6))
        b.append(x)
    return b


blocks = edge_blocks()
n_edge = len(blocks)
random = [rng.normal(0, 0.05, 32).astype(np.float32) for _ in range(320)]
random += [(np.sign(rng.normal(size=32)) * 10.0 ** rng.uniform(-12, 12, 32)).astype(np.float32) for _ in range(160)]
random += [rng.integers(-40, 40, 32).astype(np.float32) / np.float32(rng.choice([1, 2, 4, 8, 3, 7])) for _ in range(640 - n_edge - 480)]
values = np.stack(blocks + random).astype("<f4")
assert values.shape == (640, 32), values.shape
values.tofile(os.path.join(OUT, "values.bin"))
with np.errstate(all="ignore"):
    for t in TYPES:
        q = quantize(values, t)
        np.ascontiguousarray(q).view(np.uint8).tofile(os.path.join(OUT, t.name.lower() + ".bin"))


def save_safetensors(path, tensors):
    names = {"F32": np.float32, "F16": np.float16}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        if t.dtype == torch.bfloat16:
            raw, dt = t.view(torch.int16).numpy().tobytes(), "BF16"
        else:
            dt = {torch.float32: "F32", torch.float16: "F16"}[t.dtype]
            raw = t.numpy().astype(names[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def w(*shape, scale=0.05):
    return torch.from_numpy(rng.normal(0, scale, shape).astype(np.float32))


def unet_sd(prefix, sdxl=False):
    sd = {}
    sd["input_blocks.0.0.weight"] = w(32, 4, 3, 3)
    sd["input_blocks.0.0.bias"] = w(32)
    sd["time_embed.0.weight"] = w(128, 32)
    sd["time_embed.0.bias"] = w(128)
    sd["time_embed.2.weight"] = w(128, 128)
    for i in (3, 6, 9):
        sd[f"input_blocks.{i}.0.op.weight"] = w(32, 32, 3, 3)
        sd[f"input_blocks.{i}.0.op.bias"] = w(32)
    sd["input_blocks.1.0.in_layers.0.weight"] = w(32)
    sd["input_blocks.1.0.skip_connection.weight"] = w(64, 32, 1, 1)
    t = "input_blocks.1.1.transformer_blocks.0."
    sd[t + "attn1.to_q.weight"] = w(64, 64)
    sd[t + "attn1.to_v.weight"] = w(64, 64)
    sd[t + "attn2.to_k.weight"] = w(64, 96)
    sd[t + "ff.net.0.proj.weight"] = w(512, 64)
    sd[t + "ff.net.2.weight"] = w(64, 256)
    sd[t + "ff.net.2.bias"] = w(64)
    sd["input_blocks.1.1.proj_in.weight"] = w(64, 64, 1, 1)
    sd["input_blocks.1.1.norm.weight"] = w(64)
    sd["middle_block.0.emb_layers.1.weight"] = w(40, 10)
    sd["middle_block.0.odd.weight"] = w(24, 40)
    sd["middle_block.1.wide.weight"] = w(8, 512)
    sd["output_blocks.2.1.conv.weight"] = w(32, 32, 3, 3)
    sd["output_blocks.5.2.conv.weight"] = w(32, 32, 3, 3)
    sd["output_blocks.8.2.conv.weight"] = w(32, 32, 3, 3)
    sd["out.0.weight"] = w(32)
    sd["out.2.weight"] = w(4, 32, 3, 3)
    sd["out.2.bias"] = w(4)
    if sdxl:
        sd["label_emb.0.0.weight"] = w(128, 256)
        sd["output_blocks.2.2.conv.weight"] = w(32, 32, 3, 3)
    return {prefix + k: v for k, v in sd.items()}


sd1 = unet_sd("model.diffusion_model.")
sd1.update({
    "first_stage_model.decoder.conv_in.weight": w(8, 4, 3, 3),
    "first_stage_model.encoder.conv_out.bias": w(8),
    "cond_stage_model.transformer.text_model.final_layer_norm.weight": w(64),
    "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight": w(128, 64),
    "model_ema.diffusion_modelout2bias": w(4),
    "alphas_cumprod": w(10),
})
save_safetensors(os.path.join(OUT, "sd1.safetensors"), sd1)
sdxl = {k: v.to(torch.bfloat16) for k, v in unet_sd("", sdxl=True).items()}
save_safetensors(os.path.join(OUT, "sdxl.safetensors"), sdxl)

flux = {}
flux["img_in.weight"] = w(64, 64)
flux["img_in.bias"] = w(64)
flux["time_in.in_layer.weight"] = w(64, 256)
flux["double_blocks.0.img_attn.proj.weight"] = w(64, 64)
flux["double_blocks.0.img_attn.qkv.weight"] = w(192, 64)
flux["double_blocks.0.img_attn.norm.query_norm.scale"] = w(16)
flux["double_blocks.0.img_mlp.0.weight"] = w(256, 64)
flux["double_blocks.0.img_mlp.2.weight"] = w(64, 256)
flux["double_blocks.0.img_mod.lin.weight"] = w(384, 64)
flux["single_blocks.0.linear1.weight"] = w(320, 64)
flux["single_blocks.0.linear2.weight"] = w(64, 320)
flux["single_blocks.0.modulation.lin.bias"] = w(192)
flux["final_layer.linear.weight"] = w(64, 64)
flux["final_layer.adaLN_modulation.1.weight"] = w(128, 64)
flux["guidance_in.in_layer.weight"] = w(64, 256)
for i in range(1, 4):  # convert.py refuses a .ckpt of fewer than 20 tensors
    flux[f"double_blocks.{i}.txt_attn.proj.weight"] = w(64, 64)
    flux[f"double_blocks.{i}.txt_attn.proj.bias"] = w(64)
flux = {k: v.to(torch.float16) for k, v in flux.items()}
torch.save(flux, os.path.join(OUT, "flux.ckpt"))
print(f"wrote {OUT}: {n_edge} edge blocks, 640 blocks, {len(sd1)} + {len(sdxl)} + {len(flux)} tensors")
