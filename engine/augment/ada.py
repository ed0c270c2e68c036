"""Adaptive discriminator augmentation (Karras et al. 2020, StyleGAN2-ADA, §2-3 and App. B).

Every image D sees, real or fake, in the D and the G step, goes through the same random
pipeline; each transform is applied to each sample independently with probability ``p``.
As long as p stays below ~0.8 the augmentations do not "leak" into the generated images
(§2.2), and ``p`` is tuned online so D cannot overfit a small set (§2.3).

Pure PyTorch and differentiable: geometry is one 3x3 matrix per sample applied with
``grid_sample`` (reflection padding), colour one 4x4 matrix per sample, the filter a gain
per frequency band in the Fourier domain. Simplifications against the reference
(NVlabs ``augment.py``): bilinear resampling without its 2x wavelet upsampling, and an
FFT band split instead of its wavelet filter bank.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

GEOMETRY = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
OTHER = ("filter", "noise", "cutout")
PRESETS = {
    "blit": "xflip,rotate90,xint",
    "bgc": ",".join(GEOMETRY + COLOR),  # the paper's default pipeline
    "bgcfnc": ",".join(GEOMETRY + COLOR + OTHER),
}
LUMA = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)  # the luma axis in RGB (homogeneous)


def parse_ops(spec: str) -> tuple[str, ...]:
    """``"bgc"`` or ``"xflip,scale,brightness"`` -> op names; unknown names are refused."""
    names = []
    for part in (p.strip() for p in spec.split(",")):
        names += PRESETS[part].split(",") if part in PRESETS else [part] if part else []
    unknown = [n for n in names if n not in GEOMETRY + COLOR + OTHER]
    if unknown:
        raise ValueError(f"unknown ADA augmentations {unknown}; known: {', '.join(GEOMETRY + COLOR + OTHER)}")
    return tuple(dict.fromkeys(names))


# ----------------------------------------------------------------------- matrices


def _eye(n: int, b: int, device: torch.device) -> torch.Tensor:
    return torch.eye(n, device=device).expand(b, n, n).clone()


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(3, tx.shape[0], tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(3, sx.shape[0], sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate2d(theta: torch.Tensor) -> torch.Tensor:
    m = _eye(3, theta.shape[0], theta.device)
    m[:, 0, 0], m[:, 0, 1] = theta.cos(), -theta.sin()
    m[:, 1, 0], m[:, 1, 1] = theta.sin(), theta.cos()
    return m


def _translate3d(t: torch.Tensor) -> torch.Tensor:
    m = _eye(4, t.shape[0], t.device)
    m[:, :3, 3] = t.unsqueeze(1)
    return m


def _scale3d(s: torch.Tensor) -> torch.Tensor:
    m = _eye(4, s.shape[0], s.device)
    m[:, 0, 0] = m[:, 1, 1] = m[:, 2, 2] = s
    return m


def _rotate3d(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rotation by ``theta`` around the unit ``axis`` (Rodrigues), as a 4x4 matrix."""
    x, y, z = axis[:3]
    c, s = theta.cos(), theta.sin()
    cc = 1 - c
    rows = [
        [x * x * cc + c, x * y * cc - z * s, x * z * cc + y * s],
        [y * x * cc + z * s, y * y * cc + c, y * z * cc - x * s],
        [z * x * cc - y * s, z * y * cc + x * s, z * z * cc + c],
    ]
    m = _eye(4, theta.shape[0], theta.device)
    for i in range(3):
        for j in range(3):
            m[:, i, j] = rows[i][j]
    return m


# ---------------------------------------------------------------------- the pipeline


def reflect_sample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear ``grid_sample`` with reflection padding that R1 can differentiate twice.

    R1 penalises D's gradient with respect to the un-augmented reals, so its backward pass
    differentiates ``grid_sample``'s backward. CPU has a composite fallback for that; CUDA
    raises "derivative for aten::grid_sampler_2d_backward is not implemented". As in
    stylegan2-ada's ``grid_sample_gradfix``, the backward is wrapped in a Function whose own
    backward is again a grid_sample (the op is linear in its input); the grid never needs a
    gradient here.
    """
    return _ReflectSample.apply(x, grid)


_BILINEAR, _REFLECTION = 0, 2  # aten's enum values for mode="bilinear", padding_mode="reflection"


class _ReflectSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, grid)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, grid = ctx.saved_tensors
        grad_x, grad_grid = _ReflectSampleBackward.apply(grad_out, x, grid)
        return grad_x, grad_grid


class _ReflectSampleBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, grad_out: torch.Tensor, x: torch.Tensor, grid: torch.Tensor):
        ctx.save_for_backward(grid)
        return torch.ops.aten.grid_sampler_2d_backward(
            grad_out, x, grid, _BILINEAR, _REFLECTION, False, [x.requires_grad, grid.requires_grad]
        )

    @staticmethod
    def backward(ctx, grad2_x: torch.Tensor, grad2_grid: torch.Tensor):
        (grid,) = ctx.saved_tensors
        grad2_out = _ReflectSample.apply(grad2_x, grid) if ctx.needs_input_grad[0] else None
        return grad2_out, None, None


class AugmentPipe(nn.Module):
    """ADA's augmentation pipeline; ``forward(images, p)`` for images in [-1, 1].

    ``ops``: a preset ("blit", "bgc", "bgcfnc") or comma-separated op names. The strengths
    are the paper's (App. B): translations 0.125 of the side, log2-scale std 0.2, rotation
    uniform, brightness std 0.2, contrast log2-std 0.5, saturation log2-std 1, noise std 0.1,
    cutout half the side.
    """

    def __init__(self, ops: str = "bgc") -> None:
        super().__init__()
        self.ops = parse_ops(ops)

    def forward(self, x: torch.Tensor, p: float) -> torch.Tensor:
        if p <= 0 or not self.ops:
            return x
        if any(op in GEOMETRY for op in self.ops):
            x = self._geometry(x, p)
        if any(op in COLOR for op in self.ops):
            x = self._color(x, p)
        if "filter" in self.ops:
            x = self._filter(x, p)
        if "noise" in self.ops:
            sigma = torch.randn(x.shape[0], 1, 1, 1, device=x.device).abs() * 0.1
            x = x + torch.randn_like(x) * self._gate(x, p, sigma, 0.0)
        if "cutout" in self.ops:
            x = self._cutout(x, p)
        return x

    # Each draw is kept with probability p, else replaced by the identity value.
    @staticmethod
    def _gate(x: torch.Tensor, p: float, value: torch.Tensor, identity: float) -> torch.Tensor:
        keep = torch.rand(value.shape, device=x.device) < p
        return torch.where(keep, value, torch.full_like(value, identity))

    def _geometry(self, x: torch.Tensor, p: float) -> torch.Tensor:
        b, dev, ops = x.shape[0], x.device, self.ops
        m = _eye(3, b, dev)  # maps output coordinates ([-1, 1]) to input coordinates
        side = x.shape[-1]
        if "xflip" in ops:
            i = self._gate(x, p, torch.randint(0, 2, (b,), device=dev).float(), 0.0)
            m = m @ _scale2d(1 - 2 * i, torch.ones(b, device=dev))
        if "rotate90" in ops:
            i = self._gate(x, p, torch.randint(0, 4, (b,), device=dev).float(), 0.0)
            m = m @ _rotate2d(i * math.pi / 2)
        if "xint" in ops:  # whole pixels: 2 * round(t * side) / side in normalised units
            t = (torch.rand(b, 2, device=dev) * 2 - 1) * 0.125
            t = self._gate(x, p, torch.round(t * side) * 2 / side, 0.0)
            m = m @ _translate2d(t[:, 0], t[:, 1])
        if "scale" in ops:
            s = self._gate(x, p, torch.exp2(torch.randn(b, device=dev) * 0.2), 1.0)
            m = m @ _scale2d(s, s)
        p_rot = 1 - math.sqrt(1 - min(p, 1.0))  # two rotations, so the total probability is p
        if "rotate" in ops:
            m = m @ _rotate2d(self._gate(x, p_rot, (torch.rand(b, device=dev) * 2 - 1) * math.pi, 0.0))
        if "aniso" in ops:
            s = self._gate(x, p, torch.exp2(torch.randn(b, device=dev) * 0.2), 1.0)
            m = m @ _scale2d(s, 1 / s)
        if "rotate" in ops:
            m = m @ _rotate2d(self._gate(x, p_rot, (torch.rand(b, device=dev) * 2 - 1) * math.pi, 0.0))
        if "xfrac" in ops:
            t = self._gate(x, p, torch.randn(b, 2, device=dev) * 0.125 * 2, 0.0)
            m = m @ _translate2d(t[:, 0], t[:, 1])
        # Resample in float32 even under bf16 autocast: grid coordinates need the precision.
        grid = F.affine_grid(m[:, :2, :], list(x.shape), align_corners=False)
        return reflect_sample(x.float(), grid).to(x.dtype)

    def _color(self, x: torch.Tensor, p: float) -> torch.Tensor:
        b, dev, ops = x.shape[0], x.device, self.ops
        c = _eye(4, b, dev)
        v = LUMA.to(dev)
        if "brightness" in ops:
            c = _translate3d(self._gate(x, p, torch.randn(b, device=dev) * 0.2, 0.0)) @ c
        if "contrast" in ops:
            c = _scale3d(self._gate(x, p, torch.exp2(torch.randn(b, device=dev) * 0.5), 1.0)) @ c
        if "lumaflip" in ops:  # Householder reflection of the luma axis
            i = self._gate(x, p, torch.randint(0, 2, (b,), device=dev).float(), 0.0)
            c = (_eye(4, b, dev) - 2 * torch.outer(v, v) * i[:, None, None]) @ c
        if "hue" in ops:
            theta = self._gate(x, p, (torch.rand(b, device=dev) * 2 - 1) * math.pi, 0.0)
            c = _rotate3d(v, theta) @ c
        if "saturation" in ops:
            s = self._gate(x, p, torch.exp2(torch.randn(b, device=dev) * 1.0), 1.0)
            vv = torch.outer(v, v)
            c = (vv + (_eye(4, b, dev) - vv) * s[:, None, None]) @ c
        rgb = torch.einsum("bij,bjhw->bihw", c[:, :3, :3], x[:, :3].float())
        return (rgb + c[:, :3, 3, None, None]).to(x.dtype)

    def _filter(self, x: torch.Tensor, p: float) -> torch.Tensor:
        """Random gains on 4 radial frequency bands, energy-normalised as in ADA."""
        b, dev = x.shape[0], x.device
        expected_power = torch.tensor([10.0, 1.0, 1.0, 1.0], device=dev) / 13
        gains = torch.ones(b, 4, device=dev)
        for band in range(4):
            t = self._gate(x, p, torch.exp2(torch.randn(b, device=dev)), 1.0)
            gains[:, band] *= t
        gains = gains / (expected_power * gains.square()).sum(1, keepdim=True).sqrt()
        h, w = x.shape[-2:]
        fy = torch.fft.fftfreq(h, device=dev).abs()[:, None]
        fx = torch.fft.rfftfreq(w, device=dev)[None, :]
        radius = torch.sqrt(fy.square() + fx.square()) * 2  # 1 = Nyquist
        band = torch.bucketize(radius, torch.tensor([0.125, 0.25, 0.5], device=dev))
        spectrum = torch.fft.rfft2(x.float()) * gains[:, band].unsqueeze(1)
        return torch.fft.irfft2(spectrum, s=(h, w)).to(x.dtype)

    def _cutout(self, x: torch.Tensor, p: float) -> torch.Tensor:
        b, _, h, w = x.shape
        keep = (torch.rand(b, 1, 1, 1, device=x.device) < p).to(x.dtype)
        centre = torch.rand(b, 2, 1, 1, device=x.device)
        yy = (torch.arange(h, device=x.device).view(1, h, 1) + 0.5) / h
        xx = (torch.arange(w, device=x.device).view(1, 1, w) + 0.5) / w
        inside = ((xx - centre[:, 0]).abs() < 0.25) & ((yy - centre[:, 1]).abs() < 0.25)
        return x * (1 - keep * inside.unsqueeze(1).to(x.dtype))


class AdaController:
    """Tunes p from the overfitting heuristic r_t = E[sign(D(real))] (ADA §2.3).

    Every ``interval`` steps, p moves by sign(r_t - target) * (images seen) / (speed_kimg *
    1000), so it can go from 0 to 1 in ``speed_kimg`` thousand images (500k in the paper).
    """

    def __init__(
        self, target: float = 0.6, interval: int = 4, speed_kimg: float = 500.0, p: float = 0.0
    ) -> None:
        self.target, self.interval, self.speed_kimg, self.p = target, interval, speed_kimg, p
        self._signs, self._count, self._steps = 0.0, 0, 0
        self.rt = 0.0

    def accumulate(self, d_real: torch.Tensor) -> None:
        """Record the real logits of one D step; update p every ``interval`` steps."""
        d_real = d_real.detach().float().flatten()
        # Summed on D's device and read once per window: a read per step would wait for the GPU.
        self._signs = self._signs + d_real.sign().sum()
        self._count += d_real.numel()
        self._steps += 1
        if self._steps >= self.interval:
            self.rt = float(self._signs) / max(self._count, 1)
            sign = (self.rt > self.target) - (self.rt < self.target)
            adjust = sign * self._count / (self.speed_kimg * 1000)
            self.p = min(max(self.p + adjust, 0.0), 1.0)
            self._signs, self._count, self._steps = 0.0, 0, 0

    def state(self) -> dict[str, float]:
        """Scalars for an exact resume, the half-filled 4-step window included."""
        return {
            "ada_p": self.p,
            "ada_rt": self.rt,
            "ada_signs": float(self._signs),
            "ada_count": float(self._count),
            "ada_steps": float(self._steps),
        }

    def load_state(self, state: dict[str, float]) -> None:
        self.p, self.rt = float(state.get("ada_p", 0.0)), float(state.get("ada_rt", 0.0))
        self._signs = float(state.get("ada_signs", 0.0))
        self._count, self._steps = int(state.get("ada_count", 0)), int(state.get("ada_steps", 0))
