"""docs/figures.py: every picture the README and docs show exists and has a maker whose commands parse."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = r"[\w./-]+\.(?:png|gif|jpe?g|webp)"


def load_figures():
    spec = importlib.util.spec_from_file_location("docs_figures", ROOT / "docs/figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


figures = load_figures()


def shown_images() -> dict[Path, str]:
    """Every image README.md and the pages in docs/ link to or name, as a path under docs/ -> the page."""
    found = {}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for link in re.findall(rf"!\[[^\]]*\]\(({IMAGE})\)", text):
            found[(page.parent / link).resolve()] = page.name
        for named in re.findall(rf"(?<![\w/])(docs/{IMAGE})", text):
            found[(ROOT / named).resolve()] = page.name
    return found


def made_files() -> set[Path]:
    return {(figures.DOCS / path).resolve() for f in figures.FIGURES.values() for path in f.files}


def test_the_pages_show_the_model_card_and_readme_figures():
    # The scan itself must see what the README and the model card show, or the next test proves nothing.
    shown = shown_images()
    assert ROOT / "docs/creative-loop.png" in shown and ROOT / "docs/invert-sheet.png" in shown
    assert ROOT / "docs/model/hair-rows.png" in shown
    assert ROOT / "docs/model/eval-default-posted-1000/grid-micah.png" in shown


def test_every_image_a_page_shows_exists_and_has_a_maker():
    made = made_files()
    for image, page in shown_images().items():
        assert image.is_file(), f"{page} shows {image.relative_to(ROOT)}, which does not exist"
        assert image in made, (
            f"{page} shows {image.relative_to(ROOT)}, which no maker in docs/figures.py makes"
        )


def test_every_picture_kept_in_docs_has_a_maker():
    kept = {p.resolve() for ext in ("png", "gif") for p in (ROOT / "docs").rglob(f"*.{ext}")}
    assert kept - made_files() == set()


def test_list_names_every_figure_and_its_files(capsys):
    assert figures.main(["--list"]) == 0
    printed = capsys.readouterr().out
    for figure in figures.FIGURES.values():
        assert figure.name in printed
        for path in figure.files:
            assert f"docs/{path}" in printed


def test_only_an_unknown_name_is_refused_with_the_names(capsys):
    assert figures.main(["--only", "hair-rows", "no-such-figure"]) == 2
    err = capsys.readouterr().err
    assert "no figure named no-such-figure" in err and "hair-rows" in err


def test_a_dry_run_writes_nothing(tmp_path, capsys):
    assert figures.main(["--only", "hair-rows", "invert-sheet", "--dry-run", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert f"-o {tmp_path}/model/hair-rows.png" in printed and "draw_invert_sheet" in printed
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def steps(tmp_path) -> list[str]:
    return [step.says for f in figures.FIGURES.values() for step in f.steps(tmp_path)]


def test_every_engine_command_a_maker_runs_parses(tmp_path):
    from engine.cli import build_parser

    commands = [says.split()[1:] for says in steps(tmp_path) if says.startswith("mascot-engine ")]
    assert len(commands) >= 7
    for argv in commands:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"mascot-engine refuses: {' '.join(argv)}")


@pytest.mark.slow
def test_every_benchmark_flag_a_maker_passes_is_one_the_benchmark_takes(tmp_path):
    scripts = {}
    for says in steps(tmp_path):
        words = says.split()
        if words[0] == "python":
            scripts.setdefault(words[1], set()).update(w for w in words[2:] if w.startswith("--"))
    assert set(scripts) == {"bench/pixel_grid.py", "bench/augment_small_data.py", "bench/feedback_sim.py"}
    for script, flags in scripts.items():
        usage = subprocess.run(
            [sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
        ).stdout
        missing = flags - set(re.findall(r"--[\w-]+", usage))
        assert not missing, f"{script} does not take {sorted(missing)}"


def test_the_model_cards_evaluation_uses_the_flagship_gates_real_renders_and_offered_styles():
    from engine.train.targets import OFFERED_STYLES, POSTED_REAL

    assert figures.POSTED_STYLES == OFFERED_STYLES and str(POSTED_REAL) == figures.POSTED_REAL
