import subprocess
import sys


def test_the_bot_never_imports_torch_or_the_engine():
    code = ("import sys, bot.cli, bot.discord.client, bot.web.app, bot.store, bot.core.text; "
            "bad = [m for m in sys.modules if m == 'torch' or m == 'engine' or m.startswith(('torch.', 'engine.'))]; "
            "print(bad); sys.exit(1 if bad else 0)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
