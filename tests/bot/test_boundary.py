"""The two processes meet only over HTTP (docs/design.md): the bot imports nothing from torch
or the engine, and the engine nothing from discord or the bot. So `pip install '.[bot]'` runs
without torch, and either side can move to another machine."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOT_MUST_NOT = ("torch", "engine", "numpy", "PIL")  # numpy and Pillow belong to the [engine] extra
ENGINE_MUST_NOT = ("discord", "bot", "sqlite_utils", "apscheduler")  # the [bot] extra's


def imported_modules(path: Path) -> set[str]:
    """Modules a file imports anywhere (inside functions too), relative imports aside."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


def imported_roots(path: Path) -> set[str]:
    """Top-level packages a file imports."""
    return {name.split(".")[0] for name in imported_modules(path)}


def crossings(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in imported_roots(path) & set(forbidden)
    )


def test_no_bot_file_imports_torch_or_the_engine():
    assert crossings("bot", BOT_MUST_NOT) == []


def test_no_engine_file_imports_discord_or_the_bot():
    assert crossings("engine", ENGINE_MUST_NOT) == []


# The core, the store, the schedule and the web chat serve every chat: Discord is one front end of
# them, reached only through bot/discord, which renders the core's neutral replies in its markup.
CHAT_NEUTRAL = ("bot/core", "bot/store", "bot/schedule", "bot/web")
DISCORD_MARKUP = ("<@", "<#", "discord.com/channels")


def test_only_the_discord_front_end_imports_discord():
    found = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for package in CHAT_NEUTRAL
        for path in (ROOT / package).rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] == "discord" or name.startswith("bot.discord")
    )
    assert found == []


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
