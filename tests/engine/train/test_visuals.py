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
