"""Step 3 of a curated job: the challenger against the champion.

    <job>/results/evaluation.json = {
      "champion":   {"version", "kid", "attr_precision", "diversity"},
      "challenger": {"version", "kid", "attr_precision", "diversity", "finite"},
      "preference": {"champion", "challenger", "gain", "gain_low", "gain_high",
                     "held_out_accuracy", "majority_rate", "trusted", "train", "test"},
      "samples", "feature_size", "data"
    }

KID is against the base data set (the fine-tune must not drift from it), on the same
seeds for both models; attribute precision by EvalNet. Both are measured with unset
attributes drawn from the base data's prior, not the models' own: a fine-tune moves the
serving prior toward liked looks on purpose (engine/train/loop.py, ``serving_schema``),
and the gate asks whether the pictures got worse, not whether the mix of looks changed.
The preference check scores the same prior samples of both models, each with its own
prior (what users will see), with a preference model trained on the voted images.
``champion`` and ``challenger`` there are mean scores (0..1), ``gain`` their difference
(challenger minus champion) and ``gain_low``..``gain_high`` its paired bootstrap 95 %
interval over the samples. When the preference model could not be fitted, the scores and
the gain are null and ``why`` says why. The interval covers which samples were drawn, not
how well the preference model knows the voters: that is ``trusted``'s job.
The gate that reads this lives in the bot (bot/schedule/gate.py): the engine measures,
the bot decides.

    python -m engine.curate.compare JOB_FOLDER
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from engine.checkpoint import Checkpoint, load_checkpoint
from engine.curate.curated_set import run_step
from engine.curate.preference import PreferenceModel, fit_preference, sharpness
from engine.data.dataset import Dataset
from engine.errors import MascotError
from engine.sampling import render, resolve

METRICS = ("kid_effl0", "attr_precision")
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0  # fixed: the same scores always give the same interval


def measure(ck: Checkpoint, ds: Dataset, settings: dict[str, Any]) -> dict[str, Any]:
    """KID against the base data and attribute precision: the one place the metrics are called."""
    from engine.metrics import evaluate

    at_base_prior = dataclasses.replace(ck, schema=ds.schema)  # same interface, the data's prior
    report = evaluate(
        at_base_prior,
        ds,
        metrics=METRICS,
        samples=settings["samples"],
        seed=settings["seed"],
        feature_size=settings["feature_size"],
        progress=False,
        size=settings.get("size", 0),
        upscaler=settings.get("upscaler", "lanczos"),
        options={"attr_precision": {"per_value": settings["per_value"]}},
    )
    m = report["metrics"]
    return {
        "version": ck.version,
        "kid": float(m["kid_effl0"]["kid"]),
        "attr_precision": float(m["attr_precision"]["mean"]),
    }


def prior_samples(ck: Checkpoint, n: int, seed: int) -> np.ndarray:
    requests = [resolve(ck.schema, {}, seed + i) for i in range(n)]
    return np.concatenate([render(ck.G, ck.schema, requests[s : s + 64]) for s in range(0, n, 64)])


def diversity(images: np.ndarray) -> float:
    """Mean per-pixel standard deviation across samples (0..1): near 0 when every seed draws the
    same picture, which KID on a small sample can miss when the champion is weak too."""
    return float((np.asarray(images, dtype=np.float32) / 255.0).std(axis=0).mean())


def finite_outputs(ck: Checkpoint) -> bool:
    """A generator whose weights hold NaN or inf is broken, whatever the metrics say."""
    return all(bool(p.isfinite().all()) for p in ck.G.state_dict().values() if p.is_floating_point())


class Featurizer:
    """EvalNet domain features of the base data set, plus sharpness."""

    def __init__(self, ds: Dataset) -> None:
        from engine.evalnet import get_evalnet

        self.net = get_evalnet(ds, progress=False)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate([self.net.features(images), sharpness(images)], axis=1)


def paired_bootstrap(
    champion: np.ndarray,
    challenger: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = 0.95,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """Mean gain (challenger minus champion) and its percentile bootstrap interval.

    Paired: sample i of both models comes from the same seed and attributes, so each resample
    draws indices once and takes both scores at them; what a seed does to both (an easy pose,
    a liked hair colour) cancels instead of widening the interval."""
    a, b = np.asarray(champion, dtype=np.float64), np.asarray(challenger, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(f"paired bootstrap needs two equally long score lists, got {a.shape} and {b.shape}")
    diff = b - a
    picks = np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[picks].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(diff.mean()), float(low), float(high)


def preference_check(
    champion: Checkpoint, challenger: Checkpoint, voted: Dataset, featurize, n: int, seed: int
) -> dict[str, Any]:
    liked = np.array([int(t.get("liked", 0)) for t in voted.tags()])
    try:
        model: PreferenceModel = fit_preference(featurize(np.asarray(voted.images)), liked)
    except MascotError as exc:
        return {
            "trusted": False,
            "why": str(exc),
            "champion": None,
            "challenger": None,
            "gain": None,
            "gain_low": None,
            "gain_high": None,
        }
    old, new = (model.score(featurize(prior_samples(ck, n, seed))) for ck in (champion, challenger))
    gain, low, high = paired_bootstrap(old, new)
    return {
        "champion": float(old.mean()),
        "challenger": float(new.mean()),
        "gain": gain,
        "gain_low": low,
        "gain_high": high,
        "held_out_accuracy": model.held_out_accuracy,
        "majority_rate": model.majority_rate,
        "trusted": model.trusted,
        "train": model.n_train,
        "test": model.n_test,
    }


def compare(job: Path) -> dict[str, Any]:
    spec = json.loads((job / "curated.json").read_text())
    settings = spec["eval"]
    champion = load_checkpoint(spec["champion"])
    challenger = load_checkpoint(job / "run" / "model")
    ds = Dataset(spec["data"])
    result: dict[str, Any] = {
        "samples": settings["samples"],
        "feature_size": settings["feature_size"],
        "data": spec["data"],
    }
    result["champion"] = measure(champion, ds, settings)
    if not finite_outputs(challenger):
        result["challenger"] = {
            "version": challenger.version,
            "kid": None,
            "attr_precision": None,
            "finite": False,
        }
        result["preference"] = {"trusted": False, "why": "the challenger's weights are not finite"}
        return result
    result["challenger"] = {**measure(challenger, ds, settings), "finite": True}
    n = min(settings["samples"], 256)
    for name, ck in (("champion", champion), ("challenger", challenger)):
        result[name]["diversity"] = diversity(prior_samples(ck, n, settings["seed"]))
    result["preference"] = preference_check(
        champion, challenger, Dataset(job / "voted"), Featurizer(ds), n, settings["seed"]
    )
    return _finite_or_none(result)


def _finite_or_none(value: Any) -> Any:
    # NaN is not JSON; a metric that came out NaN is reported as missing, which the gate rejects.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    return value


def main(argv: list[str]) -> int:
    return run_step(
        argv,
        "engine.curate.compare",
        compare,
        "evaluation",
        lambda r: json.dumps({k: r[k] for k in ("champion", "challenger")}),
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
