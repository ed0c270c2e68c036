"""The step loop shared by the small supervised models (the upscale stage, the cyclegan translator).

A run counts steps, stops at ``cfg.steps``, at ``cfg.minutes`` of this session or on
SIGINT/SIGTERM, and then always saves, so Ctrl-C or a clock leaves a resumable checkpoint.
Every ``cfg.tick_steps`` it hands the steps' mean losses to ``_tick``; every
``cfg.snapshot_steps`` it saves. A subclass supplies ``_train_step``, ``_tick`` and ``save``,
and keeps ``step`` and ``seconds`` (training time over all sessions) in its resume point.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tqdm import tqdm

from engine.progress import reachable_total, redraw_interval


class StepRun:
    label = "training"  # the progress bar's name
    out: Path

    def __init__(self) -> None:
        self.step, self.seconds, self.stop = 0, 0.0, False

    def run(self) -> Path:
        """Train until a budget ends; the path of the servable model it saved last."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: setattr(self, "stop", True))
        start, session = time.time() - self.seconds, time.time()
        stats: dict[str, list[float]] = {}
        bar = tqdm(
            total=self.cfg.steps,
            initial=self.step,
            unit="step",
            desc=self.label,
            dynamic_ncols=True,
            mininterval=redraw_interval(),
        )
        first = self.step
        while self.step < self.cfg.steps and not self.stop:
            if self.cfg.minutes and time.time() - session > self.cfg.minutes * 60:
                break
            for k, v in self._train_step().items():
                stats.setdefault(k, []).append(v)
            self.step += 1
            remaining = self.cfg.minutes * 60 - (time.time() - session) if self.cfg.minutes else None
            bar.total = reachable_total(self.step, first, time.time() - session, remaining, self.cfg.steps)
            bar.update(1)
            if self.step % self.cfg.tick_steps == 0:
                self.seconds = time.time() - start
                self._tick(stats)
                stats = {}
            if self.step % self.cfg.snapshot_steps == 0:
                self.save()
        bar.total = bar.n  # stopped by the clock or a request: the bar ends full
        bar.close()
        self.seconds = time.time() - start
        self.save()
        return self.out / "model"

    def _train_step(self) -> dict[str, float]:
        raise NotImplementedError

    def _tick(self, stats: dict[str, list[float]]) -> None:
        raise NotImplementedError

    def save(self) -> None:
        raise NotImplementedError
