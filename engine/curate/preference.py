"""A small model of what the voters like: logistic regression on image features.

Trained on the voted set (liked = 1, disliked = 0) with a held-out split, so the job can
say how well it predicts votes it never saw; a model that does no better than the
majority class on held-out votes is reported as not trusted, and the gate will not let
an untrusted preference check count as an improvement.

Features are chosen by the caller (``compare`` uses EvalNet's domain features, which
know hair colour, smiles and the like, plus a sharpness measure: blurry mascots are
what voters punish most). L2-regularised, standardised, fitted with plain gradient
descent: a few hundred votes are a small problem, no library needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import MascotError


@dataclass(frozen=True)
class PreferenceConfig:
    holdout: float = 0.25
    l2: float = 0.05
    steps: int = 500
    lr: float = 0.5
    seed: int = 0
    min_held_out: int = 10  # fewer held-out votes than this cannot show the model beats guessing


@dataclass(frozen=True)
class PreferenceModel:
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    bias: float
    held_out_accuracy: float
    majority_rate: float  # held-out accuracy of always guessing the commoner answer
    n_train: int
    n_test: int
    min_held_out: int = 10

    @property
    def trusted(self) -> bool:
        return self.n_test >= self.min_held_out and self.held_out_accuracy > self.majority_rate

    def score(self, features: np.ndarray) -> np.ndarray:
        """Probability that a voter likes each image."""
        return _sigmoid(((features - self.mean) / self.std) @ self.weights + self.bias)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def split(labels: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified: each class keeps its share in the held-out part (at least one, if it has two)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in (0, 1):
        idx = rng.permutation(np.nonzero(labels == cls)[0])
        n_test = max(round(len(idx) * holdout), 1) if len(idx) >= 2 else 0
        test += list(idx[:n_test])
        train += list(idx[n_test:])
    return np.array(sorted(train), dtype=int), np.array(sorted(test), dtype=int)


def fit_preference(
    features: np.ndarray, liked: np.ndarray, config: PreferenceConfig = PreferenceConfig()
) -> PreferenceModel:
    features, liked = np.asarray(features, dtype=np.float64), np.asarray(liked).astype(int)
    if len(features) != len(liked) or features.ndim != 2:
        raise MascotError(f"preference: {len(features)} feature rows for {len(liked)} votes")
    if len(np.unique(liked)) < 2:
        raise MascotError("preference: the votes need both liked and disliked images to learn from")
    train, test = split(liked, config.holdout, config.seed)
    mean, std = features[train].mean(0), features[train].std(0) + 1e-6
    x, y = (features[train] - mean) / std, liked[train]
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(config.steps):
        p = _sigmoid(x @ w + b)
        w -= config.lr * (x.T @ (p - y) / len(y) + config.l2 * w)
        b -= config.lr * float(np.mean(p - y))
    model = PreferenceModel(mean, std, w, b, 0.0, 0.0, len(train), len(test), config.min_held_out)
    if len(test):
        predicted = model.score(features[test]) >= 0.5
        accuracy = float(np.mean(predicted == liked[test]))
        majority = float(max(np.mean(liked[test]), 1 - np.mean(liked[test])))
        model = PreferenceModel(
            mean, std, w, b, accuracy, majority, len(train), len(test), config.min_held_out
        )
    return model


def sharpness(images: np.ndarray) -> np.ndarray:
    """(N, 1) mean absolute Laplacian of the grey image: low for blurry pictures."""
    grey = np.asarray(images, dtype=np.float32).mean(-1) / 255.0
    lap = (
        4 * grey[:, 1:-1, 1:-1]
        - grey[:, :-2, 1:-1]
        - grey[:, 2:, 1:-1]
        - grey[:, 1:-1, :-2]
        - grey[:, 1:-1, 2:]
    )
    return np.abs(lap).mean((1, 2))[:, None].astype(np.float64)
