"""MakeGirlsMoe: ACGAN + DRAGAN with an SRResNet-like generator (Jin et al. 2017, App. C).

Generator (Fig. 7): (z, c) -> dense -> 64 x R/8 x R/8 -> BN-ReLU -> 16 SRResNet blocks
(conv-BN-PReLU-conv-BN + identity) -> BN-ReLU + long skip -> 3x (conv to 256,
pixel shuffle x2, BN, ReLU) -> 9x9 conv -> tanh. Sub-pixel upsampling (Shi et al. 2016)
instead of transposed convs; the paper's point is a 4x smaller G than DCGAN (App. I).

Discriminator (Fig. 8): five stages of (strided conv, LeakyReLU, 2 residual blocks) = 10
residual blocks, a last strided conv, then two dense heads: the adversarial logit and a
multi-label attribute classifier. No batch norm anywhere in D: it would correlate the
samples of a batch, which breaks the per-sample gradient norm of the penalty (App. C.1).

Losses (App. C.2): L(D) = L_cls(D) + l_adv L_adv(D) + l_gp L_gp(D) and
L(G) = l_adv L_adv(G) + L_cls(G), with l_adv = the number of attribute values (34 tags
in the paper, App. C.3; Zhou et al. 2017 analyse why) and l_gp = 0.5. L_gp is DRAGAN's
penalty (Kodali et al. 2017) on points perturbed around the real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.augment import Augment
from engine.models.base import Batch, Family, GANTrainer, Hyper, frozen
from engine.models.layers import DBlock, attribute_cross_entropy, attribute_spans, freeze_first


@dataclass(frozen=True)
class Arch:
    z_dim: int = 128
    g_ch: int = 64  # SRResNet trunk width (Fig. 7)
    g_blocks: int = 16  # residual blocks in G (App. C.1)
    d_ch: int = 32  # first D stage width, doubled per stage (32..512, last conv 1024: Fig. 8)
    d_max_ch: int = 512
    blocks: tuple[int, ...] = ()  # attribute block sizes from the schema; () = independent binary labels
    lambda_adv: float = 0.0  # 0 = the number of attribute values (c_dim), App. C.3
    lambda_gp: float = 0.5  # App. C.3
    independent_labels: bool = True  # fake labels: attributes drawn independently (see _fake_labels)
    lr_decay_start: float = 0.5  # fraction of training after which the lr decays exponentially
    lr_decay_final: float = 0.1  # lr multiplier reached at the end of training (hyper.total_kimg)


def _init_normal(module: nn.Module) -> None:
    # App. C.1: "All weights are initialized from a Gaussian with mean 0 and std 0.02".
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


class SRResBlock(nn.Module):
    """SRResNet block (Ledig et al. 2017, Fig. 4): conv-BN-PReLU-conv-BN plus identity."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, 1, 1),
            nn.BatchNorm2d(ch),
            nn.PReLU(ch),
            nn.Conv2d(ch, ch, 3, 1, 1),
            nn.BatchNorm2d(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    def __init__(self, arch: Arch = Arch(), c_dim: int = 1, resolution: int = 64) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.resolution = arch.z_dim, c_dim, resolution
        ch, self.start = arch.g_ch, resolution // 8  # three x2 pixel shuffles reach R
        self.dense = nn.Linear(arch.z_dim + c_dim, ch * self.start**2)
        self.stem = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU())
        self.trunk = nn.Sequential(*[SRResBlock(ch) for _ in range(arch.g_blocks)])
        self.trunk_out = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU())
        self.up = nn.Sequential(*[self._upsample(ch) for _ in range(3)])
        self.out = nn.Conv2d(ch, 3, 9, 1, 4)
        self.apply(_init_normal)

    @staticmethod
    def _upsample(ch: int) -> nn.Sequential:
        # Sub-pixel conv (Shi et al. 2016): 4x the channels, then rearranged into 2x2 pixels.
        return nn.Sequential(
            nn.Conv2d(ch, 4 * ch, 3, 1, 1), nn.PixelShuffle(2), nn.BatchNorm2d(ch), nn.ReLU()
        )

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        h = self.dense(torch.cat([z * truncation, c.to(z.dtype)], dim=1))
        h = self.stem(h.view(h.shape[0], -1, self.start, self.start))
        h = h + self.trunk_out(self.trunk(h))  # SRResNet's long skip around the trunk
        return torch.tanh(self.out(self.up(h)))


class Discriminator(nn.Module):
    """Five (strided conv + 2 res blocks) stages, a last strided conv, adversarial and class heads."""

    def __init__(self, arch: Arch, c_dim: int, resolution: int) -> None:
        super().__init__()
        widths = [min(arch.d_max_ch, arch.d_ch * 2**i) for i in range(5)]
        stages, cin = [], 3
        for i, w in enumerate(widths):
            k = 4 if i < 3 else 3  # Fig. 8: 4x4 kernels for the first three strided convs, 3x3 after
            res = [DBlock(w, w, sn=False, downsample=False, preactivation=False, leak=0.2) for _ in range(2)]
            stages.append(nn.Sequential(nn.Conv2d(cin, w, k, 2, 1), nn.LeakyReLU(0.2), *self._post_act(res)))
            cin = w
        self.blocks = nn.ModuleList(stages)
        self.last = nn.Sequential(nn.Conv2d(cin, 2 * cin, 3, 2, 1), nn.LeakyReLU(0.2))
        side = max(1, resolution // 64)
        self.adv = nn.Linear(2 * cin * side**2, 1)
        self.cls = nn.Linear(2 * cin * side**2, c_dim)  # the "extra fully-connected layer" (App. C.1)
        self.apply(_init_normal)

    @staticmethod
    def _post_act(blocks: list[nn.Module]) -> list[nn.Module]:
        # Fig. 8's block is conv-LReLU-conv, sum, then LReLU: DBlock without pre-activation + LReLU.
        return [m for b in blocks for m in (b, nn.LeakyReLU(0.2))]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for block in self.blocks:
            x = block(x)
        h = self.last(x).flatten(1)
        return self.adv(h).squeeze(1), self.cls(h)


def dragan_penalty(D: Discriminator, real: torch.Tensor, augment: Augment) -> torch.Tensor:
    """DRAGAN (Kodali et al. 2017, §4): (||grad D(x_hat)|| - 1)^2 at points near the data.

    x_hat lies between a real image and a copy perturbed by 0.5 * std(data) * U[0, 1),
    as in the authors' reference code; the penalty keeps D smooth around real samples,
    where mode collapse starts, instead of along real-fake lines as WGAN-GP does. D sees
    x_hat augmented, like every image it sees, and the gradient is taken with respect to
    x_hat before augmentation, as StyleGAN2-ADA takes R1's.
    """
    noisy = real + 0.5 * real.std() * torch.rand_like(real)
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (real + alpha * (noisy - real)).detach().requires_grad_(True)
    adv, _ = D(augment(x_hat))
    (grad,) = torch.autograd.grad(adv.float().sum(), x_hat, create_graph=True)
    return ((grad.float().flatten(1).norm(dim=1) - 1) ** 2).mean()


class Trainer(GANTrainer):
    """One D step and one G step per batch (App. C.3; DRAGAN needs no extra D steps)."""

    def __init__(
        self, G: Generator, arch: Arch, c_dim: int, resolution: int, hyper: Hyper, device: torch.device
    ) -> None:
        super().__init__(G, arch, c_dim, resolution, hyper, device)
        self.D = Discriminator(arch, c_dim, resolution).to(device)
        freeze_first(self.D.blocks, hyper.freeze_d_layers)
        self.spans = attribute_spans(c_dim, tuple(arch.blocks))
        self.lambda_adv = arch.lambda_adv or float(c_dim)
        self.lr_g, self.lr_d = hyper.lr_g or 2e-4, hyper.lr_d or 2e-4  # App. C.3
        self.opt_g = torch.optim.Adam(G.parameters(), lr=self.lr_g, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=self.lr_d, betas=(0.5, 0.999))
        self.kimg = 0.0  # images seen by this trainer, for the lr schedule

    def lr_scale(self) -> float:
        """Exponential lr decay after a warm phase.

        The paper decays "exponentially after 50000 iterations" (3200 kimg at batch 64)
        without giving the rate. We start at ``lr_decay_start`` of ``total_kimg`` and decay
        as ``final ** progress``, reaching ``lr_decay_final`` (x0.1) at ``total_kimg``:
        a constant rate of 0.1 per (1 - start) * total_kimg.
        """
        total, start = self.hyper.total_kimg, self.arch.lr_decay_start * self.hyper.total_kimg
        if self.kimg <= start or total <= start:
            return 1.0
        return self.arch.lr_decay_final ** ((self.kimg - start) / (total - start))

    def _fake_labels(self, c: torch.Tensor) -> torch.Tensor:
        """Fake conditions with every attribute drawn independently from its training frequency.

        MakeGirlsMoe samples each attribute independently (App. C.3: uniform colours,
        other tags with p=0.25), so G must handle combinations absent from the data, which
        is what users ask for. We keep the independence but use the data's own marginals:
        permuting each attribute block separately across a batch drawn from the label
        distribution keeps each attribute's frequencies and breaks their correlations.
        """
        if not self.arch.independent_labels or c.shape[0] < 2:
            return c
        out = c.clone()
        for start, stop in self.spans:
            out[:, start:stop] = c[torch.randperm(c.shape[0], device=c.device), start:stop]
        return out

    def _set_lr(self) -> float:
        scale = self.lr_scale()
        for opt, lr in ((self.opt_g, self.lr_g), (self.opt_d, self.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * scale
        return scale

    def step(self, batch: Batch) -> dict[str, float]:
        real, c = batch.real.to(self.device), batch.c.to(self.device)
        n = real.shape[0]
        scale = self._set_lr()
        z = batch.sample_z(n).to(self.device)
        c_fake = self._fake_labels(batch.sample_c(n).to(self.device))

        with batch.amp():
            with torch.no_grad():
                fake = self.G(z, c_fake)
            adv_real, cls_real = self.D(self.augment(real))
            adv_fake, cls_fake = self.D(self.augment(fake))
            gp = dragan_penalty(self.D, real, self.augment)
        adv_real, adv_fake = adv_real.float(), adv_fake.float()
        loss_adv = F.softplus(-adv_real).mean() + F.softplus(adv_fake).mean()
        loss_cls = attribute_cross_entropy(cls_real, c, self.spans) + attribute_cross_entropy(
            cls_fake, c_fake, self.spans
        )
        loss_d = loss_cls + self.lambda_adv * loss_adv + self.arch.lambda_gp * gp
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.augment.observe(adv_real)

        with frozen(self.D), batch.amp():
            adv_g, cls_g = self.D(self.augment(self.G(z, c_fake)))
        g_adv = F.softplus(-adv_g.float()).mean()  # non-saturating form of L_adv(G)
        g_cls = attribute_cross_entropy(cls_g, c_fake, self.spans)
        loss_g = self.lambda_adv * g_adv + g_cls
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        self.kimg += n / 1000
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_cls": loss_cls.item(),
            "g_cls": g_cls.item(),
            "gp": gp.item(),
            "d_real": adv_real.mean().item(),
            "d_fake": adv_fake.mean().item(),
            "lr_scale": scale,
            **self.augment.stats(),
        }

    def modules(self) -> dict[str, nn.Module]:
        return {"D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def extra_state(self) -> dict[str, float]:
        return {**super().extra_state(), "kimg": self.kimg}

    def load_extra_state(self, state: dict[str, float]) -> None:
        super().load_extra_state(state)
        self.kimg = float(state.get("kimg", 0.0))


FAMILY = Family("acgan", Arch, Generator, Trainer)
