"""Building blocks shared by the generator families (after BigGAN-PyTorch's layers.py).

Each block is a short class readable on one screen:

* ``sn_conv2d`` / ``sn_linear`` — conv / linear layers, spectrally normalised when
  ``sn`` (Miyato et al. 2018; SN-GAN / SAGAN / BigGAN put it in both G and D);
* ``ConditionalBatchNorm2d`` — batch norm whose gain and bias come from a conditioning
  vector (the class vector, optionally concatenated with a latent chunk: BigGAN's
  hierarchical latent);
* ``SelfAttention`` — SAGAN's non-local block with a learnable gate initialised to 0;
* ``GBlock`` — generator residual block: CBN, ReLU, 2x nearest upsample, 3x3 convs;
* ``DBlock`` — discriminator residual block: no normalisation, optional 2x average-pool
  downsampling, optional spectral norm;
* ``attribute_spans`` / ``attribute_cross_entropy`` — the auxiliary classifier's loss
  (AC-GAN) over a schema's one-hot blocks, skipping unknown (all-zero) blocks;
* ``PaletteHead`` — pixel art's last layer: per cell, one colour of the data's palette;
* ``FewColourHead`` — pixel art's last layer drawing each picture in a few palette colours;
* ``freeze_first`` — FreezeD (Mo et al. 2020): keep the first N discriminator blocks fixed.

Everything here is per-sample in eval mode (batch norm uses running statistics; spectral
norm reuses its stored singular vectors), which is what the determinism contract needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm


def sn_conv2d(
    cin: int,
    cout: int,
    kernel: int = 3,
    stride: int = 1,
    padding: int | None = None,
    sn: bool = True,
    bias: bool = True,
) -> nn.Module:
    """A conv layer, "same" padded by default, spectrally normalised when ``sn``."""
    conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2 if padding is None else padding, bias=bias)
    return spectral_norm(conv) if sn else conv


def sn_linear(fin: int, fout: int, sn: bool = True, bias: bool = True) -> nn.Module:
    """A linear layer, spectrally normalised when ``sn``."""
    lin = nn.Linear(fin, fout, bias=bias)
    return spectral_norm(lin) if sn else lin


class ConditionalBatchNorm2d(nn.Module):
    """BN without its own affine; gain ``1 + W_g y`` and bias ``W_b y`` come from ``y``.

    ``y`` is the class vector (a float one-hot per attribute; an all-zero block, an
    unknown label, simply contributes nothing), or with BigGAN's hierarchical latent
    the class embedding concatenated with this block's chunk of z (BigGAN §3).
    The gain is centred on 1 so an untrained layer starts as plain BN.
    """

    def __init__(
        self, num_features: int, cond_dim: int, sn: bool = False, eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = sn_linear(cond_dim, num_features, sn=sn, bias=False)
        self.bias = sn_linear(cond_dim, num_features, sn=sn, bias=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gain = 1 + self.gain(y).to(x.dtype)[:, :, None, None]
        bias = self.bias(y).to(x.dtype)[:, :, None, None]
        return self.bn(x) * gain + bias


class SelfAttention(nn.Module):
    """SAGAN non-local attention (Zhang et al. 2019, §4), BigGAN's variant.

    Keys and values are 2x max-pooled (a quarter of the positions) to save memory, and
    the output is gated by ``gamma`` initialised to 0, so the block starts as identity and
    the network first relies on local cues, then learns to use distant ones (SAGAN §4).
    """

    def __init__(self, ch: int, sn: bool = True) -> None:
        super().__init__()
        key, value = max(1, ch // 8), max(1, ch // 2)  # SAGAN's C/8 and C/2, at least one channel
        self.theta = sn_conv2d(ch, key, 1, sn=sn, bias=False)
        self.phi = sn_conv2d(ch, key, 1, sn=sn, bias=False)
        self.g = sn_conv2d(ch, value, 1, sn=sn, bias=False)
        self.out = sn_conv2d(value, ch, 1, sn=sn, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).flatten(2)  # (B, C/8, HW)
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)  # (B, C/8, HW/4)
        g = F.max_pool2d(self.g(x), 2).flatten(2)  # (B, C/2, HW/4)
        attn = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, HW, HW/4)
        o = (g @ attn.transpose(1, 2)).view(b, -1, h, w)
        return x + self.gamma * self.out(o)


class GBlock(nn.Module):
    """Generator residual block (SN-GAN / BigGAN): CBN-ReLU-up-conv3-CBN-ReLU-conv3 + up-conv1."""

    def __init__(self, cin: int, cout: int, cond_dim: int, sn: bool = True, upsample: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.bn1 = ConditionalBatchNorm2d(cin, cond_dim)
        self.conv1 = sn_conv2d(cin, cout, 3, sn=sn)
        self.bn2 = ConditionalBatchNorm2d(cout, cond_dim)
        self.conv2 = sn_conv2d(cout, cout, 3, sn=sn)
        self.skip = sn_conv2d(cin, cout, 1, sn=sn) if cin != cout or upsample else nn.Identity()

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self._up(F.relu(self.bn1(x, y)))
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.skip(self._up(x))


class DBlock(nn.Module):
    """Discriminator residual block, no normalisation layers (SN-GAN / BigGAN D block).

    ``preactivation`` puts the activation before the first conv; the very first block of
    a discriminator turns it off so raw pixels are not clipped (SN-GAN's "optimized block").
    ``leak`` > 0 gives LeakyReLU, as in MakeGirlsMoe's discriminator.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        sn: bool = True,
        downsample: bool = True,
        preactivation: bool = True,
        leak: float = 0.0,
    ) -> None:
        super().__init__()
        self.downsample, self.preactivation, self.leak = downsample, preactivation, leak
        self.conv1 = sn_conv2d(cin, cout, 3, sn=sn)
        self.conv2 = sn_conv2d(cout, cout, 3, sn=sn)
        self.skip = sn_conv2d(cin, cout, 1, sn=sn) if cin != cout or downsample else nn.Identity()

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.leak) if self.leak else F.relu(x)

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._act(x) if self.preactivation else x
        h = self._down(self.conv2(self._act(self.conv1(h))))
        # Pre-activated blocks may pool before the 1x1 (cheaper, same result); the first
        # block must convolve first, as its input is not yet activated (BigGAN layers.DBlock).
        s = self.skip(self._down(x)) if self.preactivation else self._down(self.skip(x))
        return h + s


class PaletteHead(nn.Module):
    """RGB in [-1, 1] -> the nearest colour of a fixed palette, per cell.

    The forward pass always draws the nearest palette colour exactly, in training as when
    served, so the discriminator sees the flat cells real pixel art has; the gradient passes
    to the RGB unchanged (the straight-through estimator, as VQ-VAE's codebook lookup), so a
    cell keeps being pulled towards a better colour until it snaps to one. ``colours`` is a
    buffer filled from the data set's palette when training starts and saved with the weights.
    """

    def __init__(self, colours: int) -> None:
        super().__init__()
        self.register_buffer("colours", torch.zeros(colours, 3))

    def fill(self, palette_rgb: torch.Tensor) -> None:
        if palette_rgb.shape != self.colours.shape:
            raise ValueError(
                f"palette of {tuple(palette_rgb.shape)} for a head of {tuple(self.colours.shape)}"
            )
        self.colours.copy_(palette_rgb.to(self.colours) / 127.5 - 1)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        colours = self.colours.to(rgb.dtype)
        cells = rgb.permute(0, 2, 3, 1)  # (B, H, W, 3)
        distance = (colours**2).sum(1) - 2 * cells @ colours.T  # + |cell|^2, the same for every colour
        snapped = colours[distance.argmin(dim=-1)].permute(0, 3, 1, 2)
        return snapped + (rgb - rgb.detach())  # forward exactly the palette colour; gradient to rgb


class FewColourHead(nn.Module):
    """Pixel art's last layer: each picture in ``k`` palette colours, each cell one of them.

    A DiceBear pixel-art avatar uses about ten of the data's few hundred colours, each over a
    whole part (the hair, the skin, the background). Choosing every cell's colour on its own
    speckles a part with near colours; here a picture first picks its ``k`` colours (from the
    generator's input: the latent and the attributes asked for, each snapped to the palette by
    ``PaletteHead``), then each cell picks one of them (logits from the last feature map, with
    its neighbours' votes: ``_votes``), so a part is one flat colour by construction.
    Forward: exactly one of the ``k`` colours per cell; backward: the cells' choice through its
    softmax (straight-through, as Gumbel-softmax's hard mode) and each colour's gradient from
    the cells that took it.
    """

    def __init__(
        self,
        in_features: int,
        k: int,
        palette: int,
        hidden: int = 256,
        soft_in_training: bool = False,
        vote: float = 0.0,
    ) -> None:
        super().__init__()
        self.k, self.soft_in_training, self.vote = k, soft_in_training, vote
        self.colours = nn.Sequential(
            nn.Linear(in_features, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 3 * k), nn.Tanh()
        )
        self.palette = PaletteHead(palette)

    def forward(self, logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """``logits`` (B, k, H, W) from the last feature map, ``inputs`` (B, F): RGB (B, 3, H, W).
        The served cells; in training with ``soft_in_training``, the blended ones."""
        rgb, soft = self._colours(inputs), logits.float().softmax(dim=1)
        weights = soft if self.training and self.soft_in_training else self._chosen(soft)
        return self._paint(weights, rgb)

    def both(self, logits: torch.Tensor, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(each cell as the blend of the k colours by its softmax, each cell its chosen colour
        (``_chosen``: with its neighbours' votes) with the gradient through the softmax)."""
        rgb, soft = self._colours(inputs), logits.float().softmax(dim=1)
        return self._paint(soft, rgb), self._paint(self._chosen(soft), rgb)

    def _colours(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, 3, k): the picture's k colours, each snapped to the palette."""
        rgb = self.colours(inputs).view(-1, self.k, 3).permute(0, 2, 1)
        return self.palette(rgb[..., None])[..., 0]

    def _chosen(self, soft: torch.Tensor) -> torch.Tensor:
        """One-hot of each cell's chosen colour, the gradient through the softmax."""
        hard = F.one_hot(self._votes(soft).argmax(dim=1), self.k).permute(0, 3, 1, 2).to(soft.dtype)
        return hard + soft - soft.detach()

    def _votes(self, soft: torch.Tensor) -> torch.Tensor:
        """Each cell's softmax plus ``vote`` times each of its eight neighbours' (edges repeat).

        A cell torn between two colours takes the one around it; a cell sure of its own colour
        keeps it even against a whole ring of another, when surer than (1 + 8 vote) / 2 (0.7 at
        0.05), so a one-cell eye stays while a stray cell in a face goes. 0: each cell's own
        likeliest colour."""
        if not self.vote:
            return soft
        ring = torch.full((3, 3), self.vote, dtype=soft.dtype, device=soft.device)
        ring[1, 1] = 1.0
        kernel = ring.expand(self.k, 1, 3, 3)
        return F.conv2d(F.pad(soft, (1, 1, 1, 1), mode="replicate"), kernel, groups=self.k)

    @staticmethod
    def _paint(weights: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bkhw,bck->bchw", weights.to(rgb.dtype), rgb)


def freeze_first(blocks: Iterable[nn.Module], n: int) -> None:
    """FreezeD (Mo et al. 2020): stop gradients into the first ``n`` discriminator blocks.

    The parameters stay in the optimizer (so optimizer state stays loadable across
    fine-tuning runs with different ``n``); with no gradient, Adam leaves them untouched.
    """
    for block in list(blocks)[:n]:
        for p in block.parameters():
            p.requires_grad_(False)


def attribute_spans(c_dim: int, blocks: tuple[int, ...]) -> list[tuple[int, int]]:
    """(start, stop) of each attribute block; no ``blocks`` means c_dim independent binary labels."""
    if not blocks:
        return [(i, i + 1) for i in range(c_dim)]
    if sum(blocks) != c_dim:
        raise ValueError(f"attribute blocks {blocks} do not add up to c_dim={c_dim}")
    starts = [sum(blocks[:i]) for i in range(len(blocks))]
    return [(s, s + b) for s, b in zip(starts, blocks)]


def attribute_cross_entropy(
    logits: torch.Tensor,
    c: torch.Tensor,
    spans: list[tuple[int, int]],
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Auxiliary-classifier loss (AC-GAN, Odena et al. 2017 §3) summed over attributes,
    each times its entry of ``weights`` (all 1 when None).

    A choice block is one softmax over its values; a one-wide span is an independent
    binary label (sigmoid), MakeGirlsMoe's multi-label head. Each block's loss is averaged
    over the samples whose label is known: an all-zero block is "not visible" (schema.py),
    and teaching D that it means some value would be a lie.
    """
    logits, c = logits.float(), c.float()
    total = logits.new_zeros(())
    for j, (start, stop) in enumerate(spans):
        target, logit = c[:, start:stop], logits[:, start:stop]
        scale = 1.0 if weights is None else weights[j]
        if stop - start == 1:
            total = total + scale * F.binary_cross_entropy_with_logits(logit, target)
            continue
        known = target.sum(1) > 0
        if known.any():
            nll = -(target * F.log_softmax(logit, dim=1)).sum(1)
            total = total + scale * nll[known].mean()
    return total


def chance_balanced_weights(spans: list[tuple[int, int]]) -> list[float]:
    """1 / (each attribute's loss at chance): log K, log 2 for a flag. Summed raw,
    nine-valued hair (2.2 at chance) outweighs a smile (0.69) threefold; with these
    weights every attribute pulls alike."""
    return [1 / math.log(max(stop - start, 2)) for start, stop in spans]
