"""What every family's tests share: a two-attribute conditioning, a batch, a warmed-up G."""

from __future__ import annotations

import torch

from engine.models.base import Batch


def one_hot_rows(n: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """Two attributes: a 3-way choice and a flag ([no, yes])."""
    a = torch.randint(0, 3, (n,), generator=gen)
    b = torch.randint(0, 2, (n,), generator=gen)
    return torch.cat([torch.eye(3)[a], torch.eye(2)[b]], dim=1)


def make_batch(z_dim: int, res: int, n: int = 4) -> Batch:
    gen = torch.Generator().manual_seed(0)
    return Batch(
        real=torch.rand(n, 3, res, res, generator=gen) * 2 - 1,
        c=one_hot_rows(n, gen),
        sample_c=one_hot_rows,
        sample_z=lambda k: torch.randn(k, z_dim),
    )


def warmed(G: torch.nn.Module) -> torch.nn.Module:
    """G in eval mode with BN running statistics set by one train pass (cumulative average)."""
    bns = [m for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.momentum = None
    G.train()
    with torch.no_grad():
        G(torch.randn(16, G.z_dim), one_hot_rows(16))
    for bn in bns:
        bn.momentum = 0.1
    return G.eval()
