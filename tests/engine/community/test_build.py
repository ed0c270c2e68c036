"""The labels a community's model gets: the tagger's attributes when it reads the pictures
confidently, else classes of look-alike pictures, and the answer says why."""

import numpy as np
import pytest

import engine.community.build as build
from engine.community.build import BuildConfig, build_dataset
from engine.community.intake import take_pictures
from engine.community.store import Community, Limits
from engine.data.autotag import AutoTagger
from tests.pictures import pictures
from tests.toydata import TOY_SCHEMA


class Readings:
    """A stand-in attribute classifier, sure of every reading or of none."""

    schema = TOY_SCHEMA
    fingerprint = "stub"

    def __init__(self, sure: bool) -> None:
        self.sure = sure

    def probabilities(self, images):
        hair = [0.9, 0.05, 0.05] if self.sure else [0.4, 0.35, 0.25]
        smile = [0.05, 0.95] if self.sure else [0.45, 0.55]
        return [np.tile(hair, (len(images), 1)), np.tile(smile, (len(images), 1))]


@pytest.fixture
def community(tmp_path):
    c = Community(tmp_path, "discord-5")
    c.open(Limits(), "tiny")
    take_pictures(c, pictures(20), Limits())
    return c


@pytest.mark.parametrize("sure", [True, False])
def test_tags_when_the_classifier_reads_the_pictures_else_classes(community, monkeypatch, sure):
    monkeypatch.setattr(build, "_tagger", lambda path: AutoTagger(Readings(sure), 0.8, source="stub"))
    built = build_dataset(community, BuildConfig(size=32, tagger="stub", features="rgb"), Limits())
    if sure:
        assert built["labels"] == "tags"
        assert built["attributes"] == {"hair": ["red", "green", "blue"], "smile": ["no", "yes"]}
        assert built["kept_share"] == {"hair": 1.0, "smile": 1.0}
    else:
        assert built["labels"] == "classes" and list(built["attributes"]) == ["class"]
        assert "read only 0% of its readings confidently (under 60%)" in built["why"]
    assert (community.data / "contact_sheet.png").is_file()
    assert not (community.folder / "data" / "folder").exists()  # no half-step left behind
