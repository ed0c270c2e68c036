"""A small version of bench/bot_load.py: concurrency must not lose, double or delay anything."""

from bench.bot_load import run_load


async def test_concurrent_commands_and_reactions(core):
    report = await run_load(core, interactions=40, reactions=400, seed=1)
    assert report.images == 40 and report.late_defers == 0
    assert max(report.defer_s) < 3.0
    assert report.votes_expected > 0
    assert (report.votes_lost, report.votes_wrong, report.votes_extra) == (0, 0, 0)
