"""EvalNet: the project's own small CNN, trained on the labelled real images only.

It plays two parts, as Illustration2Vec did for MakeGirlsMoe:

* **attribute classifier** (``attr_precision``): one softmax head per attribute;
* **domain encoder** (``kid_domain``): its penultimate layer (``FEAT_DIM``-d) is a
  second feature space, learnt on mascots, that the ``projected`` discriminator
  (which sees only EfficientNet-Lite0 features) never sees.

One network for both, on purpose: the penultimate layer of a net trained to tell the
attributes apart is exactly the "visual features of the domain" MakeGirlsMoe wanted, it
costs one training run instead of two, and both parts stay independent of every
generator and discriminator. Its held-out accuracy per attribute (a fixed 20 % split,
unknown labels ignored) is stored with it and printed in every report, so a precision is
never read without the classifier's own error.

Weights (about 4.5 MB at width 32) are cached under ``<cache>/metrics/evalnet-<fingerprint>-<hash>``
as safetensors + JSON, written atomically, and rebuilt on first use or by
``mascot-engine eval-models build --data DIR``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from engine.errors import MascotError
from engine.features import cache_dir, resize_to_tensor, settings_hash
from engine.schema import UNKNOWN, Schema

FEAT_DIM = 128


@dataclass(frozen=True)
class EvalNetConfig:
    size: int = 64  # input resolution: every image (real or generated) is resized to it
    # Width 32 and 16 epochs: at width 16 / 6 epochs smile stayed at 0.79 held out on the
    # 20k DiceBear set (mouths are a few pixels at 64px); 32 / 16 reaches >= 0.99 on every attribute.
    width: int = 32
    epochs: int = 16
    batch_size: int = 64
    lr: float = 3e-3
    holdout: float = 0.2  # fraction of labelled images kept out of training, for the accuracy
    max_images: int = 20000  # enough to learn the attributes; bounds CPU time on big sets
    seed: int = 0

    def __post_init__(self) -> None:
        if not 16 <= self.size <= 256:
            raise MascotError(f"evalnet size must be from 16 to 256 pixels, got {self.size}")
        if not 0.05 <= self.holdout <= 0.5:
            raise MascotError(f"evalnet holdout must be from 0.05 to 0.5, got {self.holdout}")
        if self.epochs < 1 or self.width < 4 or self.batch_size < 2:
            raise MascotError("evalnet needs epochs >= 1, width >= 4 and batch_size >= 2")


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class EvalNet(nn.Module):
    """A full-resolution stem (eye colour is a few pixels at 64px), stages halving the
    resolution down to 4x4, a FEAT_DIM layer over the flattened 4x4 map (where a feature
    is matters: eyes sit above mouths), one linear head per attribute. Small on purpose:
    it trains on CPU in a quarter of an hour and its weights stay a few megabytes."""

    def __init__(self, head_sizes: tuple[int, ...], size: int = 64, width: int = 16) -> None:
        super().__init__()
        layers, ch, res = [_conv(3, width // 2), _conv(width // 2, width, 2)], width, size // 2
        while res > 4:
            nxt = min(ch * 2, width * 8)
            layers += [_conv(ch, ch), _conv(ch, nxt, 2)]
            ch, res = nxt, res // 2
        self.body = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(ch * res * res, FEAT_DIM), nn.ReLU(inplace=True))
        self.heads = nn.ModuleList(nn.Linear(FEAT_DIM, k) for k in head_sizes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f = self.features(x)
        return [head(f) for head in self.heads]


@dataclass
class TrainedEvalNet:
    """A trained EvalNet with the schema it reads and its held-out accuracy per attribute."""

    net: EvalNet
    schema: Schema
    config: EvalNetConfig
    accuracy: dict[str, float | None]  # None: no held-out image had that attribute visible
    fingerprint: str

    @torch.no_grad()
    def _batches(self, images: np.ndarray, fn, batch_size: int = 256) -> np.ndarray:
        self.net.eval()
        starts = range(0, len(images), batch_size)
        out = [fn(resize_to_tensor(images[s : s + batch_size], self.config.size)) for s in starts]
        return np.concatenate(out) if out else np.zeros((0,))

    def features(self, images: np.ndarray) -> np.ndarray:
        """Domain features (N, FEAT_DIM) of uint8 NHWC images, float64."""
        return self._batches(images, lambda x: self.net.features(x).double().numpy())

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Predicted value index per attribute, (N, n_attributes) int."""
        return self._batches(images, lambda x: torch.stack([h.argmax(1) for h in self.net(x)], 1).numpy())

    def probabilities(self, images: np.ndarray) -> list[np.ndarray]:
        """Softmax per attribute, in schema order: one (N, n_values) array each (the tagger's confidence)."""
        sizes = [len(a.values) for a in self.schema.attributes]
        if len(images) == 0:
            return [np.zeros((0, k)) for k in sizes]
        joined = self._batches(
            images, lambda x: torch.cat([h.softmax(1) for h in self.net(x)], 1).double().numpy()
        )
        return np.split(joined, np.cumsum(sizes)[:-1], axis=1)


# --- training ---------------------------------------------------------------------


def split_indices(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed (train, held-out) split of range(n)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(n * holdout))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _random_shift(x: torch.Tensor, gen: torch.Generator, pad: int) -> torch.Tensor:
    # Small translations only: generated mascots are not pixel-aligned like the renders,
    # and flips would change asymmetric attributes.
    _, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dx, dy = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
    return padded[:, :, dy : dy + h, dx : dx + w]


def _loss(logits: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    # Unknown labels (-1: hair under a hat) carry no signal: ignore_index drops them.
    terms = [
        F.cross_entropy(lg, labels[:, i], ignore_index=UNKNOWN)
        for i, lg in enumerate(logits)
        if (labels[:, i] != UNKNOWN).any()
    ]
    return torch.stack(terms).sum() if terms else logits[0].sum() * 0


def held_out_accuracy(
    model: TrainedEvalNet, images: np.ndarray, labels: np.ndarray
) -> dict[str, float | None]:
    pred = model.predict(images)
    acc: dict[str, float | None] = {}
    for i, attr in enumerate(model.schema.attributes):
        known = labels[:, i] != UNKNOWN
        acc[attr.name] = float((pred[known, i] == labels[known, i]).mean()) if known.any() else None
    return acc


def train_evalnet(
    ds, config: EvalNetConfig = EvalNetConfig(), progress: bool = True, device: str = "cpu"
) -> TrainedEvalNet:
    """Train on the data set's labelled images (train split), measure on the held-out split.

    ``device`` only changes where it trains (a GPU: seconds instead of a CPU quarter-hour);
    the draws come from one CPU generator, and the trained net is returned on the CPU."""
    labels_all = np.asarray(ds.labels, dtype=np.int64)
    if len(ds) < 10:
        raise MascotError(
            f"the attribute classifier needs at least 10 labelled images; '{ds.root}' has {len(ds)}"
        )
    if (labels_all == UNKNOWN).all():
        raise MascotError(f"'{ds.root}' has no known labels, so no attribute classifier can be trained on it")
    torch.manual_seed(config.seed)
    pool = np.sort(np.random.default_rng(config.seed).permutation(len(ds))[: config.max_images])
    train_idx, val_idx = (pool[i] for i in split_indices(len(pool), config.holdout, config.seed))
    # Resize once up front: the classifier's input is small, so the whole set fits in memory.
    x_train = _resized(ds.images, train_idx, config.size).to(device)
    y_train = torch.from_numpy(labels_all[train_idx]).to(device)
    net = EvalNet(tuple(len(a.values) for a in ds.schema.attributes), config.size, config.width).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    steps_per_epoch = max(1, len(train_idx) // config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=config.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(config.seed)
    bar = tqdm(
        total=config.epochs * steps_per_epoch, desc="attribute classifier", unit="step", disable=not progress
    )
    net.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(train_idx), generator=gen)
        for s in range(steps_per_epoch):
            batch = order[s * config.batch_size : (s + 1) * config.batch_size].to(device)
            x = _random_shift(x_train[batch], gen, pad=max(1, config.size // 16))
            loss = _loss(net(x), y_train[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            if s % 50 == 0:  # reading the loss waits for the device
                bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model = TrainedEvalNet(net.cpu().eval(), ds.schema, config, {}, ds.fingerprint)
    model.accuracy = held_out_accuracy(model, _subset(ds.images, val_idx), labels_all[val_idx])
    return model


def _subset(images: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.asarray(images[idx])


def _resized(images: np.ndarray, idx: np.ndarray, size: int, chunk: int = 512) -> torch.Tensor:
    return torch.cat([resize_to_tensor(images[idx[s : s + chunk]], size) for s in range(0, len(idx), chunk)])


# --- cache --------------------------------------------------------------------------


def _cache_stem(fingerprint: str, config: EvalNetConfig, cache: str | Path | None) -> Path:
    return cache_dir(cache) / f"evalnet-{fingerprint}-{settings_hash({**dataclasses.asdict(config), 'v': 1})}"


def save_evalnet(model: TrainedEvalNet, stem: Path) -> None:
    """Weights + description side by side, each written to a temp name and renamed."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{stem.name}.", dir=stem.parent))
    try:
        state = {k: v.detach().contiguous().clone() for k, v in model.net.state_dict().items()}
        save_file(state, tmp / "w.safetensors")
        meta = {
            "config": dataclasses.asdict(model.config),
            "schema": model.schema.to_json(),
            "accuracy": model.accuracy,
            "fingerprint": model.fingerprint,
            "created": time.time(),
        }
        (tmp / "m.json").write_text(json.dumps(meta, indent=1))
        os.replace(tmp / "w.safetensors", stem.with_suffix(".safetensors"))
        os.replace(tmp / "m.json", stem.with_suffix(".json"))  # written last: its presence means complete
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_evalnet(stem: Path) -> TrainedEvalNet | None:
    """The cached model, or None when it is missing or unreadable (then it is rebuilt)."""
    try:
        meta = json.loads(stem.with_suffix(".json").read_text())
        schema = Schema.from_json(meta["schema"])
        config = EvalNetConfig(**meta["config"])
        net = EvalNet(tuple(len(a.values) for a in schema.attributes), config.size, config.width)
        net.load_state_dict(load_file(stem.with_suffix(".safetensors")))
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, SafetensorError, MascotError):
        return None
    return TrainedEvalNet(net.eval(), schema, config, meta["accuracy"], meta["fingerprint"])


TAGGER = "tagger"  # checkpoints/tagger/tagger.{safetensors,json}: the classifier shipped beside the models


def export_tagger(model: TrainedEvalNet, folder: str | Path, data: str) -> Path:
    """The classifier as a shipped model: weights + JSON with their hash and what it was trained on."""
    from engine.checkpoint import file_sha256

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / TAGGER
    save_evalnet(model, stem)
    meta = json.loads(stem.with_suffix(".json").read_text())
    meta.update(kind="tagger", data=data, weights_sha256=file_sha256(stem.with_suffix(".safetensors")))
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return folder


def load_tagger(folder: str | Path) -> TrainedEvalNet:
    """A shipped classifier, its weights checked against the hash in its JSON; MascotError if unusable."""
    from engine.checkpoint import file_sha256

    stem = Path(folder) / TAGGER
    try:
        expected = json.loads(stem.with_suffix(".json").read_text()).get("weights_sha256")
    except (OSError, ValueError) as exc:
        raise MascotError(f"no readable tagger in '{folder}': {exc}") from None
    if not expected or file_sha256(stem.with_suffix(".safetensors")) != expected:
        raise MascotError(
            f"the tagger in '{folder}' does not match the hash in its tagger.json (damaged or replaced)"
        )
    model = load_evalnet(stem)
    if model is None:
        raise MascotError(f"the tagger in '{folder}' could not be read (weights and description disagree)")
    return model


def get_evalnet(
    ds,
    config: EvalNetConfig = EvalNetConfig(),
    cache: str | Path | None = None,
    rebuild: bool = False,
    progress: bool = True,
    device: str = "cpu",
) -> TrainedEvalNet:
    """The data set's EvalNet: from the cache, or trained now (on ``device``) and cached."""
    stem = _cache_stem(ds.fingerprint, config, cache)
    model = None if rebuild else load_evalnet(stem)
    if model is None:
        model = train_evalnet(ds, config, progress, device)
        save_evalnet(model, stem)
    return model


def accuracy_lines(accuracy: dict[str, float | None]) -> str:
    return "\n".join(f"  {name}: {'n/a' if a is None else f'{a:.3f}'}" for name, a in accuracy.items())
