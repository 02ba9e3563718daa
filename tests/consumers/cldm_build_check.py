#!/usr/bin/env python3
"""Builds the ControlNet models `safeckpt yaml` writes cldm configs for under the cldm code, and checks them.

The consumer: sd-webui-controlnet before 1.1.400 loads MODEL.yaml beside a ControlNet file with OmegaConf and
builds `ControlNet(**config.model.params.control_stage_config.params)` (its scripts/cldm.py, a copy of
lllyasviel's cldm.cldm.ControlNet on A1111's ldm), loads the file's `control_model.*` keys (prefix stripped; a
file without the prefix as is) into it strictly, and reads `model.params.global_average_pooling`. The pinned code
here is lllyasviel/ControlNet-v1-1-nightly (cldm/ and its own ldm/ package), whose models/ folder also holds the
published yamls.

For each case (file stem, published yaml, key prefix of the file):

1. The reference: the published yaml, the whole cldm.cldm.ControlLDM instantiated from it with parameters on the
   meta device (the text encoders stubbed as in yaml_build_check.py). Its control_model.* keys and shapes are a
   real ControlNet file's; its model.diffusion_model.* (ControlledUnetModel) and first_stage_model.* are those of
   the base model the ControlNet is used with.
2. A ControlNet file: exactly the control_model.* keys (with or without the prefix, as the case says), zero-filled
   sparse safetensors, named STEM.safetensors.
3. `safeckpt yaml` on it. The yaml is loaded with OmegaConf; ControlNet(**control_stage_config.params) must build
   and its state dict must load the file's keys strictly (keys and shapes equal); the whole ControlLDM must build
   and its UNet/VAE keys and shapes equal the reference's.
4. The yaml must equal the published one on every key (use_checkpoint included: nothing repairs it), so
   global_average_pooling is present (True) for the shuffle model only.

Stubbed (see yaml_build_check.py): einops, transformers, open_clip, clip, cv2, pytorch_lightning stand-ins;
FrozenCLIPEmbedder / FrozenOpenCLIPEmbedder constructors only check their parameters.

Usage (python3-omegaconf python3-torchvision; torch):
  dotnet publish src/SafeCkpt.Cli -c Release -o /tmp/sc-cldm
  python3 tests/consumers/cldm_build_check.py --cldm DIR --tool /tmp/sc-cldm/safeckpt \
      [--write-fixtures tests/SafeCkpt.Tests/Fixtures/yaml-build]
--cldm is a checkout of lllyasviel/ControlNet-v1-1-nightly (e2b44154): cldm/, ldm/ and models/ are used.
"""

import argparse
import contextlib
import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import yaml_build_check as ybc  # noqa: E402

# fixture id -> (file stem, published yaml in models/, key prefix in the file)
CASES = {
    "controlnet-sd15": ("control_v11p_sd15_canny", "control_v11p_sd15_canny.yaml", "control_model."),
    "controlnet-sd15-shuffle": ("control_v11e_sd15_shuffle", "control_v11e_sd15_shuffle.yaml", ""),
    "controlnet-sd21": ("control_sd21_canny", "cldm_v21.yaml", "control_model."),
}
FIXTURES = {"controlnet-sd15", "controlnet-sd21"}  # the shuffle model's keys are controlnet-sd15's
CONTROL = "control_model."
BASE = (ybc.UNET, ybc.VAE)


def config_differences(ours, published):
    # Every key counts here, use_checkpoint too: nothing repairs a ControlNet yaml.
    a, b = ybc.flatten(ours, skip=lambda prefix, key: False), ybc.flatten(published, skip=lambda prefix, key: False)
    diffs = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, "<absent>"), b.get(k, "<absent>")
        same_number = isinstance(va, (int, float)) and isinstance(vb, (int, float)) and type(va) == type(vb) and float(va) == float(vb)
        if va != vb and not same_number or type(va) != type(vb):
            diffs.append(f"{k}: safeckpt {va!r}, published {vb!r}")
    return diffs


def build_whole(cfg):
    from ldm.util import instantiate_from_config

    with ybc.meta_parameters(), contextlib.redirect_stdout(io.StringIO()):
        model = instantiate_from_config(cfg.model)
    return {k: list(v.shape) for k, v in model.state_dict().items()}, model


def build_control_as_the_extension(cfg):
    """sd-webui-controlnet < 1.1.400: ControlNet(**config.model.params.control_stage_config.params)."""
    from cldm.cldm import ControlNet

    with ybc.meta_parameters(), contextlib.redirect_stdout(io.StringIO()):
        net = ControlNet(**cfg.model.params.control_stage_config.params)
    return {k: list(v.shape) for k, v in net.state_dict().items()}


def write_controlnet(keys, prefix, path):
    header, offset = {}, 0
    for k in sorted(keys):
        n = 2
        for d in keys[k]:
            n *= d
        header[prefix + k] = {"dtype": "F16", "shape": keys[k], "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.truncate(8 + len(text) + offset)


def read_keys(path):
    header, _ = ybc.read_safetensors_header(path)
    return {k: list(v["shape"]) for k, v in header.items() if k != "__metadata__"}


def compare(what, ours, theirs):
    out = []
    for k in sorted(set(ours) | set(theirs)):
        if ours.get(k) != theirs.get(k):
            out.append(f"{what} {k}: yaml builds {ours.get(k)}, expected {theirs.get(k)}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cldm", required=True, help="lllyasviel/ControlNet-v1-1-nightly checkout (cldm/, ldm/, models/)")
    ap.add_argument("--tool", required=True, help="the safeckpt executable")
    ap.add_argument("--write-fixtures", help="folder for the expected ControlNet key/shape lists (*.json.gz)")
    args = ap.parse_args()

    ybc.install_stand_ins()
    sys.path.insert(0, args.cldm)
    ybc.stub_weight_loaders("ldm")
    from omegaconf import OmegaConf

    work = tempfile.mkdtemp(prefix="cldm-build-")
    failures = 0
    for case, (stem, published_name, prefix) in CASES.items():
        problems = []
        published = OmegaConf.load(os.path.join(args.cldm, "models", published_name))
        reference, ref_model = build_whole(published)
        control = {k[len(CONTROL):]: v for k, v in reference.items() if k.startswith(CONTROL)}
        base = {k: v for k, v in reference.items() if k.startswith(BASE)}
        if build_control_as_the_extension(published) != control:
            problems.append("the published control_stage_config alone does not build the ControlLDM's control_model")

        model_path = os.path.join(work, stem + ".safetensors")
        write_controlnet(control, prefix, model_path)
        in_file = {k[len(CONTROL):] if k.startswith(CONTROL) else k: v for k, v in read_keys(model_path).items()}
        run = subprocess.run([args.tool, "yaml", model_path], capture_output=True, text=True)
        yaml_path = os.path.join(work, stem + ".yaml")
        if run.returncode != 0 or not os.path.exists(yaml_path):
            problems.append(f"safeckpt yaml failed ({run.returncode}): {run.stderr.strip()} {run.stdout.strip()}")
        else:
            ours = OmegaConf.load(yaml_path)
            problems += config_differences(ours, published)
            try:
                problems += compare("control", build_control_as_the_extension(ours), in_file)
                built, model = build_whole(ours)
            except Exception as e:  # noqa: BLE001 - the report names it
                problems.append(f"the model does not build: {type(e).__name__}: {e}")
            else:
                problems += compare("whole", {k: v for k, v in built.items() if k.startswith(BASE + (CONTROL,))},
                                    {k: v for k, v in reference.items() if k.startswith(BASE + (CONTROL,))})
                gap = getattr(model, "global_average_pooling", None)
                if gap != getattr(ref_model, "global_average_pooling", None):
                    problems.append(f"global_average_pooling: built {gap}, published {ref_model.global_average_pooling}")
                for name in ["cond_stage_model"]:
                    a, b = getattr(model, name, None), getattr(ref_model, name, None)
                    if getattr(a, "stub_of", None) != getattr(b, "stub_of", None) or getattr(a, "stub_params", None) != getattr(b, "stub_params", None):
                        problems.append(f"{name}: built {getattr(a, 'stub_of', a)}, published {getattr(b, 'stub_of', b)}")

        status = "ok" if not problems else "FAILED"
        unet = sum(k.startswith(ybc.UNET) for k in base)
        print(f"{case} ({stem}.safetensors, prefix {prefix or 'none'!r}, vs {published_name}): {status} "
              f"({len(control)} ControlNet, {unet} UNet, {len(base) - unet} VAE keys; global_average_pooling {ref_model.global_average_pooling})")
        for p in problems[:40]:
            print("   ", p)
        if len(problems) > 40:
            print(f"    ... and {len(problems) - 40} more")
        failures += bool(problems)

        if args.write_fixtures and not problems and case in FIXTURES:
            os.makedirs(args.write_fixtures, exist_ok=True)
            head = json.dumps({"arch": case, "built_under": f"lllyasviel/ControlNet-v1-1-nightly e2b44154 cldm.cldm.ControlNet from models/{published_name} control_stage_config; keys without the control_model. prefix"})[:-1]
            lines = [json.dumps(k) + ": " + json.dumps(control[k]) for k in sorted(control)]
            with gzip.GzipFile(os.path.join(args.write_fixtures, case + ".json.gz"), "wb", mtime=0) as f:
                f.write((head + ', "keys": {\n' + ",\n".join(lines) + "\n}}\n").encode())

    print(f"{len(CASES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
