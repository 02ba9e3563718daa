"""Write the same synthetic SD 1.x checkpoint twice with real torch.save: once with every tensor contiguous, once with
its big tensors stored as strided views (2-D weights and 1x1 convs transposed, other convs channels-last), as a checkpoint saved
from a model whose parameters were transposed or converted to torch.channels_last holds them.

  /usr/bin/python3 benchmarks/e2e/make_views_ckpt.py WORKDIR [--shrink 2]

writes WORKDIR/contiguous.ckpt and WORKDIR/views.ckpt (SD 1.x layout from ../shared/bench/sdlayout.py, widths / 2:
1.06 GB of fp32). Values are identical in both files; only the storage layout differs."""
import argparse, math, os, sys
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("SHARED", os.path.join(here, "..", "..", "..", "shared", "bench")))
import sdlayout  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("workdir"); ap.add_argument("--shrink", type=int, default=2); ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
s = a.shrink
layout = sdlayout.sd1(base=320 // s, vbase=128 // s, width=768 // s, layers=max(1, 12 // s))
g = torch.Generator().manual_seed(a.seed)
views, big = {}, 0
for k, shape in layout.items():
    n = math.prod(shape)
    if len(shape) == 2 and n * 4 >= 1 << 20:
        t = (torch.randn(shape[1], shape[0], generator=g) * 0.02).t()  # stored [in, out], read [out, in]
    elif len(shape) == 4 and n * 4 >= 1 << 20:
        o, i, kh, kw = shape
        if kh * kw > 1:
            t = (torch.randn(o, kh, kw, i, generator=g) * 0.02).permute(0, 3, 1, 2)  # channels-last
        else:
            t = (torch.randn(i, kh, kw, o, generator=g) * 0.02).permute(3, 0, 1, 2)  # 1x1 conv stored transposed
    else:
        t = torch.randn(shape, generator=g) * 0.02 if shape else torch.tensor(2.0)
        views[k] = t
        continue
    assert not t.is_contiguous()
    big += t.numel() * 4
    views[k] = t
contiguous = {k: v.contiguous() for k, v in views.items()}
torch.save({"state_dict": views}, os.path.join(a.workdir, "views.ckpt"))
torch.save({"state_dict": contiguous}, os.path.join(a.workdir, "contiguous.ckpt"))
total = sum(t.numel() * 4 for t in views.values())
print(f"wrote {a.workdir}/views.ckpt and contiguous.ckpt: {len(views)} tensors, {total / 1e9:.2f} GB fp32, {big / 1e9:.2f} GB of it strided views")
