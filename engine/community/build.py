"""A community's pictures become its data set, through the same path as ``data folder``.

``engine.data.folder.build_folder`` reads, pads, resizes and de-duplicates the pictures as
``mascot-engine data folder`` does. Then the labels, whichever the pictures support:

* with a tagger (a labelled set's attribute classifier, ``BuildConfig.tagger``), the pictures
  are auto-tagged as ``data folder --auto-tag`` does; when the classifier reads at least
  ``min_kept_share`` of the readings confidently, the model gets the tagger's attributes;
* otherwise (no tagger, or pictures the tagger cannot read: they are not like its renders),
  the pictures are clustered into look-alike groups as ``data cluster --k auto`` does, and the
  model gets one attribute, ``class``, one value per group.

The answer names the attributes or classes and carries the contact sheet of what was taken.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.community.store import Community, CommunityError, Limits
from engine.errors import MascotError


@dataclass(frozen=True)
class BuildConfig:
    size: int = 64  # the preset's resolution
    tagger: str = ""  # a labelled data set whose classifier tags; "" = clustering only
    min_kept_share: float = 0.6  # of the tagger's readings, averaged over attributes
    features: str = "effnet"  # clustering's features (rgb is quicker, for tests)


def build_dataset(community: Community, cfg: BuildConfig, limits: Limits) -> dict[str, Any]:
    """Build ``community.data`` from its pictures; returns what the model will have."""
    from engine.data.folder import FolderConfig, build_folder

    count = _picture_count(community)
    if count < limits.min_pictures:
        raise CommunityError(
            f"community '{community.id}' has {count} pictures; a model needs at least "
            f"{limits.min_pictures} (upload more first)"
        )
    community.check_disk(limits)
    work = community.folder / "data"
    plain = work / "folder"
    for stale in (plain, work / "clustered"):
        shutil.rmtree(stale, ignore_errors=True)
    folder_cfg = FolderConfig(size=cfg.size, licence="supplied by the community", credit=community.id)
    tagger = _tagger(cfg.tagger)
    try:
        result = build_folder(community.pictures, plain, folder_cfg, tagger=tagger)
    except MascotError as exc:
        raise CommunityError(f"the pictures could not become a data set: {exc}") from None
    if result["count"] < limits.min_pictures:
        raise CommunityError(
            f"only {result['count']} of the pictures could be used (the rest are listed under "
            f"'skipped' and 'duplicates'); a model needs at least {limits.min_pictures}"
        )
    shares = tagger.kept_share() if tagger else {}
    if shares and sum(shares.values()) / len(shares) >= cfg.min_kept_share:
        summary = _tags_summary(result["schema"], shares)
        _replace(plain, community.data)
    else:
        summary = _cluster(plain, work / "clustered", cfg, reason=_why_clusters(tagger, shares, cfg))
        _replace(work / "clustered", community.data)
        shutil.rmtree(plain, ignore_errors=True)
    summary.update(
        {
            "pictures": result["count"],
            "size": result["size"],
            "skipped": [{"file": f, "reason": r} for f, r in result["skipped"]],
            "duplicates": [{"file": f, "same_as": o} for f, o in result["duplicates"]],
            "built": time.time(),
        }
    )
    return summary


def _picture_count(community: Community) -> int:
    from engine.community.intake import stored_pictures

    return len(stored_pictures(community))


def _tagger(path: str):
    """The AutoTagger of ``path``'s labelled set, or None when there is none to use."""
    if not path or not (Path(path) / "card.json").is_file():
        return None
    from engine.data.autotag import DEFAULT_THRESHOLD, AutoTagger, load_tagger

    model, source = load_tagger(path)
    return AutoTagger(model, DEFAULT_THRESHOLD, source=source)


def _tags_summary(schema, shares: dict[str, float]) -> dict[str, Any]:
    return {
        "labels": "tags",
        "attributes": {a.name: list(a.values) for a in schema.attributes},
        "kept_share": {k: round(v, 3) for k, v in shares.items()},
        "why": "the attribute classifier read most of the pictures confidently",
    }


def _why_clusters(tagger, shares: dict[str, float], cfg: BuildConfig) -> str:
    if tagger is None:
        return "no attribute classifier is configured, so the pictures were grouped by look"
    mean = sum(shares.values()) / max(1, len(shares))
    return (
        f"the attribute classifier read only {mean:.0%} of its readings confidently "
        f"(under {cfg.min_kept_share:.0%}), so the pictures were grouped by look"
    )


def _cluster(plain: Path, out: Path, cfg: BuildConfig, reason: str) -> dict[str, Any]:
    from engine.data.cluster import ClusterConfig, cluster_dataset

    try:
        record = cluster_dataset(plain, out, ClusterConfig(features=cfg.features))
    except MascotError as exc:
        raise CommunityError(f"the pictures could not be grouped into classes: {exc}") from None
    names = record["names"]
    return {
        "labels": "classes",
        "attributes": {"class": list(names)},
        "class_sizes": dict(zip(names, record["sizes"])),
        "why": reason,
    }


def _replace(src: Path, dst: Path) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    src.rename(dst)
