"""The per-user token bucket: a burst, a steady refill, per-platform limits, and a refusal
that says when to try again."""

from bot.core.limits import RateLimit, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: FakeClock, **per_platform: RateLimit) -> RateLimiter:
    return RateLimiter(RateLimit(burst=3, per_minute=6), per_platform, clock=clock)  # one every 10 s


def test_a_burst_goes_through_at_once_then_the_next_waits_for_one_refill():
    clock = FakeClock()
    limits = limiter(clock)
    assert [limits.acquire("discord", "ann") for _ in range(3)] == [0, 0, 0]
    assert limits.acquire("discord", "ann") == 10.0
    clock.now += 4
    assert limits.acquire("discord", "ann") == 6.0  # refused calls use nothing
    clock.now += 6
    assert limits.acquire("discord", "ann") == 0
    assert limits.acquire("discord", "ann") == 10.0


def test_the_allowance_refills_steadily_up_to_the_burst_and_no_further():
    clock = FakeClock()
    limits = limiter(clock)
    for _ in range(3):
        limits.acquire("discord", "ann")
    clock.now += 25  # two and a half commands come back
    assert [limits.acquire("discord", "ann") for _ in range(3)] == [0, 0, 5.0]
    clock.now += 3600  # an hour idle refills the burst, not sixty commands
    assert [limits.acquire("discord", "ann") == 0 for _ in range(4)] == [True, True, True, False]


def test_reading_speed_is_never_refused():
    """README's tour at one command every 15 s: Discord's defaults (10 in a row, 4 a minute)
    never refuse, even after a quick start of ten."""
    clock = FakeClock()
    limits = RateLimiter(RateLimit(burst=10, per_minute=4), clock=clock)
    assert all(limits.acquire("discord", "ann") == 0 for _ in range(10))
    clock.now += 15
    for _ in range(40):
        assert limits.acquire("discord", "ann") == 0
        clock.now += 15


def test_users_and_platforms_have_their_own_buckets():
    clock = FakeClock()
    limits = limiter(clock, web=RateLimit(burst=5, per_minute=60))
    for _ in range(3):
        limits.acquire("discord", "ann")
    assert limits.acquire("discord", "ann") > 0
    assert limits.acquire("discord", "bob") == 0
    assert [limits.acquire("web", "ann") for _ in range(6)] == [0, 0, 0, 0, 0, 1.0]


def test_zero_means_no_limit():
    clock = FakeClock()
    assert all(RateLimiter(clock=clock).acquire("discord", "ann") == 0 for _ in range(100))
    off = RateLimiter(RateLimit(burst=0, per_minute=4), clock=clock)
    assert all(off.acquire("discord", "ann") == 0 for _ in range(100))


def test_the_refusal_says_when_to_retry_in_whole_seconds_and_what_the_limit_is():
    clock = FakeClock()
    limits = limiter(clock, web=RateLimit(burst=30, per_minute=20))
    for _ in range(3):
        limits.acquire("discord", "ann")
    clock.now += 0.5
    wait = limits.acquire("discord", "ann")
    assert wait == 9.5
    assert limits.refusal("discord", wait) == (
        "Easy there! You can make another mascot in 10 s (up to 3 in a row, then one every 10 s)."
    )
    assert limits.refusal("web", 0.2).endswith("in 1 s (up to 30 in a row, then one every 3 s).")


def test_users_whose_allowance_is_full_again_are_forgotten(monkeypatch):
    monkeypatch.setattr("bot.core.limits.MAX_TRACKED_USERS", 2)
    clock = FakeClock()
    limits = limiter(clock)
    limits.acquire("discord", "ann")
    limits.acquire("discord", "bob")
    clock.now += 60  # ann and bob are full again
    limits.acquire("discord", "cat")
    assert set(limits._buckets) == {("discord", "cat")}
