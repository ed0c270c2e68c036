"""``mascot-bot demo``: starts the engine as a child process, serves the web chat, stops on Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from bot.cli import Announcer, free_port, main
from bot.core.announcements import AnnouncementFeed


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
