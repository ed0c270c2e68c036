"""What an evaluation's metrics share: each sample's and each real image's style, in the order
of their features."""

from __future__ import annotations

from engine.metrics.context import EvalConfig, EvalContext
from engine.sampling import resolve
from tests.engine.metrics.conftest import ToyGenerator, fake_checkpoint
from tests.engine.metrics.test_posted import STYLED, styled_set
from tests.toydata import TOY_SCHEMA


def test_generated_styles_are_the_ones_each_seed_was_drawn_with(tmp_path):
    ctx = EvalContext(
        fake_checkpoint(ToyGenerator("obey"), STYLED),
        styled_set(tmp_path / "s", ["a", "b"]),
        EvalConfig(samples=30, seed=5),
    )
    styles = ctx.gen_styles()
    assert styles.tolist() == [resolve(STYLED, {}, 5 + i).attrs["style"] for i in range(30)]
    assert set(styles) == {"a", "b"}  # c has prior 0: never drawn unasked


def test_real_styles_follow_the_real_subset_the_features_are_taken_from(tmp_path):
    ds = styled_set(tmp_path / "s", ["a", "b", "b"], n=30)
    ctx = EvalContext(fake_checkpoint(ToyGenerator("obey"), STYLED), ds, EvalConfig(samples=10, max_real=12))
    rows = ctx.real_indices()
    assert len(rows) == 12
    assert ctx.real_styles().tolist() == [["a", "b", "b"][i % 3] for i in rows]


def test_no_styles_where_the_model_or_the_data_has_none(tmp_path):
    plain = EvalContext(
        fake_checkpoint(ToyGenerator("obey"), TOY_SCHEMA),
        styled_set(tmp_path / "s", ["a"]),
        EvalConfig(samples=10),
    )
    assert plain.gen_styles() is None and plain.real_styles() is not None
