"""The attribute schema: what a user may ask for, and how it becomes a conditioning vector.

Every model carries one. An attribute is either a *choice* (one of N values, e.g.
``hair: black|blonde|blue``) or a *flag* (``smile: yes|no``). Parsing user text, every
message about a bad value, sampling unset attributes from the training prior, and the
encoding to the generator's conditioning vector live here, once.

A value whose prior is zero is *not offered*: it keeps its place in the conditioning vector
(the generator may even have been trained on it), but it is never drawn for an unset
attribute and a request naming it is refused (``check_offered``). A model that cannot yet
draw a style well is shipped that way (``offering``), and a fine-tune keeps it so.

Encoding: every attribute is a one-hot block (a flag is the two-value block
``[no, yes]``), concatenated in schema order. An attribute whose label is unknown (hair
under a hat) is an all-zero block, so "unknown" never pretends to be a value.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.errors import MascotError
from engine.joint import UNKNOWN, JointError, LabelJoint

FLAG_VALUES = ("no", "yes")
FLAG_ALIASES = {
    "yes": "yes",
    "y": "yes",
    "true": "yes",
    "on": "yes",
    "1": "yes",
    "no": "no",
    "n": "no",
    "false": "no",
    "off": "no",
    "0": "no",
}
COMMON_ALIASES = {"gray": "grey", "silver": "white", "blond": "blonde", "ginger": "red"}


class SchemaError(MascotError):
    """An attribute request that does not fit the schema."""


def _norm(text: str) -> str:
    return re.sub(r"[\s_-]+", "-", str(text).strip().lower())


def _closest(word: str, options: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


@dataclass(frozen=True)
class Attribute:
    """One named attribute: a choice among ``values``, with prior frequencies."""

    name: str
    values: tuple[str, ...]
    prior: tuple[float, ...]
    kind: str = "choice"  # "choice" or "flag"
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.values) < 2 or len(set(self.values)) != len(self.values):
            raise ValueError(f"attribute {self.name!r} needs two or more distinct values")
        if len(self.prior) != len(self.values) or min(self.prior) < 0 or sum(self.prior) <= 0:
            raise ValueError(f"attribute {self.name!r}: prior must be one weight per value")
        total = float(sum(self.prior))
        if abs(total - 1.0) > 1e-9:  # leave normalised priors alone so JSON round trips are exact
            object.__setattr__(self, "prior", tuple(float(p) / total for p in self.prior))

    def canonical(self, raw: Any) -> str:
        """The canonical value a user meant by ``raw``; SchemaError if none."""
        if isinstance(raw, bool) and self.kind == "flag":
            return "yes" if raw else "no"
        word = _norm(raw)
        if word in self.values:
            return word
        alias = self.aliases.get(word) or COMMON_ALIASES.get(word)
        if self.kind == "flag":
            alias = FLAG_ALIASES.get(word)
        if alias in self.values:
            return alias
        allowed = ", ".join(self.values)
        raise SchemaError(
            f"'{raw}' is not a value of '{self.name}'; allowed: {allowed}.{_closest(word, self.values)}"
        )

    def index(self, value: str) -> int:
        return self.values.index(self.canonical(value))


def choice(name: str, values: dict[str, float] | list[str], **aliases: str) -> Attribute:
    """A choice attribute; ``values`` maps each value to its prior weight (uniform if a list)."""
    weights = values if isinstance(values, dict) else dict.fromkeys(values, 1.0)
    return Attribute(name, tuple(weights), tuple(weights.values()), "choice", aliases)


def flag(name: str, p_yes: float = 0.5) -> Attribute:
    """A yes/no attribute with prior probability ``p_yes`` of yes."""
    return Attribute(name, FLAG_VALUES, (1.0 - p_yes, p_yes), "flag")


@dataclass(frozen=True)
class Schema:
    """An ordered set of attributes; the model's whole conditioning interface."""

    attributes: tuple[Attribute, ...]
    # Which values occur together in the training labels; unset attributes are filled from it.
    joint: LabelJoint | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        names = [a.name for a in self.attributes]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate attribute names in {names}")
        if self.joint is not None:
            try:
                self.joint.check_against([len(a.values) for a in self.attributes])
            except JointError as exc:
                raise SchemaError(str(exc)) from None

    # --- lookup -------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes)

    @property
    def dim(self) -> int:
        """Length of the conditioning vector."""
        return sum(len(a.values) for a in self.attributes)

    def attribute(self, name: str) -> Attribute:
        key = _norm(name)
        for attr in self.attributes:
            if attr.name == key:
                return attr
        known = ", ".join(self.names)
        raise SchemaError(
            f"unknown attribute '{name}'; known attributes: {known}.{_closest(key, self.names)}"
        )

    # --- parsing ------------------------------------------------------------
    def parse(self, request: str | Mapping[str, Any] | None) -> dict[str, str]:
        """Canonical ``{name: value}`` from ``"hair:blue smile:yes"`` or a JSON object."""
        if request is None:
            return {}
        if isinstance(request, str):
            stripped = request.strip()
            if stripped.startswith("{"):
                request = self._parse_json(stripped)
            else:
                return self._set_pairs(self._split_text(stripped))
        if not isinstance(request, Mapping):
            raise SchemaError("attributes must be text like 'hair:blue smile:yes' or a JSON object")
        pairs = []
        for key, value in request.items():
            if value is None or isinstance(value, (list, dict, float)):
                raise SchemaError(f"attribute '{key}' needs a single value, got {json.dumps(value)}")
            pairs.append((str(key), value))
        return self._set_pairs(pairs)

    @staticmethod
    def _parse_json(text: str) -> Mapping[str, Any]:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"attributes are not valid JSON ({exc.msg} at character {exc.pos})") from None

    @staticmethod
    def _split_text(text: str) -> list[tuple[str, str]]:
        # "hair: blue  smile :yes" -> [("hair", "blue"), ("smile", "yes")]
        text = re.sub(r"\s*[:=]\s*", ":", text)
        pairs = []
        for token in text.split():
            key, sep, value = token.partition(":")
            if not sep or not key or not value:
                raise SchemaError(f"'{token}' is not of the form name:value (for example hair:blue)")
            pairs.append((key, value))
        return pairs

    def _set_pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in pairs:
            attr = self.attribute(key)
            if attr.name in out:
                raise SchemaError(f"attribute '{attr.name}' is given more than once")
            out[attr.name] = attr.canonical(value)
        return out

    # --- sampling and encoding ---------------------------------------------
    def sample(self, given: Mapping[str, str], rng: np.random.Generator) -> dict[str, str]:
        """Complete ``given`` (already parsed).

        With a label table, unset attributes come from a training row that agrees with
        ``given`` (one the row leaves unlabelled stays unset, as in training); without one,
        each is drawn from its own prior."""
        if self.joint is not None:
            return self._sample_joint(given, rng)
        full = {}
        for attr in self.attributes:
            draw = attr.values[rng.choice(len(attr.values), p=attr.prior)]
            full[attr.name] = given.get(attr.name, draw)
        return full

    def _sample_joint(self, given: Mapping[str, str], rng: np.random.Generator) -> dict[str, str]:
        asked = {
            i: attr.index(given[attr.name]) for i, attr in enumerate(self.attributes) if attr.name in given
        }
        row = self.joint.draw_row(asked, rng)
        full = {}
        for i, attr in enumerate(self.attributes):
            if attr.name in given:
                full[attr.name] = given[attr.name]
            elif row[i] != UNKNOWN:
                full[attr.name] = attr.values[row[i]]
        return full

    def with_joint(self, labels: np.ndarray) -> Schema:
        """This schema with the label table of ``labels`` (a data set's label rows)."""
        labels = np.asarray(labels)
        if len(self.attributes) < 2 or len(labels) == 0:
            return self  # one attribute: its prior already is the joint
        return replace(self, joint=LabelJoint.from_labels(labels))

    def indices(self, attrs: Mapping[str, str]) -> np.ndarray:
        """Label row: the value index of each attribute, UNKNOWN where unset."""
        row = np.full(len(self.attributes), UNKNOWN, dtype=np.int16)
        for i, attr in enumerate(self.attributes):
            if attr.name in attrs:
                row[i] = attr.index(attrs[attr.name])
        return row

    def encode_indices(self, labels: np.ndarray) -> np.ndarray:
        """Conditioning vectors ``(..., dim)`` from label rows ``(..., n_attributes)``."""
        labels = np.asarray(labels)
        out = np.zeros((*labels.shape[:-1], self.dim), dtype=np.float32)
        offset = 0
        for i, attr in enumerate(self.attributes):
            idx = labels[..., i]
            block = np.eye(len(attr.values), dtype=np.float32)[np.clip(idx, 0, None)]
            out[..., offset : offset + len(attr.values)] = block * (idx >= 0)[..., None]
            offset += len(attr.values)
        return out

    def encode(self, attrs: Mapping[str, str]) -> np.ndarray:
        return self.encode_indices(self.indices(attrs))

    def decode(self, vector: np.ndarray) -> dict[str, str]:
        """Attributes from a conditioning vector (argmax per block; all-zero blocks are unset)."""
        vector = np.asarray(vector, dtype=np.float32)
        out, offset = {}, 0
        for attr in self.attributes:
            block = vector[offset : offset + len(attr.values)]
            if block.max() > 0:
                out[attr.name] = attr.values[int(block.argmax())]
            offset += len(attr.values)
        return out

    # --- what is offered -----------------------------------------------------
    def offered(self, name: str) -> tuple[str, ...]:
        """The values of ``name`` this model offers: those with a prior above zero."""
        attr = self.attribute(name)
        return tuple(v for v, p in zip(attr.values, attr.prior) if p > 0)

    def check_offered(self, attrs: Mapping[str, str]) -> None:
        """Refuse a request (already parsed) that names a value this model does not offer."""
        for name, value in attrs.items():
            attr = self.attribute(name)
            if attr.prior[attr.index(value)] == 0:
                raise SchemaError(
                    f"{name} '{value}' is not offered by this model (it cannot draw it well yet); "
                    f"offered: {', '.join(self.offered(name))}"
                )

    def offering(self, name: str, values: list[str] | tuple[str, ...]) -> Schema:
        """This schema offering only ``values`` of attribute ``name``: the others' prior becomes
        zero and the label rows that hold them are dropped, so nothing unset is drawn from them.
        The interface (and so every conditioning vector) is unchanged."""
        attr = self.attribute(name)
        keep = {attr.canonical(v) for v in values}
        unseen = [v for v in keep if attr.prior[attr.index(v)] == 0]
        if not keep or unseen:
            raise SchemaError(
                f"{name}: offer one or more of {', '.join(self.offered(name))}"
                + (f"; '{unseen[0]}' is not in this model's training data" if unseen else "")
            )
        prior = tuple(p if v in keep else 0.0 for v, p in zip(attr.values, attr.prior))
        attributes = tuple(replace(a, prior=prior) if a is attr else a for a in self.attributes)
        return Schema(attributes, _offered_rows(self.joint, attributes))

    def blocks(self) -> list[tuple[int, int]]:
        """(start, stop) of each attribute's block in the conditioning vector."""
        spans, offset = [], 0
        for attr in self.attributes:
            spans.append((offset, offset + len(attr.values)))
            offset += len(attr.values)
        return spans

    def interface(self) -> tuple:
        """What commands and conditioning vectors depend on: names, kinds, values, aliases.

        Two schemas with the same interface accept the same requests and encode them alike;
        they may differ in their priors (a fine-tune on liked mascots moves the prior)."""
        return tuple((a.name, a.kind, a.values, tuple(sorted(a.aliases.items()))) for a in self.attributes)

    def with_priors_moved(self, labels: np.ndarray, share: float) -> Schema:
        """This schema with each prior mixed toward the value frequencies of ``labels``.

        ``(1 - share) * prior + share * frequency``: the label distribution of training batches
        that take ``share`` of their images from a set labelled ``labels``. An attribute no
        row of ``labels`` knows keeps its prior."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be in 0..1, got {share}")
        labels = np.asarray(labels).reshape(-1, len(self.attributes))
        moved = []
        for i, attr in enumerate(self.attributes):
            known = labels[:, i][labels[:, i] >= 0]
            if len(known) == 0:
                moved.append(attr)
                continue
            freq = np.bincount(known, minlength=len(attr.values)) / len(known)
            prior = (1.0 - share) * np.asarray(attr.prior) + share * freq
            if share < 1.0:  # a value the starting model does not offer stays so
                prior[np.asarray(attr.prior) == 0] = 0.0
            moved.append(replace(attr, prior=tuple(float(p) for p in prior / prior.sum())))
        joint = self.joint
        if joint is not None and len(labels):
            joint = joint.mixed(LabelJoint.from_labels(labels), share)
        return Schema(tuple(moved), _offered_rows(joint, tuple(moved)))

    def describe(self) -> str:
        """One line per attribute, for help texts and error messages."""
        return "\n".join(f"  {a.name}: {'|'.join(a.values)}" for a in self.attributes)

    # --- serialisation -------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out = {
            "version": 1,
            "attributes": [
                {
                    "name": a.name,
                    "kind": a.kind,
                    "values": list(a.values),
                    "prior": list(a.prior),
                    "aliases": dict(a.aliases),
                }
                for a in self.attributes
            ],
        }
        if self.joint is not None:
            out["joint"] = self.joint.to_json()  # last: a long table after the readable part
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schema:
        """Rebuild a schema from ``to_json`` output; malformed input raises SchemaError."""
        try:
            attrs = tuple(
                Attribute(
                    str(a["name"]),
                    tuple(str(v) for v in a["values"]),
                    tuple(float(p) for p in a["prior"]),
                    str(a.get("kind", "choice")),
                    {str(k): str(v) for k, v in a.get("aliases", {}).items()},
                )
                for a in data["attributes"]
            )
            joint = LabelJoint.from_json(data["joint"]) if data.get("joint") is not None else None
            return cls(attrs, joint)
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"the stored attribute schema is malformed: {exc}") from None


def _offered_rows(joint: LabelJoint | None, attributes: tuple[Attribute, ...]) -> LabelJoint | None:
    """``joint`` without the rows that hold a value these attributes do not offer."""
    if joint is None:
        return None
    zero = [np.flatnonzero(np.asarray(a.prior) == 0) for a in attributes]
    held = np.zeros(len(joint.rows), dtype=bool)
    for i, values in enumerate(zero):
        held |= np.isin(joint.rows[:, i], values)
    if held.all():
        raise SchemaError("no label row of this model holds only offered values")
    return joint if not held.any() else LabelJoint(joint.rows[~held], joint.weights[~held])


def class_schema(n_classes: int, sizes: list[int] | None = None, names: list[str] | None = None) -> Schema:
    """The one-attribute schema of a model trained on clusters: ``class: 0..n-1``, or readable
    ``names`` with each class's number kept as an alias (``class:0`` still works)."""
    weights = sizes or [1] * n_classes
    if names is None:
        return Schema((choice("class", {str(i): float(w) for i, w in enumerate(weights)}),))
    if len(names) != n_classes or len(set(names)) != n_classes:
        raise ValueError(f"class names must be {n_classes} distinct names, got {names}")
    values = {name: float(w) for name, w in zip(names, weights)}
    return Schema(
        (
            Attribute(
                "class",
                tuple(values),
                tuple(values.values()),
                "choice",
                {str(i): name for i, name in enumerate(names)},
            ),
        )
    )
