"""The translator's checkpoint: ``cyclegan.safetensors`` + ``cyclegan.json``, validated on load.

Both generators are kept (A->B serves, B->A measures the cycle); the discriminators live
only in a run's resume state. The JSON carries the architecture, the weights' SHA-256,
the two domains (name, folder, fingerprint), how it was trained and its measured figures;
a file that does not match (hash, keys, shapes, arch values) is refused with one clear
line, never half-loaded.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from engine.atomic import publish, staging_dir
from engine.checkpoint import CheckpointError, file_sha256, load_state, read_kind_meta
from engine.translate.model import ResnetGenerator, TranslatorArch

WEIGHTS, META = "cyclegan.safetensors", "cyclegan.json"
KIND = "cyclegan"
DIRECTIONS = ("a_to_b", "b_to_a")


def save_translator(
    out: str | Path,
    generators: dict[str, ResnetGenerator],
    domains: dict[str, dict],
    extra: dict[str, Any] | None = None,
) -> None:
    tmp = staging_dir(Path(out))
    arch = generators["a_to_b"].arch
    tensors = {
        f"{d}.{k}": v.detach().float().contiguous()
        for d in DIRECTIONS
        for k, v in generators[d].state_dict().items()
    }
    save_file(tensors, tmp / WEIGHTS)
    meta = {
        "kind": KIND,
        "format_version": 1,
        "arch": arch.to_json(),
        "domains": domains,
        "weights_sha256": file_sha256(tmp / WEIGHTS),
        **(extra or {}),
    }
    (tmp / META).write_text(json.dumps(meta, indent=1, default=str))
    publish(tmp, Path(out))


def read_translator_meta(path: str | Path) -> dict[str, Any]:
    meta_path = Path(path) / META
    meta = read_kind_meta(path, META, KIND, "translator")
    domains = meta.get("domains")
    if not isinstance(domains, dict) or not all(isinstance(domains.get(k), dict) for k in ("a", "b")):
        raise CheckpointError(
            f'\'{meta_path}\' must name its two domains under "domains": {{"a": ..., "b": ...}}'
        )
    return meta


def arch_from(meta: dict[str, Any]) -> TranslatorArch:
    fields = [f.name for f in dataclasses.fields(TranslatorArch)]
    arch = meta.get("arch")
    if (
        not isinstance(arch, dict)
        or set(arch) != set(fields)
        or not all(type(v) is int for v in arch.values())
    ):
        raise CheckpointError(f"translator arch must be whole numbers for {', '.join(fields)}, got {arch!r}")
    return TranslatorArch(**arch).validate()


def load_translator(path: str | Path) -> tuple[dict[str, ResnetGenerator], dict[str, Any]]:
    """Both generators ({"a_to_b", "b_to_a"}) in eval mode on the CPU, and the JSON."""
    meta = read_translator_meta(path)
    weights = Path(path) / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"no translator weights at '{weights}'")
    state = load_state(weights, meta.get("weights_sha256") or "")  # no hash in the JSON: refused too
    arch, out = arch_from(meta), {}
    for d in DIRECTIONS:
        model = ResnetGenerator(arch)
        try:
            model.load_state_dict(
                {k[len(d) + 1 :]: v.float() for k, v in state.items() if k.startswith(d + ".")}, strict=True
            )
        except RuntimeError as exc:
            raise CheckpointError(f"'{weights}' does not fit its arch: {str(exc).splitlines()[0]}") from None
        out[d] = model.eval().requires_grad_(False)
    return out, meta
