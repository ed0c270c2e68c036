"""README's two set-up commands, CI and constraints.txt tell one story: CI runs README's test
command word for word (in a fresh virtualenv), both commands install through the same pins,
and the pins cover what the test command depends on."""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"
CONSTRAINTS = ROOT / "constraints.txt"


def readme_command(ending: str) -> str:
    """The one line in README's code blocks that ends with `ending`."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", README.read_text(), flags=re.M | re.S)
    lines = [line for block in blocks for line in block.splitlines() if line.strip().endswith(ending)]
    assert len(lines) == 1, f"README should have one command ending with {ending!r}, found {lines}"
    return lines[0].strip()


def install_steps(command: str) -> list[list[str]]:
    """The `pip install` steps of a `a && b && c` command line, as argument lists."""
    steps = [shlex.split(part) for part in command.split("&&")]
    return [step for step in steps if step[:2] == ["pip", "install"]]


def pins() -> dict[str, str]:
    lines = [line.strip() for line in CONSTRAINTS.read_text().splitlines()]
    pairs = [line.split("==", 1) for line in lines if line and not line.startswith("#")]
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pairs}


def test_ci_runs_readmes_test_command_word_for_word_in_a_fresh_virtualenv():
    command = readme_command("python -m pytest -q")
    ci_lines = [line.strip() for line in CI.read_text().splitlines()]
    assert command in ci_lines, f".ci/run does not run README's test command: {command}"
    venv_at = next(i for i, line in enumerate(ci_lines) if "-m venv" in line)
    activate_at = next(i for i, line in enumerate(ci_lines) if re.search(r"^\. .*/bin/activate", line))
    assert venv_at < activate_at < ci_lines.index(command), "CI must activate its own virtualenv first"


def test_both_commands_install_torch_first_then_the_project_through_the_constraints():
    for command in (readme_command("mascot-bot demo"), readme_command("python -m pytest -q")):
        steps = install_steps(command)
        assert len(steps) == 2, command
        for step in steps:
            assert step[2:4] == ["-c", "constraints.txt"], f"{command}: every install takes the pins"
        torch_step, project_step = steps
        assert torch_step[4:] == [f"torch=={pins()['torch']}"], f"{command}: torch first, at its pin"
        assert project_step[4] == "-e" and project_step[5].startswith(".["), command


def test_constraints_pin_the_test_tools_and_agree_with_pyprojects_own_pins():
    pinned = pins()
    for tool in ("pytest", "pytest-asyncio", "hypothesis", "playwright", "ruff", "torch", "numpy", "aiohttp"):
        assert tool in pinned, f"constraints.txt does not pin {tool}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    for name, version in re.findall(r'"([A-Za-z0-9_.-]+)==([^"]+)"', pyproject):
        key = re.sub(r"[-_.]+", "-", name).lower()
        assert pinned.get(key) == version, (
            f"pyproject pins {name}=={version}, constraints.txt {pinned.get(key)}"
        )
