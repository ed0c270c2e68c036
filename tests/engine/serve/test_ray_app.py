"""The Ray Serve wrapper, where ray is installed (it is optional)."""

import pytest

pytest.importorskip("ray.serve", reason="ray[serve] is optional and not installed here")

from engine.serve.ray_app import MascotGenerator


def test_batched_draw_matches_single_requests_in_order(tiny_checkpoint):
    gen = MascotGenerator(str(tiny_checkpoint))
    reqs = [
        gen.parse({"seed": s, "attributes": "hair:red", "truncation": t})
        for s, t in [(1, 1.0), (2, 0.5), (3, 1.0)]
    ]
    out = gen.draw(reqs)
    assert [o["seed"] for o in out] == [1, 2, 3]
    single = gen.draw([reqs[1]])[0]
    assert single["image"] == out[1]["image"]
