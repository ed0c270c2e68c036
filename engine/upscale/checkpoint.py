"""The upscaler's checkpoint: ``upscaler.safetensors`` + ``upscaler.json``, validated on load.

The JSON carries the architecture, the weights' SHA-256, how it was trained and its
measured figures; a file that does not match (hash, keys, shapes, arch values) is refused
with one clear line, never half-loaded.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from engine.atomic import publish, staging_dir
from engine.checkpoint import CheckpointError, file_sha256, load_state, read_kind_meta
from engine.upscale.model import Upscaler, UpscalerArch

WEIGHTS, META = "upscaler.safetensors", "upscaler.json"
KIND = "upscaler"


def save_upscaler(
    out: str | Path, model: Upscaler, extra: dict[str, Any] | None = None, half: bool = False
) -> None:
    tmp = staging_dir(Path(out))
    dtype = torch.float16 if half else torch.float32
    save_file({k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}, tmp / WEIGHTS)
    meta = {
        "kind": KIND,
        "format_version": 1,
        "arch": model.arch.to_json(),
        "weights_sha256": file_sha256(tmp / WEIGHTS),
        "weights_dtype": str(dtype).removeprefix("torch."),
        **(extra or {}),
    }
    (tmp / META).write_text(json.dumps(meta, indent=1, default=str))
    publish(tmp, Path(out))


def read_upscaler_meta(path: str | Path) -> dict[str, Any]:
    return read_kind_meta(path, META, KIND, "upscaler")


def arch_from(meta: dict[str, Any]) -> UpscalerArch:
    fields = {f.name: f.type for f in dataclasses.fields(UpscalerArch)}
    arch = meta.get("arch")
    if (
        not isinstance(arch, dict)
        or set(arch) != set(fields)
        or not all(type(v) is int for v in arch.values())
    ):
        raise CheckpointError(f"upscaler arch must be whole numbers for {', '.join(fields)}, got {arch!r}")
    return UpscalerArch(**arch).validate()


def load_upscaler(
    path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[Upscaler, dict[str, Any]]:
    """The model in eval mode on ``device`` in ``dtype``, and its JSON."""
    meta = read_upscaler_meta(path)
    weights = Path(path) / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"no upscaler weights at '{weights}'")
    state = load_state(weights, meta.get("weights_sha256") or "")  # no hash in the JSON: refused too
    model = Upscaler(arch_from(meta))
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"'{weights}' does not fit its arch: {str(exc).splitlines()[0]}") from None
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False), meta
