#!/usr/bin/env python3
"""Builds every model `safeckpt yaml` writes a config for under the code A1111 runs, and checks it.

For each architecture:

1. The reference: the published config (A1111's own or the one its pinned repository ships), after A1111's
   repair_config, instantiated under the pinned code (ldm: Stability-AI/stablediffusion cf1d67a; sgm:
   Stability-AI/generative-models 45c443b) with parameters on the meta device. Its UNet
   (model.diffusion_model.*) and VAE (first_stage_model.*) keys and shapes are what a real checkpoint holds.
2. A checkpoint: the test layout of that architecture (exported by the C# test LayoutExport) with its UNet and
   VAE completed to the reference key set (a sparse, zero-filled safetensors file; small tensors keep the
   layout's bytes, e.g. the 768-v norm bias that tells SD 2.x v-prediction). Every layout UNet/VAE key must
   already be in the reference with the same shape.
3. `safeckpt yaml` on it; the yaml is loaded as A1111 loads it (OmegaConf), repaired as A1111 repairs it, and
   the whole model is instantiated (text encoders, image embedders and the depth model are stubbed, see
   below); its UNet and VAE keys and shapes must equal the checkpoint's.
4. The repaired config must equal the repaired published config on every key except the training-only ones
   (base_learning_rate, scheduler_config, data, lightning) and use_checkpoint, which repair_config forces off.

What cannot be built offline is stubbed, not skipped silently: transformers, open_clip, clip, kornia, cv2,
timm and safetensors are not in Debian, so those modules are empty stand-ins and the classes that would load
weights with them (FrozenCLIPEmbedder, FrozenOpenCLIPEmbedder(2), ClipImageEmbedder,
FrozenOpenCLIPImageEmbedder, MiDaSInference) are replaced by modules whose constructor only binds the config's
params to the real constructor's signature (an unknown or missing parameter fails). einops and
pytorch_lightning are not in Debian either; they are stand-ins too (no einops function runs while a model is
built; LightningModule becomes nn.Module). sd1-pix2pix's target is A1111's own
modules.models.diffusion.ddpm_edit.LatentDiffusion, which is not in the pinned repositories (and needs A1111's
hijacks to import): for it the UNet and VAE are built from their configs alone.

Usage (Debian packages: python3-omegaconf python3-torchvision python3-scipy python3-tqdm python3-fsspec; torch):
  dotnet publish src/SafeCkpt.Cli -c Release -o /tmp/sc
  SAFECKPT_EXPORT_LAYOUTS=/tmp/layouts dotnet test tests/SafeCkpt.Tests --filter FullyQualifiedName~LayoutExport
  python3 tests/consumers/yaml_build_check.py --ldm DIR --sgm DIR --published DIR --tool /tmp/sc/safeckpt \
      --layouts /tmp/layouts [--write-fixtures tests/SafeCkpt.Tests/Fixtures/yaml-build]
--ldm / --sgm are checkouts of the pinned commits; --published holds the published config yamls.
"""

import argparse
import contextlib
import gzip
import io
import inspect
import json
import os
import struct
import subprocess
import sys
import tempfile
import types
from unittest import mock

# id -> (namespace, published config, layout file stem)
ARCHS = {
    "sd1": ("ldm", "a1111_v1-inference.yaml", "sd1"),
    "sd1-inpaint": ("ldm", "a1111_v1-inpainting-inference.yaml", "sd1-inpaint"),
    "sd1-pix2pix": ("ldm", "a1111_instruct-pix2pix.yaml", "sd1-pix2pix"),
    "sd2": ("ldm", "sai_v2-inference.yaml", "sd2"),
    "sd2-v": ("ldm", "sai_v2-inference-v.yaml", "sd2-v"),
    "sd2-inpaint": ("ldm", "sai_v2-inpainting-inference.yaml", "sd2-inpaint"),
    "sd2-depth": ("ldm", "sai_v2-midas-inference.yaml", "sd2-depth"),
    "sd2-unclip-l": ("ldm", "sai_v2-1-stable-unclip-l-inference.yaml", "sd2-unclip-l"),
    "sd2-unclip-h": ("ldm", "sai_v2-1-stable-unclip-h-inference.yaml", "sd2-unclip-h"),
    "sdxl": ("sgm", "gm45c443_sd_xl_base.yaml", "sdxl"),
    "sdxl-v": ("sgm", "a1111_sd_xl_v.yaml", "sdxl-v"),
    "sdxl-refiner": ("sgm", "gm45c443_sd_xl_refiner.yaml", "sdxl-refiner"),
    "sdxl-inpaint": ("sgm", "a1111_sd_xl_inpaint.yaml", "sdxl-inpaint"),
}
UNET = "model.diffusion_model."
VAE = "first_stage_model."
TRAINING_ONLY = {"base_learning_rate", "scheduler_config", "data", "lightning"}
STUBBED = [
    ("ldm.modules.encoders.modules", ["FrozenCLIPEmbedder", "FrozenOpenCLIPEmbedder", "ClipImageEmbedder", "FrozenOpenCLIPImageEmbedder"]),
    ("sgm.modules.encoders.modules", ["FrozenCLIPEmbedder", "FrozenOpenCLIPEmbedder2", "FrozenOpenCLIPEmbedder", "FrozenOpenCLIPImageEmbedder"]),
    ("ldm.modules.midas.api", ["MiDaSInference"]),
]


def install_stand_ins():
    import torch.nn as nn

    class StandIn(types.ModuleType):
        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            value = mock.MagicMock(name=f"{self.__name__}.{attr}")
            setattr(self, attr, value)
            return value

    for name in ["transformers", "open_clip", "clip", "kornia", "cv2", "timm", "safetensors", "einops", "xformers"]:
        try:
            __import__(name)
        except ImportError:
            for sub in ["", ".torch", ".models", ".models.layers", ".layers", ".layers.torch", ".ops"]:
                m = StandIn(name + sub)
                m.__path__ = []
                m.stand_in = True
                sys.modules[name + sub] = m
    # xformers must look absent (A1111 without it): sgm tries to import it and falls back.
    for k in [k for k in sys.modules if k == "xformers" or k.startswith("xformers.")]:
        del sys.modules[k]
    if "pytorch_lightning" not in sys.modules:
        try:
            import pytorch_lightning  # noqa: F401
        except ImportError:
            pl = types.ModuleType("pytorch_lightning")
            pl.__path__ = []

            class LightningModule(nn.Module):
                pass

            pl.LightningModule = LightningModule
            pl.LightningDataModule = object
            ident = lambda f: f  # noqa: E731
            for sub in ["utilities", "utilities.distributed", "utilities.rank_zero"]:
                m = types.ModuleType("pytorch_lightning." + sub)
                m.__path__ = []
                m.rank_zero_only = ident
                sys.modules["pytorch_lightning." + sub] = m
            pl.utilities = sys.modules["pytorch_lightning.utilities"]
            sys.modules["pytorch_lightning"] = pl


def torch2_vae_attention(ns):
    """sgm's make_attn refuses torch < 2 without xformers (A1111 runs SDXL on torch 2): it runs as on torch 2.0."""
    if ns != "sgm":
        return
    import importlib
    import torch

    model = importlib.import_module("sgm.modules.diffusionmodules.model")
    if getattr(model.make_attn, "_torch2", False):
        return
    original = model.make_attn

    def make_attn(*args, **kwargs):
        saved = torch.__version__
        torch.__version__ = "2.0.0"
        try:
            return original(*args, **kwargs)
        finally:
            torch.__version__ = saved

    make_attn._torch2 = True
    model.make_attn = make_attn


def stub_weight_loaders(ns):
    """Replaces the constructors of classes that load pretrained weights by a signature check."""
    import importlib
    import torch.nn as nn

    for module_name, classes in STUBBED:
        if not module_name.startswith(ns + "."):
            continue
        module = importlib.import_module(module_name)
        for cls_name in classes:
            cls = getattr(module, cls_name, None)
            if cls is None or getattr(cls, "_stubbed", False):
                continue
            sig = inspect.signature(cls.__init__)

            def init(self, *args, _sig=sig, _name=cls_name, **kwargs):
                _sig.bind(self, *args, **kwargs)  # TypeError on a parameter the real class does not take
                nn.Module.__init__(self)
                self.stub_of = _name
                self.stub_params = dict(kwargs)

            cls.__init__ = init
            cls._stubbed = True


@contextlib.contextmanager
def meta_parameters():
    """torch 1.13 has no `with torch.device('meta')`: every parameter moves to meta as it is registered."""
    import torch
    import torch.nn as nn

    original = nn.Module.register_parameter
    inits = {n: getattr(nn.init, n) for n in dir(nn.init) if n.endswith("_") and not n.startswith("_")}

    def register_parameter(self, name, param):
        original(self, name, param)
        if param is not None and param.device.type != "meta":
            self._parameters[name] = nn.Parameter(param.detach().to("meta"), requires_grad=param.requires_grad)

    nn.Module.register_parameter = register_parameter
    for n in inits:
        setattr(nn.init, n, lambda t, *a, **k: t)
    try:
        with torch.no_grad():
            yield
    finally:
        nn.Module.register_parameter = original
        for n, f in inits.items():
            setattr(nn.init, n, f)


def repair_config(cfg, karlo_dir):
    """A1111's modules/sd_models.py repair_config, on a machine without xformers, default precision."""
    p = cfg.model.params
    if not hasattr(p, "use_ema"):
        p.use_ema = False
    if hasattr(p, "first_stage_config"):
        if getattr(p.first_stage_config.params.ddconfig, "attn_type", None) == "vanilla-xformers":
            p.first_stage_config.params.ddconfig.attn_type = "vanilla"
    if hasattr(p, "noise_aug_config") and hasattr(p.noise_aug_config.params, "clip_stats_path"):
        p.noise_aug_config.params.clip_stats_path = p.noise_aug_config.params.clip_stats_path.replace("checkpoints/karlo_models", karlo_dir)
    if hasattr(p, "network_config"):
        p.network_config.params.use_checkpoint = False
    if hasattr(p, "unet_config"):
        p.unet_config.params.use_checkpoint = False
    return cfg


def build(ns, cfg):
    """The UNet and VAE keys and shapes of the model the config describes, and the built model's embedders."""
    import importlib

    util = importlib.import_module(ns + ".util")
    p = cfg.model.params
    with meta_parameters(), contextlib.redirect_stdout(io.StringIO()):
        if cfg.model.target.startswith("modules."):  # A1111's own class (InstructPix2Pix): parts only
            unet = util.instantiate_from_config(p.unet_config)
            vae = util.instantiate_from_config(p.first_stage_config)
            sd = {UNET + k: v for k, v in unet.state_dict().items()}
            sd.update({VAE + k: v for k, v in vae.state_dict().items()})
            whole = None
        else:
            whole = util.instantiate_from_config(cfg.model)
            sd = whole.state_dict()
    shapes = {k: list(v.shape) for k, v in sd.items() if k.startswith(UNET) or k.startswith(VAE)}
    return shapes, whole


def read_safetensors_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return header, 8 + n


DTYPE_SIZE = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def write_checkpoint(layout_path, reference, out_path):
    """The layout with its UNet and VAE completed to the reference keys: a sparse zero-filled safetensors file."""
    header, data_start = read_safetensors_header(layout_path)
    problems = []
    entries = []
    for k, info in header.items():
        if k == "__metadata__":
            continue
        if k.startswith(UNET) or k.startswith(VAE):
            if k not in reference:
                problems.append(f"layout key {k} is not in the published model")
            elif list(info["shape"]) != reference[k]:
                problems.append(f"layout key {k} has shape {info['shape']}, the published model {reference[k]}")
        entries.append((k, info["dtype"], list(info["shape"]), info["data_offsets"]))
    have = {e[0] for e in entries}
    for k, shape in reference.items():
        if k not in have:
            entries.append((k, "F16", shape, None))
    out_header = {}
    offset = 0
    copies = []
    for k, dtype, shape, src in entries:
        n = DTYPE_SIZE[dtype]
        for d in shape:
            n *= d
        out_header[k] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        if src is not None and 0 < n <= 1 << 20:
            copies.append((data_start + src[0], offset, n))
        offset += n
    if "__metadata__" in header:
        out_header["__metadata__"] = header["__metadata__"]
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(layout_path, "rb") as src, open(out_path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        base = f.tell()
        f.truncate(base + offset)
        for s, d, n in copies:
            src.seek(s)
            f.seek(base + d)
            f.write(src.read(n))
    return problems


def training_only(prefix, key):
    """Keys A1111 never acts on: training-only sections, and use_checkpoint (repair_config forces it off)."""
    return prefix in ("", "model.") and key in TRAINING_ONLY or key == "use_checkpoint"


def flatten(node, prefix="", skip=training_only):
    """A config as {dotted.key: value}, without the keys skip(prefix, key) names."""
    from omegaconf import DictConfig, ListConfig

    out = {}
    if isinstance(node, DictConfig):
        for k in node.keys():
            if skip(prefix, k):
                continue
            out.update(flatten(node[k], f"{prefix}{k}.", skip))
    elif isinstance(node, ListConfig):
        for i, v in enumerate(node):
            out.update(flatten(v, f"{prefix}{i}.", skip))
        if len(node) == 0:
            out[prefix[:-1]] = []
    else:
        out[prefix[:-1]] = node
    return out


def config_differences(ours, published):
    a, b = flatten(ours), flatten(published)
    diffs = []
    for k in sorted(set(a) | set(b)):
        if k.startswith("model.params.") and k.split(".")[2] in TRAINING_ONLY:
            continue
        va, vb = a.get(k, "<absent>"), b.get(k, "<absent>")
        if va != vb and not (isinstance(va, (int, float)) and isinstance(vb, (int, float)) and float(va) == float(vb) and type(va) == type(vb)):
            diffs.append(f"{k}: safeckpt {va!r}, published {vb!r}")
    return diffs


def embedder_summary(whole):
    if whole is None:
        return None
    out = []
    cond = getattr(whole, "conditioner", None)
    if cond is not None:
        for e in cond.embedders:
            out.append({"class": getattr(e, "stub_of", type(e).__name__), "input_key": e.input_key})
    for name in ["cond_stage_model", "embedder", "depth_model"]:
        m = getattr(whole, name, None)
        if m is not None:
            out.append({"attr": name, "class": getattr(m, "stub_of", type(m).__name__)})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ldm", required=True, help="Stability-AI/stablediffusion at cf1d67a")
    ap.add_argument("--sgm", required=True, help="Stability-AI/generative-models at 45c443b")
    ap.add_argument("--published", required=True, help="folder of the published config yamls")
    ap.add_argument("--tool", required=True, help="the safeckpt executable")
    ap.add_argument("--layouts", required=True, help="folder of LayoutExport's safetensors files")
    ap.add_argument("--write-fixtures", help="folder for the expected key/shape lists (*.json.gz)")
    ap.add_argument("--only", nargs="*", help="architecture ids to check")
    args = ap.parse_args()

    install_stand_ins()
    from omegaconf import OmegaConf
    import torch

    work = tempfile.mkdtemp(prefix="yaml-build-")
    karlo = os.path.join(work, "models", "karlo")
    os.makedirs(karlo)
    # A1111 ships models/karlo/ViT-L-14_stats.th (the Karlo image-embedding mean and std).
    torch.save((torch.zeros(1, 768), torch.ones(1, 768)), os.path.join(karlo, "ViT-L-14_stats.th"))

    failures = 0
    for arch, (ns, published_name, layout) in ARCHS.items():
        if args.only and arch not in args.only:
            continue
        root = args.ldm if ns == "ldm" else args.sgm
        if root not in sys.path:
            sys.path.insert(0, root)
        stub_weight_loaders(ns)
        torch2_vae_attention(ns)
        problems = []

        published = repair_config(OmegaConf.load(os.path.join(args.published, published_name)), karlo)
        reference, ref_model = build(ns, published)

        ckpt = os.path.join(work, arch + ".safetensors")
        problems += write_checkpoint(os.path.join(args.layouts, layout + ".safetensors"), reference, ckpt)
        yaml_path = os.path.join(work, arch + ".yaml")
        run = subprocess.run([args.tool, "yaml", ckpt, "--out", yaml_path, "--overwrite"], capture_output=True, text=True)
        if run.returncode != 0:
            problems.append(f"safeckpt yaml failed ({run.returncode}): {run.stderr.strip()}")
        else:
            ours = repair_config(OmegaConf.load(yaml_path), karlo)
            problems += config_differences(ours, published)
            try:
                built, model = build(ns, ours)
            except Exception as e:  # noqa: BLE001 - the report names it
                problems.append(f"the model does not build: {type(e).__name__}: {e}")
            else:
                for k in sorted(set(built) | set(reference)):
                    if built.get(k) != reference.get(k):
                        problems.append(f"{k}: built {built.get(k)}, checkpoint {reference.get(k)}")
                if embedder_summary(model) != embedder_summary(ref_model):
                    problems.append(f"embedders: built {embedder_summary(model)}, published {embedder_summary(ref_model)}")

        unet = sum(k.startswith(UNET) for k in reference)
        status = "ok" if not problems else "FAILED"
        print(f"{arch}: {status} ({unet} UNet and {len(reference) - unet} VAE keys; {'whole model' if ref_model is not None else 'UNet and VAE only'}; embedders {embedder_summary(ref_model)})")
        for p in problems[:40]:
            print("   ", p)
        if len(problems) > 40:
            print(f"    ... and {len(problems) - 40} more")
        failures += bool(problems)

        if args.write_fixtures and not problems:
            os.makedirs(args.write_fixtures, exist_ok=True)
            doc = {
                "arch": arch,
                "built_under": "ldm: Stability-AI/stablediffusion cf1d67a; sgm: Stability-AI/generative-models 45c443b; after A1111 repair_config",
                "keys": {k: reference[k] for k in sorted(reference)},
            }
            with gzip.GzipFile(os.path.join(args.write_fixtures, arch + ".json.gz"), "wb", mtime=0) as f:
                lines = [json.dumps(k) + ": " + json.dumps(v) for k, v in doc["keys"].items()]
                head = json.dumps({k: v for k, v in doc.items() if k != "keys"})[:-1]
                f.write((head + ', "keys": {\n' + ",\n".join(lines) + "\n}}\n").encode())

    print(f"{len([a for a in ARCHS if not args.only or a in args.only]) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
