"""DCGAN baseline, as in "Generating Anime Avatars Using GANs" (Wang, Sun, Cui; §3.2, §4.1).

Generator: z (100-d, N(0, 1)) concatenated with the conditioning vector, projected to
512x4x4 by a transposed conv, then stride-2 transposed convs halving the channels up to
R/2, an "extra" size-preserving conv, and a final transposed conv to 3xRxR with tanh.
Every layer but the last is followed by batch norm and a leaky ReLU (§3.2; Radford et
al.'s DCGAN uses plain ReLU in G: set ``g_leak=0``). For pixel art at its native grid
(``palette`` > 0) ``PaletteHead`` follows the tanh: every cell is drawn as its nearest
palette colour, in training too, with the gradient passed straight through to the RGB. With
``colours_per_image`` > 0 the last layer instead draws each picture in that many palette
colours, every cell one of them (``FewColourHead``), so a part is one flat colour.

Discriminator: the generator reversed, stride-2 convs with LeakyReLU(0.2), batch norm on
all but the first. The labels are broadcast as constant feature maps and concatenated to
D's features half-way down (the usual conditional-DCGAN trick; the report's DCGAN is
unconditional, the conditioning is ours).

Loss: non-saturating BCE (Goodfellow et al. 2014); Adam lr 2e-4, beta1 0.5 (Radford et al.
§4; the report trained with lr 3e-4 and batch 128, §4.1). ``r1_gamma`` > 0 adds the R1 penalty
(Mescheder et al. 2018) to every D step: without it the pixel-art D outran G, and more training
made the pictures worse. With ``aux_weight`` > 0, D also
holds an attribute reader (AC-GAN, Odena et al. 2017, as MakeGirlsMoe's D): it learns the
attributes on reals, and G is pulled towards fakes it reads as the attributes asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.errors import MascotError
from engine.models.base import Batch, Family, GANTrainer, Hyper, frozen
from engine.models.layers import (
    FewColourHead,
    PaletteHead,
    attribute_cross_entropy,
    attribute_spans,
    chance_balanced_weights,
    freeze_first,
)


@dataclass(frozen=True)
class Arch:
    z_dim: int = 100  # §3.2: "a noise of length 100"
    g_ch: int = 64  # G channels at R/2; doubled per halving of resolution (512 at 4x4 for 64px)
    d_ch: int = 64  # D channels at R/2, doubled per halving
    max_ch: int = 512
    g_leak: float = 0.2  # §3.2 uses leaky ReLU in G; 0.0 gives Radford's ReLU
    extra_layers: int = 1  # §3.2's size-preserving "extra layer" before the last upsampling
    palette: int = 0  # pixel art at its grid: the last layer picks one of this many colours per cell
    # Pixel art: each picture picks this many palette colours, each cell one of them (0: every
    # cell picks from the whole palette). DiceBear's pixel art uses 10 colours a picture, 16 at most.
    colours_per_image: int = 0
    # Pixel art: in training D sees each cell as the blend of its colours by the cell's softmax,
    # which no real cell is, so G learns to commit every cell to one colour; served (and read for
    # the attributes): each cell's chosen colour (its own likeliest, weighed with ``cell_vote``).
    soft_cells: bool = False
    # Pixel art: how much each of a cell's eight neighbours' softmax counts towards the colour it
    # is served in (FewColourHead._votes); 0: each cell's own likeliest colour.
    cell_vote: float = 0.0
    r1_gamma: float = 0.0  # R1 penalty on D's gradient at the reals (Mescheder et al. 2018); 0 = none
    aux_weight: float = 0.0  # AC-GAN attribute reader in D, this loss weight for D and G (0 = none)
    blocks: tuple[int, ...] = ()  # attribute block sizes of c (set by the training loop from the schema)

    def __post_init__(self) -> None:
        if self.colours_per_image and not self.palette:
            raise MascotError(
                "colours_per_image needs pixel art at its grid: a data set with a palette "
                "('data dicebear --palette'), trained at its own resolution"
            )
        if self.colours_per_image and not 2 <= self.colours_per_image <= 64:
            raise MascotError(f"colours_per_image takes 2 to 64, got {self.colours_per_image}")
        if not self.r1_gamma >= 0.0:
            raise MascotError(f"r1_gamma takes 0 (none) or more, got {self.r1_gamma}")
        if self.cell_vote and not self.colours_per_image:
            raise MascotError("cell_vote needs colours_per_image: it weighs the cells' choices among them")
        if not 0.0 <= self.cell_vote < 0.125:
            # At 1/8 a ring of eight neighbours outvotes a cell however sure it is.
            raise MascotError(f"cell_vote takes 0 to under 0.125, got {self.cell_vote}")


def _channels(base: int, resolution: int, r: int, cap: int) -> int:
    """Width at feature resolution ``r``: ``base`` at R/2, doubled per halving, capped."""
    return min(cap, base * (resolution // 2) // r)


def _init_dcgan(module: nn.Module) -> None:
    # Radford et al. §4: all weights from N(0, 0.02); BN gains around 1.
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, arch: Arch = Arch(), c_dim: int = 1, resolution: int = 64) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.resolution = arch.z_dim, c_dim, resolution
        ch = lambda r: _channels(arch.g_ch, resolution, r, arch.max_ch)
        act = lambda: nn.LeakyReLU(arch.g_leak) if arch.g_leak else nn.ReLU()
        # (z, c) as a 1x1 map -> 4x4 (a 4x4 transposed conv is a dense layer, DCGAN §3).
        layers = [
            nn.ConvTranspose2d(arch.z_dim + c_dim, ch(4), 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch(4)),
            act(),
        ]
        r = 4
        while r < resolution // 2:
            layers += [
                nn.ConvTranspose2d(ch(r), ch(2 * r), 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch(2 * r)),
                act(),
            ]
            r *= 2
        for _ in range(arch.extra_layers):
            layers += [nn.Conv2d(ch(r), ch(r), 3, 1, 1, bias=False), nn.BatchNorm2d(ch(r)), act()]
        self.head = None
        if arch.colours_per_image:  # the last layer's channels: each cell's choice among them
            # Resize, then convolve: a stride-2 transposed conv paints a checkerboard (Odena et
            # al. 2016), and under a hard choice per cell a checkerboard is speckle.
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(ch(r), arch.colours_per_image, 3, 1, 1),
            ]
            self.head = FewColourHead(
                arch.z_dim + c_dim,
                arch.colours_per_image,
                arch.palette,
                soft_in_training=arch.soft_cells,
                vote=arch.cell_vote,
            )
        else:
            layers += [nn.ConvTranspose2d(ch(r), 3, 4, 2, 1), nn.Tanh()]
            layers += [PaletteHead(arch.palette)] if arch.palette else []
        self.net = nn.Sequential(*layers)
        self.apply(_init_dcgan)

    def _features(
        self, z: torch.Tensor, c: torch.Tensor, truncation: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the last layer's output, the generator's input (z, c) that a few-colour head reads)."""
        x = torch.cat([z * truncation, c.to(z.dtype)], dim=1)
        return self.net(x[:, :, None, None]), x

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        out, x = self._features(z, c, truncation)
        return out if self.head is None else self.head(out, x)

    def seen_and_served(self, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(what D judges in training, what is served): the blended and the chosen cells with
        ``soft_cells``, else the same picture twice."""
        if self.head is None or not self.head.soft_in_training:
            out = self(z, c)
            return out, out
        return self.head.both(*self._features(z, c, 1.0))


class Discriminator(nn.Module):
    """Strided convs down to 4x4, labels concatenated as channels half-way, a 4x4 conv to a logit."""

    def __init__(self, arch: Arch, c_dim: int, resolution: int) -> None:
        super().__init__()
        ch = lambda r: _channels(arch.d_ch, resolution, r, arch.max_ch)
        sizes = [resolution // 2**i for i in range((resolution // 4).bit_length() - 1)]  # R, R/2, .., 8
        self.label_at = len(sizes) // 2  # the middle layer receives the label maps
        blocks = []
        for i, r in enumerate(sizes):
            cin = (3 if i == 0 else ch(r)) + (c_dim if i == self.label_at else 0)
            blocks.append(self._down(cin, ch(r // 2), bn=i > 0))  # no BN on the input layer (DCGAN §3)
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(ch(4), 1, 4, 1, 0)
        self.reader = AttributeReader(c_dim, resolution, arch.d_ch) if arch.aux_weight else None
        self.apply(_init_dcgan)

    @staticmethod
    def _down(cin: int, cout: int, bn: bool) -> nn.Sequential:
        layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not bn)]
        layers += [nn.BatchNorm2d(cout)] if bn else []
        return nn.Sequential(*layers, nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            if i == self.label_at:
                maps = c.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
                x = torch.cat([x, maps], dim=1)
            x = block(x)
        return self.out(x).flatten(1).squeeze(1)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, c_dim) attribute logits of images, read without their labels."""
        return self.reader(x)


class AttributeReader(nn.Module):
    """D's attribute classifier: its own small network, apart from the adversarial one, which
    sees the labels and could read the answer from them. It keeps full resolution for two
    layers (at a 16-cell grid an eye is one cell), then halves down to 8 x 8 at most, and pools
    by mean *and* max so a one-cell part is not averaged away."""

    def __init__(self, c_dim: int, resolution: int, width: int) -> None:
        super().__init__()
        layers = [nn.Conv2d(3, width, 3, 1, 1), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(width, width, 3, 1, 1), nn.LeakyReLU(0.2)]
        r, ch = resolution, width
        while r > 8:
            layers += [nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.LeakyReLU(0.2)]
            r, ch = r // 2, 2 * ch
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(2 * ch, c_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.out(torch.cat([h.mean((2, 3)), h.amax((2, 3))], dim=1))


class Trainer(GANTrainer):
    """One D step then one G step per batch (Goodfellow et al. 2014, Alg. 1 with k=1)."""

    def __init__(
        self, G: Generator, arch: Arch, c_dim: int, resolution: int, hyper: Hyper, device: torch.device
    ) -> None:
        super().__init__(G, arch, c_dim, resolution, hyper, device)
        self.D = Discriminator(arch, c_dim, resolution).to(device)
        freeze_first(self.D.blocks, hyper.freeze_d_layers)
        betas = (0.5, 0.999)  # Radford et al. §4: beta1 0.9 oscillated, 0.5 stabilised
        self.opt_g = torch.optim.Adam(G.parameters(), lr=hyper.lr_g or 2e-4, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=hyper.lr_d or 2e-4, betas=betas)
        self.spans = attribute_spans(c_dim, arch.blocks)
        self.aux_weights = chance_balanced_weights(self.spans)  # every attribute pulls alike

    def _aux_loss(self, images: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if not self.arch.aux_weight:
            return images.new_zeros((), dtype=torch.float32)
        logits = self.D.classify(images)
        return self.arch.aux_weight * attribute_cross_entropy(logits, c, self.spans, self.aux_weights)

    def step(self, batch: Batch) -> dict[str, float]:
        real, c = batch.real.to(self.device), batch.c.to(self.device)
        n = real.shape[0]
        z, c_fake = batch.sample_z(n).to(self.device), batch.sample_c(n).to(self.device)

        # D: maximise log D(x) + log(1 - D(G(z))).
        with batch.amp():
            with torch.no_grad():
                fake = self.G(z, c_fake)
            real_in = self.augment(real).detach().requires_grad_(self.arch.r1_gamma > 0)
            d_real = self.D(real_in, c).float()
            d_fake = self.D(self.augment(fake), c_fake).float()
            aux_d = self._aux_loss(real, c)  # learnt on reals only: fakes would teach it their mistakes
        loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean() + aux_d
        r1 = self._r1_penalty(d_real, real_in) if self.arch.r1_gamma > 0 else None
        if r1 is not None:
            loss_d = loss_d + self.arch.r1_gamma / 2 * r1
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.augment.observe(d_real)

        # G: non-saturating, maximise log D(G(z)) (Goodfellow et al. §3). The attributes are read
        # on the cells as served: a blend of two colours could pass for a third that no cell takes.
        with frozen(self.D), batch.amp():
            fake, served = self.G.seen_and_served(z, c_fake)
            g_out = self.D(self.augment(fake), c_fake).float()
            aux_g = self._aux_loss(served, c_fake)
        loss_g = F.softplus(-g_out).mean() + aux_g
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": d_real.mean().item(),
            "d_fake": d_fake.mean().item(),
            **({"aux_d": aux_d.item(), "aux_g": aux_g.item()} if self.arch.aux_weight else {}),
            **({"r1": r1.item()} if r1 is not None else {}),
            **self.augment.stats(),
        }

    @staticmethod
    def _r1_penalty(d_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """|grad_x D(x)|^2 at the reals, averaged over the batch (R1, Mescheder et al. 2018)."""
        (grads,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        return grads.float().square().sum(dim=(1, 2, 3)).mean()

    def modules(self) -> dict[str, nn.Module]:
        return {"D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}


FAMILY = Family("dcgan", Arch, Generator, Trainer, served=("cell_vote",))
