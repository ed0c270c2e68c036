"""Does the model's own attribute classifier see what EvalNet sees on its fakes?

    python bench/attr_head_agreement.py --checkpoint checkpoints/default [--data data/dicebear-20k-128]
        [--per-value 32] [--truncation 1.0 0.8] [--best-of 4]

For each attribute value, fakes are asked exactly as ``attr_precision`` asks them (the value
fixed, the rest from a real label row). Two judges read the same images: EvalNet (trained
apart, on real images only) and the projected discriminator's own AC-GAN head
(``discriminator.safetensors`` beside the checkpoint). Where the head sees the value and
EvalNet does not, G has learned to satisfy the head with features real images do not have.

``--best-of K`` also draws K latents per request and keeps the one the head scores highest
on all the asked attributes (discriminator-guided selection), then asks EvalNet again: a
cheap serving-time fix if the head were right where G is wrong.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

from engine.checkpoint import arch_of, load_checkpoint, load_discriminator
from engine.data.dataset import Dataset
from engine.metrics.attr_precision import conditioned_requests
from engine.metrics.evalnet import get_evalnet
from engine.models.projected import Discriminator
from engine.sampling import Request, render

SELECTION_SEED_STRIDE = 1_000_003  # candidate j of seed s is seed s + j * stride


@torch.no_grad()
def head_logits(D: Discriminator, images: np.ndarray, c: torch.Tensor, batch: int = 64) -> torch.Tensor:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    return torch.cat(
        [
            D.judge(x[s : s + batch], c[s : s + batch])[1][:, : c.shape[1]].float()
            for s in range(0, len(x), batch)
        ]
    )


def asked_log_prob(logits: torch.Tensor, c: torch.Tensor, spans: list[tuple[int, int]]) -> torch.Tensor:
    """Sum over the set attributes of the head's log-probability of the asked value."""
    total = torch.zeros(len(c))
    for a, b in spans:
        target = c[:, a:b]
        total += (target * torch.log_softmax(logits[:, a:b], dim=1)).sum(1)  # unset blocks add 0
    return total


def judge_value(ck, D, net, schema, i: int, k: int, per_value: int, truncation: float, best_of: int) -> dict:
    requests = [
        Request(r.seed, r.attributes, truncation) for r in conditioned_requests(schema, i, k, per_value, 0)
    ]
    c = torch.from_numpy(np.stack([ck.schema.encode(r.attrs) for r in requests]))
    a, b = D.spans[i]
    images = render(ck.G, ck.schema, requests)
    logits = head_logits(D, images, c)
    row = {
        "evalnet": float((net.predict(images)[:, i] == k).mean()),
        "head": float((logits[:, a:b].argmax(1) == k).float().mean()),
    }
    if best_of > 1:
        candidates, scores = [images], [asked_log_prob(logits, c, D.spans)]
        for j in range(1, best_of):
            shifted = [
                Request(r.seed + j * SELECTION_SEED_STRIDE, r.attributes, truncation) for r in requests
            ]
            candidates.append(render(ck.G, ck.schema, shifted))
            scores.append(asked_log_prob(head_logits(D, candidates[-1], c), c, D.spans))
        pick = torch.stack(scores).argmax(0).numpy()
        chosen = np.stack([candidates[p][n] for n, p in enumerate(pick)])
        row["best_of"] = float((net.predict(chosen)[:, i] == k).mean())
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/default")
    p.add_argument("--data", default="data/dicebear-20k-128")
    p.add_argument("--per-value", type=int, default=32)
    p.add_argument("--truncation", type=float, nargs="+", default=[1.0])
    p.add_argument("--best-of", type=int, default=1)
    args = p.parse_args()
    ck = load_checkpoint(args.checkpoint)
    ds = Dataset(args.data)
    net = get_evalnet(ds)
    if ck.meta["family"] != "projected":
        raise SystemExit(
            f"{args.checkpoint} is a {ck.meta['family']} model; this compares the projected family's head"
        )
    arch = arch_of(ck.meta)
    # D augments everything it sees in training (DiffAugment); the head is read here on the
    # images themselves, so two runs agree and the head is judged on what G drew.
    arch = dataclasses.replace(arch, diffaugment="")
    D = Discriminator(arch, ck.schema.dim, torch.device("cpu"))
    if load_discriminator(args.checkpoint, D) is None:
        raise SystemExit(f"{args.checkpoint} has no discriminator.safetensors: nothing to compare with")
    D.eval()
    schema = ds.schema  # asked as attr_precision asks: the data's label table
    for truncation in args.truncation:
        cols = ["evalnet", "head"] + ([f"best of {args.best_of}"] if args.best_of > 1 else [])
        print(f"\ntruncation {truncation}, {args.per_value} images per value\n")
        print("| value | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
        rows = []
        for i, attr in enumerate(schema.attributes):
            for k, value in enumerate(attr.values):
                row = judge_value(ck, D, net, schema, i, k, args.per_value, truncation, args.best_of)
                rows.append(row)
                print(
                    f"| {attr.name}:{value} | " + " | ".join(f"{v:.2f}" for v in row.values()) + " |",
                    flush=True,
                )
        means = [np.mean([r[key] for r in rows]) for key in rows[0]]
        print("| **mean** | " + " | ".join(f"**{m:.3f}**" for m in means) + " |")


if __name__ == "__main__":
    main()
