"""``mascot-bot demo``: starts the engine as a child process, serves the web chat, and stops
everything on Ctrl-C, SIGINT or SIGTERM (and the engine dies with a killed bot)."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.cli import Announcer, main, rate_limiter
from bot.config import BotConfig
from bot.core.announcements import AnnouncementFeed
from bot.engine_process import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_starts_engine_and_web_chat_and_ctrl_c_stops_both(tiny_checkpoint, tmp_path):
    port = free_port()
    env = {**os.environ, "DISCORD_TOKEN": ""}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "demo",
            "--checkpoint",
            str(tiny_checkpoint),
            "--engine-port",
            "0",  # a free one: [engine] port may be in use by an engine this test did not start
            "--port",
            str(port),
            "--db",
            str(tmp_path / "demo.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "web chat on" in line or proc.poll() is not None:
                break
        assert f"web chat on http://127.0.0.1:{port}/" in lines[-1], "".join(lines)
        engine_url = (
            next(line for line in lines if "starting the engine on" in line).split(" on ")[1].split()[0]
        )
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/").read().decode()
        assert "mascotbot" in page
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/command",
            method="POST",
            data=json.dumps({"user": "dee", "text": "/mascot hair:red seed:1"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        reply = json.loads(urllib.request.urlopen(req).read())
        assert reply["images"] and "hair:red" in reply["text"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    try:
        urllib.request.urlopen(engine_url + "/healthz", timeout=2)
        raise AssertionError("the engine still answers after Ctrl-C")
    except OSError:
        pass


def start_demo(tmp_path, *args: str, ignore_sigint: bool = False) -> tuple[subprocess.Popen, list[str]]:
    """The demo on the repository's config.toml and shipped checkpoints, web chat on a free port;
    returns once the web chat is up, with the lines printed so far."""
    cmd = [
        sys.executable,
        "-m",
        "bot.cli",
        "demo",
        "--port",
        str(free_port()),
        "--db",
        str(tmp_path / "d.db"),
    ]
    if ignore_sigint:  # as a shell starts a background job; exec keeps an ignored signal ignored
        cmd = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *cmd]
    proc = subprocess.Popen(
        [*cmd, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DISCORD_TOKEN": ""},
    )
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        lines.append(proc.stdout.readline())
        if "web chat on" in lines[-1]:
            return proc, lines
    proc.kill()
    raise AssertionError("the demo did not start:\n" + "".join(lines) + proc.stdout.read())


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def gone(pid: int, within_s: float = 30.0) -> bool:
    """The process has exited (a zombie waiting for a reaper counts as exited)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.2)
    return False


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/healthz", timeout=2)
    except OSError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads child processes from /proc")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT in a background job", "SIGKILL"])
def test_stopping_the_demo_leaves_no_engine_running(tmp_path, how):
    engine_port = free_port()
    proc, lines = start_demo(
        tmp_path, "--engine-port", str(engine_port), ignore_sigint=how.startswith("SIGINT")
    )
    engine_url = f"http://127.0.0.1:{engine_port}"
    started = children(proc.pid)
    try:
        assert f"engine API on {engine_url} serving default, emoji" in "".join(lines)
        assert len(started) == 1 and answers(engine_url)
        proc.send_signal(getattr(signal, how.split()[0]))
        out, _ = proc.communicate(timeout=60)
        if how != "SIGKILL":
            assert proc.returncode == 0, out
        assert gone(started[0]), f"the engine (pid {started[0]}) outlived the demo after {how}"
        assert not answers(engine_url)
    finally:  # whatever failed, nothing this test started keeps running
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        for pid in started:
            if not gone(pid, within_s=0.5):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_the_demo_serves_every_configured_model_on_the_configured_port(tmp_path):
    proc, lines = start_demo(tmp_path)
    try:
        printed = "".join(lines)
        url = printed.split("engine API on ")[1].split()[0]
        if "is taken" not in printed:  # something else may hold 8700 on this machine
            assert url == "http://127.0.0.1:8700"
        models = json.loads(urllib.request.urlopen(url + "/v1/models").read())["models"]
        assert {m["name"] for m in models} == {"default", "emoji"}
        web_port = proc.args[proc.args.index("--port") + 1]
        req = urllib.request.Request(
            f"http://127.0.0.1:{web_port}/api/command",
            method="POST",
            data=json.dumps({"user": "dee", "text": "/mascot model:emoji seed:1"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        reply = json.loads(urllib.request.urlopen(req).read())
        assert reply["images"], reply
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out


def test_missing_checkpoint_says_what_to_do(tmp_path, capsys):
    assert main(["demo", "--checkpoint", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "no model at" in err and "mascot-engine train" in err


def test_discord_needs_a_token(monkeypatch, capsys):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert main(["discord"]) == 2
    assert "DISCORD_TOKEN" in capsys.readouterr().err


class _Channel:
    def __init__(self, fail: bool = False) -> None:
        self.sent, self.fail = [], fail

    async def send(self, message):
        if self.fail:
            raise RuntimeError("discord is down")
        self.sent.append(message)


class _Client:
    def __init__(self, channel):
        self.channel = channel

    def get_channel(self, channel_id):
        return self.channel if channel_id == 42 else None


async def test_announcements_reach_discord_the_web_feed_and_the_log(capsys):
    feed = AnnouncementFeed()
    announcer = Announcer("42", feed)
    await announcer("New mascot model v2 is live.")  # no Discord client yet: feed and log only
    announcer.client = _Client(channel := _Channel())
    await announcer("Rolled default back from v2 to v1.")
    assert [a.message for a in feed.after(0)] == [
        "New mascot model v2 is live.",
        "Rolled default back from v2 to v1.",
    ]
    assert channel.sent == ["Rolled default back from v2 to v1."]
    assert "mascot-bot: New mascot model v2 is live." in capsys.readouterr().out


async def test_a_failed_discord_send_still_reaches_the_web_feed():
    announcer = Announcer("42")
    announcer.client = _Client(_Channel(fail=True))
    with pytest.raises(RuntimeError):  # NightlyRun._announce logs it; the promotion stands
        await announcer("New mascot model v3 is live.")
    assert [a.message for a in announcer.feed.after(0)] == ["New mascot model v3 is live."]


def test_a_bad_setting_is_one_line_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[bot]\nrate_limit_per_minute = -4\n")
    assert main(["--config", str(path), "web"]) == 2
    assert "[bot] rate_limit_per_minute must be a number" in capsys.readouterr().err


def test_the_web_chat_gets_its_own_rate_limit():
    limiter = rate_limiter(BotConfig(rate_limit_burst=2, web_rate_limit_burst=5))
    assert limiter.limit_for("discord").burst == 2 and limiter.limit_for("web").burst == 5
