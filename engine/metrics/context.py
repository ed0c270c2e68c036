"""What every metric of one evaluation shares: the checkpoint, the data, the generated
samples and their features, each computed once, on first use, and kept.

Generated samples are seeds ``seed .. seed+samples-1`` with attributes drawn from the
model's schema (``engine.sampling.resolve``), so a report is reproducible and two
checkpoints evaluated with the same seed see the same latents and attributes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine import features as F
from engine.errors import MascotError

STYLE = "style"  # the attribute the distribution metrics are also broken down by


@dataclass(frozen=True)
class EvalConfig:
    samples: int = 2000  # generated images for the distribution metrics; fixed per report
    seed: int = 0
    batch_size: int = 64
    feature_size: int = 160  # EffLite0 input size; 224 (ImageNet) costs twice the CPU, see features.py
    max_real: int = 10000  # real images used (a fixed random subset beyond that)
    truncation: float = 1.0  # the full distribution: truncation would flatter fidelity and hide diversity
    device: str = "cpu"
    cache_dir: str | None = None
    progress: bool = True
    size: int = 0  # side the samples are judged at: 0 = the model's own; larger = as posted (see upscaler)
    upscaler: str = "lanczos"  # how samples reach ``size``: an upscale-stage folder, or "lanczos"

    def __post_init__(self) -> None:
        if (
            isinstance(self.samples, bool)
            or not isinstance(self.samples, int)
            or not 10 <= self.samples <= 100000
        ):
            raise MascotError(f"samples must be a whole number from 10 to 100000, got {self.samples!r}")
        if not 32 <= self.feature_size <= 512:
            raise MascotError(f"feature_size must be from 32 to 512 pixels, got {self.feature_size}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= 2048:
            raise MascotError(
                f"size must be 0 (the model's own) or a side up to 2048 pixels, got {self.size!r}"
            )
        if self.max_real < 10 or self.batch_size < 1:
            raise MascotError("max_real must be at least 10 and batch_size at least 1")


def _once(method):
    """Compute on first call, then keep it on the instance (not in a global cache, which
    would keep every evaluation's images alive in a long-running process)."""

    @functools.wraps(method)
    def wrapper(self):
        if method.__name__ not in self._memo:
            self._memo[method.__name__] = method(self)
        return self._memo[method.__name__]

    return wrapper


class EvalContext:
    def __init__(
        self,
        checkpoint,
        dataset,
        config: EvalConfig,
        out_dir: Path | None = None,
        evalnet_config=None,
        classifier_dataset=None,
    ) -> None:
        self._memo: dict = {}
        self.checkpoint = checkpoint
        self.dataset = dataset
        self.config = config
        self.out_dir = out_dir
        self.evalnet_config = evalnet_config
        # The labelled set EvalNet learns from: the real set itself unless it is too small to
        # teach a classifier (a thousand renders at the posted size), then the training set.
        self.classifier_dataset = classifier_dataset if classifier_dataset is not None else dataset

    # --- generated samples -------------------------------------------------------
    def render(self, requests: Sequence, desc: str | None = "generating") -> np.ndarray:
        """Draw ``requests`` at the model's own size; ``desc`` None: without a progress bar."""
        from engine.sampling import render

        G, schema, bs = self.checkpoint.G, self.checkpoint.schema, self.config.batch_size
        chunks = tqdm(
            range(0, len(requests), bs),
            desc=desc,
            unit="batch",
            disable=not self.config.progress or desc is None,
            leave=False,
        )
        return np.concatenate([render(G, schema, requests[s : s + bs], self.config.device) for s in chunks])

    @_once
    def gen_requests(self) -> list:
        from engine.sampling import resolve

        c = self.config
        return [resolve(self.checkpoint.schema, {}, c.seed + i, c.truncation) for i in range(c.samples)]

    @_once
    def gen_images(self) -> np.ndarray:
        requests = self.gen_requests()
        return self.posted(self.render(requests, desc=f"generating {len(requests)} samples"))

    def gen_styles(self) -> np.ndarray | None:
        """Each generated sample's style, or None for a model without one."""
        if STYLE not in self.checkpoint.schema.names:
            return None
        return np.array([r.attrs[STYLE] for r in self.gen_requests()])

    def posted(self, images: np.ndarray, show: bool = True) -> np.ndarray:
        """The samples at the size users are shown (config.size), the way they reach it."""
        from engine.upscale.stage import enlarge_with

        size = self.config.size or images.shape[1]
        if size == images.shape[1]:
            return images
        key = ("enlarge", images.shape[1], size)  # the stage's weights load once per evaluation
        if key not in self._memo:
            self._memo[key] = enlarge_with(self.config.upscaler, images.shape[1], size)
        enlarge = self._memo[key]
        chunks = tqdm(
            range(len(images)),
            desc=f"enlarging to {size}px",
            unit="img",
            disable=not (self.config.progress and show),
            leave=False,
        )
        return np.stack([enlarge(images[i]) for i in chunks])

    # --- EfficientNet-Lite0 space ------------------------------------------------
    @_once
    def real_indices(self) -> np.ndarray:
        return F.real_subset(len(self.dataset), self.config.max_real)

    @_once
    def real_effl0(self) -> np.ndarray:
        c = self.config
        return F.cached_real_effl0(
            self.dataset,
            size=c.feature_size,
            max_real=c.max_real,
            batch_size=c.batch_size,
            device=c.device,
            cache=c.cache_dir,
            progress=c.progress,
        )

    @_once
    def gen_effl0(self) -> np.ndarray:
        c = self.config
        return F.effl0_features(
            self.gen_images(),
            c.feature_size,
            c.batch_size,
            c.device,
            "generated EffLite0 features",
            c.progress,
        )

    def real_styles(self) -> np.ndarray | None:
        """Each real image's style (in ``real_indices`` order), or None for data without one."""
        schema = self.dataset.schema
        if STYLE not in schema.names:
            return None
        values = np.array([*schema.attribute(STYLE).values, "(none)"])  # -1: not visible
        return values[np.asarray(self.dataset.labels)[self.real_indices(), schema.names.index(STYLE)]]

    # --- a second real set, for real against real (the ceiling) --------------------
    @_once
    def ceiling_indices(self) -> np.ndarray:
        """As many other real images as the reference set holds, none of them in it."""
        reference = self.real_indices()
        others = np.setdiff1d(np.arange(len(self.dataset)), reference)
        if len(others) < len(reference):
            raise MascotError(
                f"real against real needs two disjoint sets of {len(reference)} real images; "
                f"'{self.dataset.root}' has {len(self.dataset)} (make it at least {2 * len(reference)})"
            )
        return others[np.random.default_rng(self.config.seed + 1).permutation(len(others))[: len(reference)]]

    @_once
    def ceiling_images(self) -> np.ndarray:
        return np.asarray(self.dataset.images[np.sort(self.ceiling_indices())])

    @_once
    def ceiling_effl0(self) -> np.ndarray:
        c = self.config
        return F.effl0_features(
            self.dataset.images,
            c.feature_size,
            c.batch_size,
            c.device,
            "other real EffLite0 features",
            c.progress,
            np.sort(self.ceiling_indices()),
        )

    # --- EvalNet (domain features and attribute classifier) ----------------------
    @_once
    def evalnet(self):
        from engine.evalnet import EvalNetConfig, get_evalnet

        return get_evalnet(
            self.classifier_dataset,
            self.evalnet_config or EvalNetConfig(),
            self.config.cache_dir,
            progress=self.config.progress,
        )

    @_once
    def real_domain(self) -> np.ndarray:
        net, idx = self.evalnet(), self.real_indices()
        return np.concatenate(
            [
                net.features(np.asarray(self.dataset.images[idx[s : s + 1024]]))
                for s in range(0, len(idx), 1024)
            ]
        )

    @_once
    def gen_domain(self) -> np.ndarray:
        return self.evalnet().features(self.gen_images())
