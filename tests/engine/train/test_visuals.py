import json

from PIL import Image

from engine.train.visuals import curve_keys, loss_curves


def _rows(ada: bool) -> list[dict]:
    rows = [{"kimg": k, "loss/loss_d": 1.0 - 0.1 * k, "stat/d_real": 0.2 * k} for k in range(4)]
    if ada:
        for r in rows:
            r.update({"stat/ada_p": 0.05 * r["kimg"], "stat/ada_rt": 0.6})
    return rows


def test_ada_p_gets_the_top_panel_only_when_the_run_used_ada():
    assert curve_keys(_rows(ada=True)) == ["stat/ada_p", "loss/loss_d", "stat/ada_rt", "stat/d_real"]
    assert curve_keys(_rows(ada=False)) == ["loss/loss_d", "stat/d_real"]


def test_curves_png_has_a_panel_per_series(tmp_path):
    heights = {}
    for ada in (True, False):
        stats = tmp_path / f"stats-{ada}.jsonl"
        stats.write_text("".join(json.dumps(r) + "\n" for r in _rows(ada)))
        loss_curves(stats, tmp_path / f"losses-{ada}.png")
        heights[ada] = Image.open(tmp_path / f"losses-{ada}.png").height
    assert heights[True] == 2 * heights[False]  # 4 panels against 2


def test_a_small_models_grid_enlarges_its_cells_whole_so_labels_fit_and_cells_stay_crisp():
    import numpy as np

    from engine.train.visuals import LABEL_WIDTH, MIN_CELL, _tile

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2 * 3, 16, 16, 3), dtype=np.uint8)  # 2 rows of 3 at a 16 px grid
    sheet = np.asarray(_tile(images, 2, 3, ["hair:\nblue", "hair:\nred"]))
    scale = MIN_CELL // 16
    assert sheet.shape == (2 * MIN_CELL, LABEL_WIDTH + 3 * MIN_CELL, 3)
    first = sheet[:MIN_CELL, LABEL_WIDTH : LABEL_WIDTH + MIN_CELL]
    assert (first == images[0].repeat(scale, 0).repeat(scale, 1)).all()  # each cell a flat block
    big = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    assert np.asarray(_tile(big, 1, 2, ["x"])).shape == (64, LABEL_WIDTH + 128, 3)  # left as drawn
