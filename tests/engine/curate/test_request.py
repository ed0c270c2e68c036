from pathlib import Path

import pytest

from engine.curate.request import CurationRequestError, job_input

ITEM = {"seed": 1, "attributes": {"hair": "red"}, "version": "dcgan-abc"}


def _input(**body):
    return job_input(
        {"curated": [ITEM], **body},
        champion=Path("c"),
        versions=Path("v"),
        data="d",
        sizes=(128, 256, 512),
        upscaler="checkpoints/upscale",
    )


def test_the_gate_judges_at_the_model_s_own_size_unless_asked():
    assert _input()["eval"]["size"] == 0


def test_eval_size_judges_as_posted_through_the_engine_s_stage():
    settings = _input(eval_size=512)["eval"]
    assert settings["size"] == 512 and settings["upscaler"] == "checkpoints/upscale"


@pytest.mark.parametrize("size", [300, -1, "512", True])
def test_an_eval_size_the_engine_does_not_serve_is_refused(size):
    with pytest.raises(CurationRequestError, match="eval_size"):
        _input(eval_size=size)
