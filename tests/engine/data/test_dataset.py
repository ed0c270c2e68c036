import json

import numpy as np
import pytest

from engine.cli import main
from engine.data.dataset import Dataset, DatasetWriter, Source, describe
from engine.errors import MascotError
from engine.schema import Schema, choice, flag

SCHEMA = Schema((choice("hair", ["black", "blue"]), flag("smile")))


def _write(out, n=5, capacity=None):
    rng = np.random.default_rng(0)
    with DatasetWriter(out, resolution=8, schema=SCHEMA, capacity=capacity or n) as w:
        for i in range(n):
            w.add(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), {"hair": ["black", "blue"][i % 2]})
        w.sources = [Source("test", "CC0", "nobody")]
    return Dataset(out)


def test_round_trip_and_card(tmp_path):
    ds = _write(tmp_path / "ds", n=5, capacity=9)  # fewer images than announced are trimmed
    assert len(ds) == 5 and ds.resolution == 8
    assert isinstance(ds.images, np.memmap)
    assert ds.card["attribute_counts"]["hair"] == {"black": 3, "blue": 2, "(not visible)": 0}
    assert ds.card["attribute_counts"]["smile"]["(not visible)"] == 5
    assert (tmp_path / "ds" / "contact_sheet.png").exists()
    assert ds.conditioning().shape == (5, SCHEMA.dim)
    assert "hair: black=3, blue=2" in describe(tmp_path / "ds")


def test_fingerprint_depends_on_content_only(tmp_path):
    a = _write(tmp_path / "a")
    b = _write(tmp_path / "b")
    assert a.fingerprint == b.fingerprint
    with DatasetWriter(tmp_path / "c", resolution=8, schema=SCHEMA, capacity=1) as w:
        w.add(np.zeros((8, 8, 3), np.uint8), {})
    assert Dataset(tmp_path / "c").fingerprint != a.fingerprint


def test_failure_leaves_no_data_set_and_keeps_the_old_one(tmp_path):
    out = tmp_path / "ds"
    _write(out)
    with pytest.raises(RuntimeError), DatasetWriter(out, resolution=8, schema=SCHEMA, capacity=3) as w:
        w.add(np.zeros((8, 8, 3), np.uint8), {})
        raise RuntimeError("crash mid-build")
    assert len(Dataset(out)) == 5  # the previous complete data set is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no partial folder left behind


def test_incomplete_or_corrupt_folder_is_refused(tmp_path):
    ds = _write(tmp_path / "ds")
    (ds.root / "labels.npy").unlink()
    with pytest.raises(MascotError, match=r"missing labels\.npy"):
        Dataset(ds.root)
    with pytest.raises(MascotError, match="does not exist"):
        Dataset(tmp_path / "nope")


def test_card_count_mismatch_is_refused(tmp_path):
    ds = _write(tmp_path / "ds")
    card = json.loads((ds.root / "card.json").read_text())
    card["count"] = 99
    (ds.root / "card.json").write_text(json.dumps(card))
    with pytest.raises(MascotError, match="card says 99"):
        Dataset(ds.root)


def test_unwritable_output_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MascotError, match="cannot write"):
        DatasetWriter(blocker / "ds", resolution=8, schema=SCHEMA, capacity=1)


def test_describe_command(tmp_path, capsys):
    _write(tmp_path / "ds")
    assert main(["data", "describe", str(tmp_path / "ds")]) == 0
    assert "5 images at 8px" in capsys.readouterr().out
    assert main(["data", "describe", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
