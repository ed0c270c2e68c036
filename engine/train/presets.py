"""Training recipes by name: ``mascot-engine train --preset NAME`` (as stylegan2-ada's --cfg).

Every value a recipe sets lives in this one table. Precedence: TrainConfig defaults <
config.toml's [train] < the preset < flags given on the command line, so a preset is a
starting point that any flag still overrides. Architecture values the family's defaults
already hold are not repeated here; a resumed run or a fine-tune keeps the arch it records.

cpu-small  the best known recipe for a small budget without a GPU: 2,000 images at 64px for
           30 minutes on two CPU cores (docs/model-report.md, "The small-budget recipe"). The
           higher learning rates pay off only with the linear G output and balanced
           classifier losses (the projected family's defaults); hair's classifier loss is put
           back at full weight, which balancing would otherwise lower to 1/log 9.
gpu-128    the flagship's recipe: 128px, batch 64, on one GPU (docs/model-report.md, "How it
           was trained"); give --kimg or --minutes for the budget.
"""

from __future__ import annotations

from typing import Any

from engine.errors import MascotError

PRESETS: dict[str, dict[str, Any]] = {
    "cpu-small": dict(
        family="projected",
        resolution=64,
        kimg=300.0,
        minutes=30.0,
        batch_size=32,
        lr_g=8e-4,
        lr_d=8e-4,
        tick_kimg=4.0,
        snapshot_kimg=8.0,
        arch={"aux_attr_weights": "hair:2.2"},
    ),
    "gpu-128": dict(
        family="projected",
        resolution=128,
        kimg=5000.0,
        batch_size=64,
        tick_kimg=40.0,
        snapshot_kimg=200.0,
    ),
}


def preset(name: str) -> dict[str, Any]:
    """The named recipe's TrainConfig values (a copy), or a clear error naming the known ones."""
    if name not in PRESETS:
        raise MascotError(f"unknown --preset '{name}'; known: {', '.join(PRESETS)}")
    values = dict(PRESETS[name])
    if "arch" in values:
        values["arch"] = dict(values["arch"])
    return values
