import numpy as np
from PIL import Image

from engine.checkpoint import load_checkpoint
from engine.cli import main
from engine.sampling import render, resolve


def test_one_image(tiny_checkpoint, tmp_path):
    out = tmp_path / "out.png"
    assert (
        main(
            [
                "generate",
                "--checkpoint",
                str(tiny_checkpoint),
                "hair:blue",
                "smile:yes",
                "--seed",
                "42",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert Image.open(out).size == (32, 32)


def test_same_seed_same_pixels_alone_or_in_a_batch(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    reqs = [resolve(ckpt.schema, {"hair": "red"}, s) for s in range(40, 48)]
    batch = render(ckpt.G, ckpt.schema, reqs)
    for i, req in enumerate(reqs):
        assert np.array_equal(render(ckpt.G, ckpt.schema, [req])[0], batch[i])


def test_unset_attributes_are_sampled_repeatably(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert resolve(ckpt.schema, {}, 7) == resolve(ckpt.schema, {}, 7)
    drawn = {resolve(ckpt.schema, {}, s).attrs["hair"] for s in range(30)}
    assert drawn == {"red", "green", "blue"}


def test_count_grid_and_interpolation(tiny_checkpoint, tmp_path):
    ck = str(tiny_checkpoint)
    assert main(["generate", "--checkpoint", ck, "--count", "3", "-o", str(tmp_path / "m.png")]) == 0
    assert sorted(p.name for p in tmp_path.glob("m-*.png")) == ["m-0.png", "m-1.png", "m-2.png"]
    assert main(["generate", "--checkpoint", ck, "--grid", "4", "-o", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size == (4 * 32, 32)
    assert (
        main(
            [
                "generate",
                "--checkpoint",
                ck,
                "--interpolate",
                "1",
                "2",
                "--frames",
                "5",
                "-o",
                str(tmp_path / "a.gif"),
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "a.gif").n_frames == 8  # 5 there, 3 back


def test_bad_requests_are_clear(tiny_checkpoint, capsys):
    ck = str(tiny_checkpoint)
    assert main(["generate", "--checkpoint", ck, "hair:purple"]) == 2
    assert "allowed: red, green, blue" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", ck, "--seed", "-1"]) == 2
    assert "seed must be" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", ck, "--truncation", "2"]) == 2
    assert "truncation must be" in capsys.readouterr().err


def test_attribute_rows_grid_keeps_the_noise_per_column(tiny_checkpoint, tmp_path, capsys):
    ck, out = str(tiny_checkpoint), tmp_path / "rows.png"
    assert main(["generate", "--checkpoint", ck, "--grid", "4", "--rows", "hair", "-o", str(out)]) == 0
    from engine.train.visuals import LABEL_WIDTH

    assert Image.open(out).size == (LABEL_WIDTH + 4 * 32, 3 * 32)  # red, green, blue rows
    assert main(["generate", "--checkpoint", ck, "--rows", "hair", "-o", str(out)]) == 2
    assert "--rows needs --grid" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", ck, "--grid", "2", "--rows", "nose", "-o", str(out)]) == 2
    assert "nose" in capsys.readouterr().err


def test_attribute_rows_hold_the_attributes_asked_beside_them(tiny_checkpoint, tmp_path, capsys):
    ck = str(tiny_checkpoint)
    held, free = tmp_path / "held.png", tmp_path / "free.png"
    assert (
        main(["generate", "--checkpoint", ck, "--grid", "4", "--rows", "smile", "hair:red", "-o", str(held)])
        == 0
    )
    assert main(["generate", "--checkpoint", ck, "--grid", "4", "--rows", "smile", "-o", str(free)]) == 0
    ckpt = load_checkpoint(tiny_checkpoint)
    from engine.train.visuals import LABEL_WIDTH

    cell = np.asarray(Image.open(held))[:32, LABEL_WIDTH:]  # the first row: smile:no
    asked = [resolve(ckpt.schema, {"hair": "red", "smile": "no"}, s) for s in range(4)]
    assert np.array_equal(cell, np.concatenate(list(render(ckpt.G, ckpt.schema, asked)), axis=1))
    assert not np.array_equal(np.asarray(Image.open(held)), np.asarray(Image.open(free)))
    assert (
        main(["generate", "--checkpoint", ck, "--grid", "4", "--rows", "smile", "smile:yes", "-o", str(held)])
        == 2
    )
    assert "drop smile:yes" in capsys.readouterr().err


def test_size_draws_through_the_upscale_stage(tiny_checkpoint, tiny_upscaler, tmp_path):
    ck, up = str(tiny_checkpoint), str(tiny_upscaler)
    for size in (64, 128):
        out = tmp_path / f"s{size}.png"
        assert (
            main(
                [
                    "generate",
                    "--checkpoint",
                    ck,
                    "hair:blue",
                    "--seed",
                    "1",
                    "--size",
                    str(size),
                    "--upscaler",
                    up,
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        assert Image.open(out).size == (size, size)
    again = tmp_path / "again.png"
    assert (
        main(
            [
                "generate",
                "--checkpoint",
                ck,
                "hair:blue",
                "--seed",
                "1",
                "--size",
                "128",
                "--upscaler",
                up,
                "-o",
                str(again),
            ]
        )
        == 0
    )
    assert again.read_bytes() == (tmp_path / "s128.png").read_bytes()
    assert (
        main(
            [
                "generate",
                "--checkpoint",
                ck,
                "--grid",
                "3",
                "--size",
                "64",
                "--upscaler",
                up,
                "-o",
                str(tmp_path / "g.png"),
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "g.png").size == (3 * 64, 64)


def test_a_size_without_a_stage_or_not_offered_is_clear(tiny_checkpoint, tiny_upscaler, tmp_path, capsys):
    ck = str(tiny_checkpoint)
    assert (
        main(
            [
                "generate",
                "--checkpoint",
                ck,
                "--size",
                "128",
                "--upscaler",
                str(tmp_path / "none"),
                "-o",
                str(tmp_path / "a.png"),
            ]
        )
        == 2
    )
    assert "needs the upscale stage" in capsys.readouterr().err
    assert (
        main(
            [
                "generate",
                "--checkpoint",
                ck,
                "--size",
                "100",
                "--upscaler",
                str(tiny_upscaler),
                "-o",
                str(tmp_path / "b.png"),
            ]
        )
        == 2
    )
    assert "32, 64, 128 px, not 100" in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists()
