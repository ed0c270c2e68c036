import time
from dataclasses import dataclass
from pathlib import Path

import engine.step_run as step_run
from engine.progress import reachable_total, redraw_interval
from tests.recording_bar import recording_bar


def test_reachable_total_follows_the_time_budget_when_it_binds():
    # 10 images/s, 540 s left of a 10-minute run: 6,000 images, not the 100 kimg asked for.
    assert reachable_total(600, 0, 60.0, 540.0, 100_000) == 6_000
    assert reachable_total(600, 0, 60.0, None, 100_000) == 100_000  # no budget: --kimg
    assert reachable_total(600, 0, 60.0, 1e6, 100_000) == 100_000  # --kimg binds first
    assert reachable_total(1_600, 1_000, 60.0, 540.0, 100_000) == 7_000  # a resumed session's own rate
    assert reachable_total(600, 0, 60.0, -5.0, 100_000) == 600  # past the deadline: what it has
    assert reachable_total(0, 0, 0.0, 540.0, 100_000) == 100_000  # no rate yet


def test_bars_redraw_seldom_into_a_file_and_often_on_a_terminal(monkeypatch):
    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.setattr("sys.stderr", Stream(False))
    into_file = redraw_interval()
    monkeypatch.setattr("sys.stderr", Stream(True))
    assert into_file >= 30 * redraw_interval()


@dataclass
class _Cfg:
    steps: int = 10**9
    minutes: float = 0.01
    tick_steps: int = 10**9
    snapshot_steps: int = 10**9


class _Run(step_run.StepRun):
    def __init__(self, out: Path) -> None:
        super().__init__()
        self.cfg, self.out, self.saves = _Cfg(), out, 0

    def _train_step(self) -> dict[str, float]:
        time.sleep(0.002)
        return {"loss": 1.0}

    def _tick(self, stats) -> None:
        pass

    def save(self) -> None:
        self.saves += 1


def test_a_clock_bound_step_run_shows_the_steps_it_will_reach_and_ends_its_bar_full(tmp_path, monkeypatch):
    totals = []
    monkeypatch.setattr(step_run, "tqdm", recording_bar(step_run.tqdm, totals))
    run = _Run(tmp_path)
    run.run()
    during = [t for t in totals if not isinstance(t, tuple)]
    _, n, total = totals[-1]
    assert n == total == run.step  # the bar ended at 100 %
    assert during[-1] < 10**6  # the ETA followed the 0.6 s budget, not a billion steps
    assert run.saves == 1 and run.step > 0


def test_without_a_clock_the_bar_counts_to_the_steps_asked(tmp_path, monkeypatch):
    totals = []
    monkeypatch.setattr(step_run, "tqdm", recording_bar(step_run.tqdm, totals))
    run = _Run(tmp_path)
    run.cfg = _Cfg(steps=20, minutes=0.0)
    run.run()
    assert run.step == 20 and set(totals) == {20, ("closed", 20, 20)}
