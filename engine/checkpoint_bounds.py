"""What a serving checkpoint may ask for, checked before anything is allocated.

model.json and the safetensors header are read as a stranger's files: every field is
known, the version is short printable text, the resolution and the architecture are
bounded, and the network they describe is planned on torch's ``meta`` device (shapes
only, no memory) and compared, tensor by tensor, with the header of the weights file, so
a file that is truncated, reshaped or asks for gigabytes is refused in milliseconds with
one line that names the file, before the engine builds or reads anything large.
"""

from __future__ import annotations

import json
import math
import re
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import _SpectralNorm
from torch.overrides import TorchFunctionMode

from engine.errors import MascotError, shown

# Every field a serving model.json may carry; anything else is refused rather than ignored,
# so a misspelt or foreign field is seen when the file is made, not when it misbehaves.
KNOWN_FIELDS = frozenset(
    {
        "format_version",
        "family",
        "arch",
        "c_dim",
        "resolution",
        "z_dim",
        "schema",
        "weights_sha256",
        "weights_dtype",
        "version",
        "discriminator_sha256",
        "training",
        "data_fingerprint",
        "data_sources",
        "parent",
        "metrics",
        "evaluation",
        "posted",  # metrics at the posted size (eval --protocol posted): {metrics, evaluation}
        "exported_from",
        "output",
    }
)
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
SHA256 = re.compile(r"[0-9a-f]{64}")
RESOLUTIONS = tuple(2**k for k in range(3, 11))  # 8 ... 1024 px
MAX_C_DIM = 4096
MAX_ARCH_INT = 65_536  # no channel count, block count or width in any family comes near
MAX_PARAMETERS = 256_000_000  # about 1 GB in fp32; the shipped generators are well under 10M
MAX_HEADER = 16 * 1024 * 1024  # a safetensors header is JSON text naming each tensor
DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}


class CheckpointError(MascotError):
    """A checkpoint that is missing, corrupt, or does not match its description."""


class BoundsError(CheckpointError):
    """A checkpoint whose description is malformed or asks for more than a generator may."""


def check_fields(meta: dict[str, Any], where: Path) -> None:
    """The top-level fields of model.json, each within its bounds."""
    unknown = sorted(set(meta) - KNOWN_FIELDS)
    if unknown:
        raise BoundsError(
            f"'{where}' has fields this engine does not know: {', '.join(map(shown, unknown))} "
            f"(known: {', '.join(sorted(KNOWN_FIELDS))})"
        )
    version = meta.get("version")
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise BoundsError(
            f"'{where}' needs a \"version\": 1-64 letters, digits, '.', '_', '+' or '-' "
            f"(like projected-c4a3041655e3), got {shown(version)}"
        )
    if not isinstance(meta["weights_sha256"], str) or not SHA256.fullmatch(meta["weights_sha256"]):
        raise BoundsError(f"'{where}': weights_sha256 must be 64 lowercase hex digits")
    _whole(meta, "resolution", where, allowed=RESOLUTIONS)
    _whole(meta, "c_dim", where, lo=0, hi=MAX_C_DIM)
    posted = meta.get("posted")
    if posted is not None and not all(
        isinstance(posted, dict) and isinstance(posted.get(k), dict) for k in ("metrics", "evaluation")
    ):
        raise BoundsError(
            f'\'{where}\': posted must hold the posted protocol\'s "metrics" and "evaluation" '
            f"(as 'export --report' writes them), got {shown(posted)}"
        )
    if "z_dim" in meta:
        _whole(meta, "z_dim", where, lo=1, hi=MAX_ARCH_INT)
    if not isinstance(meta["family"], str):
        raise BoundsError(f"'{where}': family must be a family name, got {shown(meta['family'])}")
    arch = meta["arch"] if isinstance(meta["arch"], dict) else {}  # its type: arch_of's message
    for name, value in arch.items():
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, int) and abs(value) <= MAX_ARCH_INT:
            continue
        if isinstance(value, float) and math.isfinite(value) and abs(value) <= MAX_ARCH_INT:
            continue
        if isinstance(value, list) and len(value) <= 64 and all(_small_number(v) for v in value):
            continue
        raise BoundsError(
            f"'{where}': arch.{shown(name)} is {shown(value)}; architecture values are flags, "
            f"names, or numbers within +-{MAX_ARCH_INT}"
        )


def planned_state(build) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of the network ``build()`` makes, planned on the meta device (no memory)."""
    with torch.device("meta"), _shapes_only():
        G: nn.Module = build()
    shapes = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    count = sum(math.prod(s) for s in shapes.values())
    if count > MAX_PARAMETERS:
        raise BoundsError(
            f"model.json describes a network of {count:,} numbers; a generator may have at most "
            f"{MAX_PARAMETERS:,}"
        )
    return shapes


def check_weights_header(path: Path, planned: dict[str, tuple[int, ...]]) -> None:
    """The safetensors header names exactly the planned tensors, with their shapes, and the file
    holds every byte the header promises (a truncated or padded file is refused here)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if not 2 <= length <= min(MAX_HEADER, size - 8):
                raise ValueError(f"its header claims {length} bytes")
            header = json.loads(fh.read(length))
    except (struct.error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BoundsError(f"'{path}' is not a readable safetensors file: {exc}") from None
    if not isinstance(header, dict):
        raise BoundsError(f"'{path}' is not a readable safetensors file: its header is not an object")
    header.pop("__metadata__", None)
    missing, extra = sorted(planned.keys() - header.keys()), sorted(header.keys() - planned.keys())
    if missing or extra:
        what = f"lacks {shown(missing[0])}" if missing else f"has {shown(extra[0])}, which it does not"
        raise BoundsError(
            f"weights in '{path}' do not fit the network in its model.json: the file {what} "
            f"({len(missing)} missing, {len(extra)} unexpected)"
        )
    end = 0
    for name, info in header.items():
        shape, dtype, offsets = _entry(info)
        if shape is None or dtype not in DTYPE_BYTES or offsets is None:
            raise BoundsError(f"'{path}': the header entry for {shown(name)} is malformed")
        if shape != planned[name]:
            raise BoundsError(
                f"weights in '{path}' do not fit the network in its model.json: {name} is "
                f"{shape} there, {planned[name]} in the network"
            )
        if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise BoundsError(f"'{path}': {shown(name)}'s byte range does not match its shape")
        end = max(end, offsets[1])
    if 8 + length + end != size:
        raise BoundsError(
            f"'{path}' is corrupt (truncated or padded): its header describes {8 + length + end:,} bytes, "
            f"the file holds {size:,}"
        )


def check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    """No weight is NaN or infinite: such a network draws black or garbage."""
    for name, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise BoundsError(
                f"the weights in '{path}' are not finite ({name} holds NaN or infinite values): "
                "such a generator draws black"
            )


# What a network's set-up computes on its weights rather than shapes them: random starting
# values, and spectral norm's normalised vectors. On meta tensors these run through torch's
# reference kernels, whose first call imports the compiler stack (seconds at engine start);
# planning skips them, since shapes do not depend on them (a mode does not see the calls
# nested in one it passes on, so nn.init's own functions are named too).
_VALUE_ONLY = frozenset(
    {
        torch.Tensor.normal_,
        torch.Tensor.uniform_,
        torch.Tensor.random_,
        torch.Tensor.bernoulli_,
        torch.Tensor.exponential_,
        torch.Tensor.fill_,
        torch.Tensor.zero_,
        torch.nn.functional.normalize,
        *(
            getattr(torch.nn.init, name)
            for name in (
                "normal_",
                "uniform_",
                "trunc_normal_",
                "constant_",
                "zeros_",
                "ones_",
                "kaiming_normal_",
                "kaiming_uniform_",
                "xavier_normal_",
                "xavier_uniform_",
                "orthogonal_",
            )
        ),
    }
)


# Random factories draw their values the same way; planning allocates them empty.
_EMPTY_INSTEAD = {torch.randn: torch.empty, torch.rand: torch.empty, torch.randn_like: torch.empty_like}
# So does scaling a starting value by a number (equalised learning rate's N(0, 1) / lr_mul).
_SCALED = frozenset(
    {
        torch.Tensor.__mul__,
        torch.Tensor.__rmul__,
        torch.Tensor.__truediv__,
        torch.Tensor.__add__,
        torch.Tensor.__radd__,
        torch.Tensor.__sub__,
        torch.Tensor.__rsub__,
        torch.Tensor.__neg__,
        torch.Tensor.mul,
        torch.Tensor.div,
        torch.mul,
        torch.div,
    }
)


class _SkipValuesOnMeta(TorchFunctionMode):
    """Active only while planning, inside ``torch.device("meta")``."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _EMPTY_INSTEAD:
            kwargs.pop("generator", None)
            return _EMPTY_INSTEAD[func](*args, **kwargs)
        if func in _SCALED and _meta_and_numbers(args) and not kwargs:
            return torch.empty_like(args[0])
        if func in _VALUE_ONLY:
            # nn.init passes its tensor by keyword, the tensor methods as self
            target = args[0] if args else kwargs.get("tensor", kwargs.get("input"))
            if isinstance(target, torch.Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)


def _meta_and_numbers(args) -> bool:
    first, rest = (args[0], args[1:]) if args else (None, ())
    return (
        isinstance(first, torch.Tensor)
        and first.is_meta
        and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in rest)
    )


@contextmanager
def _shapes_only():
    """Build a network for its shapes alone: value-only work on meta tensors is skipped, and
    spectral norm neither runs its 15 power iterations nor divides by sigma there (tensors with
    data are untouched)."""
    power, forward = _SpectralNorm._power_method, _SpectralNorm.forward

    def power_with_data(self, weight_mat: torch.Tensor, n_power_iterations: int) -> None:
        if not weight_mat.is_meta:
            power(self, weight_mat, n_power_iterations)

    def forward_with_data(self, weight: torch.Tensor) -> torch.Tensor:
        return weight if weight.is_meta else forward(self, weight)

    _SpectralNorm._power_method, _SpectralNorm.forward = power_with_data, forward_with_data
    try:
        with _SkipValuesOnMeta():
            yield
    finally:
        _SpectralNorm._power_method, _SpectralNorm.forward = power, forward


def _entry(info: Any) -> tuple[tuple[int, ...] | None, Any, tuple[int, int] | None]:
    if not isinstance(info, dict):
        return None, None, None
    shape, offsets = info.get("shape"), info.get("data_offsets")
    ok_shape = isinstance(shape, list) and all(type(d) is int and 0 <= d <= MAX_PARAMETERS for d in shape)
    ok_offsets = (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(type(o) is int for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    )
    return (
        tuple(shape) if ok_shape else None,
        info.get("dtype"),
        (offsets[0], offsets[1]) if ok_offsets else None,
    )


def _whole(meta: dict[str, Any], key: str, where: Path, *, lo: int = 0, hi: int = 0, allowed=()) -> None:
    value = meta[key]
    ok = type(value) is int and (value in allowed if allowed else lo <= value <= hi)
    if not ok:
        rule = f"one of {', '.join(map(str, allowed))}" if allowed else f"a whole number from {lo} to {hi}"
        raise BoundsError(f"'{where}': {key} must be {rule}, got {shown(value)}")


def _small_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= MAX_ARCH_INT
    )
