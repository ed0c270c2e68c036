"""``mascot-engine data cluster``: YuruGAN's pseudo-classes for an unlabelled set.

A class-conditional GAN trains more stably than an unconditional one, but mascots come
without classes. YuruGAN makes them: features per image, the number of clusters from
X-means (the rounded mean over ten seeds), then K-means++ with that number; optionally
each cluster is clustered again (its two-stage "RGB-ResNet" clustering). Features:

    rgb     the image itself, box-downsampled to 16x16 (the paper's "RGB feature")
    edge    EfficientNet-Lite0 features of the Sobel edge image (its "Edge-ResNet")
    effnet  EfficientNet-Lite0 pooled features of the image (its "ResNet"; our one
            pretrained network stands in for ResNet-50)

Deep features are L2-normalised (cosine geometry), then every feature is centred and
projected on its top principal components (``--dims``): distances in 1280 dimensions
are dominated by noise, and X-means' BIC needs more points than dimensions.

Only originals are clustered: an augmented copy (tag ``augment.source``) and a skin-tone
variant (tag ``variant_of``) take the class of the picture they come from, as the paper
labels its augmented set with the classes of its basic set. The output has one choice
attribute, ``class``, numbered by size (0 the largest); the old labels and tags are kept
as tags. ``clusters/class_<i>.png`` in the output folder shows each class, and
``clusters/clusters.json`` records how k was chosen.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import MascotError

FEATURES = ("rgb", "edge", "effnet")
RGB_SIDE = 16
XMEANS_RUNS = 10  # the paper averages X-means over ten seeds


@dataclass(frozen=True)
class ClusterConfig:
    features: str = "effnet"
    k: int | None = None  # None: X-means decides
    levels: int = 1
    seed: int = 0
    k_max: int = 20  # X-means stops growing here (pyclustering's default; AC-GAN used <= 10 classes)
    dims: int = 32  # principal components kept


# --- features --------------------------------------------------------------------


def rgb_features(images: np.ndarray) -> np.ndarray:
    """Each image box-downsampled to 16x16 RGB, flattened, in [0, 1]."""
    from PIL import Image

    small = [
        np.asarray(Image.fromarray(np.asarray(im)).resize((RGB_SIDE, RGB_SIDE), Image.Resampling.BOX))
        for im in images
    ]
    return np.stack(small).reshape(len(images), -1).astype(np.float64) / 255.0


def sobel_edges(images: np.ndarray) -> np.ndarray:
    """uint8 edge-magnitude images (white edges on black, 3 channels), each scaled to its own maximum."""
    from scipy import ndimage

    grey = np.asarray(images, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    gx = ndimage.sobel(grey, axis=2)
    gy = ndimage.sobel(grey, axis=1)
    magnitude = np.hypot(gx, gy)
    peak = magnitude.reshape(len(images), -1).max(axis=1)[:, None, None]
    scaled = np.where(peak > 0, magnitude / np.maximum(peak, 1e-9), 0.0)
    return np.repeat((scaled * 255).astype(np.uint8)[..., None], 3, axis=3)


def deep_features(images: np.ndarray) -> np.ndarray:
    from engine.effnet import pooled_features

    feats = pooled_features(images).numpy().astype(np.float64)
    return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def image_features(images: np.ndarray, kind: str) -> np.ndarray:
    if kind == "rgb":
        return rgb_features(images)
    if kind == "edge":
        return deep_features(sobel_edges(images))
    return deep_features(images)


def principal_components(x: np.ndarray, dims: int) -> np.ndarray:
    """``x`` centred and projected on its top ``dims`` principal directions."""
    centred = x - x.mean(axis=0)
    dims = max(1, min(dims, len(x) - 1, x.shape[1]))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:dims].T


# --- which rows are clustered ------------------------------------------------------


def representatives(tags: list[dict[str, Any]]) -> np.ndarray:
    """For each row, the row whose features decide its class (itself, its original, its base)."""
    n = len(tags)
    original_of_source = {}
    for row, t in enumerate(tags):
        aug = t.get("augment")
        if isinstance(aug, dict) and "rotate_deg" not in aug:
            original_of_source.setdefault(aug.get("source"), row)
    step1 = np.arange(n)
    for row, t in enumerate(tags):
        aug = t.get("augment")
        if isinstance(aug, dict) and "rotate_deg" in aug:
            step1[row] = original_of_source.get(aug.get("source"), row)
    base_rows: dict[Any, int] = {}
    for row in range(n):
        if step1[row] == row and "variant_of" not in tags[row] and "unified" in tags[row]:
            base_rows.setdefault(tags[row]["unified"], row)
    step2 = np.array([base_rows.get(tags[r].get("variant_of"), r) for r in range(n)])
    return step2[step1]


# --- clustering ------------------------------------------------------------------


def choose_k(x: np.ndarray, cfg: ClusterConfig, k_min: int, seed: int) -> tuple[int, list[int]]:
    from engine.data.xmeans import estimate_k

    k_max = max(k_min, min(cfg.k_max, len(x) // 2))
    return estimate_k(x, k_min, k_max, seed=seed, runs=XMEANS_RUNS)


def cluster_level(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    from engine.data.xmeans import kmeans

    return kmeans(x, k, np.random.default_rng(seed)).labels


def two_level_labels(feats: np.ndarray, cfg: ClusterConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Cluster labels (one id per distinct path through the levels) and a record of the k chosen."""
    from tqdm import tqdm

    x = principal_components(feats, cfg.dims)
    if cfg.k is None:
        k, runs = choose_k(x, cfg, k_min=2, seed=cfg.seed)
    else:
        k, runs = cfg.k, []
    labels = cluster_level(x, k, cfg.seed)
    record: dict[str, Any] = {"level1": {"k": int(labels.max() + 1), "xmeans_runs": runs}}
    if cfg.levels == 2:
        sub_labels = np.zeros_like(labels)
        splits = []
        for j in tqdm(range(labels.max() + 1), desc="level 2", unit="cluster"):
            members = np.flatnonzero(labels == j)
            if len(members) < 8:  # too few to say anything about sub-structure
                splits.append({"cluster": j, "k": 1, "xmeans_runs": []})
                continue
            sub_x = principal_components(feats[members], cfg.dims)
            sub_k, sub_runs = choose_k(sub_x, cfg, k_min=1, seed=cfg.seed + 1 + j)
            sub_labels[members] = cluster_level(sub_x, sub_k, cfg.seed + 1 + j) if sub_k > 1 else 0
            splits.append({"cluster": j, "k": int(sub_labels[members].max() + 1), "xmeans_runs": sub_runs})
        record["level2"] = splits
        _, labels = np.unique(labels * (sub_labels.max() + 1) + sub_labels, return_inverse=True)
    return labels, record


NAME_SHARE = 0.4  # a label names a class when at least this share of its distinct pictures carry it


def class_names(labels: np.ndarray, kinds: list[list[str | None]], own: np.ndarray) -> list[str] | None:
    """A readable name per class from its distinct pictures' labels, most specific first
    (emoji: the Unicode subgroup in ``category``, then the group in the tags): the first kind
    whose most common value covers NAME_SHARE of the class, with the runner-up added when two
    classes would share a name. None when the pictures carry no such labels (classes keep
    their numbers): the more general kinds only refine names the first kind makes possible."""
    from collections import Counter

    if not any(kinds[0][i] for i in own):
        return None
    names: list[str] = []
    for c in range(int(labels.max()) + 1):
        members = own[labels[own] == c]
        ranked = ["mixed"]
        for kind in kinds:
            counts = Counter(kind[i] for i in members if kind[i]).most_common()
            if counts and counts[0][1] >= NAME_SHARE * len(members):
                ranked = [value for value, _ in counts]
                break
        name = ranked[0]
        if name in names and len(ranked) > 1:
            name = f"{ranked[0]}+{ranked[1]}"
        if name in names:
            name = f"{name}-{c}"
        names.append(name)
    return names


def by_size(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered so class 0 is the largest (ties by first appearance)."""
    sizes = np.bincount(labels)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels]


# --- the command -------------------------------------------------------------------


def parse_k(text: str) -> int | None:
    if str(text).strip().lower() == "auto":
        return None
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 2:
        raise MascotError(f"--k must be 'auto' or a whole number of clusters, 2 or more; got '{text}'")
    return k


def cluster_dataset(src: Path, out: Path, cfg: ClusterConfig) -> dict[str, Any]:
    """Write ``src`` relabelled with pseudo-classes to ``out``; returns the class sizes."""
    from tqdm import tqdm

    from engine.data.dataset import Dataset, DatasetWriter, Source, contact_sheet
    from engine.schema import class_schema

    validate(cfg, src, out)
    ds = Dataset(src)
    tags = ds.tags()
    rep = representatives(tags)
    originals = np.unique(rep)
    if cfg.k is not None and cfg.k > len(originals):
        raise MascotError(f"--k {cfg.k} is more than the {len(originals)} distinct pictures in {src}")
    if len(originals) < 4:
        raise MascotError(f"{src} has only {len(originals)} distinct pictures; clustering needs at least 4")
    print(f"{cfg.features} features of {len(originals)} distinct pictures ...")
    feats = image_features(np.asarray(ds.images[originals]), cfg.features)
    orig_labels, record = two_level_labels(feats, cfg)
    labels = by_size(orig_labels[np.searchsorted(originals, rep)])
    sizes = np.bincount(labels).tolist()
    old_labels = [
        {a.name: a.values[v] for a, v in zip(ds.schema.attributes, row) if v >= 0} for row in ds.labels
    ]
    own = np.flatnonzero(rep == np.arange(len(rep)))
    kinds = [[old.get("category") for old in old_labels], [t.get("group") for t in tags]]
    names = class_names(labels, kinds, own)
    schema = class_schema(len(sizes), sizes, names)
    description = (
        f"{ds.card.get('description') or src.name}; {len(sizes)} classes from "
        f"{cfg.features} features ({'X-means' if cfg.k is None else f'k={cfg.k}'}, {cfg.levels} level(s))"
    )
    with DatasetWriter(
        out, resolution=ds.resolution, schema=schema, capacity=len(ds), description=description
    ) as writer:
        writer.sources = [Source(**s) for s in ds.card.get("sources", [])]
        for i in tqdm(range(len(ds)), desc="write", unit="img"):
            writer.add(
                np.asarray(ds.images[i]),
                {"class": schema.attributes[0].values[labels[i]]},
                tags={**tags[i], "original_labels": old_labels[i]},
            )
    write_cluster_sheets(out, ds.images, labels, rep, contact_sheet)
    record.update(
        {
            "features": cfg.features,
            "dims": cfg.dims,
            "k_max": cfg.k_max,
            "seed": cfg.seed,
            "sizes": sizes,
            "names": list(schema.attributes[0].values),
            "source": str(src),
        }
    )
    (out / "clusters" / "clusters.json").write_text(json.dumps(record, indent=1))
    return record


def validate(cfg: ClusterConfig, src: Path, out: Path) -> None:
    if cfg.features not in FEATURES:
        raise MascotError(f"unknown --features '{cfg.features}'; choose one of: {', '.join(FEATURES)}")
    if cfg.levels not in (1, 2):
        raise MascotError(f"--levels must be 1 or 2, got {cfg.levels}")
    if not 2 <= cfg.k_max <= 1000:
        raise MascotError(f"--kmax must be from 2 to 1000, got {cfg.k_max}")
    if not 1 <= cfg.dims <= 4096:
        raise MascotError(f"--dims must be from 1 to 4096, got {cfg.dims}")
    if src.resolve() == out.resolve():
        raise MascotError(
            "--out must differ from the input folder; the input is read while the output is written"
        )


def write_cluster_sheets(out: Path, images: np.ndarray, labels: np.ndarray, rep: np.ndarray, sheet) -> None:
    """``out/clusters/class_<i>.png``: up to 64 distinct pictures of each class, spread evenly."""
    folder = out / "clusters"
    folder.mkdir(exist_ok=True)
    own = np.flatnonzero(rep == np.arange(len(rep)))  # originals only: copies would crowd the sheet
    for c in range(labels.max() + 1):
        members = own[labels[own] == c]
        shown = members[np.linspace(0, len(members) - 1, min(64, len(members))).astype(int)]
        sheet(np.asarray(images[np.sort(shown)])).save(folder / f"class_{c}.png")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "cluster",
        help="YuruGAN pseudo-classes: features, X-means, K-means++",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", help="data set folder to cluster")
    p.add_argument("--features", default="effnet", help="rgb, edge or effnet (default effnet)")
    p.add_argument("--k", default="auto", help="number of clusters, or auto (X-means, default)")
    p.add_argument("--levels", type=int, default=1, help="2: cluster each cluster again (default 1)")
    p.add_argument(
        "--kmax", type=int, default=ClusterConfig.k_max, help="most clusters X-means may find per level"
    )
    p.add_argument(
        "--dims", type=int, default=ClusterConfig.dims, help="principal components kept (default 32)"
    )
    p.add_argument("--out", default=None, help="data set folder to write (default: DIR-clustered)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    src = Path(args.dir)
    out = Path(args.out) if args.out else src.with_name(src.name + "-clustered")
    cfg = ClusterConfig(
        features=args.features,
        k=parse_k(args.k),
        levels=args.levels,
        seed=args.seed,
        k_max=args.kmax,
        dims=args.dims,
    )
    record = cluster_dataset(src, out, cfg)
    runs = record["level1"]["xmeans_runs"]
    if runs:
        print(f"X-means k over {len(runs)} seeds: {runs} -> {record['level1']['k']}")
    sizes = record["sizes"]
    print(
        f"{len(sizes)} classes, sizes: "
        f"{', '.join(f'{i} {name}:{n}' for i, (name, n) in enumerate(zip(record['names'], sizes)))}"
    )
    print(f"wrote {out} (sheets in {out / 'clusters'})")
    return 0
