"""Which attribute values occur together in the training data, to fill unset attributes.

Drawing each unset attribute from its own prior asks for combinations the data never
shows: in DiceBear only avataaars and pixel-art wear hats and only three styles have a
labelled eye colour, so ``hat:yes`` with a style from the prior was a hatless style two
times in three, and the model drew no hat (attribute precision 0.31). ``LabelJoint`` keeps
the distinct label rows of the training set with their weights; unset attributes are
copied from a row that agrees with what was asked, unknown (all-zero block) where that
row has no label, exactly as the generator saw them in training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

UNKNOWN = -1  # label index of a value that is not visible in the image
CDF_CACHE = 4096  # combinations of asked values whose cumulative weights a table keeps


class JointError(ValueError):
    """A stored label table that is malformed."""


@dataclass(frozen=True, eq=False)
class LabelJoint:
    """Distinct label rows ``(U, n_attributes)`` (value indices, ``UNKNOWN`` = -1) and their weights."""

    rows: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        rows = np.asarray(self.rows)
        weights = np.asarray(self.weights, dtype=np.float64)
        if rows.dtype.kind not in "iu" or (rows.size and not UNKNOWN <= rows.min() <= rows.max() < 2**15):
            raise JointError("label rows must hold value indices (whole numbers, -1 for unknown)")
        if rows.ndim != 2 or len(rows) == 0 or weights.shape != (len(rows),):
            raise JointError(
                "label rows must be a non-empty (rows, attributes) table with one weight each, got "
                f"{rows.shape} and {weights.shape}"
            )
        if not np.all(np.isfinite(weights)) or weights.min() <= 0:
            raise JointError("label row weights must be positive, finite numbers")
        object.__setattr__(self, "rows", rows.astype(np.int16))
        object.__setattr__(self, "weights", weights / weights.sum())
        object.__setattr__(self, "_cdfs", {})  # (attribute, value) pairs asked -> cumulative weights

    @classmethod
    def from_labels(cls, labels: np.ndarray) -> LabelJoint:
        """The empirical joint of a data set's label rows."""
        rows, counts = np.unique(np.asarray(labels, dtype=np.int16), axis=0, return_counts=True)
        return cls(rows, counts.astype(np.float64))

    def mixed(self, other: LabelJoint, share: float) -> LabelJoint:
        """``(1 - share) * self + share * other``: the rows of batches that take ``share`` from ``other``."""
        rows = np.concatenate([self.rows, other.rows])
        weights = np.concatenate([(1.0 - share) * self.weights, share * other.weights])
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        summed = np.bincount(inverse.ravel(), weights=weights, minlength=len(unique))
        keep = summed > 0
        return LabelJoint(unique[keep], summed[keep])

    def draw_row(self, given: Mapping[int, int], rng: np.random.Generator) -> np.ndarray:
        """A row agreeing with as many ``{attribute index: value index}`` as the data allows.

        Constraints are applied in attribute order; one that no remaining row satisfies
        (a combination the data never shows) is skipped, so a row is always found and the
        asked value itself is kept by the caller.
        """
        # One uniform draw against the cumulative weights of the rows that agree: the same row
        # ``rng.choice(len(rows), p=...)`` picks for the same generator state, without
        # recomputing (and re-validating) the weights each time a request asks the same.
        cdf = self._cdf(tuple(sorted(given.items())))
        return self.rows[int(cdf.searchsorted(rng.random(), side="right"))]

    def _cdf(self, asked: tuple[tuple[int, int], ...]) -> np.ndarray:
        cdfs = self._cdfs
        cdf = cdfs.get(asked)
        if cdf is None:
            candidates = np.ones(len(self.rows), dtype=bool)
            for i, v in asked:
                narrowed = candidates & (self.rows[:, i] == v)
                if narrowed.any():
                    candidates = narrowed
            p = self.weights * candidates
            cdf = (p / p.sum()).cumsum()
            cdf /= cdf[-1]
            if len(cdfs) >= CDF_CACHE:
                cdfs.clear()
            cdfs[asked] = cdf
        return cdf

    def check_against(self, value_counts: list[int]) -> None:
        """Refuse a table that does not fit a schema with these value counts per attribute."""
        if self.rows.shape[1] != len(value_counts):
            raise JointError(
                f"label rows have {self.rows.shape[1]} attributes, the schema {len(value_counts)}"
            )
        limits = np.asarray(value_counts)
        if (self.rows < UNKNOWN).any() or (self.rows >= limits).any():
            raise JointError("a label row names a value the schema does not have")

    def to_json(self) -> dict[str, float]:
        """``{"2.4.-.1.1.0.0.3": weight}``: one compact line per row ("-" = unknown), weights
        scaled so the rarest row is 1 (plain counts for a single data set)."""
        scale = 1.0 / self.weights.min()
        return {_row_key(row): _short_number(w * scale) for row, w in zip(self.rows, self.weights)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabelJoint:
        try:
            rows = [[UNKNOWN if part == "-" else int(part) for part in key.split(".")] for key in data]
            return cls(np.asarray(rows, dtype=np.int64), np.asarray(list(data.values()), dtype=np.float64))
        except (AttributeError, TypeError, ValueError) as exc:
            raise JointError(f"the stored label table is malformed: {exc}") from None


def _row_key(row: np.ndarray) -> str:
    return ".".join("-" if v == UNKNOWN else str(int(v)) for v in row)


def _short_number(x: float) -> float | int:
    x = float(f"{x:.4g}")
    return int(x) if x.is_integer() else x
