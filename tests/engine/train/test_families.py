"""Every family through the real loop on real DiceBear avatars: trains, saves, reloads, repeats."""

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.models import FAMILY_NAMES
from engine.sampling import render, resolve
from engine.train.config import TrainConfig
from engine.train.loop import train

TINY = {
    "dcgan": (("g_ch", 8), ("d_ch", 8)),
    "acgan": (("g_ch", 16), ("g_blocks", 2), ("d_ch", 8), ("d_max_ch", 32)),
    "yurugan": (("g_ch", 8), ("d_ch", 8), ("max_ch", 32), ("attn_res", 16)),
    "stylegan2": (("channel_base", 256), ("channel_max", 32)),
    "projected": (("g_channels", 16), ("d_channels", 16), ("d_input", 32)),
}


def _train(family, data, out, seed=0, **overrides):
    cfg = TrainConfig().with_overrides(
        dict(
            family=family,
            data=str(data),
            out=str(out),
            kimg=0.016,
            batch_size=8,
            tick_kimg=0.016,
            snapshot_kimg=1,
            grid_seeds=2,
            arch=TINY[family],
            seed=seed,
            cond_dropout=0.3,
            **overrides,
        )
    )
    return train(cfg)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_family_trains_reloads_and_repeats(family, dicebear_small, tmp_path):
    path = _train(family, dicebear_small, tmp_path / "a")
    stats = (tmp_path / "a" / "stats.jsonl").read_text()
    assert "NaN" not in stats and "Infinity" not in stats
    a, b = load_checkpoint(path), load_checkpoint(path)
    reqs = [resolve(a.schema, {"hair": "blue", "smile": "yes"}, s) for s in (1, 2)]
    assert np.array_equal(render(a.G, a.schema, reqs), render(b.G, b.schema, reqs))
    again = load_checkpoint(_train(family, dicebear_small, tmp_path / "b")).G.state_dict()
    assert all(torch.equal(v, again[k]) for k, v in a.G.state_dict().items())
