"""Feature extraction shared by the metrics, and the on-disk cache of real-set features.

Real-set features depend only on the data set's content and the extractor's settings, so
they are cached under ``<cache>/metrics/`` keyed by the data fingerprint and a hash of the
settings, and written atomically (temp file + rename) so two evaluations running at once,
or one interrupted, never leave a half-written cache file that looks valid.

Input size: images are resized (antialiased bilinear) to 160 px for EfficientNet-Lite0 by
default, not its ImageNet 224. Our mascots are 64-128 px, so 224 only upsamples further,
and it costs twice the CPU time (measured on the 2-core box: 8.9 vs 20 images/s), which
would put a 2,000-sample report over its 10-minute budget. The size is part of every
report and of the cache key; compare only reports made at the same size.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from engine.errors import MascotError

EFFL0_NAME = "FID-EffLite0"  # never "FID": this is not the Inception network of the papers


def cache_dir(override: str | Path | None = None) -> Path:
    """``override``, else $MASCOT_CACHE/metrics, else ~/.cache/mascotbot/metrics."""
    if override:
        root = Path(override)
    elif os.environ.get("MASCOT_CACHE"):
        root = Path(os.environ["MASCOT_CACHE"]) / "metrics"
    else:
        root = Path.home() / ".cache" / "mascotbot" / "metrics"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MascotError(
            f"cannot create the metrics cache '{root}': {exc.strerror}; set MASCOT_CACHE"
        ) from None
    return root


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_cached_npy(path: Path) -> np.ndarray | None:
    """The cached array, or None when absent or unreadable (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        return np.load(path)
    except (ValueError, OSError, EOFError):
        return None


def resize_to_tensor(images_uint8: np.ndarray, size: int, device: str = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, size, size) in [-1, 1], antialiased bilinear."""
    x = torch.tensor(np.asarray(images_uint8), device=device).permute(0, 3, 1, 2).float() / 127.5 - 1
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


@torch.no_grad()
def effl0_features(
    images_uint8: np.ndarray,
    size: int = 224,
    batch_size: int = 64,
    device: str = "cpu",
    desc: str = "EffLite0 features",
    progress: bool = True,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """Pooled 1280-d EfficientNet-Lite0 features (float64, for stable covariances).

    ``indices`` picks rows of a memory-mapped array chunk by chunk, so a large data set
    is never loaded whole.
    """
    from engine.effnet import POOLED_DIM, backbone

    net = backbone(device)
    rows = np.arange(len(images_uint8)) if indices is None else np.asarray(indices)
    out = []
    starts = range(0, len(rows), batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=not progress, leave=False):
        x = resize_to_tensor(images_uint8[rows[start : start + batch_size]], size, device)
        out.append(net.pooled(x).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, POOLED_DIM))


def real_subset(n_images: int, max_real: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of the real images used (all of them up to ``max_real``)."""
    if n_images <= max_real:
        return np.arange(n_images)
    return np.sort(np.random.default_rng(seed).choice(n_images, max_real, replace=False))


def cached_real_effl0(
    ds,
    *,
    size: int,
    max_real: int,
    batch_size: int = 64,
    device: str = "cpu",
    cache: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """EffLite0 features of the data set's real images, from the cache when possible."""
    key = settings_hash({"net": "effl0-pooled", "size": size, "max_real": max_real, "v": 1})
    path = cache_dir(cache) / f"real-effl0-{ds.fingerprint}-{key}.npy"
    feats = load_cached_npy(path)
    idx = real_subset(len(ds), max_real)
    if feats is not None and feats.shape == (len(idx), 1280):
        return feats
    feats = effl0_features(ds.images, size, batch_size, device, "real EffLite0 features", progress, idx)
    atomic_save_npy(path, feats)
    return feats
