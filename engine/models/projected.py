"""Projected GAN (Sauer et al. 2021) with a FastGAN generator (Liu et al. 2021).

The family that converges fastest on small data: the discriminator does not learn features
from scratch, it judges *projections* of a frozen pretrained network's multi-scale
features (here EfficientNet-Lite0, as in the paper's best configuration, §4), so a few
thousand images are enough for recognisable samples.

* Generator (FastGAN §3, Projected GAN's "lightweight" G): z and an embedding of c go to a
  4x4 map; each 2x upsampling block is conv + (conditional) BN + GLU, with noise injection
  in the "big" blocks; skip-layer excitation (SLE) gates high-resolution channels by
  low-resolution content. Conditioning: c's embedding is concatenated with z *and* sets the
  gain and bias of every batch norm (Projected GAN's conditional FastGAN uses the same
  conditional BN), so hair colour and smile steer every scale.
* Discriminator: DiffAugment (the default; ``train --augment`` picks another) -> frozen
  EfficientNet-Lite0 (4 scales) -> fixed random 1x1 cross-channel mixing (CCM) ->
  cross-scale mixing (CSM, deep-to-shallow upsample-add) -> one small spectrally
  normalised head per scale, conditioned by projection (Miyato & Koyama 2018), giving a
  patch of logits per scale.
* Loss: hinge (Projected GAN §4), Adam lr 2e-4, betas (0, 0.99) for G and D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.augment import AugmentSpec
from engine.effnet import STAGE_CHANNELS, backbone
from engine.errors import MascotError
from engine.models.base import Batch, Family, GANTrainer, Hyper, frozen
from engine.models.layers import (
    ConditionalBatchNorm2d,
    attribute_cross_entropy,
    attribute_spans,
    chance_balanced_weights,
    freeze_first,
    sn_conv2d,
    sn_linear,
)


@dataclass(frozen=True)
class Arch:
    z_dim: int = 128
    c_embed_dim: int = 64  # class embedding fed to the input and to every conditional BN
    g_channels: int = 16  # generator channels at 64px; doubles per halving of resolution
    g_max_channels: int = 256
    g_sn: bool = True  # FastGAN spectrally normalises G's convs too
    # FastGAN squashes G's output with tanh. Off (the default), the output is linear as in
    # StyleGAN2 and clamped only when drawn: at lr 8e-4 a tanh G can push its pixels into
    # saturation within a few kimg, where no gradient reaches it again.
    g_tanh: bool = False
    d_channels: int = 64  # width of each per-scale discriminator head
    proj_channels: int = 32  # CCM output at the finest scale, x2 per scale (Projected GAN's "expand")
    cmap_dim: int = 64  # projection-conditioning dimension
    d_input: int = 64  # side the backbone sees; images are resized to it (128 costs D about 3x the time)
    diffaugment: str = "color,translation,cutout"  # the policy when the run augments with DiffAugment
    projection_seed: int = 0  # seed of the fixed random CCM/CSM weights
    z_in_norm: bool = True  # z also sets every conditional BN (as BigGAN's latent), so G cannot drop it
    aux_weight: float = 1.0  # AC-GAN auxiliary classifier on the projected features (0 = off)
    aux_channels: int = 64  # width of the classifier's convolutions
    # Each attribute's classifier loss divided by its chance level (log K), so a two-valued
    # smile pulls as hard as nine-valued hair (layers.chance_balanced_weights); summed raw,
    # the smile barely follows. Needs the linear G output: with tanh it saturates.
    aux_balanced: bool = True
    # Per-attribute multipliers of the classifier loss, in the schema's order (() = all 1;
    # ``--arch aux_attr_weights=smile:2.2`` names them): one weak attribute can be raised
    # without lowering the others.
    aux_attr_weights: tuple[float, ...] = ()
    blocks: tuple[int, ...] = ()  # attribute block sizes of c (set by the training loop from the schema)


# --------------------------------------------------------------------------- generator


def g_channels(arch: Arch, res: int) -> int:
    # FastGAN's nfc table halves channels per doubling of resolution.
    return max(16, min(arch.g_max_channels, arch.g_channels * 64 // res))


class NoiseInjection(nn.Module):
    """FastGAN/StyleGAN per-pixel noise with a learned scale (init 0).

    Random in training; in eval a fixed buffer, so a sample is a pure function of (z, c).
    """

    def __init__(self, res: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.register_buffer("const", torch.randn(1, 1, res, res))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.const.to(x.dtype)
        return x + self.weight.to(x.dtype) * noise


class UpBlock(nn.Module):
    """2x nearest upsample, then ``n_convs`` x (conv3x3 -> [noise] -> conditional BN -> GLU).

    FastGAN alternates "big" blocks (two convs, with noise) and "small" ones (one conv).
    """

    def __init__(self, cin: int, cout: int, res: int, cond_dim: int, big: bool, sn: bool) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.noises = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(2 if big else 1):
            self.convs.append(sn_conv2d(cin if i == 0 else cout, 2 * cout, 3, sn=sn, bias=False))
            self.noises.append(NoiseInjection(res) if big else nn.Identity())
            self.norms.append(ConditionalBatchNorm2d(2 * cout, cond_dim))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        for conv, noise, norm in zip(self.convs, self.noises, self.norms):
            x = F.glu(norm(noise(conv(x)), y), dim=1)
        return x


class SLE(nn.Module):
    """Skip-layer excitation (FastGAN §3.1): a 4x4 summary of a low-res map gates the
    channels of a high-res one, a cheap long skip that also disentangles content and style."""

    def __init__(self, cin: int, cout: int, sn: bool) -> None:
        super().__init__()
        self.conv1 = sn_conv2d(cin, cout, 4, padding=0, sn=sn, bias=False)
        self.conv2 = sn_conv2d(cout, cout, 1, sn=sn, bias=False)

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        s = self.conv1(F.adaptive_avg_pool2d(small, 4))
        return big * torch.sigmoid(self.conv2(F.silu(s)))


class Generator(nn.Module):
    def __init__(self, arch: Arch, c_dim: int, resolution: int) -> None:
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        self.arch, self.c_dim, self.resolution, self.z_dim = arch, c_dim, resolution, arch.z_dim
        self.embed = nn.Linear(c_dim, arch.c_embed_dim)
        c4 = g_channels(arch, 4)
        self.init = sn_linear(arch.z_dim + arch.c_embed_dim, 2 * c4 * 16, sn=arch.g_sn)
        norm_dim = arch.c_embed_dim + (arch.z_dim if arch.z_in_norm else 0)
        self.init_norm = ConditionalBatchNorm2d(2 * c4, norm_dim)
        self.resolutions = [2**i for i in range(3, int(math.log2(resolution)) + 1)]
        self.blocks = nn.ModuleDict()
        for i, res in enumerate(self.resolutions):
            cin, cout = g_channels(arch, res // 2), g_channels(arch, res)
            self.blocks[str(res)] = UpBlock(cin, cout, res, norm_dim, big=i % 2 == 0, sn=arch.g_sn)
        # SLE from res/8 into every res >= 32 (FastGAN: 8->128, 16->256, 32->512).
        self.sle = nn.ModuleDict(
            {
                str(res): SLE(g_channels(arch, res // 8), g_channels(arch, res), arch.g_sn)
                for res in self.resolutions
                if res >= 32
            }
        )
        self.to_rgb = sn_conv2d(g_channels(arch, resolution), 3, 3, sn=arch.g_sn)

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        # z-space truncation: shrink the latent toward its mean (0).
        y = self.embed(c.to(z.dtype))
        z = z * truncation
        x = self.init(torch.cat([z, y], dim=1)).view(z.shape[0], -1, 4, 4)
        if self.arch.z_in_norm:
            y = torch.cat([y, z], dim=1)
        x = F.glu(self.init_norm(x, y), dim=1)
        feats = {4: x}
        for res in self.resolutions:
            x = self.blocks[str(res)](x, y)
            if str(res) in self.sle:
                x = self.sle[str(res)](feats[res // 8], x)
            feats[res] = x
        rgb = self.to_rgb(x)
        return torch.tanh(rgb) if self.arch.g_tanh else rgb


# ----------------------------------------------------------------------- discriminator


def _random_conv1x1(cin: int, cout: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # nn.Conv2d's default init (uniform, bound 1/sqrt(fan_in)), drawn from a seeded generator.
    bound = 1.0 / math.sqrt(cin)
    weight = (torch.rand(cout, cin, 1, 1, generator=gen) * 2 - 1) * bound
    bias = (torch.rand(cout, generator=gen) * 2 - 1) * bound
    return weight, bias


class RandomProjector(nn.Module):
    """Projected GAN's fixed random projections (§3.2), stored as buffers (saved, never trained).

    CCM: a random 1x1 conv per scale mixes channels, so D cannot ignore features.
    CSM: deep-to-shallow, each coarser mixed map is 1x1-projected to the finer map's width,
    upsampled and added, so every scale also sees global context.
    """

    def __init__(self, proj_channels: int, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.out_channels = tuple(proj_channels * 2**i for i in range(len(STAGE_CHANNELS)))
        for i, (cin, cout) in enumerate(zip(STAGE_CHANNELS, self.out_channels)):
            w, b = _random_conv1x1(cin, cout, gen)
            self.register_buffer(f"ccm{i}_w", w)
            self.register_buffer(f"ccm{i}_b", b)
        for i in range(1, len(STAGE_CHANNELS)):
            w, b = _random_conv1x1(self.out_channels[i], self.out_channels[i - 1], gen)
            self.register_buffer(f"csm{i}_w", w)
            self.register_buffer(f"csm{i}_b", b)

    def _conv(self, x: torch.Tensor, name: str) -> torch.Tensor:
        w, b = getattr(self, f"{name}_w"), getattr(self, f"{name}_b")
        return F.conv2d(x, w.to(x.dtype), b.to(x.dtype))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [self._conv(f, f"ccm{i}") for i, f in enumerate(feats)]
        out = [mixed[-1]]
        for i in range(len(mixed) - 1, 0, -1):
            up = F.interpolate(
                self._conv(out[0], f"csm{i}"),
                size=mixed[i - 1].shape[2:],
                mode="bilinear",
                align_corners=False,
            )
            out.insert(0, mixed[i - 1] + up)
        return out


class DownBlock(nn.Module):
    """SN conv 4x4 stride 2 + LeakyReLU(0.2), as in Projected GAN's heads."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = sn_conv2d(cin, cout, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x), 0.2)


class ScaleHead(nn.Module):
    """One per scale: downsample to <= 4x4, then a patch of conditional logits.

    Projection conditioning: logit = u(h) + <phi(h), e(c)> / sqrt(cmap_dim), where e is a
    learned embedding of the conditioning vector (StyleGAN2-ADA's cmap, Projected GAN's
    SingleDiscCond, plus Miyato's unconditional term so all-zero c still trains D).
    """

    def __init__(self, cin: int, size: int, width: int, c_dim: int, cmap_dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        while size > 4:
            self.blocks.append(DownBlock(cin, width))
            cin, size = width, size // 2
        self.blocks.append(nn.Sequential(sn_conv2d(cin, width, 3), nn.LeakyReLU(0.2)))
        self.out = sn_conv2d(width, 1 + cmap_dim, 1)
        self.embed = nn.Sequential(
            nn.Linear(c_dim, cmap_dim), nn.LeakyReLU(0.2), nn.Linear(cmap_dim, cmap_dim)
        )
        self.cmap_dim = cmap_dim

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The patch logits of ``x`` under labels ``c``."""
        for block in self.blocks:
            x = block(x)
        out = self.out(x).float()
        cmap = self.embed(c.float())[:, :, None, None]
        logits = out[:, :1] + (out[:, 1:] * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return logits.flatten(1)


class AttributeHead(nn.Module):
    """AC-GAN classifier (Odena et al. 2017) on the two finest projected maps.

    Two 3x3 convs per scale, then mean *and* max pooling: mouths and irises are a few
    pixels, so they need local filters and a pool that does not average them away.
    A linear-probe comparison (8,000 real DiceBear images, 1,600 held out, 1,500 Adam
    steps at D's settings): an MLP on the mean-pooled maps of all four scales, the head
    before this one, told smiles apart 71 % of the time and eye colour 42 %; this head
    99 % and 90 %. A classifier that cannot see a smile cannot teach G to draw one.
    """

    SCALES = (0, 1)  # strides 4 and 8 of the backbone

    def __init__(self, in_channels: tuple[int, ...], width: int, c_dim: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels[k], width, 3, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(width, width, 3, padding=1),
                nn.LeakyReLU(0.2),
            )
            for k in self.SCALES
        )
        self.out = nn.Sequential(
            nn.Linear(2 * width * len(self.SCALES), 256), nn.LeakyReLU(0.2), nn.Linear(256, c_dim)
        )

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """(B, c_dim) attribute logits."""
        maps = [conv(feats[k].float()) for conv, k in zip(self.convs, self.SCALES)]
        pooled = [torch.cat([m.mean(dim=(2, 3)), m.amax(dim=(2, 3))], dim=1) for m in maps]
        return self.out(torch.cat(pooled, dim=1))


def classifier_weights(arch: Arch, spans: list[tuple[int, int]]) -> list[float]:
    """Each attribute's weight in the classifier loss: chance-balanced or 1, times its
    ``aux_attr_weights`` entry."""
    if arch.aux_attr_weights and len(arch.aux_attr_weights) != len(spans):
        raise MascotError(
            f"aux_attr_weights has {len(arch.aux_attr_weights)} entries for {len(spans)} attributes"
        )
    base = chance_balanced_weights(spans) if arch.aux_balanced else [1.0] * len(spans)
    return [w * extra for w, extra in zip(base, arch.aux_attr_weights or [1.0] * len(spans))]


class Discriminator(nn.Module):
    """Resize -> frozen EfficientNet-Lite0 -> CCM/CSM -> per-scale heads (the trainer
    augments the images before they come here).

    The backbone is held outside the module tree (not saved, not trained): it is the shared
    frozen instance from ``engine.effnet.backbone``.
    """

    def __init__(self, arch: Arch, c_dim: int, device: torch.device) -> None:
        super().__init__()
        self.arch = arch
        self._backbone = [backbone(str(device))]  # a list hides it from parameters()/state_dict()
        self.projector = RandomProjector(arch.proj_channels, arch.projection_seed)
        sizes = [arch.d_input // s for s in (4, 8, 16, 32)]
        self.heads = nn.ModuleList(
            ScaleHead(ch, max(size, 1), arch.d_channels, c_dim, arch.cmap_dim)
            for ch, size in zip(self.projector.out_channels, sizes)
        )
        # AC-GAN head: projection alone taught G nothing about hair colour in 10 kimg on CPU
        # (hair changed 4/255 per pixel); a classifier gives G a direct, per-attribute pull.
        self.spans = attribute_spans(c_dim, arch.blocks)
        self.aux_weights = classifier_weights(arch, self.spans)
        self.c_dim = c_dim
        self.attr_head = AttributeHead(self.projector.out_channels, arch.aux_channels, c_dim)

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        if img.shape[-1] != self.arch.d_input:
            img = F.interpolate(img, size=(self.arch.d_input,) * 2, mode="bilinear", align_corners=False)
        return self.projector(self._backbone[0].stages(img))

    def forward(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """All scales' logits, concatenated: (B, n_logits)."""
        return self.judge(img, c)[0]

    def judge(self, img: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(real/fake logits of every scale, attribute logits)."""
        return self.judge_features(self.features(img), c)

    def judge_features(self, feats: list[torch.Tensor], c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``judge`` of images whose ``features`` are already computed."""
        logits = torch.cat([head(f, c) for head, f in zip(self.heads, feats)], dim=1)
        return logits, self.attr_head(feats)

    def aux_loss(self, class_logits: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The classifier's loss for images labelled ``c`` (D learns it on reals, G on fakes)."""
        return attribute_cross_entropy(class_logits, c, self.spans, self.aux_weights)

    def freeze_first(self, n: int) -> None:
        """FreezeD: the first ``n`` blocks of every head keep their weights."""
        for head in self.heads:
            freeze_first(head.blocks, n)


# ----------------------------------------------------------------------------- trainer


class Trainer(GANTrainer):
    DEFAULT_AUGMENT = "diffaugment"  # the paper's (Projected GAN §4)

    def __init__(
        self, G: Generator, arch: Arch, c_dim: int, resolution: int, hyper: Hyper, device: torch.device
    ) -> None:
        super().__init__(G, arch, c_dim, resolution, hyper, device)
        self.D = Discriminator(arch, c_dim, device).to(device)
        self.D.freeze_first(hyper.freeze_d_layers)
        # Projected GAN's Adam settings for G and D; one fused kernel per step on CUDA.
        adam = dict(betas=(0.0, 0.99), eps=1e-8, fused=device.type == "cuda")
        self.opt_g = torch.optim.Adam(G.parameters(), lr=hyper.lr_g or 2e-4, **adam)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=hyper.lr_d or 2e-4, **adam)

    def augment_spec(self) -> AugmentSpec:
        return AugmentSpec(diffaugment=self.arch.diffaugment)

    def step(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.G.train()
        self.D.train()
        n = batch.real.shape[0]
        z, c_fake = batch.sample_z(n), batch.sample_c(n)
        with batch.amp():
            fake = self.G(z, c_fake)
            # The fakes and their backbone features serve both steps: G is unchanged until its
            # own step, and the backbone and the random projections are frozen, so D's update
            # changes only the heads that read these features. It saves a generator forward
            # and a backbone forward per iteration.
            fake_feats = self.D.features(self.augment(fake))
        # D step (hinge).
        loss_d, d_real, stats_d = self._d_loss(batch, [f.detach() for f in fake_feats], c_fake)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.augment.observe(d_real)
        # G step: gradients flow through D's updated heads, the projector and the frozen backbone.
        with frozen(self.D), batch.amp():
            g_fake, cls_fake = self.D.judge_features(fake_feats, c_fake)
        aux_g = self.D.aux_loss(cls_fake, c_fake) if self.arch.aux_weight else g_fake.new_zeros(())
        loss_g = -g_fake.float().mean() + self.arch.aux_weight * aux_g
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        # Detached tensors, not floats: reading a value waits for the GPU, and the loop reads
        # them only once per log interval.
        stats = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), **stats_d, "aux_g": aux_g.detach()}
        return {**stats, **self.augment.stats()}

    def _d_loss(
        self, batch: Batch, fake_feats: list[torch.Tensor], c_fake: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Hinge on reals and on the fakes' (detached) features, plus the classifier's
        loss on reals (fakes teach the classifier nothing: only G learns from them); with
        the reals' logits (detached) and the stats."""
        with batch.amp():
            d_real, cls_real = self.D.judge(self.augment(batch.real), batch.c)
            d_fake = self.D.judge_features(fake_feats, c_fake)[0]
        d_real, d_fake = d_real.float(), d_fake.float()
        aux_real = self.D.aux_loss(cls_real, batch.c) if self.arch.aux_weight else d_real.new_zeros(())
        loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean() + self.arch.aux_weight * aux_real
        stats = {
            "d_real": d_real.detach().mean(),
            "d_fake": d_fake.detach().mean(),
            "aux_d": aux_real.detach(),
        }
        return loss, d_real.detach(), stats

    def modules(self) -> dict[str, nn.Module]:
        return {"D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}


FAMILY = Family(
    "projected",
    Arch,
    Generator,
    Trainer,
    unrecorded={"g_tanh": True, "aux_balanced": False},
    retired={"aux_fake_class": False, "mismatch_weight": 0.0},
)
