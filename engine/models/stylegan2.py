"""Conditional StyleGAN2-ADA (Karras et al. 2020; NVlabs stylegan2-ada-pytorch as reference).

Pure PyTorch, no custom CUDA: modulated convolutions use the grouped-conv trick, 2x
upsampling is bilinear (exactly the reference's [1,3,3,1] FIR up-filter, with edge clamping
instead of zero padding) and 2x downsampling is a depthwise [1,3,3,1] blur with stride 2.

* Mapping: embed c (a linear layer), normalise it and z to unit second moment, concatenate,
  a few FC layers at lr multiplier 0.01; ``w_avg`` is tracked for truncation.
* Synthesis: "skip" generator (toRGB at every resolution, summed after upsampling),
  modulated/demodulated 3x3 convs, per-pixel noise (random in training, a fixed buffer in
  eval so a sample is a pure function of (z, c)).
* Discriminator: "resnet" D with minibatch-stddev and projection conditioning (cmap).
* Loss: non-saturating logistic, lazy R1 every 16 D steps (gamma from the paper's "auto"
  config: 0.0002 * res^2 / batch), lazy path-length every 4 G steps, style mixing 0.9,
  ADA on every image D sees (the default; ``train --augment`` picks another), Adam lr 0.0025
  betas (0, 0.99) adjusted for lazy regularisation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.augment import AugmentSpec
from engine.models.base import Batch, Family, GANTrainer, Hyper, frozen

SQRT2 = math.sqrt(2)


@dataclass(frozen=True)
class Arch:
    z_dim: int = 256
    w_dim: int = 256
    mapping_layers: int = 2  # the "auto" config's map=2 (8 in the FFHQ config)
    channel_base: int = 1024  # channels at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 256  # (the paper uses 16384-32768 / 512; these fit a CPU at 64px)
    mbstd_group: int = 4
    cmap_dim: int = 0  # projection dimension in D; 0 = channels at 4x4
    # Training knobs stored with the model (JSON-serialisable, so model.json records them):
    r1_gamma: float = -1.0  # -1: auto, 0.0002 * res^2 / batch size (stylegan2-ada train.py)
    pl_weight: float = 2.0
    style_mixing: float = 0.9
    # ADA's details when the run augments with ADA (engine/augment/modes.py):
    augment: str = "xflip,rotate90,xint,scale,rotate,aniso,xfrac,brightness,contrast"
    ada_target: float = 0.6
    ada_kimg: float = 500.0  # p can go 0 -> 1 in this many kimg (paper: 500), or a quarter of a shorter run


def channels(arch: Arch, res: int) -> int:
    return min(arch.channel_base // res, arch.channel_max)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


# ------------------------------------------------------------------------------ layers


class FC(nn.Module):
    """Equalised-learning-rate linear layer (ProGAN): weights N(0,1)/lr_mul, scaled at run time."""

    def __init__(
        self, fin: int, fout: int, act: bool = False, bias_init: float = 0.0, lr_mul: float = 1.0
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fout, fin) / lr_mul)
        self.bias = nn.Parameter(torch.full((fout,), float(bias_init)))
        self.act, self.w_gain, self.b_gain = act, lr_mul / math.sqrt(fin), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.w_gain, self.bias * self.b_gain)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.act else x


class Conv(nn.Module):
    """Equalised-lr conv for D; ``down`` blurs with [1,3,3,1] then strides by 2."""

    def __init__(
        self, cin: int, cout: int, kernel: int, act: bool = True, bias: bool = True, down: bool = False
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.act, self.down, self.gain = act, down, 1 / math.sqrt(cin * kernel * kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = blur_down(x)
        x = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.weight.shape[-1] // 2)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.act else x


def blur_down(x: torch.Tensor) -> torch.Tensor:
    """2x downsampling with the [1,3,3,1] low-pass filter (stylegan2's downsample2d)."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], device=x.device, dtype=x.dtype)
    k = (k[:, None] * k[None, :] / 64).expand(x.shape[1], 1, 4, 4)
    return F.conv2d(x, k, stride=2, padding=1, groups=x.shape[1])


def upsample(x: torch.Tensor) -> torch.Tensor:
    # Bilinear 2x == the separable [1,3,3,1]/4 up-filter (edges clamped).
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def modulated_conv2d(
    x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool, fused: bool = True
) -> torch.Tensor:
    """StyleGAN2 §2.2: scale input channels by the style, then normalise each output
    channel's expected std to 1 (demodulation).

    ``fused``: one grouped conv with per-sample weights (the reference's inference path);
    otherwise scale activations around a shared conv (its training path, much faster on CPU
    and for backward). Both are exact and per-sample.
    """
    b, cin, h, w = x.shape
    cout, _, k, _ = weight.shape
    # sum_{i,kk} (w[o,i,kk] s[i])^2 = s^2 @ sum_kk w^2: the demodulation coefficients
    # without materialising a (B, O, I, k, k) tensor.
    dcoefs = (
        (styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt() if demodulate else None
    )  # (B, O)
    if not fused:
        x = F.conv2d(x * styles.view(b, cin, 1, 1).to(x.dtype), weight.to(x.dtype), padding=k // 2)
        return x * dcoefs.view(b, cout, 1, 1).to(x.dtype) if demodulate else x
    wts = weight.unsqueeze(0) * styles.view(b, 1, cin, 1, 1)  # (B, O, I, k, k)
    if demodulate:
        wts = wts * dcoefs.view(b, cout, 1, 1, 1)
    x = F.conv2d(
        x.reshape(1, b * cin, h, w), wts.reshape(b * cout, cin, k, k).to(x.dtype), padding=k // 2, groups=b
    )
    return x.view(b, cout, h, w)


# -------------------------------------------------------------------------- generator


class MappingNetwork(nn.Module):
    def __init__(self, arch: Arch, c_dim: int, num_ws: int) -> None:
        super().__init__()
        self.num_ws = num_ws
        self.embed = FC(c_dim, arch.w_dim)
        dims = [arch.z_dim + arch.w_dim] + [arch.w_dim] * arch.mapping_layers
        self.layers = nn.Sequential(*[FC(a, b, act=True, lr_mul=0.01) for a, b in itertools.pairwise(dims)])
        self.register_buffer("w_avg", torch.zeros(arch.w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        x = torch.cat([normalize_2nd_moment(z), normalize_2nd_moment(self.embed(c.to(z.dtype)))], dim=1)
        w = self.layers(x)
        if self.training:  # running mean of w, the truncation centre (beta 0.995)
            self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, 0.995))
        if truncation != 1:
            w = self.w_avg.to(w.dtype).lerp(w, truncation)
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)


class SynthesisLayer(nn.Module):
    def __init__(self, cin: int, cout: int, w_dim: int, res: int, up: bool) -> None:
        super().__init__()
        self.affine = FC(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(1, 1, res, res))
        self.up = up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = upsample(x)
        x = modulated_conv2d(x, self.weight, self.affine(w), demodulate=True, fused=not self.training)
        if self.training:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const.to(x.dtype)
        x = x + noise * self.noise_strength.to(x.dtype) + self.bias.to(x.dtype).view(1, -1, 1, 1)
        return F.leaky_relu(x, 0.2) * SQRT2


class ToRGB(nn.Module):
    def __init__(self, cin: int, w_dim: int) -> None:
        super().__init__()
        self.affine = FC(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(3, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(3))
        self.gain = 1 / math.sqrt(cin)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(
            x, self.weight, self.affine(w) * self.gain, demodulate=False, fused=not self.training
        )
        return x + self.bias.to(x.dtype).view(1, -1, 1, 1)


class SynthesisBlock(nn.Module):
    """One resolution: [const or 2x-up conv] + conv, and a toRGB added to the upsampled image."""

    def __init__(self, cin: int, cout: int, w_dim: int, res: int) -> None:
        super().__init__()
        self.first = res == 4
        if self.first:
            self.const = nn.Parameter(torch.randn(cout, 4, 4))
            self.convs = nn.ModuleList([SynthesisLayer(cout, cout, w_dim, res, up=False)])
        else:
            self.convs = nn.ModuleList(
                [
                    SynthesisLayer(cin, cout, w_dim, res, up=True),
                    SynthesisLayer(cout, cout, w_dim, res, up=False),
                ]
            )
        self.torgb = ToRGB(cout, w_dim)

    @property
    def num_ws(self) -> int:
        return len(self.convs)

    def forward(self, x, img, ws: torch.Tensor):  # ws: (B, num_ws + 1, w_dim)
        if self.first:
            x = self.const.to(ws.dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        for i, conv in enumerate(self.convs):
            x = conv(x, ws[:, i])
        rgb = self.torgb(x, ws[:, len(self.convs)])
        img = rgb if img is None else upsample(img) + rgb
        return x, img


class Generator(nn.Module):
    def __init__(self, arch: Arch, c_dim: int, resolution: int) -> None:
        super().__init__()
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
        self.arch, self.c_dim, self.resolution, self.z_dim = arch, c_dim, resolution, arch.z_dim
        res_list = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
        self.blocks = nn.ModuleList(
            SynthesisBlock(channels(arch, max(r // 2, 4)), channels(arch, r), arch.w_dim, r) for r in res_list
        )
        self.num_ws = sum(b.num_ws for b in self.blocks) + 1  # the last toRGB takes one more
        self.mapping = MappingNetwork(arch, c_dim, self.num_ws)

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        x = img = None
        idx = 0
        for block in self.blocks:
            x, img = block(x, img, ws[:, idx : idx + block.num_ws + 1])
            idx += block.num_ws
        # Values stay in [-1, 1] as the contract says, but gradients pass through the clamp
        # (straight-through), as StyleGAN2 trains on the unclamped output.
        return img + (img.clamp(-1, 1) - img).detach()

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation))


# ---------------------------------------------------------------------- discriminator


class DBlock(nn.Module):
    """Residual D block: conv, conv-down, plus a 1x1-down skip, summed with gain sqrt(1/2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv0 = Conv(cin, cin, 3)
        self.conv1 = Conv(cin, cout, 3, down=True)
        self.skip = Conv(cin, cout, 1, act=False, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """ProGAN/StyleGAN: append the mean std over groups of samples, so D can see variety."""
    b, c, h, w = x.shape
    g = min(group, b)
    while b % g:
        g -= 1
    y = x.float().view(g, -1, c, h, w)
    y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (B/g,)
    y = y.view(-1, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, arch: Arch, c_dim: int, resolution: int) -> None:
        super().__init__()
        self.arch = arch
        self.from_rgb = Conv(3, channels(arch, resolution), 1)
        res_list = [2**i for i in range(int(math.log2(resolution)), 2, -1)]
        self.blocks = nn.ModuleList(DBlock(channels(arch, r), channels(arch, r // 2)) for r in res_list)
        ch = channels(arch, 4)
        self.cmap_dim = arch.cmap_dim or ch
        # Projection conditioning (stylegan2-ada's D mapping): c -> normalised cmap.
        self.c_embed = FC(c_dim, self.cmap_dim)
        self.c_map = nn.Sequential(
            FC(self.cmap_dim, self.cmap_dim, act=True), FC(self.cmap_dim, self.cmap_dim, act=True)
        )
        self.conv = Conv(ch + 1, ch, 3)
        self.fc = FC(ch * 16, ch, act=True)
        self.out = FC(ch, self.cmap_dim)

    def forward(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = self.from_rgb(img)
        for block in self.blocks:
            x = block(x)
        x = self.conv(minibatch_stddev(x, self.arch.mbstd_group))
        x = self.out(self.fc(x.flatten(1)))
        cmap = self.c_map(normalize_2nd_moment(self.c_embed(c.to(x.dtype))))
        return (x * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)


# ----------------------------------------------------------------------------- trainer


class Trainer(GANTrainer):
    G_REG_INTERVAL, D_REG_INTERVAL = 4, 16
    PL_DECAY, PL_BATCH_SHRINK = 0.01, 2
    DEFAULT_AUGMENT = "ada"  # the paper's

    def __init__(
        self, G: Generator, arch: Arch, c_dim: int, resolution: int, hyper: Hyper, device: torch.device
    ) -> None:
        super().__init__(G, arch, c_dim, resolution, hyper, device)
        self.D = Discriminator(arch, c_dim, resolution).to(device)
        for block in [self.D.from_rgb, *self.D.blocks][: hyper.freeze_d_layers]:  # FreezeD
            block.requires_grad_(False)
        self.opt_g = self._adam(G, hyper.lr_g, self.G_REG_INTERVAL)
        self.opt_d = self._adam(self.D, hyper.lr_d, self.D_REG_INTERVAL)
        self.r1_gamma = arch.r1_gamma if arch.r1_gamma >= 0 else 0.0002 * resolution**2 / hyper.batch_size
        self.pl_mean = 0.0
        self.n_steps = 0

    def augment_spec(self) -> AugmentSpec:
        return AugmentSpec(
            ada_ops=self.arch.augment, ada_target=self.arch.ada_target, ada_kimg=self.arch.ada_kimg
        )

    @staticmethod
    def _adam(module: nn.Module, lr: float | None, reg_interval: int) -> torch.optim.Adam:
        # Lazy regularisation (StyleGAN2 §3.1): compensate lr and betas for the skipped steps.
        ratio = reg_interval / (reg_interval + 1)
        return torch.optim.Adam(
            module.parameters(), lr=(lr or 0.0025) * ratio, betas=(0.0, 0.99**ratio), eps=1e-8
        )

    def _run_G(self, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ws = self.G.mapping(z, c)
        if self.arch.style_mixing > 0:  # style mixing regularisation (StyleGAN §3.1)
            cutoff = int(torch.randint(1, ws.shape[1], ()).item())
            if torch.rand(()).item() < self.arch.style_mixing:
                ws2 = self.G.mapping(torch.randn_like(z), c)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return self.G.synthesis(ws), ws

    def _run_D(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.D(self.augment(img), c).float()

    def step(self, batch: Batch) -> dict[str, float]:
        self.G.train()
        self.D.train()
        self.n_steps += 1
        n = batch.real.shape[0]
        stats = {}
        # G main: non-saturating logistic loss.
        c_fake = batch.sample_c(n)
        with frozen(self.D), batch.amp():
            fake, _ = self._run_G(batch.sample_z(n), c_fake)
            loss_g = F.softplus(-self._run_D(fake, c_fake)).mean()
        self._update(self.opt_g, loss_g)
        stats["loss_g"] = loss_g.item()
        if self.arch.pl_weight > 0 and self.n_steps % self.G_REG_INTERVAL == 0:
            stats["pl"] = self._path_length_step(batch, n)
        # D main: the same loss on fresh fakes and on the reals, all augmented.
        c_fake = batch.sample_c(n)
        with torch.no_grad(), batch.amp():
            fake, _ = self._run_G(batch.sample_z(n), c_fake)
        with batch.amp():
            d_fake = self._run_D(fake, c_fake)
            d_real = self._run_D(batch.real, batch.c)
        loss_d = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
        self._update(self.opt_d, loss_d)
        self.augment.observe(d_real)
        if self.r1_gamma > 0 and self.n_steps % self.D_REG_INTERVAL == 0:
            stats["r1"] = self._r1_step(batch)
        stats.update(
            loss_d=loss_d.item(),
            d_real=d_real.mean().item(),
            d_fake=d_fake.mean().item(),
            pl_mean=self.pl_mean,
            **self.augment.stats(),
        )
        return stats

    @staticmethod
    def _update(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def _path_length_step(self, batch: Batch, n: int) -> float:
        """Lazy path-length regularisation (StyleGAN2 §3.2), in full precision."""
        m = max(n // self.PL_BATCH_SHRINK, 1)
        img, ws = self._run_G(batch.sample_z(m), batch.sample_c(m))
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grads.square().sum(2).mean(1).sqrt()
        self.pl_mean += self.PL_DECAY * (lengths.mean().item() - self.pl_mean)
        penalty = (lengths - self.pl_mean).square().mean()
        self._update(self.opt_g, penalty * self.arch.pl_weight * self.G_REG_INTERVAL)
        return penalty.item()

    def _r1_step(self, batch: Batch) -> float:
        """Lazy R1 (Mescheder et al. 2018): gamma/2 * |grad_x D(x)|^2 on reals, full precision."""
        real = batch.real.detach().requires_grad_(True)
        logits = self._run_D(real, batch.c)
        (grads,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        penalty = grads.square().sum(dim=(1, 2, 3)).mean()
        self._update(self.opt_d, penalty * (self.r1_gamma / 2) * self.D_REG_INTERVAL)
        return penalty.item()

    def modules(self) -> dict[str, nn.Module]:
        return {"D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def extra_state(self) -> dict[str, float]:
        return {**super().extra_state(), "pl_mean": self.pl_mean, "n_steps": float(self.n_steps)}

    def load_extra_state(self, state: dict[str, float]) -> None:
        super().load_extra_state(state)
        self.pl_mean = float(state.get("pl_mean", 0.0))
        self.n_steps = int(state.get("n_steps", 0))


FAMILY = Family("stylegan2", Arch, Generator, Trainer)
