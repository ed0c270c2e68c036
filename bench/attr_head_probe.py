"""How well can the projected discriminator's attribute head see each attribute?

    python bench/attr_head_probe.py --data data/dicebear-20k-128 [--images 8000] [--steps 1500]

The AC-GAN head can only teach G what it can see itself. This trains two heads on the
frozen EfficientNet-Lite0 -> fixed random projection features of real images (64px, as
the discriminator sees them; no augmentation), with D's optimizer settings, and prints
held-out accuracy per attribute:

* ``mean-mlp``: an MLP on the mean-pooled maps of all four scales (the head before session 5);
* ``attribute-head``: ``engine.models.projected.AttributeHead`` (local convs, mean + max pooling).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.data.dataset import Dataset
from engine.effnet import backbone
from engine.models.layers import attribute_cross_entropy, attribute_spans
from engine.models.projected import Arch, AttributeHead, RandomProjector


class MeanMLP(nn.Module):
    def __init__(self, in_channels: tuple[int, ...], c_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(sum(in_channels), 256), nn.LeakyReLU(0.2), nn.Linear(256, c_dim))

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return self.mlp(torch.cat([f.mean(dim=(2, 3)) for f in feats], dim=1))


def projected_features(images: torch.Tensor, arch: Arch, chunk: int = 250) -> list[torch.Tensor]:
    net, proj, size = backbone("cpu"), RandomProjector(arch.proj_channels, arch.projection_seed), arch.d_input
    parts: list[list[torch.Tensor]] = [[] for _ in range(4)]
    with torch.no_grad():
        for x in images.split(chunk):
            x = F.interpolate(x.float() / 127.5 - 1, size=(size, size), mode="bilinear", align_corners=False)
            for k, f in enumerate(proj(net.stages(x))):
                parts[k].append(f)
    return [torch.cat(p) for p in parts]


def accuracy(logits: torch.Tensor, c: torch.Tensor, spans, names) -> dict[str, float]:
    out = {}
    for (a, b), name in zip(spans, names):
        known = c[:, a:b].sum(1) > 0  # unknown labels (hair under a hat) are not scored
        out[name] = float((logits[known, a:b].argmax(1) == c[known, a:b].argmax(1)).float().mean())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/dicebear-20k-128")
    p.add_argument("--images", type=int, default=8000)
    p.add_argument("--holdout", type=float, default=0.2)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    ds = Dataset(args.data)
    n = min(args.images, len(ds))
    images = torch.from_numpy(np.array(ds.images[:n])).permute(0, 3, 1, 2)
    c = torch.from_numpy(ds.conditioning()[:n]).float()
    spans = attribute_spans(c.shape[1], tuple(b - a for a, b in ds.schema.blocks()))
    start = time.perf_counter()
    arch = Arch()
    feats = projected_features(images, arch)
    print(f"features of {n} images in {time.perf_counter() - start:.0f} s", flush=True)
    n_train = int(n * (1 - args.holdout))
    channels = tuple(f.shape[1] for f in feats)
    heads = {
        "mean-mlp": MeanMLP(channels, c.shape[1]),
        "attribute-head": AttributeHead(channels, arch.aux_channels, c.shape[1]),
    }
    rows = {}
    for name, head in heads.items():
        opt = torch.optim.Adam(head.parameters(), lr=2e-4, betas=(0.0, 0.99))  # D's settings
        for _ in range(args.steps):
            idx = torch.randint(n_train, (args.batch,))
            loss = attribute_cross_entropy(head([f[idx] for f in feats]), c[idx], spans)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            rows[name] = accuracy(head([f[n_train:] for f in feats]), c[n_train:], spans, ds.schema.names)
    print(f"\nheld-out accuracy, {n - n_train} images, after {args.steps} steps of batch {args.batch}\n")
    print("| head | " + " | ".join(ds.schema.names) + " |")
    print("|---|" + "---|" * len(ds.schema.names))
    for name, acc in rows.items():
        print(f"| {name} | " + " | ".join(f"{acc[a]:.3f}" for a in ds.schema.names) + " |")


if __name__ == "__main__":
    main()
