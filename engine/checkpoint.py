"""Checkpoints: ``model.safetensors`` (weights only) + ``model.json`` (how to rebuild them).

A serving checkpoint folder holds the EMA generator; ``model.json`` carries the family,
architecture kwargs, conditioning size, resolution, attribute schema, training summary,
data fingerprint, licences, parent version and metrics. The network is rebuilt from
model.json and filled from the safetensors file; nothing is ever unpickled. Both files
are written into a temporary folder that is renamed into place, so a crash never leaves
a half-written checkpoint, and the weights' hash is recorded so corruption is caught.

A pixel-art model's model.json may declare ``"output": {"grid": N, "palette": [...]}``: its
pictures are snapped to the palette and enlarged by nearest neighbour (engine/pixelgrid.py);
the declaration is validated with the rest.

A folder may also hold ``discriminator.safetensors`` (its hash in model.json): the
discriminator that trained this generator, so a fine-tune (``--init-from``) starts with a
critic that already knows the data instead of a random one that would push the generator
around while it learns. It is optional; serving never reads it.

Training-resume state (G, EMA, D, optimizers, counters, RNG) uses the same two-file
pattern: ``resume.safetensors`` + ``resume.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.nn.utils import parametrize

from engine.atomic import publish, staging_dir
from engine.checkpoint_bounds import (
    CheckpointError,
    check_fields,
    check_weights_header,
    planned_state,
)
from engine.errors import MascotError
from engine.models import get_family
from engine.pixelgrid import GridOutput
from engine.schema import Schema

FORMAT_VERSION = 1
WEIGHTS, META, DISCRIMINATOR = "model.safetensors", "model.json", "discriminator.safetensors"
REQUIRED_KEYS = ("format_version", "family", "arch", "c_dim", "resolution", "schema", "weights_sha256")


@dataclass
class Checkpoint:
    """A loaded serving checkpoint: the generator (eval mode) and its description."""

    G: nn.Module
    meta: dict[str, Any]
    schema: Schema
    path: Path
    output: GridOutput | None = None  # pixel art: snapped to a palette, enlarged by nearest neighbour

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    @property
    def resolution(self) -> int:
        return int(self.meta["resolution"])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _contiguous(state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        value = value.detach().to("cpu").contiguous()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        out[key] = value.clone()  # safetensors refuses tensors that share storage
    return out


def model_version(family: str, weights_sha: str, arch: Mapping[str, Any]) -> str:
    """A model's version: its family and its weights' hash, and with them any setting of how
    they are served that is not the family's default (the same weights then draw other pictures)."""
    fam = get_family(family)
    defaults = {f.name: f.default for f in dataclasses.fields(fam.Arch)}
    served = {k: arch[k] for k in fam.served if k in arch and arch[k] != defaults.get(k)}
    if served:
        weights_sha = hashlib.sha256((weights_sha + json.dumps(served, sort_keys=True)).encode()).hexdigest()
    return f"{family}-{weights_sha[:12]}"


def save_generator(
    out: str | Path,
    G: nn.Module,
    *,
    family: str,
    arch: Any,
    c_dim: int,
    resolution: int,
    schema: Schema,
    extra: dict[str, Any] | None = None,
    half: bool = False,
    D: nn.Module | None = None,
) -> dict[str, Any]:
    """Write a serving checkpoint folder atomically (``D`` beside it, if given); returns its model.json."""
    out = Path(out)
    tmp = staging_dir(out)
    try:
        weights = tmp / WEIGHTS
        save_file(_contiguous(G.state_dict(), torch.float16 if half else None), weights)
        sha = file_sha256(weights)
        if D is not None:
            extra = {**(extra or {}), "discriminator_sha256": _write_discriminator(D.state_dict(), tmp, half)}
        arch = dataclasses.asdict(arch) if dataclasses.is_dataclass(arch) else dict(arch)
        meta = {
            "format_version": FORMAT_VERSION,
            "family": family,
            "arch": arch,
            "c_dim": int(c_dim),
            "resolution": int(resolution),
            "z_dim": int(G.z_dim),
            "schema": schema.to_json(),
            "weights_sha256": sha,
            "weights_dtype": "float16" if half else "float32",
            "version": model_version(family, sha, arch),
            **(extra or {}),
        }
        (tmp / META).write_text(json.dumps(meta, indent=1, default=str))
        publish(tmp, out)
        return meta
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_meta(path: str | Path) -> dict[str, Any]:
    """model.json of a checkpoint folder, validated."""
    path = Path(path)
    if not (path / META).is_file() or not (path / WEIGHTS).is_file():
        raise CheckpointError(f"no checkpoint at '{path}': it needs {META} and {WEIGHTS}")
    try:
        meta = json.loads((path / META).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"'{path / META}' is not valid JSON: {exc}") from None
    missing = [k for k in REQUIRED_KEYS if k not in meta] if isinstance(meta, dict) else list(REQUIRED_KEYS)
    if missing:
        raise CheckpointError(f"'{path / META}' lacks {', '.join(missing)}")
    if meta["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"'{path}' has checkpoint format {meta['format_version']}; this engine reads {FORMAT_VERSION}"
        )
    check_fields(meta, path / META)
    grid_output(meta, path)
    return meta


def grid_output(meta: dict[str, Any], path: Path) -> GridOutput | None:
    """The pixel-art output model.json declares, checked; None for a model without one."""
    if "output" not in meta:
        return None
    try:
        return GridOutput.from_json(meta["output"], int(meta["resolution"]))
    except (MascotError, TypeError, ValueError) as exc:
        raise CheckpointError(f"'{path / META}': {exc}") from None


def read_kind_meta(path: str | Path, name: str, kind: str, what: str) -> dict[str, Any]:
    """The JSON ``name`` of a small model's folder (the upscale stage, a translator): an object
    whose "kind" is ``kind``; CheckpointError with one clear line otherwise."""
    meta_path = Path(path) / name
    try:
        meta = json.loads(meta_path.read_text())
    except OSError:
        raise CheckpointError(f"no {what} at '{path}': {name} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"'{meta_path}' is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"'{meta_path}' must hold a JSON object")
    if meta.get("kind") != kind:
        raise CheckpointError(
            f"'{meta_path}' is not a{'n' if kind[0] in 'aeiou' else ''} {kind} checkpoint "
            f"(kind {meta.get('kind')!r})"
        )
    return meta


def build_generator(meta: dict[str, Any]) -> nn.Module:
    try:
        return get_family(meta["family"]).Generator(
            arch_of(meta), int(meta["c_dim"]), int(meta["resolution"])
        )
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"model.json describes a {meta['family']} network this engine cannot build: {exc}"
        ) from None


def arch_of(meta: dict[str, Any]) -> Any:
    """The family's Arch that model.json describes, each value checked against its field's type."""
    family = get_family(meta["family"])
    try:
        return family.Arch(**family.recorded_values(meta["arch"], "model.json's arch"))
    except MascotError as exc:
        raise CheckpointError(
            f"model.json describes a {family.name} network this engine cannot build: {exc}"
        ) from None


def load_state(path: Path, expected_sha: str | None = None) -> dict[str, torch.Tensor]:
    if expected_sha is not None and file_sha256(path) != expected_sha:
        raise CheckpointError(
            f"'{path}' does not match the hash in its JSON: the file is corrupt or was replaced"
        )
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"'{path}' is not a readable safetensors file: {exc}") from None


def bake_parametrizations(module: nn.Module) -> nn.Module:
    """Fold weight parametrizations (spectral norm) into plain weights for inference.

    In eval mode spectral norm still recomputes W / sigma on every forward; baking it once
    makes serving cheaper and leaves the outputs unchanged.
    """
    for sub in module.modules():
        if parametrize.is_parametrized(sub):
            for name in list(sub.parametrizations.keys()):
                parametrize.remove_parametrizations(sub, name, leave_parametrized=True)
    return module


def load_checkpoint(
    path: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    bake: bool = True,
) -> Checkpoint:
    """Rebuild the generator from model.json, fill it from model.safetensors, eval mode.

    ``dtype=torch.float64`` serves in double precision: batched and single forward passes
    then agree to ~1e-16, so uint8 pixels never depend on the batch a request lands in.
    ``bake=False`` keeps spectral-norm parametrizations, for training from these weights.
    """
    path = Path(path)
    meta = read_meta(path)
    # Shapes and sizes first, on paper: a file asking for gigabytes is refused before allocating.
    check_weights_header(path / WEIGHTS, planned_state(lambda: build_generator(meta)))
    G = build_generator(meta)
    state = load_state(path / WEIGHTS, meta["weights_sha256"])
    own = G.state_dict()
    try:
        state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
        G.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(
            f"weights in '{path}' do not fit the network in its model.json: {first}"
        ) from None
    schema = Schema.from_json(meta["schema"])
    if schema.dim != int(meta["c_dim"]):
        raise CheckpointError(f"'{path}': schema size {schema.dim} does not match c_dim {meta['c_dim']}")
    G = G.eval().requires_grad_(False)
    if bake:
        bake_parametrizations(G)
    return Checkpoint(G.to(device=device, dtype=dtype), meta, schema, path, grid_output(meta, path))


def _write_discriminator(state: dict[str, torch.Tensor], folder: Path, half: bool) -> str:
    """discriminator.safetensors in ``folder`` (float16 when ``half``); returns its hash."""
    save_file(_contiguous(state, torch.float16 if half else None), folder / DISCRIMINATOR)
    return file_sha256(folder / DISCRIMINATOR)


class DiscriminatorFit(NamedTuple):
    """What a partial discriminator load left out, by the largest part name that is all new or all gone."""

    fresh: list[str]  # parts of D the file lacks: they start from their initialisation
    unused: list[str]  # parts of the file D no longer has (a head since replaced)


def load_discriminator(path: str | Path, D: nn.Module) -> DiscriminatorFit | None:
    """Fill ``D`` from the folder's discriminator.safetensors; None when the folder has none.

    Copies what matches by name (as stylegan2-ada's resume does) and says what did not: a
    head added since the parent was trained starts fresh, a head since removed is unused.
    A corrupt file, a tensor of another shape, or a file that shares nothing with ``D``
    (another architecture) is refused."""
    path, meta = Path(path), read_meta(path)
    if not meta.get("discriminator_sha256") or not (path / DISCRIMINATOR).is_file():
        return None
    state, own = load_state(path / DISCRIMINATOR, meta["discriminator_sha256"]), D.state_dict()
    shared = own.keys() & state.keys()
    reshaped = sorted(k for k in shared if own[k].shape != state[k].shape)
    if not shared or reshaped:
        why = (
            f"{reshaped[0]} is {tuple(state[reshaped[0]].shape)} there, {tuple(own[reshaped[0]].shape)} here"
            if reshaped
            else "no weight in common"
        )
        raise CheckpointError(f"the discriminator in '{path}' does not fit this run's: {why}")
    D.load_state_dict({k: state[k] for k in shared}, strict=False)  # copy_ casts float16 files to D's dtype
    return DiscriminatorFit(
        fresh=_whole_parts(own.keys() - state.keys(), own.keys()),
        unused=_whole_parts(state.keys() - own.keys(), state.keys()),
    )


def _whole_parts(keys: set[str], all_keys: set[str]) -> list[str]:
    """The largest modules all of whose weights are in ``keys``: "attr_head" when the whole
    head is new, "attr_head.fake" when only its fake logits are."""
    parts = set()
    for key in keys:
        names = key.split(".")
        for n in range(1, len(names) + 1):
            prefix = ".".join(names[:n])
            if all(k in keys for k in all_keys if k == prefix or k.startswith(prefix + ".")):
                parts.add(prefix)
                break
    return sorted(parts)


def export_checkpoint(
    src: str | Path,
    dst: str | Path,
    half: bool = False,
    report: str | Path | Sequence[str | Path] | None = None,
    styles: Sequence[str] | None = None,
    serve: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Copy a checkpoint (validated) to ``dst``, optionally as float16 weights to halve its size,
    carrying the metrics of ``report`` (``eval`` folders of this very checkpoint) in model.json:
    a report at the model's own size as ``metrics``, one by the posted protocol as ``posted``.
    ``styles``: the styles the copy offers (``Schema.offering``), the others not served.
    ``serve``: arch settings of how the same weights are served (the family's ``served``); the
    copy draws other pictures, so its version names them beside the weights."""
    src = Path(src)
    meta = read_meta(src)
    if styles:
        meta = {**meta, "schema": Schema.from_json(meta["schema"]).offering("style", styles).to_json()}
    if serve:
        if report:
            raise MascotError(
                "--serve draws other pictures than the report measured: export with --serve, "
                "evaluate the copy, then export the copy with its --report"
            )
        family = get_family(meta["family"])
        meta = {**meta, "arch": {**meta["arch"], **family.served_values(serve, "export --serve")}}
        family.Arch(**family.recorded_values(meta["arch"], "export --serve"))  # its own range checks
    reports = [report] if isinstance(report, (str, Path)) else list(report or ())
    carried: dict[str, dict[str, Any]] = {}
    for folder in reports:
        figures = _report_metrics(Path(folder), meta)
        key = "posted" if figures["evaluation"].get("protocol") == "posted" else "metrics"
        if key in carried:
            raise MascotError(f"two reports for model.json's '{key}': give at most one of each kind")
        carried[key] = figures
    meta = {**meta, **carried.pop("metrics", {}), **carried}  # own size: metrics + evaluation
    state = load_state(src / WEIGHTS, meta["weights_sha256"])
    build_generator(meta).load_state_dict({k: v.float() for k, v in state.items()}, strict=True)  # fits
    tmp = staging_dir(Path(dst))
    try:
        save_file(_contiguous(state, torch.float16 if half else torch.float32), tmp / WEIGHTS)
        sha = file_sha256(tmp / WEIGHTS)
        if meta.get("discriminator_sha256"):
            d_state = {
                k: v.float() for k, v in load_state(src / DISCRIMINATOR, meta["discriminator_sha256"]).items()
            }
            meta = {**meta, "discriminator_sha256": _write_discriminator(d_state, tmp, half)}
        out = {
            **meta,
            "weights_sha256": sha,
            "weights_dtype": "float16" if half else "float32",
            "version": model_version(meta["family"], sha, meta["arch"]),
            # An export of an export still names the training run it came from.
            "exported_from": meta.get("exported_from") or meta.get("version"),
        }
        (tmp / META).write_text(json.dumps(out, indent=1, default=str))
        publish(tmp, Path(dst))
        return out
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _report_metrics(folder: Path, meta: dict[str, Any]) -> dict[str, Any]:
    try:
        report = json.loads((folder / "report.json").read_text())
        metrics, evaluated = report["metrics"], report["model_version"]
    except (OSError, ValueError, KeyError, TypeError):
        raise MascotError(
            f"'{folder}' holds no readable report.json (made by 'mascot-engine eval')"
        ) from None
    if evaluated != meta.get("version"):
        raise MascotError(
            f"the report in '{folder}' evaluates {evaluated}, not this checkpoint ({meta.get('version')})"
        )
    unfinished = [*(report.get("failed") or {}), *(report.get("pending") or [])]
    if unfinished:
        raise MascotError(
            f"the report in '{folder}' is incomplete ({', '.join(unfinished)} did not finish); "
            "run the evaluation again before exporting its figures"
        )
    keys = ("samples", "seed", "data", "data_fingerprint", "feature_size", "fid_name", "created")
    keys += ("size", "enlarged_by", "real", "protocol", "offered_styles", "grid")  # a protocol's report
    return {"metrics": metrics, "evaluation": {k: report.get(k) for k in keys}}


# --- training resume state ------------------------------------------------------


def flatten_optimizer(
    name: str, opt: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state as flat tensors plus JSON (param groups), so it fits safetensors."""
    state = opt.state_dict()
    tensors = {}
    for idx, slots in state["state"].items():
        for key, value in slots.items():
            tensors[f"{name}.state.{idx}.{key}"] = torch.as_tensor(value)
    return tensors, {"param_groups": state["param_groups"]}


def unflatten_optimizer(
    name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    prefix = f"{name}.state."
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, slot = key[len(prefix) :].split(".", 1)
            state.setdefault(int(idx), {})[slot] = value
    # How the optimizer runs (fused kernels, foreach) belongs to this device, not to the one
    # that saved it: a point saved on the CPU must still resume with CUDA's fused Adam.
    groups = [
        {**saved, **{k: now[k] for k in _DEVICE_OPTIONS if k in now}}
        for saved, now in zip(meta["param_groups"], opt.param_groups)
    ]
    opt.load_state_dict({"state": state, "param_groups": groups})


_DEVICE_OPTIONS = ("fused", "foreach", "capturable")


def save_resume(
    run_dir: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    meta: dict[str, Any],
) -> None:
    """Write resume.safetensors + resume.json atomically (one pair, overwritten)."""
    tensors: dict[str, torch.Tensor] = {}
    opt_meta = {}
    for name, module in modules.items():
        tensors.update({f"{name}.{k}": v for k, v in _contiguous(module.state_dict(), None).items()})
    for name, opt in optimizers.items():
        flat, groups = flatten_optimizer(name, opt)
        tensors.update(_contiguous(flat, None))
        opt_meta[name] = groups
    tmp_w = run_dir / ".resume.safetensors.tmp"
    save_file(tensors, tmp_w)
    full = {**meta, "optimizers": opt_meta, "weights_sha256": file_sha256(tmp_w)}
    tmp_j = run_dir / ".resume.json.tmp"
    tmp_j.write_text(json.dumps(full, indent=1, default=str))
    os.replace(tmp_w, run_dir / "resume.safetensors")
    os.replace(tmp_j, run_dir / "resume.json")


def read_resume_meta(run_dir: Path) -> dict[str, Any]:
    meta_path = run_dir / "resume.json"
    if not meta_path.is_file():
        raise CheckpointError(f"nothing to resume in '{run_dir}': no resume.json")
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"'{meta_path}' is not valid JSON: {exc}") from None


def load_resume(
    run_dir: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]
) -> dict[str, Any]:
    """Fill modules and optimizers from a run's resume files; returns resume.json."""
    meta = read_resume_meta(run_dir)
    tensors = load_state(run_dir / "resume.safetensors", meta.get("weights_sha256"))
    for name, module in modules.items():
        prefix = f"{name}."
        part = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(part, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"resume state for {name} does not fit: {str(exc).splitlines()[0]}"
            ) from None
    for name, opt in optimizers.items():
        if name in meta["optimizers"]:  # a compact point has none: the moments start afresh
            unflatten_optimizer(name, opt, tensors, meta["optimizers"][name])
    return meta


def compact_resume(src: str | Path, dst: str | Path) -> Path:
    """A small copy of a run's resume point, for committing: weights in bf16, no optimizer
    state. Adam here has beta1 = 0 (no momentum to lose) and beta2 = 0.99, whose second
    moment re-estimates itself within a few hundred steps, so a resumed run soon moves as an
    exact resume would."""
    src, dst = Path(src), Path(dst)
    meta = read_resume_meta(src)
    tensors = load_state(src / "resume.safetensors", meta.get("weights_sha256"))
    optimizer_prefixes = tuple(f"{name}." for name in meta.get("optimizers", {}))
    kept = {
        k: (v.to(torch.bfloat16) if v.is_floating_point() else v).contiguous()
        for k, v in tensors.items()
        if not k.startswith(optimizer_prefixes)
    }
    dst.mkdir(parents=True, exist_ok=True)
    tmp_w = dst / ".resume.safetensors.tmp"
    save_file(kept, tmp_w)
    compact = {
        **meta,
        "optimizers": {},
        "compact": {"weights": "bfloat16", "optimizer_state": "dropped"},
        "weights_sha256": file_sha256(tmp_w),
    }
    tmp_j = dst / ".resume.json.tmp"
    tmp_j.write_text(json.dumps(compact, indent=1, default=str))
    os.replace(tmp_w, dst / "resume.safetensors")
    os.replace(tmp_j, dst / "resume.json")
    return dst
