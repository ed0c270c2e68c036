import json
import math

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.errors import MascotError
from engine.translate.measure import measure, sheet, triplet_sheet
from engine.translate.train import TranslateRun
from tests.engine.translate.test_train import config


@pytest.fixture(scope="module")
def trained(domains, tmp_path_factory):
    return TranslateRun(config(domains, tmp_path_factory.mktemp("run") / "run", steps=2, holdout=4)).run()


def test_measure_gives_finite_kid_for_the_translation_and_the_baseline_and_cycle_errors(trained):
    row = measure(trained, n=4, feature_size=64)
    assert row["images"] == {"a": 4, "b": 4} and row["domains"] == {"a": "squares", "b": "discs"}
    assert all(math.isfinite(v) for v in row["kid_x1000"].values())
    assert row["kid_x1000"]["a_to_b"] != row["kid_x1000"]["a_untranslated"]
    assert all(0 < v < 1 for v in row["cycle_l1"].values())  # an untrained round trip loses something


def test_the_sheet_puts_each_picture_beside_its_translation_and_round_trip(trained, tmp_path):
    out = sheet(trained, tmp_path / "docs" / "sheet.png", n=4, columns=2, cell=32)
    assert Image.open(out).size == (2 * 3 * 32 + 4, 2 * 32 + 4)
    first = np.asarray(Image.open(out))[:32, :32]
    assert (first[..., 0] > 150).any() and (first[..., 2] < 100).any()  # a red square, as given


def test_triplet_sheet_refuses_nothing():
    with pytest.raises(MascotError, match="no pictures"):
        triplet_sheet([])


def test_measure_cli_prints_the_table_and_json(trained, tmp_path, capsys):
    args = [
        "translate",
        "measure",
        "--checkpoint",
        str(trained),
        "--images",
        "4",
        "--feature-size",
        "64",
        "--sheet",
        str(tmp_path / "s.png"),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "KID x1000 to discs" in out[1] and (tmp_path / "s.png").is_file()
    assert set(json.loads(out[-1])["kid_x1000"]) == {"a_to_b", "a_untranslated"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--images", "1"], "--images must be at least 2"),
        (["--b", "nowhere"], "no data set at 'nowhere'"),
    ],
)
def test_measure_cli_bad_input_is_one_clear_line(trained, capsys, argv, message):
    assert main(["translate", "measure", "--checkpoint", str(trained), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_measure_cli_on_a_folder_without_a_translator(tmp_path, capsys):
    assert main(["translate", "measure", "--checkpoint", str(tmp_path)]) == 2
    assert "no translator at" in capsys.readouterr().err
