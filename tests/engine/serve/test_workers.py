"""The drawing workers: light work first, heavy work never on every worker, late work dropped."""

import asyncio
import threading
import time

import pytest

from engine.errors import MascotError
from engine.serve.workers import Expired, WorkerPool, run_all, worker_count


@pytest.fixture
async def pool():
    pool = WorkerPool(2, threads=1)
    pool.start()
    yield pool
    await pool.stop()


def _blocked(gate: threading.Event, ran: list, name: str):
    def work():
        ran.append(name)
        gate.wait(60)
        return name

    return work


async def _until(condition) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the pool never got there")


async def test_long_work_leaves_one_worker_to_the_rest(pool):
    gate, ran = threading.Event(), []
    searches = [asyncio.ensure_future(pool.run(_blocked(gate, ran, f"s{i}"), long=True)) for i in range(6)]
    await _until(lambda: ran)
    # Six searches wait, one runs: the other worker draws light and heavy pieces at once.
    assert await asyncio.wait_for(pool.run(lambda: "light"), 30) == "light"
    assert await asyncio.wait_for(pool.run(lambda: "heavy", heavy=True), 30) == "heavy"
    assert ran == ["s0"] and pool.long_running == 1
    gate.set()
    assert await asyncio.gather(*searches) == [f"s{i}" for i in range(6)]


async def test_heavy_pieces_fill_every_worker_when_nothing_else_waits(pool):
    gate, ran = threading.Event(), []
    heavy = [asyncio.ensure_future(pool.run(_blocked(gate, ran, f"h{i}"), heavy=True)) for i in range(4)]
    await _until(lambda: len(ran) == 2)
    assert pool.heavy_running == 2
    gate.set()
    await asyncio.gather(*heavy)


async def test_a_free_worker_takes_light_work_before_older_heavy_work():
    pool = WorkerPool(1, threads=1)
    pool.start()
    gate, ran = threading.Event(), []
    try:
        first = asyncio.ensure_future(pool.run(_blocked(gate, ran, "h0"), heavy=True))
        await _until(lambda: ran)
        later_heavy = asyncio.ensure_future(pool.run(_blocked(gate, ran, "h1"), heavy=True))
        light = asyncio.ensure_future(pool.run(_blocked(gate, ran, "light")))
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, later_heavy, light)
    finally:
        await pool.stop()
    assert ran == ["h0", "light", "h1"]


async def test_work_not_started_by_its_deadline_is_dropped_unrun(pool):
    gate, ran = threading.Event(), []
    holding = [asyncio.ensure_future(pool.run(_blocked(gate, ran, f"x{i}"))) for i in range(2)]
    await _until(lambda: len(ran) == 2)
    late = asyncio.ensure_future(pool.run(lambda: ran.append("late"), deadline=time.monotonic() + 0.05))
    await asyncio.sleep(0.2)
    gate.set()
    with pytest.raises(Expired):
        await late
    await asyncio.gather(*holding)
    assert "late" not in ran


async def test_run_all_drops_the_rest_when_one_piece_fails(pool):
    ran = []

    def fail():
        raise ValueError("broken")

    pieces = [fail] + [lambda i=i: ran.append(i) for i in range(50)]
    with pytest.raises(ValueError):
        await run_all(pool, pieces, heavy=True)  # heavy: one at a time, in order
    await asyncio.sleep(0.1)
    assert len(ran) < 50


async def test_cancelled_work_is_dropped_unrun(pool):
    gate, ran = threading.Event(), []
    holding = [asyncio.ensure_future(pool.run(_blocked(gate, ran, f"x{i}"))) for i in range(2)]
    await _until(lambda: len(ran) == 2)
    gone = asyncio.ensure_future(pool.run(lambda: ran.append("gone")))
    await asyncio.sleep(0.05)
    gone.cancel()
    gate.set()
    await asyncio.gather(*holding)
    await asyncio.sleep(0.1)
    assert "gone" not in ran and pool.free == 2


def test_worker_count_setting():
    assert worker_count(3) == 3
    assert worker_count(0) >= 1  # one per core
    for bad in (-1, "2", 2.5, True):
        with pytest.raises(MascotError, match=r"\[engine\] workers must be a whole number"):
            worker_count(bad)


async def test_late_work_is_answered_at_its_deadline_not_when_a_worker_frees(pool):
    gate, ran = threading.Event(), []
    holding = [asyncio.ensure_future(pool.run(_blocked(gate, ran, f"x{i}"))) for i in range(2)]
    await _until(lambda: len(ran) == 2)
    try:
        with pytest.raises(Expired):  # both workers still held: the answer comes from the deadline
            await asyncio.wait_for(pool.run(lambda: ran.append("late"), deadline=time.monotonic() + 0.1), 30)
    finally:
        gate.set()
        await asyncio.gather(*holding)
    await asyncio.sleep(0.1)
    assert "late" not in ran
