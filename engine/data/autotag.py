"""Auto-tagging: the attribute classifier reads a user's pictures and labels them.

The classifier is the evaluation's own (``engine.evalnet``), trained once on a
labelled data set (``--tagger``, by default the nightly loop's base set) and cached, so
tagged pictures share that set's attribute schema and can train an attribute-conditional
model, or fine-tune one trained on that set.

A reading below the confidence threshold is not trusted: the label is stored as unknown
(-1), which training treats like a blanked attribute (an all-zero conditioning block,
ignored by every classifier loss) and serving fills from the label table, exactly like
hair hidden under a hat. Every reading, kept or not, is written with its confidence:

    DIR/autotags.json   tagger, threshold, per file every attribute's value and confidence
    DIR/autotags.csv    file + the kept labels (blank = unknown); fix it by hand and rebuild
                        with ``data folder SRC --tags DIR/autotags.csv``
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import MascotError

DEFAULT_THRESHOLD = 0.8
FALLBACK_TAGGER = "data/dicebear-2k-64"  # when config.toml has no [schedule] data


@dataclass(frozen=True)
class Reading:
    """What the classifier read for one attribute of one picture."""

    value: str
    confidence: float
    kept: bool


def default_tagger_data() -> tuple[Path, str]:
    """The labelled set whose classifier tags by default, and where that default comes from."""
    from engine.config import load_config, section

    configured = section(load_config(), "schedule").get("data")
    if configured:
        return Path(str(configured)), "config.toml [schedule] data, the nightly loop's base set"
    return Path(FALLBACK_TAGGER), "the built-in default"


def check_threshold(threshold: float) -> float:
    if not 0.0 <= threshold < 1.0:
        raise MascotError(f"--tag-threshold must be from 0 to below 1 (a confidence), got {threshold}")
    return threshold


def open_tagger_data(tagger: str | None):
    """The tagger's labelled data set; a MascotError saying how to build it when absent."""
    from engine.data.dataset import Dataset

    path, origin = (Path(tagger), "--tagger") if tagger else default_tagger_data()
    if not (path / "card.json").is_file():
        raise MascotError(
            f"no labelled data set for the tagger at '{path}' ({origin}). Build one with\n"
            f"  mascot-engine data dicebear --count 2000 --size 64 --out {path}\n"
            f"or name another labelled data set with --tagger DIR"
        )
    ds = Dataset(path)
    if (np.asarray(ds.labels) < 0).all():
        raise MascotError(
            f"'{path}' has no labels, so it cannot teach the tagger; give a labelled set with --tagger"
        )
    return ds


def load_tagger(tagger: str | None, device: str = "cpu"):
    """(classifier, description): the trained classifier of the tagger's data set (trained
    now and cached on first use) and which set it is."""
    from engine.evalnet import accuracy_lines, get_evalnet

    ds = open_tagger_data(tagger)
    print(
        f"tagger: the attribute classifier of {ds.root} "
        "(from the cache, or trained once now: minutes on a CPU)"
    )
    model = get_evalnet(ds, device=device)
    print("tagger's held-out accuracy on its own data set:\n" + accuracy_lines(model.accuracy))
    return model, f"{ds.root} (fingerprint {ds.fingerprint})"


class AutoTagger:
    """Labels batches of prepared pictures with a trained classifier, keeping confident readings."""

    def __init__(self, model, threshold: float = DEFAULT_THRESHOLD, source: str = "") -> None:
        self.model = model
        self.threshold = check_threshold(threshold)
        self.source = source or str(getattr(model, "fingerprint", ""))
        # The tagger set's label table describes its own pictures, not these: rebuilt from ours.
        self.schema = dataclasses.replace(model.schema, joint=None)
        self.readings: dict[str, dict[str, Reading]] = {}

    def label(self, names: list[str], images: np.ndarray) -> list[dict[str, str]]:
        """The kept labels of each picture (uint8 NHWC); every reading is remembered."""
        probs = self.model.probabilities(images)
        out = []
        for row, name in enumerate(names):
            readings = {
                attr.name: self._reading(attr, p[row]) for attr, p in zip(self.schema.attributes, probs)
            }
            self.readings[name] = readings
            out.append({a: r.value for a, r in readings.items() if r.kept})
        return out

    def _reading(self, attr, p: np.ndarray) -> Reading:
        best = int(np.argmax(p))
        return Reading(attr.values[best], round(float(p[best]), 4), bool(p[best] >= self.threshold))

    def schema_for(self, labels: np.ndarray):
        """The tagger's schema with priors from the kept labels (attributes never kept keep theirs)."""
        return self.schema.with_priors_moved(labels, 1.0) if len(labels) else self.schema

    def kept_share(self) -> dict[str, float]:
        n = max(1, len(self.readings))
        return {
            a.name: sum(r[a.name].kept for r in self.readings.values()) / n for a in self.schema.attributes
        }

    def summary(self, accuracy: dict[str, Any]) -> dict[str, Any]:
        return {
            "tagger": self.source,
            "threshold": self.threshold,
            "tagger_held_out_accuracy": accuracy,
            "kept_share": self.kept_share(),
            "files": {
                name: {a: dataclasses.asdict(r) for a, r in rs.items()} for name, rs in self.readings.items()
            },
        }

    def write(self, out: Path, kept_files: list[str]) -> None:
        """autotags.json and autotags.csv beside the data set, each written atomically."""
        from engine.atomic import atomic_write_text

        summary = self.summary(getattr(self.model, "accuracy", {}))
        summary["files"] = {f: summary["files"][f] for f in kept_files}
        atomic_write_text(out / "autotags.json", json.dumps(summary, indent=1))
        atomic_write_text(out / "autotags.csv", self._csv(kept_files))

    def _csv(self, files: list[str]) -> str:
        names = list(self.schema.names)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", *names])
        for f in files:
            rs = self.readings[f]
            writer.writerow([f, *(rs[a].value if rs[a].kept else "" for a in names)])
        return buffer.getvalue()

    def describe(self) -> str:
        share = self.kept_share()
        return "\n".join(
            f"  {name}: {share[name]:.0%} confident (>= {self.threshold:g}), the rest unknown"
            for name in self.schema.names
        )
