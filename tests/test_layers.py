"""The import contracts in .importlinter hold: bot and engine meet only over HTTP, only the
Discord front end imports discord, and each package's layers import downward only."""

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold(capsys):
    status = lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True)
    assert status == 0, capsys.readouterr().out
