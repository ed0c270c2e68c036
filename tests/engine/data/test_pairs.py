import pytest

from engine.cli import build_parser
from engine.data.pairs import build, pairs_scale
from engine.errors import MascotError
from tests.engine.upscale.conftest import make_pairs
from tests.node import needs_node


@pytest.mark.parametrize("lr, hr", [(64, 384), (128, 128), (64, 1024)])
def test_pairs_must_be_2_4_or_8_times_apart(tmp_path, lr, hr):
    with pytest.raises(MascotError, match="2, 4 or 8 times"):
        build(1, tmp_path / "pairs", lr=lr, hr=hr)
    assert not (tmp_path / "pairs").exists()  # refused before drawing anything


def test_the_64_to_512_pairs_command_parses_and_its_folder_reads_as_8x(tmp_path):
    args = build_parser().parse_args(
        ["data", "pairs", "--count", "6", "--lr", "64", "--hr", "512", "--out", "x"]
    )
    assert (args.lr, args.hr) == (64, 512)
    assert pairs_scale(make_pairs(tmp_path, n=2, small=16, scale=8)) == 8


@needs_node
def test_pairs_are_drawn_by_dicebear_at_both_sides(tmp_path):
    out = build(3, tmp_path / "pairs", lr=16, hr=32, seed=5)
    assert pairs_scale(out) == 2
    assert (out / "lr" / "card.json").is_file() and (out / "hr" / "card.json").is_file()
