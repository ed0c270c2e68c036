"""Every figure README.md, the model card and the pages in docs/ show, made again by one command.

    python docs/figures.py --list                      # each figure, its files, roughly how long it takes
    python docs/figures.py                             # all of them (hours on a CPU: see --list)
    python docs/figures.py --only hair-rows smile-rows
    python docs/figures.py --only invert-sheet --out /tmp/figures   # into another folder than docs/
    python docs/figures.py --only eval-posted --dry-run             # the steps, without running them

Run it from anywhere; it works in the repository root. Each figure's maker runs the project's
own commands (``mascot-engine ...``, the benchmarks in bench/) or calls its public functions on
the shipped checkpoints. A data set or trained model a maker reads and does not find is made
first, by the command the docs give for it, and the step says so. The minutes are rough, for a
two-core CPU with other work on it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.train.targets import OFFERED_STYLES, POSTED_REAL_BUILD
from engine.train.targets import POSTED_REAL as TARGET_POSTED_REAL

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# The styles the default offers and the real renders it is judged against, as its chunk's gate.
POSTED_STYLES = OFFERED_STYLES
POSTED_REAL = str(TARGET_POSTED_REAL)


@dataclass(frozen=True)
class Step:
    """One thing a maker does: a command line, or a call of the project's functions."""

    says: str  # what --dry-run prints and a failure names
    do: Callable[[], None] = field(compare=False)


@dataclass(frozen=True)
class Figure:
    name: str
    files: tuple[str, ...]  # relative to the output folder (docs/ unless --out)
    minutes: float  # roughly, on two busy CPU cores
    steps: Callable[[Path], list[Step]] = field(compare=False)  # the output folder -> what to do


class FigureError(Exception):
    """A maker that could not finish; the message says which step and why."""


def program(name: str) -> str:
    """A console script of this install (beside this Python first, so a venv need not be active)."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise FigureError(f"'{name}' is not installed: pip install -e '.[engine,bot]' in the repository root")
    return found


def command(line: str, *more: str | Path) -> Step:
    """``mascot-engine ...`` or ``python bench/....py ...`` as the docs write it, then ``more`` words
    (the output folder's files, which may hold spaces); run in the repository root."""
    words = [*line.split(), *(shown(word) for word in more)]

    def run() -> None:
        exe = program(words[0]) if words[0] != "python" else sys.executable
        done = subprocess.run([exe, *words[1:]], cwd=ROOT)
        if done.returncode != 0:
            raise FigureError(f"'{' '.join(words)}' exited with status {done.returncode}")

    return Step(" ".join(words), run)


def shown(word: str | Path) -> str:
    """A path inside the repository as the docs write it (relative to its root)."""
    if isinstance(word, Path) and word.is_relative_to(ROOT):
        return str(word.relative_to(ROOT))
    return str(word)


def call(says: str, function: Callable[..., object], *args: object) -> Step:
    return Step(says, lambda: function(*args))


def built(folder: str, line: str) -> list[Step]:
    """The command that makes ``folder``, when it is missing (a data set, a trained model)."""
    return [] if (ROOT / folder).exists() else [command(line)]


def copied(source: Path, target: Path) -> Step:
    return call(f"copy {shown(source)} to {shown(target)}", shutil.copyfile, source, target)


# --- the model card's pictures (docs/model-report.md, "Pictures") ---------------------------------


def model_picture(name: str, file: str, args: str) -> Figure:
    """``mascot-engine generate`` on the shipped model with ``args``, into ``file``."""
    line = f"mascot-engine generate --checkpoint checkpoints/default {args} -o"
    return Figure(name, (file,), 0.5, lambda out: [command(line, out / file)])


# --- the model card's evaluation at the posted size -----------------------------------------------

DICEBEAR_20K = "mascot-engine data dicebear --count 20000 --size 128 --out data/dicebear-20k-128 --seed 7"


def eval_posted(out: Path) -> list[Step]:
    return [
        *built("data/dicebear-20k-128", DICEBEAR_20K),
        *built(POSTED_REAL, "mascot-engine " + " ".join(POSTED_REAL_BUILD)),
        command(
            "mascot-engine eval --protocol posted --checkpoint checkpoints/default "
            f"--data {POSTED_REAL} --classifier-data data/dicebear-20k-128 --classifier-epochs 4 --out",
            out / "model/eval-default-posted-1000",
        ),
    ]


# --- picture -> mascot (README, "Your picture as a mascot") ---------------------------------------


def invert_sheet(out: Path) -> list[Step]:
    # Renders the model never trained on (another seed), of all six styles: the tagger never saw micah.
    sheet = out / "invert-sheet.png"
    return [
        *built(
            "data/real-256",
            "mascot-engine data dicebear --count 2000 --size 256 --seed 11 --out data/real-256",
        ),
        call(
            f"draw_invert_sheet('data/real-256', '{shown(sheet)}'): 8 renders | their nearest mascot",
            draw_invert_sheet,
            ROOT / "data/real-256",
            sheet,
        ),
    ]


def draw_invert_sheet(
    pictures: Path,
    sheet: Path,
    count: int = 8,
    checkpoint: Path = ROOT / "checkpoints/default",
    tagger: Path = ROOT / "checkpoints/tagger",
) -> None:
    """Rows of picture | the mascot picture -> mascot finds for it, for ``count`` pictures spread
    evenly over a data set, at the generator's size. The search is the served one (its steps,
    the shipped tagger's readings) without the time budget, so a busy machine draws the same."""
    import numpy as np

    from engine.checkpoint import load_checkpoint
    from engine.creative import given_latent, render
    from engine.data.dataset import Dataset, contact_sheet
    from engine.evalnet import load_tagger
    from engine.invert import InvertConfig, Inverter, fit_square

    ck = load_checkpoint(checkpoint)
    inverter = Inverter(ck.G, ck.schema, ck.resolution, load_tagger(tagger), InvertConfig(budget_s=600))
    data = Dataset(pictures)
    cells = []
    for index in np.linspace(0, len(data) - 1, count).astype(int):
        picture = np.asarray(data.images[index])
        found = inverter(picture)
        mascot = render(ck.G, ck.schema, [(given_latent(found.latent.tolist()), found.attributes)])[0]
        cells += [fit_square(picture, ck.resolution), mascot]
        print(f"picture {index}: {found.steps} steps in {found.seconds:.1f} s", flush=True)
    sheet.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(np.stack(cells), columns=2).save(sheet)


# --- the web chat (README) ------------------------------------------------------------------------


def creative_loop(out: Path) -> list[Step]:
    shot = out / "creative-loop.png"
    return [
        call(
            f"mascot-bot demo --checkpoint checkpoints/default, a headless Chromium clicks "
            f"Make 4, pick, variations, pick, keep, /status, /collection -> {shown(shot)}",
            screenshot_web_chat,
            shot,
        ),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot_web_chat(shot: Path, checkpoint: str = "checkpoints/default") -> None:
    """The demo as a user starts it (the engine on ``checkpoint`` and the web chat, a fresh store and
    engine state), clicked through in Chromium the way tests/bot/web/test_browser_loop.py does."""
    import asyncio
    import urllib.request

    from PIL import Image

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise FigureError("the web chat's screenshot needs Chromium: apt-get install -y chromium")
    if (
        shutil.which("fc-list")
        and "emoji"
        not in subprocess.run(["fc-list"], capture_output=True, text=True, check=False).stdout.lower()
    ):
        # Without one the chat's buttons are drawn as empty boxes.
        raise FigureError(
            "the web chat's screenshot needs an emoji font: apt-get install -y fonts-noto-color-emoji"
        )
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        # /status is for the chat's admins: this throwaway demo's token goes to the browser too.
        token = secrets.token_hex(16)
        env = {**os.environ, "MASCOT_STATE_DIR": str(Path(tmp) / "state"), "WEB_ADMIN_TOKEN": token}
        demo = subprocess.Popen(
            [
                program("mascot-bot"),
                "demo",
                "--checkpoint",
                checkpoint,
                "--engine-port",
                "0",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--db",
                str(Path(tmp) / "bot.db"),
            ],
            cwd=ROOT,
            env={k: v for k, v in env.items() if k != "DISCORD_TOKEN"},
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 300
            while True:
                try:
                    urllib.request.urlopen(url, timeout=5).close()
                    break
                except OSError:
                    if demo.poll() is not None or time.monotonic() > deadline:
                        raise FigureError(f"the demo's web chat did not answer on {url}") from None
                    time.sleep(1)
            asyncio.run(click_through(chromium, url, token, shot))
        finally:
            demo.terminate()
            demo.wait(timeout=30)
    # 256 colours keep the page's flat colours and the mascots, at a third of the file's size.
    with Image.open(shot) as page:
        paletted = page.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    paletted.save(shot, optimize=True)


async def click_through(chromium: str, url: str, admin_token: str, shot: Path) -> None:
    from playwright.async_api import async_playwright

    wait = 180_000  # ms: the first pictures at 512 px wait for the engine to be ready
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        page = await browser.new_page(viewport={"width": 506, "height": 900})
        await page.goto(url)
        await page.evaluate(f"localStorage.adminToken = '{admin_token}'")
        answers = ".msg.bot, .msg.private"  # what only the asker sees (/status, /collection) is private
        bots = page.locator(answers)

        async def reply(act) -> None:
            """Do ``act`` and wait for the bot's next message."""
            before = await bots.count()
            await act()
            await page.wait_for_function(
                f"document.querySelectorAll('{answers}').length > {before}", timeout=wait
            )

        async def pictures(act, figures: str):
            """Do ``act``; the bot's next message's ``figures``, once their pictures are drawn."""
            await reply(act)
            found = bots.nth(await bots.count() - 1).locator(figures)  # that message, not whichever is last
            await found.last.locator("img").wait_for(state="visible", timeout=wait)
            return found

        async def say(text: str) -> None:
            await page.fill("#command", text)
            await page.press("#command", "Enter")

        await page.locator("select.picker[name=hair]").wait_for(timeout=wait)
        await page.select_option("select.picker[name=hair]", "blue")
        await page.select_option("select.picker[name=smile]", "yes")
        grid = await pictures(lambda: page.click("button.make"), "figure.grid")
        post = await pictures(grid.nth(2).locator("button.pick").click, "figure.post")
        varied = await pictures(post.locator("button.vary").click, "figure.grid")
        final = await pictures(varied.nth(1).locator("button.pick").click, "figure.post")
        await reply(final.locator("button.star").click)  # "Saved to your collection"
        await reply(lambda: say("/status"))
        await pictures(lambda: say("/collection"), "figure.collection")
        shot.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shot), full_page=True)
        await browser.close()


# --- the upscale stage (docs/upscale.md) ----------------------------------------------------------


def upscale_grid(out: Path) -> list[Step]:
    sheet = out / "upscale-grid.png"
    return [
        call(
            f"engine.upscale.measure.side_by_side('checkpoints/upscale', 'checkpoints/default', "
            f"'{shown(sheet)}'): the sheets that 'upscale measure --generator --grid' draws",
            draw_upscale_grid,
            sheet,
        ),
    ]


def draw_upscale_grid(sheet: Path) -> None:
    from engine.upscale.measure import side_by_side

    side_by_side(ROOT / "checkpoints/upscale", ROOT / "checkpoints/default", sheet)


# --- the pixel-art model (docs/pixel.md) ----------------------------------------------------------


def pixel_grid(out: Path) -> list[Step]:
    return [
        command("python bench/pixel_grid.py --checkpoint checkpoints/pixel --out", out / "pixel-grid.png")
    ]


# --- small-data augmentation (docs/augment.md) and picture translation (docs/translate.md) --------

# The five styles the shipped tagger learnt (micah is its unseen style); the first set's seed was not
# recorded, and any seed draws the same kind of set.
TAG_SEEN = (
    "mascot-engine data dicebear --count 2000 --size 64 --styles adventurer lorelei avataaars pixel-art "
    "big-smile --out data/tag-seen-2k-64"
)


def augment(out: Path) -> list[Step]:
    table = ROOT / "bench/augment_small_data.json" if out == DOCS else out / "augment_small_data.json"
    return [
        *built("data/tag-seen-2k-64", TAG_SEEN),
        command(
            "python bench/augment_small_data.py --kimg 20 --samples 1000 "
            "--out runs/augment-bench-20kimg --json",
            table,
            "--png",
            out / "augment.png",
        ),
    ]


def translate_sheet(out: Path) -> list[Step]:
    return [
        *built("data/emoji", "mascot-engine data emoji --source noto --out data/emoji"),
        *built("data/tag-seen-2k-64", TAG_SEEN),
        # The emoji -> DiceBear translator is not shipped (docs/translate.md): run 1 is trained again.
        *built(
            "runs/cyclegan/model",
            "mascot-engine translate train --a data/emoji --b data/tag-seen-2k-64 --out runs/cyclegan "
            "--minutes 45 --steps 2000",
        ),
        command(
            "mascot-engine translate measure --checkpoint runs/cyclegan/model --sheet",
            out / "translate-sheet.png",
        ),
    ]


# --- simulated voters (docs/feedback-sim.md) ------------------------------------------------------


def feedback_sim(out: Path) -> list[Step]:
    # The benchmark writes its table beside the plot; docs/feedback-sim.md keeps its reading by hand
    # under the table, so the table goes to the work folder and is copied in by whoever reads it.
    return [
        *built("data/dicebear-20k-128", DICEBEAR_20K),
        command(
            "python bench/feedback_sim.py --base checkpoints/default --data data/dicebear-20k-128 "
            "--work runs/feedback-sim --out runs/feedback-sim/feedback-sim.md --rounds 3 --votes 200 "
            "--voters 5 --taste-attribute hair --liked red,blue --kimg 2 --batch 16 --eval-samples 500 "
            "--per-value 16 --taste-samples 400"
        ),
        copied(ROOT / "runs/feedback-sim/feedback-sim.png", out / "feedback-sim.png"),
    ]


POSTED_GRIDS = tuple(f"model/eval-default-posted-1000/grid-{style}.png" for style in POSTED_STYLES)
EVAL_POSTED = (
    *POSTED_GRIDS,
    "model/eval-default-posted-1000/report.md",
    "model/eval-default-posted-1000/report.json",
)
FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        model_picture("hair-rows", "model/hair-rows.png", "--grid 8 --rows hair --seed 100"),
        model_picture("smile-rows", "model/smile-rows.png", "--grid 8 --rows smile --seed 100"),
        model_picture(
            "blue-smiling-seeds", "model/blue-smiling-seeds.png", "--grid 16 hair:blue smile:yes --seed 1"
        ),
        model_picture(
            "interpolate-red", "model/interpolate-red.gif", "--interpolate 1 2 --frames 16 hair:red"
        ),
        Figure("eval-posted", EVAL_POSTED, 25, eval_posted),
        Figure("invert-sheet", ("invert-sheet.png",), 5, invert_sheet),
        Figure("creative-loop", ("creative-loop.png",), 1, creative_loop),
        Figure("upscale-grid", ("upscale-grid.png", "upscale-grid-512.png"), 0.5, upscale_grid),
        Figure("pixel-grid", ("pixel-grid.png",), 0.5, pixel_grid),
        Figure("augment", ("augment.png",), 35, augment),
        Figure("translate-sheet", ("translate-sheet.png",), 50, translate_sheet),
        # The first run also trains the data set's 16-epoch EvalNet (over 20 minutes on one core; cached).
        Figure("feedback-sim", ("feedback-sim.png",), 60, feedback_sim),
    )
}


def listing(figures: Sequence[Figure]) -> str:
    rows = [f"{f.name:<20} {minutes(f.minutes)}  {', '.join(f'docs/{p}' for p in f.files)}" for f in figures]
    return "\n".join([*rows, f"{'all':<20} {minutes(sum(f.minutes for f in figures))}"])


def minutes(value: float) -> str:
    return f"{f'~{value:g} min':<9}"


def chosen(names: Sequence[str] | None) -> list[Figure]:
    if not names:
        return list(FIGURES.values())
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise FigureError(f"no figure named {', '.join(unknown)}; the figures are: {', '.join(FIGURES)}")
    return [FIGURES[n] for n in dict.fromkeys(names)]


def make(figure: Figure, out: Path, dry_run: bool) -> float:
    """Run (or with ``dry_run`` print) a figure's steps; the seconds it took."""
    start = time.monotonic()
    for path in figure.files:
        (out / path).parent.mkdir(parents=True, exist_ok=True)
    for step in figure.steps(out):
        print(f"  {step.says}", flush=True)
        if not dry_run:
            step.do()
    return time.monotonic() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python docs/figures.py",
        description=__doc__.splitlines()[0],
        epilog=listing(list(FIGURES.values())),
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--only", nargs="+", metavar="NAME", help="make these figures only (names: --list)")
    parser.add_argument("--list", action="store_true", help="print each figure, its files and its minutes")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder the figures go to (default: docs/)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print each maker's steps without running them"
    )
    args = parser.parse_args(argv)
    try:
        figures = chosen(args.only)
        if args.list:
            print(listing(figures))
            return 0
        failed = []
        for figure in figures:
            print(f"{figure.name} (about {figure.minutes:g} min):", flush=True)
            try:
                seconds = make(figure, args.out.resolve(), args.dry_run)
            except FigureError as exc:
                failed.append(figure.name)
                print(f"  failed: {exc}", file=sys.stderr, flush=True)
                continue
            except Exception:  # a maker's own bug: say where, and go on with the other figures
                failed.append(figure.name)
                traceback.print_exc()
                continue
            if not args.dry_run:
                print(f"  made {', '.join(figure.files)} in {seconds:.0f} s", flush=True)
    except FigureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if failed:
        print(f"not made: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
