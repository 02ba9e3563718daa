#!/usr/bin/env python3
"""Which keys of a LoRA ComfyUI loads onto a model: the fixtures and expectations of `safeckpt fit`.

Two steps, both with ComfyUI's own code imported from a checkout given on the command line (never copied here):

  fixtures  writes key/shape lists of real model layouts and of LoRAs named as real trainers name them:
            tests/SafeCkpt.Tests/Fixtures/lora-fit/models/*.json.gz and loras/*.json.gz.
  expect    for every (LoRA, model) pair in PAIRS (every LoRA on every model), runs ComfyUI's LoRA loading path on them and writes
            tests/SafeCkpt.Tests/Fixtures/lora-fit/expectations.json.gz: which LoRA keys ComfyUI reports as
            "lora key not loaded", which patches it drops because the model has no such weight ("NOT LOADED"),
            which patches fail on the weight's shape ("ERROR ..." / "SHAPE MISMATCH"); every other key applies.

Models (checkpoint layouts, the keys and shapes a real file holds):
  - SD 1.x / 2.x / SDXL UNet and VAE: the yaml-build fixtures (built from the published configs under the
    reference LDM/SGM code, see yaml_build_check.py); the UNet is also built here with ComfyUI's own model class
    on the meta device from the config ComfyUI detects, and the two key/shape sets must be equal.
  - SSD-1B (a distilled SDXL: fewer transformer blocks): ComfyUI's model class with ComfyUI's SSD-1B config.
  - Text encoders: ComfyUI's CLIP classes on the meta device (SD1ClipModel, SD2ClipModel, SDXLClipModel,
    SDXLRefinerClipModel, Flux's CLIP-L + T5-XXL), written back in the checkpoint layout (HF CLIP names under
    cond_stage_model.transformer. / conditioner.embedders.0.transformer.; OpenCLIP names with the fused
    attn.in_proj_weight under cond_stage_model.model. / conditioner.embedders.N.model.; text_encoders.* for a
    Flux single file). That conversion is this script's own; it is checked by running ComfyUI's
    process_clip_state_dict on the result, which must give back exactly the CLIP model's keys and shapes
    (less logit_scale / text_projection / position_ids where real checkpoints lack them).
  - FLUX.1 dev: ComfyUI's Flux class on the meta device with the config ComfyUI detects for BFL's file; bare keys
    as in flux1-dev.safetensors, and a single file with model.diffusion_model. + text encoders.

LoRAs (rank 4 unless said; alpha scalars where the trainer writes them; every shape follows from the target weight):
  - kohya sd-scripts networks/lora.py: lora_unet_ + diffusers UNet names for SD 1.x/2.x (Transformer2DModel
    Linear / 1x1 Conv2d: proj_in, proj_out, attn1/attn2 to_q/to_k/to_v/to_out.0, ff.net.0.proj, ff.net.2) and
    LDM names for SDXL (sd-scripts' own SDXL UNet); lora_te_ / lora_te1_ / lora_te2_ + HF CLIP names
    (CLIPAttention q/k/v/out_proj, CLIPMLP fc1/fc2); SD 2.x text encoder with 23 layers as sd-scripts builds it.
  - kohya networks/lora_flux.py: lora_unet_double_blocks_N_* / single_blocks_N_* (every Linear of the blocks),
    lora_te1_ (CLIP-L).
  - LyCORIS (kohya naming): LoCon adds ResnetBlock2D (conv1, conv2, time_emb_proj, conv_shortcut), Downsample2D
    and Upsample2D convs with 3x3 lora_down; LoHa hada_w1_a/b, hada_w2_a/b; LoKr lokr_w1 with lokr_w2 or
    lokr_w2_a/lokr_w2_b.
  - diffusers: the current SDXL DreamBooth LoRA (unet.<diffusers name>.to_q.lora.down.weight,
    text_encoder(_2).<HF name>.lora_linear_layer.down.weight), the old attention processors
    (unet.<...>.attn1.processor.to_q_lora.down.weight), and a Flux PEFT LoRA as diffusers / ai-toolkit save it
    (transformer.transformer_blocks.N.attn.to_q.lora_A.weight, single_transformer_blocks, ...).

Usage (ComfyUI checked out anywhere outside the project; Debian's python3-torch 1.13 and numpy suffice; whatever
ComfyUI imports and Debian lacks is stubbed):
  /usr/bin/python3 tests/consumers/lora_fit_check.py fixtures --comfy COMFY_ROOT
  /usr/bin/python3 tests/consumers/lora_fit_check.py expect --comfy COMFY_ROOT
  /usr/bin/python3 tests/consumers/lora_fit_check.py check --comfy COMFY_ROOT --tool TOOL --model sd1 LORA.safetensors...
The last runs the built tool's `fit --json` on real LoRA files (against a model fixture written as a sparse file, or
a real model) and ComfyUI's loader on the same keys, and fails when any key's fate differs.
Committed fixtures and expectations came from Comfy-Org/ComfyUI a125cd84b054a57729b5eecab930ca9408719832.
"""

import argparse
import collections
import gzip
import importlib.abc
import importlib.machinery
import json
import logging
import os
import re
import subprocess
import sys
import types
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "SafeCkpt.Tests", "Fixtures", "lora-fit")
YAML_BUILD = os.path.join(REPO, "tests", "SafeCkpt.Tests", "Fixtures", "yaml-build")
RANK = 4

MODELS = ["sd1", "sd2", "sdxl", "ssd-1b", "sdxl-refiner", "flux-dev", "flux-dev-ckpt"]
LORAS = ["sd1-kohya", "sd1-locon", "sd1-loha", "sd2-kohya", "sdxl-kohya", "sdxl-kohya-unet", "sdxl-locon", "sdxl-lokr",
         "sdxl-diffusers", "sdxl-attn-processor", "flux-kohya", "flux-peft"]
PAIRS = [(lora, model) for model in MODELS for lora in LORAS]  # every LoRA on every model: the right base, and every wrong one


# ---------------------------------------------------------------------------------------------------------------
# Importing ComfyUI outside its environment
# ---------------------------------------------------------------------------------------------------------------

STUBBED_PACKAGES = {
    "safetensors", "einops", "transformers", "tokenizers", "sentencepiece", "kornia", "spandrel", "av",
    "torchaudio", "scipy", "tqdm", "torchsde", "aiohttp", "yarl", "comfy_api", "comfyui_frontend_package",
    "comfyui_workflow_templates", "comfyui_embedded_docs", "alembic", "sqlalchemy", "pydantic", "requests", "blake3",
}


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Packages ComfyUI imports at module level but the LoRA path never calls: empty stand-ins."""

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in STUBBED_PACKAGES:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        m = mock.MagicMock(name=spec.name)
        m.__path__ = []
        m.__spec__ = spec
        return m

    def exec_module(self, module):
        pass


def import_comfy(root):
    sys.path.insert(0, os.path.abspath(root))
    sys.meta_path.insert(0, _StubFinder())
    ps = types.ModuleType("psutil")  # model_management sizes RAM with it at import
    ps.virtual_memory = lambda: types.SimpleNamespace(total=64 << 30, available=32 << 30)
    ps.Process = lambda *a: types.SimpleNamespace(memory_info=lambda: types.SimpleNamespace(rss=0))
    sys.modules["psutil"] = ps
    argv = sys.argv
    sys.argv = [argv[0], "--cpu"]  # no CUDA here
    import comfy.options
    comfy.options.enable_args_parsing()
    import comfy.cli_args  # noqa: F401  (parses --cpu now)
    sys.argv = argv
    import comfy.lora
    import comfy.lora_convert
    import comfy.model_detection
    import comfy.sd1_clip
    import comfy.sdxl_clip
    import comfy.supported_models
    import comfy.text_encoders.flux
    import comfy.text_encoders.sd2_clip
    import comfy.utils
    return comfy


def comfy_commit(root):
    try:
        return subprocess.check_output(["git", "-C", root, "rev-parse", "HEAD"], text=True, stderr=subprocess.DEVNULL).strip()
    except Exception:
        return os.environ.get("COMFY_COMMIT", "unknown")


# ---------------------------------------------------------------------------------------------------------------
# Fixture files
# ---------------------------------------------------------------------------------------------------------------

def write_gz(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = json.dumps(obj, indent=0, separators=(",", ":")).encode()
    with open(path, "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:  # byte-identical reruns
            g.write(data)


def read_gz(path):
    with gzip.open(path) as f:
        return json.load(f)


def shapes(sd):
    return {k: list(v.shape) for k, v in sd.items()}


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------

def meta_sd(keys):
    """Tensors without memory, but vectors real (zeros): ComfyUI reads one norm bias's values to tell SD 2.x v-prediction."""
    import torch
    return {k: torch.zeros(v) if len(v) <= 1 else torch.empty(v, device="meta") for k, v in keys.items()}


def comfy_unet(comfy, keys, prefix="model.diffusion_model.", config=None):
    """ComfyUI's diffusion model built on the meta device from the config it detects (or the one given)."""
    sd = meta_sd(keys)
    mc = comfy.model_detection.model_config_from_unet(sd, prefix)
    assert mc is not None, "ComfyUI detects no model"
    if config is not None:
        mc.unet_config.update(config)
    model = mc.get_model(sd, prefix, device="meta")
    return {k[len("diffusion_model."):]: list(v.shape) for k, v in model.state_dict().items() if k.startswith("diffusion_model.")}


def hf_to_openclip(hf, prefix_from, prefix_to):
    """HF CLIP text model keys (ComfyUI's CLIP) in the OpenCLIP layout of LDM/SGM checkpoints: q/k/v fused."""
    out = {}
    layer = re.compile(r"text_model\.encoder\.layers\.(\d+)\.(.+)$")
    renames = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj", "self_attn.out_proj": "attn.out_proj"}
    fused = collections.defaultdict(dict)
    for k, shape in hf.items():
        if not k.startswith(prefix_from):
            continue
        name = k[len(prefix_from):]
        m = layer.match(name)
        if m:
            n, rest = m.group(1), m.group(2)
            part, _, end = rest.rpartition(".")
            if part in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                fused[(n, end)][part] = shape
                continue
            out[f"{prefix_to}transformer.resblocks.{n}.{renames[part]}.{end}"] = shape
        elif name == "text_model.embeddings.token_embedding.weight":
            out[prefix_to + "token_embedding.weight"] = shape
        elif name == "text_model.embeddings.position_embedding.weight":
            out[prefix_to + "positional_embedding"] = shape
        elif name.startswith("text_model.final_layer_norm."):
            out[prefix_to + "ln_final." + name.rsplit(".", 1)[1]] = shape
        elif name == "text_projection.weight":
            out[prefix_to + "text_projection"] = shape[::-1]
        else:
            raise AssertionError(f"no OpenCLIP name for {k}")
    scale = prefix_from[:-len("transformer.")] + "logit_scale"  # clip_g.logit_scale sits beside the transformer
    if scale in hf:
        out[prefix_to + "logit_scale"] = hf[scale]
    for (n, end), parts in fused.items():
        q = parts["self_attn.q_proj"]
        out[f"{prefix_to}transformer.resblocks.{n}.attn.in_proj_{end}"] = [3 * q[0]] + q[1:]
    return out


def hf_clip(hf, prefix_from, prefix_to, position_ids=True):
    """HF CLIP keys as LDM/SGM checkpoints hold them: no logit_scale, no text_projection; position_ids added."""
    out = {}
    for k, shape in hf.items():
        if k.startswith(prefix_from + "text_model."):
            out[prefix_to + k[len(prefix_from):]] = shape
    if position_ids:
        out[prefix_to + "text_model.embeddings.position_ids"] = [1, 77]
    return out


def clip_meta(comfy, cls, **kw):
    return shapes(cls(device="meta", **kw).state_dict())


def check_clip_roundtrip(comfy, model_config, checkpoint, clip):
    """ComfyUI's process_clip_state_dict on our checkpoint layout must give back the CLIP model's keys and shapes
    (position_ids, which real checkpoints hold, is a buffer ComfyUI's CLIP does not keep)."""
    got = shapes(model_config.process_clip_state_dict(meta_sd(checkpoint)))
    missing = set(clip) - set(got)
    extra = set(got) - set(clip)
    wrong = [k for k in got if k in clip and got[k] != clip[k]]
    allowed = re.compile(r"\.(logit_scale|transformer\.text_projection\.weight)$")
    assert all(k.endswith(".embeddings.position_ids") for k in extra), f"keys ComfyUI's CLIP does not have: {sorted(extra)[:5]}"
    assert not wrong, f"shapes differ: {wrong[:5]}"
    assert all(allowed.search(k) for k in missing), f"keys the checkpoint lacks: {sorted(missing)[:5]}"


def build_models(comfy):
    models = {}
    sm = comfy.supported_models

    def from_yaml(arch):
        return read_gz(os.path.join(YAML_BUILD, arch + ".json.gz"))["keys"]

    def with_unet_check(arch, keys):
        unet = {k[len("model.diffusion_model."):]: v for k, v in keys.items() if k.startswith("model.diffusion_model.")}
        built = comfy_unet(comfy, keys)
        assert built == unet, f"{arch}: ComfyUI's UNet differs from the reference build"
        return keys

    sd1 = with_unet_check("sd1", from_yaml("sd1"))
    te = hf_clip(clip_meta(comfy, comfy.sd1_clip.SD1ClipModel), "clip_l.transformer.", "cond_stage_model.transformer.")
    check_clip_roundtrip(comfy, sm.SD15(sm.SD15.unet_config), te, clip_meta(comfy, comfy.sd1_clip.SD1ClipModel))
    models["sd1"] = ("SD 1.5 single file: reference UNet/VAE (yaml-build sd1) + ComfyUI's SD1ClipModel in the LDM layout", {**sd1, **te})

    sd2 = with_unet_check("sd2-v", from_yaml("sd2-v"))
    clip_h = clip_meta(comfy, comfy.text_encoders.sd2_clip.SD2ClipModel)
    te = hf_to_openclip(clip_h, "clip_h.transformer.", "cond_stage_model.model.")
    check_clip_roundtrip(comfy, sm.SD20(sm.SD20.unet_config), te, clip_h)
    models["sd2"] = ("SD 2.1 768-v single file: reference UNet/VAE (yaml-build sd2-v) + ComfyUI's SD2ClipModel in the OpenCLIP layout", {**sd2, **te})

    sdxl = with_unet_check("sdxl", from_yaml("sdxl"))
    clip_lg = clip_meta(comfy, comfy.sdxl_clip.SDXLClipModel)
    te = {**hf_clip(clip_lg, "clip_l.transformer.", "conditioner.embedders.0.transformer."),
          **hf_to_openclip(clip_lg, "clip_g.transformer.", "conditioner.embedders.1.model.")}
    check_clip_roundtrip(comfy, sm.SDXL(sm.SDXL.unet_config), te, clip_lg)
    models["sdxl"] = ("SDXL base single file: reference UNet/VAE (yaml-build sdxl) + ComfyUI's SDXLClipModel in the SGM layout", {**sdxl, **te})

    refiner = with_unet_check("sdxl-refiner", from_yaml("sdxl-refiner"))
    clip_g = clip_meta(comfy, comfy.sdxl_clip.SDXLRefinerClipModel)
    te = hf_to_openclip(clip_g, "clip_g.transformer.", "conditioner.embedders.0.model.")
    check_clip_roundtrip(comfy, sm.SDXLRefiner(sm.SDXLRefiner.unet_config), te, clip_g)
    models["sdxl-refiner"] = ("SDXL refiner single file: reference UNet/VAE (yaml-build sdxl-refiner) + ComfyUI's SDXLRefinerClipModel", {**refiner, **te})

    # SSD-1B: ComfyUI's SSD-1B config (transformer depths per block) on the SDXL layout, VAE and text encoders of SDXL.
    ssd = {"transformer_depth": [0, 0, 2, 2, 4, 4], "transformer_depth_output": [0, 0, 0, 1, 1, 2, 10, 4, 4], "transformer_depth_middle": -1}
    unet = comfy_unet(comfy, sdxl, config=ssd)
    rest = {k: v for k, v in models["sdxl"][1].items() if not k.startswith("model.diffusion_model.")}
    models["ssd-1b"] = ("Segmind SSD-1B single file: ComfyUI's SDXL UNet with its SSD-1B transformer depths, SDXL VAE and text encoders",
                        {**{"model.diffusion_model." + k: v for k, v in unet.items()}, **rest})

    # FLUX.1 dev as BFL publishes it (bare keys), from ComfyUI's model; the detection input only needs the deciding keys.
    probe = {"img_in.weight": [3072, 64], "vector_in.in_layer.weight": [3072, 768], "guidance_in.in_layer.weight": [3072, 256],
             "double_blocks.0.img_attn.norm.key_norm.scale": [128]}
    probe.update({f"double_blocks.{i}.img_attn.qkv.weight": [9216, 3072] for i in range(19)})
    probe.update({f"single_blocks.{i}.linear1.weight": [21504, 3072] for i in range(38)})
    flux = comfy_unet(comfy, probe, prefix="")
    assert len(flux) == 780, len(flux)  # flux1-dev.safetensors holds 780 tensors
    models["flux-dev"] = ("FLUX.1 dev diffusion model (BFL's bare keys): ComfyUI's Flux on the meta device", flux)
    import torch
    clip_t5 = clip_meta(comfy, comfy.text_encoders.flux.flux_clip(dtype_t5=torch.float16), dtype=torch.float16)  # torch 1.13 has no float8
    models["flux-dev-ckpt"] = ("FLUX.1 dev single file as ComfyUI saves it: model.diffusion_model. + text_encoders.clip_l / t5xxl (ComfyUI's Flux CLIP)",
                               {**{"model.diffusion_model." + k: v for k, v in flux.items()}, **{"text_encoders." + k: v for k, v in clip_t5.items()}})
    return models


# ---------------------------------------------------------------------------------------------------------------
# LoRAs named as trainers name them
# ---------------------------------------------------------------------------------------------------------------

RESNET_DIFFUSERS = {"in_layers.2": "conv1", "out_layers.3": "conv2", "emb_layers.1": "time_emb_proj", "skip_connection": "conv_shortcut"}


def ldm_blocks(unet):
    """Res blocks per level and levels of an LDM UNet, from its input blocks' downsamplers (op)."""
    ops = sorted({int(k.split(".")[1]) for k in unet if re.match(r"input_blocks\.\d+\.0\.op\.", k)})
    return ops[0] - 1, len(ops) + 1


def diffusers_name(module, res, levels):
    """The diffusers UNet2DConditionModel name of an LDM UNet module (input_blocks.4.1.proj_in -> down_blocks.1.attentions.0.proj_in)."""
    p = module.split(".")
    if p[0] == "input_blocks":
        n, m, rest = int(p[1]), int(p[2]), p[3:]
        level, i = (n - 1) // (res + 1), (n - 1) % (res + 1)
        if i == res:
            return f"down_blocks.{level}.downsamplers.0.conv"
        base = f"down_blocks.{level}." + ("resnets" if m == 0 else "attentions") + f".{i}"
    elif p[0] == "middle_block":
        m, rest = int(p[1]), p[2:]
        base = {0: "mid_block.resnets.0", 1: "mid_block.attentions.0", 2: "mid_block.resnets.1"}[m]
    elif p[0] == "output_blocks":
        n, m, rest = int(p[1]), int(p[2]), p[3:]
        level, i = n // (res + 1), n % (res + 1)
        if rest == ["conv"]:
            return f"up_blocks.{level}.upsamplers.0.conv"
        base = f"up_blocks.{level}." + ("resnets" if m == 0 else "attentions") + f".{i}"
    else:
        return None
    r = ".".join(rest)
    if "resnets" in base:
        return base + "." + RESNET_DIFFUSERS[r] if r in RESNET_DIFFUSERS else None
    return base + "." + r


def transformer_modules(unet):
    mods = []
    for k in unet:
        if not k.endswith(".weight"):
            continue
        m = k[:-len(".weight")]
        if re.search(r"^(input_blocks\.\d+\.1|middle_block\.1|output_blocks\.\d+\.1)\.(proj_in|proj_out|transformer_blocks\.\d+\.(attn[12]\.to_[qkv]|attn[12]\.to_out\.0|ff\.net\.0\.proj|ff\.net\.2))$", m):
            mods.append(m)
    return mods


def conv_modules(unet):
    """ResnetBlock2D convs / time_emb_proj / conv_shortcut, Downsample2D and Upsample2D convs (LyCORIS LoCon's extra targets)."""
    mods = []
    for k in unet:
        m = k[:-len(".weight")] if k.endswith(".weight") else None
        if m and re.search(r"^(input_blocks\.\d+\.0|middle_block\.[02]|output_blocks\.\d+\.0)\.(in_layers\.2|out_layers\.3|emb_layers\.1|skip_connection)$", m):
            mods.append(m)
        elif m and (re.search(r"^input_blocks\.\d+\.0\.op$", m) or re.search(r"^output_blocks\.\d+\.\d\.conv$", m)):
            mods.append(m)
    return mods


def clip_modules(keys, prefix):
    """HF CLIP modules kohya targets: CLIPAttention q/k/v/out_proj and CLIPMLP fc1/fc2."""
    pat = re.compile(re.escape(prefix) + r"(text_model\.encoder\.layers\.\d+\.(self_attn\.[qkvo]\w*_proj|mlp\.fc[12]))\.weight$")
    return [(m.group(1), keys[k]) for k in keys for m in [pat.match(k)] if m]


def openclip_modules(keys, prefix):
    """The same modules of an OpenCLIP text encoder, under their HF names (q/k/v are thirds of in_proj)."""
    out = []
    pat = re.compile(re.escape(prefix) + r"transformer\.resblocks\.(\d+)\.(attn\.in_proj_weight|attn\.out_proj\.weight|mlp\.c_fc\.weight|mlp\.c_proj\.weight)$")
    for k, shape in keys.items():
        m = pat.match(k)
        if not m:
            continue
        n, what = m.group(1), m.group(2)
        base = f"text_model.encoder.layers.{n}."
        if what == "attn.in_proj_weight":
            for x in "qkv":
                out.append((base + f"self_attn.{x}_proj", [shape[0] // 3, shape[1]]))
        else:
            out.append((base + {"attn.out_proj.weight": "self_attn.out_proj", "mlp.c_fc.weight": "mlp.fc1", "mlp.c_proj.weight": "mlp.fc2"}[what], shape))
    return out


def layer_index(name):
    return int(re.search(r"layers\.(\d+)\.", name).group(1))


def add_lora(out, name, shape, kind="lora", alpha=True, w2_decomposed=False):
    """The tensors one module of a network of this kind has for a weight of this shape."""
    o, i, k = shape[0], shape[1], shape[2:]
    if kind == "lora":
        out[name + ".lora_down.weight"] = [RANK, i] + k
        out[name + ".lora_up.weight"] = [o, RANK] + [1] * len(k)
    elif kind == "loha":
        flat = i * (k[0] * k[1] if k else 1)
        out[name + ".hada_w1_a"] = [o, RANK]
        out[name + ".hada_w1_b"] = [RANK, flat]
        out[name + ".hada_w2_a"] = [o, RANK]
        out[name + ".hada_w2_b"] = [RANK, flat]
    elif kind == "lokr":
        # LyCORIS factorization(dim, -1): the two factors closest to the square root, smaller first.
        def fac(n):
            a = max(d for d in range(1, int(n ** 0.5) + 1) if n % d == 0)
            return a, n // a
        (ol, ok), (il, ik) = fac(o), fac(i)
        out[name + ".lokr_w1"] = [ol, il]
        if w2_decomposed:
            out[name + ".lokr_w2_a"] = [ok, RANK]
            out[name + ".lokr_w2_b"] = [RANK, ik * (k[0] * k[1] if k else 1)]
        else:
            out[name + ".lokr_w2"] = [ok, ik] + k
    if alpha:
        out[name + ".alpha"] = []
    return out


def build_loras(models):
    loras = {}
    sd1 = models["sd1"][1]
    u1 = {k[len("model.diffusion_model."):]: v for k, v in sd1.items() if k.startswith("model.diffusion_model.")}
    res, levels = ldm_blocks(u1)

    def kohya_unet(unet, ldm_names, mods, kind="lora", prefix="lora_unet_"):
        out = {}
        r, lv = ldm_blocks(unet)
        for m in mods:
            name = m if ldm_names else diffusers_name(m, r, lv)
            add_lora(out, prefix + name.replace(".", "_"), unet[m + ".weight"], kind, w2_decomposed=len(out) % 3 == 0)
        return out

    def kohya_te(mods, prefix, kind="lora"):
        out = {}
        for name, shape in mods:
            add_lora(out, prefix + name.replace(".", "_"), shape, kind)
        return out

    meta_sd1 = {"ss_network_module": "networks.lora", "ss_base_model_version": "sd_v1", "ss_v2": "False", "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors",
                "ss_network_dim": str(RANK), "ss_network_alpha": "1.0", "modelspec.architecture": "stable-diffusion-v1/lora"}
    te1 = clip_modules(sd1, "cond_stage_model.transformer.")
    loras["sd1-kohya"] = ("kohya sd-scripts LoRA for SD 1.5: UNet (diffusers names) 192 + text encoder 72 modules",
                          meta_sd1, {**kohya_unet(u1, False, transformer_modules(u1)), **kohya_te(te1, "lora_te_")})
    meta_lyco = {**meta_sd1, "ss_network_module": "lycoris.kohya", "ss_network_args": json.dumps({"algo": "locon", "conv_dim": str(RANK)})}
    loras["sd1-locon"] = ("LyCORIS LoCon for SD 1.5 (kohya naming): transformer Linears + ResnetBlock2D / down- and upsampler convs (3x3 lora_down)",
                          meta_lyco, {**kohya_unet(u1, False, transformer_modules(u1) + conv_modules(u1)), **kohya_te(te1, "lora_te_")})
    meta_loha = {**meta_lyco, "ss_network_args": json.dumps({"algo": "loha", "conv_dim": str(RANK)})}
    loras["sd1-loha"] = ("LyCORIS LoHa for SD 1.5 (kohya naming), linears and convs",
                         meta_loha, {**kohya_unet(u1, False, transformer_modules(u1) + conv_modules(u1), "loha"), **kohya_te(te1, "lora_te_", "loha")})

    sd2 = models["sd2"][1]
    u2 = {k[len("model.diffusion_model."):]: v for k, v in sd2.items() if k.startswith("model.diffusion_model.")}
    te2 = [m for m in openclip_modules(sd2, "cond_stage_model.model.") if layer_index(m[0]) < 23]  # sd-scripts drops the last layer
    meta_sd2 = {**meta_sd1, "ss_base_model_version": "sd_v2_v", "ss_v2": "True", "ss_sd_model_name": "v2-1_768-ema-pruned.safetensors",
                "modelspec.architecture": "stable-diffusion-v2-768-v/lora"}
    loras["sd2-kohya"] = ("kohya sd-scripts LoRA for SD 2.1 768-v: UNet 192 + text encoder (23 layers) 138 modules",
                          meta_sd2, {**kohya_unet(u2, False, transformer_modules(u2)), **kohya_te(te2, "lora_te_")})

    sdxl = models["sdxl"][1]
    ux = {k[len("model.diffusion_model."):]: v for k, v in sdxl.items() if k.startswith("model.diffusion_model.")}
    tl = clip_modules(sdxl, "conditioner.embedders.0.transformer.")
    tg = openclip_modules(sdxl, "conditioner.embedders.1.model.")
    meta_xl = {**meta_sd1, "ss_base_model_version": "sdxl_base_v1-0", "ss_sd_model_name": "sd_xl_base_1.0.safetensors",
               "modelspec.architecture": "stable-diffusion-xl-v1-base/lora"}
    unet_xl = kohya_unet(ux, True, transformer_modules(ux))
    loras["sdxl-kohya"] = ("kohya sd-scripts LoRA for SDXL: UNet (LDM names) 722 + text encoders 72 + 192 modules",
                           meta_xl, {**unet_xl, **kohya_te(tl, "lora_te1_"), **kohya_te(tg, "lora_te2_")})
    loras["sdxl-kohya-unet"] = ("kohya sd-scripts LoRA for SDXL, UNet only (--network_train_unet_only): 722 modules",
                                {**meta_xl, "ss_network_train_unet_only": "True"}, dict(unet_xl))
    loras["sdxl-locon"] = ("LyCORIS LoCon for SDXL (kohya naming, LDM names), linears and convs",
                           {**meta_lyco, **{k: meta_xl[k] for k in ("ss_base_model_version", "ss_sd_model_name", "modelspec.architecture")}},
                           kohya_unet(ux, True, transformer_modules(ux) + conv_modules(ux)))
    meta_lokr = {**meta_xl, "ss_network_module": "lycoris.kohya", "ss_network_args": json.dumps({"algo": "lokr", "factor": "-1"})}
    attn = [m for m in transformer_modules(ux) if ".attn" in m]
    loras["sdxl-lokr"] = ("LyCORIS LoKr for SDXL attention projections: lokr_w1 and lokr_w2 (every third module lokr_w2_a/lokr_w2_b)",
                          meta_lokr, kohya_unet(ux, True, attn, "lokr"))

    # diffusers: the current DreamBooth SDXL script (PEFT state dict converted to diffusers names) and old attention processors.
    rx, lx = ldm_blocks(ux)
    dif = {}
    old = {}
    for m in attn:
        d = diffusers_name(m, rx, lx)
        o, i = ux[m + ".weight"]
        dif[f"unet.{d}.lora.down.weight"] = [RANK, i]
        dif[f"unet.{d}.lora.up.weight"] = [o, RANK]
        p = re.sub(r"\.(to_[qkv]|to_out)(\.0)?$", r".processor.\1", d)
        old[f"unet.{p}_lora.down.weight"] = [RANK, i]
        old[f"unet.{p}_lora.up.weight"] = [o, RANK]
    for name, (o, i) in tl:
        if ".self_attn." in name:
            dif[f"text_encoder.{name}.lora_linear_layer.down.weight"] = [RANK, i]
            dif[f"text_encoder.{name}.lora_linear_layer.up.weight"] = [o, RANK]
    for name, (o, i) in tg:
        if ".self_attn." in name:
            dif[f"text_encoder_2.{name}.lora_linear_layer.down.weight"] = [RANK, i]
            dif[f"text_encoder_2.{name}.lora_linear_layer.up.weight"] = [o, RANK]
    loras["sdxl-diffusers"] = ("diffusers DreamBooth LoRA for SDXL as train_dreambooth_lora_sdxl.py saves it: unet.<diffusers>.to_q.lora.down.weight, "
                               "text_encoder(_2).<HF>.q_proj.lora_linear_layer.down.weight", {}, dif)
    loras["sdxl-attn-processor"] = ("old diffusers attention-processor LoRA for SDXL: unet.<...>.attn1.processor.to_q_lora.down.weight", {}, old)

    # Flux: kohya lora_flux.py (every Linear of the double and single blocks) and diffusers / ai-toolkit PEFT.
    flux = models["flux-dev"][1]
    fk = {}
    for k, shape in flux.items():
        m = re.match(r"^((double_blocks\.\d+\.(img|txt)_(attn\.qkv|attn\.proj|mlp\.[02]|mod\.lin))|(single_blocks\.\d+\.(linear1|linear2|modulation\.lin)))\.weight$", k)
        if m:
            add_lora(fk, "lora_unet_" + m.group(1).replace(".", "_"), shape)
    clip_l = {k[len("text_encoders."):]: v for k, v in models["flux-dev-ckpt"][1].items() if k.startswith("text_encoders.clip_l.")}
    fk.update(kohya_te(clip_modules(clip_l, "clip_l.transformer."), "lora_te1_"))
    loras["flux-kohya"] = ("kohya sd-scripts LoRA for FLUX.1 dev (networks.lora_flux): 19 double blocks x 10 + 38 single blocks x 3 + CLIP-L 72 modules",
                           {"ss_network_module": "networks.lora_flux", "ss_base_model_version": "flux1", "ss_network_dim": str(RANK),
                            "modelspec.architecture": "flux-1-dev/lora"}, fk)
    h = flux["img_in.weight"][0]
    mlp = flux["double_blocks.0.img_mlp.0.weight"][0]
    fp = {}

    def peft(name, o, i):
        fp[f"transformer.{name}.lora_A.weight"] = [RANK, i]
        fp[f"transformer.{name}.lora_B.weight"] = [o, RANK]

    for n in range(19):
        b = f"transformer_blocks.{n}."
        for x in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"):
            peft(b + "attn." + x, h, h)
        peft(b + "ff.net.0.proj", mlp, h)
        peft(b + "ff.net.2", h, mlp)
        peft(b + "ff_context.net.0.proj", mlp, h)
        peft(b + "ff_context.net.2", h, mlp)
        peft(b + "norm1.linear", 6 * h, h)
        peft(b + "norm1_context.linear", 6 * h, h)
    for n in range(38):
        b = f"single_transformer_blocks.{n}."
        for x in ("attn.to_q", "attn.to_k", "attn.to_v"):
            peft(b + x, h, h)
        peft(b + "proj_mlp", mlp, h)
        peft(b + "proj_out", h, h + mlp)
        peft(b + "norm.linear", 3 * h, h)
    loras["flux-peft"] = ("FLUX.1 LoRA in diffusers / PEFT naming (ai-toolkit, diffusers' train_dreambooth_lora_flux): transformer.transformer_blocks.N.attn.to_q.lora_A.weight, ...",
                          {"format": "pt"}, fp)
    return loras


def cmd_fixtures(args):
    comfy = import_comfy(args.comfy)
    commit = comfy_commit(args.comfy)
    models = build_models(comfy)
    for mid, (what, keys) in models.items():
        write_gz(os.path.join(OUT, "models", mid + ".json.gz"), {"id": mid, "what": what, "comfyui": commit, "keys": keys})
    loras = build_loras(models)
    for lid, (what, meta, keys) in loras.items():
        write_gz(os.path.join(OUT, "loras", lid + ".json.gz"), {"id": lid, "what": what, "metadata": meta, "keys": keys})
    for mid, (_, keys) in models.items():
        print(f"model {mid}: {len(keys)} keys")
    for lid, (_, _, keys) in loras.items():
        print(f"lora {lid}: {len(keys)} keys, {len({k.rsplit('.', 2)[0] for k in keys})} modules (approx.)")


# ---------------------------------------------------------------------------------------------------------------
# The oracle: ComfyUI's loading path
# ---------------------------------------------------------------------------------------------------------------

class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def comfy_load(comfy, keys):
    """What ComfyUI's checkpoint (or diffusion model) loader builds from a file with these keys: the model and its CLIP."""
    import torch
    sd = meta_sd(keys)
    md = comfy.model_detection
    prefix = md.unet_prefix_from_state_dict(sd)
    mc = md.model_config_from_unet(sd, prefix)
    clip = None
    if mc is not None:  # load_state_dict_guess_config
        model = mc.get_model(sd, prefix, device="meta")
        target = mc.clip_target(state_dict=sd)
        if target is not None:
            clip_sd = mc.process_clip_state_dict(dict(sd))
            if len(clip_sd) > 0:
                clip = target.clip(device="meta")
    else:  # load_diffusion_model_state_dict
        temp = comfy.utils.state_dict_prefix_replace(dict(sd), {prefix: ""}, filter_keys=True)
        if len(temp) > 0:
            sd = temp
        mc = md.model_config_from_unet(sd, "")
        assert mc is not None, "ComfyUI detects no model"
        model = mc.get_model(sd, "", device="meta")
    assert isinstance(model, torch.nn.Module)
    return model, clip


def lora_tensors(keys):
    """LoRA tensors: small real zeros (alpha must be .item()-able), big ones on the meta device."""
    import torch
    return {k: (torch.zeros(v) if len(v) == 0 or torch.Size(v).numel() < 1 << 22 else torch.empty(v, device="meta")) for k, v in keys.items()}


def oracle(comfy, lora_keys, model_keys):
    import torch
    model, clip = comfy_load(comfy, model_keys)
    key_map = comfy.lora.model_lora_keys_unet(model, {})
    if clip is not None:
        key_map = comfy.lora.model_lora_keys_clip(clip, key_map)
    lora = comfy.lora_convert.convert_lora(lora_tensors(lora_keys))

    cap = Capture()
    root = logging.getLogger()
    root.addHandler(cap)
    try:
        patches = comfy.lora.load_lora(lora, key_map)
        not_loaded = sorted(m.split(": ", 1)[1] for m in cap.records if m.startswith("lora key not loaded: "))

        # Which keys each patch consumed: the same load_lora, one to_load entry at a time.
        stems = set()
        for k in lora:
            for i, ch in enumerate(k):
                if ch in "._":
                    stems.add(k[:i])
        owner = {}
        patch_of = {}
        for x, target in key_map.items():
            if x not in stems:
                continue
            sub = {k: v for k, v in lora.items() if k.startswith(x)}
            cap.records.clear()
            one = comfy.lora.load_lora(sub, {x: target})
            missed = {m.split(": ", 1)[1] for m in cap.records if m.startswith("lora key not loaded: ")}
            used = [k for k in sub if k not in missed]
            for t in one:
                patch_of.setdefault(t, one[t])
                for k in used:
                    owner.setdefault(k, t)
        assert set(patch_of) == set(patches), "per-entry loading differs from the whole"
        assert set(owner) | set(not_loaded) == set(lora), "keys neither loaded nor reported"

        # add_patches: a patch whose weight the model (or its CLIP) lacks is dropped; then apply it to that weight's shape.
        weights = dict(model.state_dict())
        if clip is not None:
            weights.update(clip.state_dict())
        status = {}
        for t, v in patches.items():
            key, offset, function = (t, None, None) if isinstance(t, str) else (t[0], t[1], t[2] if len(t) > 2 else None)
            if key not in weights:
                status[t] = "not-patched"
                continue
            w = torch.empty(weights[key].shape, device="meta")
            cap.records.clear()
            comfy.lora.calculate_weight([(1.0, v, 1.0, offset, function)], w, key)
            bad = [m for m in cap.records if m.startswith("ERROR") or "SHAPE MISMATCH" in m or "Calculate Weight Failed" in m]
            status[t] = "shape-error" if bad else "applied"
    finally:
        root.removeHandler(cap)

    out = {"not-loaded": not_loaded, "not-patched": [], "shape-error": []}
    for k in sorted(owner):
        s = status[owner[k]]
        if s != "applied":
            out[s].append(k)
    out["applied"] = len(owner) - len(out["not-patched"]) - len(out["shape-error"])
    return out


def cmd_expect(args):
    comfy = import_comfy(args.comfy)
    commit = comfy_commit(args.comfy)
    logging.getLogger().setLevel(logging.INFO)
    results = []
    for lid, mid in PAIRS:
        lora = read_gz(os.path.join(OUT, "loras", lid + ".json.gz"))
        model = read_gz(os.path.join(OUT, "models", mid + ".json.gz"))
        r = oracle(comfy, lora["keys"], model["keys"])
        results.append({"lora": lid, "model": mid, **r})
        print(f"{lid} on {mid}: {r['applied']} keys apply, {len(r['not-loaded'])} not loaded, "
              f"{len(r['not-patched'])} not patched, {len(r['shape-error'])} shape errors (of {len(lora['keys'])})")
    write_gz(os.path.join(OUT, "expectations.json.gz"), {"comfyui": commit, "note": "keys not listed apply", "pairs": results})


def safetensors_keys(path):
    """A safetensors file's tensor names and shapes, from its header alone."""
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def sparse_safetensors(path, keys):
    """A safetensors file with these keys and shapes whose data is a hole (no disk used): a model for the tool."""
    import struct
    header, off = {}, 0
    for k, shape in keys.items():
        n = 2
        for d in shape:
            n *= d
        header[k] = {"dtype": "F16", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        f.truncate(8 + len(h) + off)


def tool_fates(tool, lora_path, model_path, lora_keys):
    """Every LoRA key's fate as `safeckpt fit --json` reports it."""
    cmd = ([tool] if not tool.endswith(".dll") else ["dotnet", tool]) + ["fit", lora_path, model_path, "--json"]
    r = json.loads(subprocess.run(cmd, capture_output=True, text=True).stdout)
    fate = {k: "applied" for k in lora_keys}

    def keys_of(module):
        return [k for k in lora_keys if k.startswith(module) and len(k) > len(module) and k[len(module)] in "._"]

    for m in r["notApplied"]:
        status = {"wrong-shape": "shape-error", "weight-missing": "not-patched"}.get(m["status"], "not-loaded")
        for k in keys_of(m["module"]):
            fate[k] = status
        for k in m["keysNotLoaded"]:
            fate[k] = "not-loaded"
    for module in r["notCheckedModules"]:
        for k in keys_of(module):
            fate[k] = "not-loaded"
    for k in r["unknownKeys"]:
        fate[k] = "not-loaded"
    return r, fate


def cmd_check(args):
    """SafeCkpt's `fit` on real LoRA files against ComfyUI's loader: every key must get the same fate."""
    import tempfile
    comfy = import_comfy(args.comfy)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        if os.path.exists(args.model):
            model_path, model_keys = args.model, safetensors_keys(args.model)
        else:
            model_keys = read_gz(os.path.join(OUT, "models", args.model + ".json.gz"))["keys"]
            model_path = os.path.join(tmp, args.model + ".safetensors")
            sparse_safetensors(model_path, model_keys)
        for lora_path in args.lora:
            lora_keys = safetensors_keys(lora_path)
            expected = oracle(comfy, lora_keys, model_keys)
            want = {k: "applied" for k in lora_keys}
            for status in ("not-loaded", "not-patched", "shape-error"):
                for k in expected[status]:
                    want[k] = status
            report, got = tool_fates(args.tool, lora_path, model_path, lora_keys)
            wrong = [k for k in want if got.get(k) != want[k]]
            failed += bool(wrong)
            counts = collections.Counter(want.values())
            print(f"{'FAIL' if wrong else 'ok'}: {os.path.basename(lora_path)} on {os.path.basename(model_path)}: ComfyUI {dict(counts)}; "
                  f"safeckpt: {report['summary']}" + (f"; {len(wrong)} keys differ, e.g. {wrong[:3]}" if wrong else ""))
    sys.exit(1 if failed else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("fixtures", "expect", "check"):
        p = sub.add_parser(name)
        p.add_argument("--comfy", required=True, help="a ComfyUI checkout (the repository root)")
        if name == "check":
            p.add_argument("--tool", required=True, help="the built safeckpt (or SafeCkpt.Cli.dll)")
            p.add_argument("--model", required=True, help="a .safetensors model, or the id of a model fixture (sd1, sdxl, flux-dev, ...)")
            p.add_argument("lora", nargs="+", help="real LoRA .safetensors files")
    args = ap.parse_args()
    {"fixtures": cmd_fixtures, "expect": cmd_expect, "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    main()
