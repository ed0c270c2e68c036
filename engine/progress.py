"""Progress bars for long, possibly time-boxed work: the rate, and an ETA that follows the clock.

A run that a time budget (``--minutes``) stops shows its bar against what it will have done
when the budget ends at this session's rate (``reachable_total``), not against a step or image
count it will never reach (an ETA of thousands of hours). Written to a log file rather than a
terminal (a chunk's ``chunk.log``), a bar redraws twice a minute (``redraw_interval``), so the
log's lines stay short.
"""

from __future__ import annotations

import sys


def redraw_interval() -> float:
    """Seconds between a bar's redraws: quick on a terminal, seldom into a file."""
    return 0.1 if sys.stderr.isatty() else 30.0


def reachable_total(done: int, start_done: int, elapsed: float, remaining: float | None, total: int) -> int:
    """What the run will have done when it stops, for the bar's total and ETA: ``total``, or less
    when the time budget (``remaining`` seconds) ends it first at this session's rate so far
    (``done - start_done`` in ``elapsed`` seconds)."""
    if remaining is None or elapsed <= 0 or done <= start_done:
        return total
    projected = done + (done - start_done) / elapsed * max(0.0, remaining)
    return int(min(total, max(done, projected)))
