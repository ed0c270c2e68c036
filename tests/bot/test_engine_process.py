"""The demo's engine plan: config's models and port, a clear fallback when the port is taken,
and refusals that say what to fix."""

import socket

import pytest

from bot.engine_process import EngineStartRefused, engine_command, free_port, plan_engine


def write_config(tmp_path, port: int, models=("default", "emoji")) -> str:
    root = tmp_path / "checkpoints"
    for name in models:
        (root / name).mkdir(parents=True)
        (root / name / "model.json").write_text("{}")
        (root / name / "model.safetensors").write_bytes(b"")
    config = tmp_path / "config.toml"
    names = ", ".join(f'"{m}"' for m in models)
    config.write_text(f'[paths]\ncheckpoints = "{root}"\n[engine]\nport = {port}\nmodels = [{names}]\n')
    return str(config)


def test_the_plan_serves_every_configured_model_on_the_configured_port(tmp_path):
    port = free_port()
    plan = plan_engine(write_config(tmp_path, port), checkpoint=None, port=None)
    assert plan.models == ("default", "emoji") and plan.port == port and not plan.port_note
    cmd = engine_command(plan)
    assert cmd[cmd.index("--port") + 1] == str(port)
    assert cmd[cmd.index("--config") + 1] == plan.config and "--model" not in cmd


def test_a_taken_configured_port_falls_back_to_a_free_one_and_says_so(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        plan = plan_engine(write_config(tmp_path, port), checkpoint=None, port=None)
    assert plan.port != port
    assert plan.port_note == (
        f"port {port} ([engine] port) is taken, so the demo's engine uses {plan.port} instead"
    )


def test_a_taken_engine_port_flag_is_refused(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EngineStartRefused, match=f"--engine-port {port} is taken"):
            plan_engine(write_config(tmp_path, free_port()), checkpoint=None, port=port)


def test_a_checkpoint_flag_serves_that_folder_alone_as_default(tmp_path):
    config = write_config(tmp_path, free_port())
    plan = plan_engine(config, checkpoint=str(tmp_path / "checkpoints" / "emoji"), port=0)
    assert plan.models == ("default",)
    cmd = engine_command(plan)
    assert cmd[cmd.index("--model") + 1] == f"default={tmp_path / 'checkpoints' / 'emoji'}"


def test_a_missing_model_folder_is_named(tmp_path):
    config = write_config(tmp_path, free_port())
    (tmp_path / "checkpoints" / "emoji" / "model.safetensors").unlink()
    with pytest.raises(EngineStartRefused, match=r"no model at emoji \(.*emoji\)"):
        plan_engine(config, checkpoint=None, port=None)
