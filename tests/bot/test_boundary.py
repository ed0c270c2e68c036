"""The two processes meet only over HTTP (docs/design.md). Which package may import which is
written down in .importlinter and checked by tests/test_layers.py; here: what no import graph
shows. The core writes no Discord markup, and importing the bot never loads torch or the engine
(nor the engine discord or the bot), not even through a library, so `pip install '.[bot]'` runs
without torch and either side can move to another machine."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE_MUST_NOT = ("discord", "bot", "sqlite_utils", "apscheduler")  # the [bot] extra's
DISCORD_MARKUP = ("<@", "<#", "discord.com/channels")


def test_the_core_writes_no_discord_markup():
    found = sorted(
        f"{path.relative_to(ROOT)}: {mark}"
        for path in (ROOT / "bot/core").rglob("*.py")
        for mark in DISCORD_MARKUP
        if mark in path.read_text()
    )
    assert found == []


def loaded_after(imports: str, forbidden: tuple[str, ...]) -> subprocess.CompletedProcess:
    code = (
        f"import sys, {imports}; "
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_the_bot_never_loads_torch_or_the_engine():
    # torch and the engine only: a library may load numpy by itself where it happens to be installed
    out = loaded_after(
        "bot.cli, bot.discord.client, bot.web.app, bot.store, bot.core.text, bot.schedule.scheduler",
        ("torch", "engine"),
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_engine_never_loads_discord_or_the_bot():
    out = loaded_after(
        "engine.cli, engine.serve.app, engine.serve.cli, engine.train.loop, engine.curate.compare",
        ENGINE_MUST_NOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
