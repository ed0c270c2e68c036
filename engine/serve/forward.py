"""The serving forward pass: fast, and the same bytes for a request alone or in any batch.

CPU kernels pick their algorithm by shape, so a sample's float result can change with the
batch size it runs in (measured on oneDNN: the matrix products of the conditioning, and the
convolutions on maps of 8x8 and smaller, round differently at N=1 than at N>=2, and again
at N>=4). A rounded pixel then flips now and then. Two rules keep the promise in fp32:

* every batch-size-sensitive step runs one sample at a time, at a shape that never changes
  (for the projected generator: the conditioning, its 4x4 and 8x8 stages and the SLE gates,
  about a sixth of the compute, nearly all of it the two 8x8 convolutions);
* the rest (the convolutions at 16x16 and up, which the same measurement shows are exact per
  sample at any N) runs batched, and only at the bucket sizes the service is configured
  with, so every shape that ever serves is one the determinism test checks.

Eval-mode batch norm is folded into the conditional gain and bias (one small product per
sample gives every layer's scale and shift), and the fixed noise is added in place.
Other model families run one sample at a time: slower, but exact by the same argument.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.sampling import Request, inputs, to_uint8

DTYPES = {"fp64": torch.float64, "fp32": torch.float32, "bf16": torch.bfloat16}


class RowForward:
    """Any generator, one sample per call: exact alone or batched, without batching's speed."""

    def __init__(self, G: nn.Module, schema) -> None:
        self.G, self.schema = G, schema
        self.dtype = next(G.parameters()).dtype
        self.device = next(G.parameters()).device

    @torch.inference_mode()
    def __call__(self, requests: Sequence[Request]) -> np.ndarray:
        z, c = inputs(self.schema, self.G.z_dim, requests)
        out = [
            self.G(
                z[i : i + 1].to(self.device, self.dtype),
                c[i : i + 1].to(self.device, self.dtype),
                truncation=r.truncation,
            )
            for i, r in enumerate(requests)
        ]
        return to_uint8(torch.cat(out))


class ProjectedForward:
    """The projected (FastGAN-style) generator, rebuilt for serving (see the module docstring)."""

    def __init__(self, G: nn.Module, schema, channels_last: bool = False, row_max_res: int = 8) -> None:
        # A copy when re-laid out: other routes (interpolate) keep calling the checkpoint's own G.
        self.G, self.schema = (copy.deepcopy(G) if channels_last else G), schema
        G = self.G
        self.dtype = next(G.parameters()).dtype
        self.device = next(G.parameters()).device
        self.row_max_res = row_max_res
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        norms = [G.init_norm] + [n for res in G.resolutions for n in G.blocks[str(res)].norms]
        # BN(x) * (1 + Wg y) + Wb y  ==  x * s + t  with  s = inv + (Wg * inv) y,  t = Wb y - mean * s.
        weights, self._inv, self._mean, self._spans, at = [], [], [], {}, 0
        for norm in norms:
            bn = norm.bn
            inv = torch.rsqrt(bn.running_var.double() + bn.eps)
            weights += [norm.gain.weight.double() * inv[:, None], norm.bias.weight.double()]
            self._inv.append(inv.to(self.dtype)[None, :, None, None])
            self._mean.append(bn.running_mean.to(self.dtype)[None, :, None, None])
            n = inv.numel()
            self._spans[id(norm)] = (len(self._inv) - 1, at, at + n, at + 2 * n)
            at += 2 * n
        self._affine = torch.cat(weights).to(self.dtype)
        self._noise = {
            id(noise): (noise.weight.double() * noise.const.double()).to(self.dtype)
            for res in G.resolutions
            for noise in G.blocks[str(res)].noises
            if hasattr(noise, "const")
        }
        if channels_last:
            for res in G.resolutions:
                if res > row_max_res:
                    G.blocks[str(res)].to(memory_format=torch.channels_last)
            G.to_rgb.to(memory_format=torch.channels_last)

    def _norm(self, norm: nn.Module, x: torch.Tensor, aff: torch.Tensor) -> torch.Tensor:
        i, a, b, e = self._spans[id(norm)]
        s = self._inv[i] + aff[:, a:b, None, None]
        t = aff[:, b:e, None, None] - self._mean[i] * s
        return torch.addcmul(t, x, s)

    def _block(self, res: int, x: torch.Tensor, aff: torch.Tensor) -> torch.Tensor:
        block = self.G.blocks[str(res)]
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if res > self.row_max_res:
            x = x.contiguous(memory_format=self.memory_format)
        for conv, noise, norm in zip(block.convs, block.noises, block.norms):
            x = conv(x)
            if id(noise) in self._noise:
                x.add_(self._noise[id(noise)])
            x = F.glu(self._norm(norm, x, aff), dim=1)
        return x

    def _gate(self, res: int, small: torch.Tensor) -> torch.Tensor:
        sle = self.G.sle[str(res)]
        return torch.sigmoid(sle.conv2(F.silu(sle.conv1(F.adaptive_avg_pool2d(small, 4)))))

    def _head(self, z: torch.Tensor, c: torch.Tensor, truncation: float) -> tuple[dict, torch.Tensor]:
        """One sample's conditioning and low-resolution stages, at batch size 1."""
        G = self.G
        y = G.embed(c)
        z = z * truncation
        x = G.init(torch.cat([z, y], dim=1)).view(1, -1, 4, 4)
        if G.arch.z_in_norm:
            y = torch.cat([y, z], dim=1)
        aff = F.linear(y, self._affine)
        feats = {4: F.glu(self._norm(G.init_norm, x, aff), dim=1)}
        for res in G.resolutions:
            if res > self.row_max_res:
                break
            x = self._block(res, feats[res // 2], aff)
            if str(res) in G.sle:
                x = x * self._gate(res, feats[res // 8])
            feats[res] = x
        return feats, aff

    @torch.inference_mode()
    def pixels(self, requests: Sequence[Request]) -> torch.Tensor:
        G = self.G
        z, c = inputs(self.schema, G.z_dim, requests)
        z, c = z.to(self.device, self.dtype), c.to(self.device, self.dtype)
        heads = [self._head(z[i : i + 1], c[i : i + 1], r.truncation) for i, r in enumerate(requests)]
        feats = {res: torch.cat([h[0][res] for h in heads]) for res in heads[0][0]}
        aff = torch.cat([h[1] for h in heads])
        x = feats[max(feats)]
        for res in G.resolutions:
            if res in feats:
                continue
            x = self._block(res, x, aff)
            if str(res) in G.sle:
                small = feats[res // 8]
                gate = torch.cat([self._gate(res, small[i : i + 1]) for i in range(len(requests))])
                x = x * gate
            feats[res] = x
        rgb = G.to_rgb(x)
        return torch.tanh(rgb) if G.arch.g_tanh else rgb

    def __call__(self, requests: Sequence[Request]) -> np.ndarray:
        return to_uint8(self.pixels(requests))


def serving_forward(G: nn.Module, schema, channels_last: bool = False):
    """The fastest exact forward this engine has for ``G``'s family."""
    from engine.models.projected import Generator as Projected

    if isinstance(G, Projected):
        return ProjectedForward(G, schema, channels_last=channels_last)
    return RowForward(G, schema)
