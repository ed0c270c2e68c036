"""A community's folder: ids, state, budgets and forgetting leave nothing behind."""

import os
import shutil

import pytest

from engine.community.build import BuildConfig, build_dataset
from engine.community.intake import take_pictures
from engine.community.store import Community, CommunityError, Limits, known
from engine.community.training import planned_chunks, preset, run_chunk
from tests.pictures import pictures


@pytest.mark.parametrize("bad", ["", "Discord-1", "a/b", "../x", "-x", "x" * 49, 7, None])
def test_an_id_that_cannot_name_a_folder_is_refused(tmp_path, bad):
    with pytest.raises(CommunityError, match="not a community id"):
        Community(tmp_path, bad)


def test_building_needs_enough_pictures_and_names_the_classes(tmp_path):
    c = Community(tmp_path, "web-chat")
    c.open(Limits(), "tiny")
    take_pictures(c, pictures(8), Limits())
    with pytest.raises(CommunityError, match="has 8 pictures; a model needs at least 16"):
        build_dataset(c, BuildConfig(size=32, features="rgb"), Limits())
    take_pictures(c, pictures(24)[8:], Limits())
    built = build_dataset(c, BuildConfig(size=32, features="rgb"), Limits())
    assert built["labels"] == "classes" and built["pictures"] == 24
    assert "no attribute classifier" in built["why"]
    assert (c.data / "contact_sheet.png").is_file() and (c.data / "card.json").is_file()
    assert known(tmp_path) == ["web-chat"]


def test_a_spent_budget_refuses_the_next_chunk_and_forget_removes_everything(tmp_path):
    c = Community(tmp_path, "discord-9")
    state = c.open(Limits(cpu_minutes=5.0), "tiny")
    state.built = {"attributes": {"class": ["0", "1"]}}
    state.cpu_minutes_spent = 4.0
    c.save(state)
    with pytest.raises(CommunityError, match=r"spent 4\.0 of its 5 CPU minutes"):
        run_chunk(tmp_path, "discord-9", 3)
    assert planned_chunks(c.state(), preset("tiny")) == 0
    take_pictures(c, pictures(2), Limits())
    assert c.disk_bytes() > 0
    c.forget()
    assert not c.folder.exists() and list(tmp_path.iterdir()) == []


def test_disk_bytes_counts_while_a_chunk_renames_and_removes_its_files(tmp_path, monkeypatch):
    c = Community(tmp_path, "discord-9")
    (c.folder / "run" / ".model.partial").mkdir(parents=True)
    (c.folder / "run" / ".model.partial" / "g.safetensors").write_bytes(b"x" * 100)
    (c.folder / "run" / "chunk.log").write_bytes(b"y" * 7)
    (c.folder / "pictures").mkdir()
    (c.folder / "pictures" / "a.png").write_bytes(b"z" * 5)
    (c.folder / "pictures" / "link.png").symlink_to(c.folder / "pictures" / "a.png")
    walk = os.walk

    def walk_while_the_trainer_moves_on(top):
        # The trainer renames its partial folder away and rotates its log once the count began.
        for i, entry in enumerate(walk(top)):
            if i == 0:
                shutil.rmtree(c.folder / "run" / ".model.partial")
                (c.folder / "run" / "chunk.log").unlink()
            yield entry

    monkeypatch.setattr("engine.community.store.os.walk", walk_while_the_trainer_moves_on)
    assert c.disk_bytes() == 5
