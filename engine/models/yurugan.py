"""YuruGAN: class-conditional GAN for small mascot sets (Hagiwara & Tanaka, §II-C).

An AC-GAN (Odena et al. 2017) built from SAGAN / BigGAN parts (§II-C1, Figs. 4-6):

* G: residual blocks with spectral norm (Miyato et al. 2018), self-attention (Zhang et
  al. 2019), conditional batch norm fed the class, and BigGAN's hierarchical latent
  (Brock et al. 2019, §3): z is split into one chunk for the 4x4 input and one per
  block, each block's CBN sees [class embedding, its z chunk];
* D: residual blocks with spectral norm and self-attention, a projection term
  <embed(c), phi(x)> (Miyato & Koyama 2018) plus an auxiliary classifier head.

The class is the schema's conditioning vector: one-hot blocks (a single ``class`` block
for clustered data). A bias-free linear embedding of it is the sum of one embedding per
attribute, and an unknown (all-zero) block adds nothing.

Training (§II-C2): two D updates per G update; hinge loss (SAGAN/BigGAN's, our choice:
the paper does not name its adversarial loss); Adam. The paper's TTUR rates are
lr_D 5e-4, lr_G 2e-5 (``ttur=True``); the default is an equal 2e-4.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.models.base import Batch, Family, GANTrainer, Hyper, frozen
from engine.models.layers import (
    DBlock,
    GBlock,
    SelfAttention,
    attribute_cross_entropy,
    attribute_spans,
    freeze_first,
    sn_conv2d,
    sn_linear,
)

TTUR_LR = (
    2e-5,
    5e-4,
)  # (G, D), §II-C2: "the learning rate of the discriminator was set to 5e-4 ... generator 2e-5"
EQUAL_LR = (2e-4, 2e-4)


@dataclass(frozen=True)
class Arch:
    z_dim: int = 120  # BigGAN's, split evenly over the 4x4 input and the blocks
    shared_dim: int = 128  # class embedding size fed to every CBN (BigGAN's shared embedding)
    g_ch: int = 32  # G width at full resolution, doubled per halving, capped at max_ch
    d_ch: int = 32  # D width at R/2, doubled per halving
    max_ch: int = 512
    attn_res: int = 32  # feature resolution of the self-attention block in G and D; 0: none
    blocks: tuple[int, ...] = ()  # attribute block sizes for the AC head; () = independent binary labels
    lambda_cls: float = 1.0  # weight of the auxiliary classifier loss
    d_steps: int = (
        2  # §II-C2: "the number of updates of the discriminator was set to twice that of the generator"
    )
    ttur: bool = False  # §II-C2's two time-scale rates (lr_D 5e-4, lr_G 2e-5) instead of 2e-4 for both


def _n_up(resolution: int) -> int:
    return (resolution // 4).bit_length() - 1  # 4x4 -> R in this many x2 blocks


class Generator(nn.Module):
    def __init__(self, arch: Arch = Arch(), c_dim: int = 1, resolution: int = 64) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.resolution = arch.z_dim, c_dim, resolution
        n = _n_up(resolution)
        ch = [min(arch.max_ch, arch.g_ch * resolution // (4 * 2**i)) for i in range(n + 1)]  # at 4, 8, .., R
        base, extra = divmod(arch.z_dim, n + 1)
        self.chunks = [base + (i < extra) for i in range(n + 1)]  # hierarchical latent: one chunk per stage
        self.embed = sn_linear(c_dim, arch.shared_dim, bias=False)  # sum of per-attribute embeddings
        self.stem = sn_linear(self.chunks[0], ch[0] * 16)
        self.blocks = nn.ModuleList(
            GBlock(ch[i], ch[i + 1], arch.shared_dim + self.chunks[i + 1]) for i in range(n)
        )
        res = [4 * 2 ** (i + 1) for i in range(n)]
        self.attn = nn.ModuleDict(
            {str(i): SelfAttention(ch[i + 1]) for i in range(n) if res[i] == arch.attn_res}
        )
        self.out = nn.Sequential(nn.BatchNorm2d(ch[-1]), nn.ReLU(), sn_conv2d(ch[-1], 3, 3), nn.Tanh())

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        zs = torch.split(z * truncation, self.chunks, dim=1)
        y = self.embed(c.to(z.dtype))
        h = self.stem(zs[0]).view(z.shape[0], -1, 4, 4)
        for i, block in enumerate(self.blocks):
            h = block(h, torch.cat([y, zs[i + 1]], dim=1))
            if str(i) in self.attn:
                h = self.attn[str(i)](h)
        return self.out(h)


class Discriminator(nn.Module):
    """SN residual blocks down to 4x4, one more block, ReLU, sum pooling; three heads on phi(x)."""

    def __init__(self, arch: Arch, c_dim: int, resolution: int) -> None:
        super().__init__()
        n = _n_up(resolution)
        ch = [3] + [min(arch.max_ch, arch.d_ch * 2**i) for i in range(n)]  # at R, R/2, .., 4
        self.blocks = nn.ModuleList(DBlock(ch[i], ch[i + 1], preactivation=i > 0) for i in range(n))
        res = [resolution // 2 ** (i + 1) for i in range(n)]
        at = min(arch.attn_res, resolution // 2)  # D's largest map is R/2: attend there if attn_res is finer
        self.attn = nn.ModuleDict({str(i): SelfAttention(ch[i + 1]) for i in range(n) if res[i] == at})
        self.last = DBlock(ch[-1], ch[-1], downsample=False)
        self.adv = sn_linear(ch[-1], 1)
        self.proj = sn_linear(c_dim, ch[-1], bias=False)  # projection D: y^T V phi(x) (Miyato & Koyama §3)
        self.cls = sn_linear(ch[-1], c_dim)  # AC-GAN's auxiliary classifier (§II-C1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for i, block in enumerate(self.blocks):
            x = block(x)
            if str(i) in self.attn:
                x = self.attn[str(i)](x)
        h = F.relu(self.last(x)).sum(dim=(2, 3))
        adv = self.adv(h).squeeze(1) + (self.proj(c.to(h.dtype)) * h).sum(1)
        return adv, self.cls(h)


class Trainer(GANTrainer):
    """``d_steps`` hinge D updates, each on its own slice of the real batch, then one G update."""

    def __init__(
        self, G: Generator, arch: Arch, c_dim: int, resolution: int, hyper: Hyper, device: torch.device
    ) -> None:
        super().__init__(G, arch, c_dim, resolution, hyper, device)
        self.D = Discriminator(arch, c_dim, resolution).to(device)
        freeze_first(self.D.blocks, hyper.freeze_d_layers)
        self.spans = attribute_spans(c_dim, tuple(arch.blocks))
        lr_g, lr_d = TTUR_LR if arch.ttur else EQUAL_LR
        # betas (0, 0.999): SAGAN §5 / BigGAN's setting for SN residual nets with hinge loss
        self.opt_g = torch.optim.Adam(G.parameters(), lr=hyper.lr_g or lr_g, betas=(0.0, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=hyper.lr_d or lr_d, betas=(0.0, 0.999))

    def _d_step(self, real: torch.Tensor, c: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        n = real.shape[0]
        z, c_fake = batch.sample_z(n).to(self.device), batch.sample_c(n).to(self.device)
        with batch.amp():
            with torch.no_grad():
                fake = self.G(z, c_fake)
            adv_real, cls_real = self.D(self.augment(real), c)
            adv_fake, cls_fake = self.D(self.augment(fake), c_fake)
        adv_real, adv_fake = adv_real.float(), adv_fake.float()
        hinge = F.relu(1 - adv_real).mean() + F.relu(1 + adv_fake).mean()
        # AC-GAN (Odena et al. §3): D learns to classify both real and generated samples.
        cls = attribute_cross_entropy(cls_real, c, self.spans) + attribute_cross_entropy(
            cls_fake, c_fake, self.spans
        )
        loss = hinge + self.arch.lambda_cls * cls
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.augment.observe(adv_real)
        return {"loss_d": loss, "d_cls": cls, "d_real": adv_real.mean(), "d_fake": adv_fake.mean()}

    def step(self, batch: Batch) -> dict[str, float]:
        real, c = batch.real.to(self.device), batch.c.to(self.device)
        # Two D steps need two real batches: the loop's batch is split into d_steps slices,
        # so each real image is seen once per step and a step costs one batch of data.
        steps = max(1, min(self.arch.d_steps, real.shape[0]))
        d_stats = [self._d_step(r, y, batch) for r, y in zip(real.chunk(steps), c.chunk(steps))]

        n = real.shape[0]
        z, c_fake = batch.sample_z(n).to(self.device), batch.sample_c(n).to(self.device)
        with frozen(self.D), batch.amp():
            adv, cls = self.D(self.augment(self.G(z, c_fake)), c_fake)
        g_cls = attribute_cross_entropy(cls, c_fake, self.spans)
        loss_g = -adv.float().mean() + self.arch.lambda_cls * g_cls
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        stats = {k: sum(s[k].item() for s in d_stats) / len(d_stats) for k in d_stats[0]}
        return {**stats, "loss_g": loss_g.item(), "g_cls": g_cls.item(), **self.augment.stats()}

    def modules(self) -> dict[str, nn.Module]:
        return {"D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}


FAMILY = Family("yurugan", Arch, Generator, Trainer)
