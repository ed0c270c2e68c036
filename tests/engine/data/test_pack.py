import io
import shutil
import tarfile

import numpy as np
import pytest

from engine.cli import main
from engine.data.dataset import Dataset
from engine.data.pack import PACKED, pack, unpack
from engine.errors import MascotError


@pytest.fixture(scope="module")
def packed(toy_dataset, tmp_path_factory):
    return pack(toy_dataset, tmp_path_factory.mktemp("pack") / "toy.tar.xz")


def _tar_xz(path, members: dict[str, bytes]):
    with tarfile.open(path, mode="w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _training_files(root):
    return {name: (root / name).read_bytes() for name in PACKED}


def test_round_trip_keeps_every_pixel_label_and_the_fingerprint(toy_dataset, packed, tmp_path):
    before = Dataset(toy_dataset)
    after = Dataset(unpack(packed, tmp_path / "out"))
    assert after.fingerprint == before.fingerprint
    assert np.array_equal(after.images, before.images) and np.array_equal(after.labels, before.labels)
    assert after.schema == before.schema


def test_the_pack_holds_only_the_training_files(toy_dataset, packed):
    assert (toy_dataset / "contact_sheet.png").exists()  # in the folder, but not for training
    with tarfile.open(packed, mode="r:xz") as tar:
        assert sorted(tar.getnames()) == sorted(PACKED)


@pytest.mark.parametrize("damage", ["truncated", "flipped bytes", "not xz"])
def test_a_damaged_pack_is_a_clear_error(packed, tmp_path, damage):
    data = bytearray(packed.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped bytes":
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    else:
        data = b"just some text, not a packed data set\n" * 10
    bad = tmp_path / "bad.tar.xz"
    bad.write_bytes(bytes(data))
    with pytest.raises(MascotError, match="not a readable packed data set"):
        unpack(bad, tmp_path / "out")


def test_a_missing_pack_is_a_clear_error(tmp_path):
    with pytest.raises(MascotError, match="no packed data set"):
        unpack(tmp_path / "nothing.tar.xz", tmp_path / "out")


@pytest.mark.parametrize("extra", ["evil.txt", "../x", "/tmp/abs"])
def test_a_pack_with_other_members_is_refused(toy_dataset, tmp_path, extra):
    bad = _tar_xz(tmp_path / "bad.tar.xz", {**_training_files(toy_dataset), extra: b"payload"})
    with pytest.raises(MascotError, match="is not a packed data set"):
        unpack(bad, tmp_path / "out" / "ds")
    assert not (tmp_path / "out" / "x").exists() and not (tmp_path / "x").exists()


def test_a_pack_whose_training_file_escapes_the_folder_is_refused(toy_dataset, tmp_path):
    files = _training_files(toy_dataset)
    files["../card.json"] = files.pop("card.json")
    with pytest.raises(MascotError, match="is not a packed data set"):
        unpack(_tar_xz(tmp_path / "bad.tar.xz", files), tmp_path / "out" / "ds")
    assert not (tmp_path / "out" / "card.json").exists()


def test_a_pack_missing_a_training_file_is_refused(toy_dataset, tmp_path):
    files = _training_files(toy_dataset)
    del files["labels.npy"]
    with pytest.raises(MascotError, match="expected"):
        unpack(_tar_xz(tmp_path / "bad.tar.xz", files), tmp_path / "out")


def test_a_link_in_place_of_a_training_file_is_refused(toy_dataset, tmp_path):
    files = _training_files(toy_dataset)
    del files["images.npy"]
    bad = _tar_xz(tmp_path / "bad.tar.xz", files)
    with tarfile.open(tmp_path / "link.tar.xz", mode="w:xz") as tar, tarfile.open(bad, mode="r:xz") as src:
        for member in src.getmembers():
            tar.addfile(member, src.extractfile(member))
        link = tarfile.TarInfo("images.npy")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(MascotError, match="is not a packed data set"):
        unpack(tmp_path / "link.tar.xz", tmp_path / "out")


def test_pixels_changed_inside_the_pack_fail_the_fingerprint_check(toy_dataset, tmp_path):
    tampered = shutil.copytree(toy_dataset, tmp_path / "tampered")
    images = np.load(tampered / "images.npy")
    images[0, 0, 0] ^= 1  # one channel of one pixel; card.json keeps the old fingerprint
    np.save(tampered / "images.npy", images)
    packed = pack(tampered, tmp_path / "tampered.tar.xz")
    with pytest.raises(MascotError, match="fingerprint"):
        unpack(packed, tmp_path / "out")


def test_a_refused_pack_leaves_no_data_set_behind(toy_dataset, tmp_path):
    tampered = shutil.copytree(toy_dataset, tmp_path / "tampered")
    images = np.load(tampered / "images.npy")
    images[0, 0, 0] ^= 1
    np.save(tampered / "images.npy", images)
    with pytest.raises(MascotError, match="fingerprint"):
        unpack(pack(tampered, tmp_path / "tampered.tar.xz"), tmp_path / "out")
    with pytest.raises(MascotError):
        Dataset(tmp_path / "out")  # a later 'train --data out' must not train on the tampered pixels


def test_cli_packs_and_unpacks(toy_dataset, tmp_path, capsys):
    packed = tmp_path / "packs" / "toy.tar.xz"
    assert main(["data", "pack", str(toy_dataset), "--out", str(packed)]) == 0
    assert main(["data", "unpack", str(packed), "--out", str(tmp_path / "out")]) == 0
    assert Dataset(tmp_path / "out").fingerprint == Dataset(toy_dataset).fingerprint
    assert "packed" in capsys.readouterr().out


def test_cli_reports_a_bad_pack_in_one_line(tmp_path, capsys):
    (tmp_path / "bad.tar.xz").write_bytes(b"garbage")
    assert main(["data", "unpack", str(tmp_path / "bad.tar.xz"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mascot-engine: error:") and "Traceback" not in err
