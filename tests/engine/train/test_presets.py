"""``mascot-engine train --preset``: a whole recipe from one table, flags still on top."""

import argparse

import pytest

from engine.train.cli import config_from_args, register
from engine.train.presets import PRESETS


def _args(tmp_path, *flags):
    config = tmp_path / "empty.toml"
    config.write_text("")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["train", "--config", str(config), *flags])


def test_a_preset_sets_its_recipe(tmp_path):
    cfg = config_from_args(_args(tmp_path, "--preset", "cpu-small", "--data", "d", "--out", "o"))
    assert (cfg.family, cfg.resolution, cfg.batch_size, cfg.minutes) == ("projected", 64, 32, 30.0)
    assert (cfg.lr_g, cfg.lr_d, cfg.cond_dropout) == (8e-4, 8e-4, 0.3)
    assert dict(cfg.arch) == {"aux_attr_weights": "hair:2.2"}
    gpu = config_from_args(_args(tmp_path, "--preset", "gpu-128"))
    assert (gpu.resolution, gpu.batch_size, gpu.tick_kimg) == (128, 64, 40.0)


def test_flags_override_a_preset_and_arch_flags_add_to_it(tmp_path):
    cfg = config_from_args(_args(tmp_path, "--preset", "cpu-small", "--minutes", "5", "--arch", "g_sn=false"))
    assert cfg.minutes == 5.0 and cfg.resolution == 64
    assert dict(cfg.arch) == {"aux_attr_weights": "hair:2.2", "g_sn": "false"}


def test_every_preset_names_only_training_settings(tmp_path):
    from engine.train.config import TrainConfig

    for values in PRESETS.values():
        TrainConfig().with_overrides(values)  # an unknown key would raise


def test_an_unknown_preset_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        _args(tmp_path, "--preset", "gpu-1024")
