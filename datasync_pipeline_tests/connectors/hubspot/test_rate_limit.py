"""The rolling-window limiter, driven by a fake clock: no test here sleeps."""

from __future__ import annotations

import threading

import httpx

from datasync_pipeline.connectors.hubspot.rate_limit import RollingWindowLimiter
from datasync_pipeline.connectors.hubspot.tiers import RequestBudget, Tier, crm_budget, search_budget
from datasync_pipeline_tests.connectors.hubspot.fakes import FakeClock


def test_grants_the_budget_at_once_then_waits_for_the_oldest_grant_to_age_out():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(3, 10.0), clock=clock)
    waits = [limiter.acquire() for _ in range(3)]
    assert waits == [0.0, 0.0, 0.0]
    clock.advance(4.0)
    assert limiter.acquire() == 6.0  # the first grant leaves the window 10 s after it was made
    assert clock.sleeps == [6.0]


def test_the_window_rolls_rather_than_resetting():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(2, 10.0), clock=clock)
    limiter.acquire()
    clock.advance(5.0)
    limiter.acquire()
    clock.advance(5.0)
    assert limiter.acquire() == 0.0  # the first grant is exactly 10 s old
    assert limiter.acquire() == 5.0  # the second leaves at 15 s


def test_rate_over_a_long_run_stays_within_the_budget():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(90, 10.0), clock=clock)
    granted_at = []
    for _ in range(1000):
        limiter.acquire()
        granted_at.append(clock.now())
    for index in range(len(granted_at) - 90):
        assert granted_at[index + 90] - granted_at[index] >= 10.0
    assert granted_at[-1] - granted_at[0] < 10.0 * (1000 / 90)  # and uses it fully


def test_unlimited_budget_never_waits():
    limiter = RollingWindowLimiter(crm_budget(Tier.UNLIMITED), clock=FakeClock())
    assert sum(limiter.acquire() for _ in range(10_000)) == 0.0


def test_pause_holds_every_caller_back():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(None, 10.0), clock=clock)
    limiter.pause(10.0)
    assert limiter.acquire() == 10.0


def test_server_headers_slow_down_when_the_window_is_nearly_spent():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(100, 10.0), clock=clock, reserve=4)
    limiter.observe(httpx.Headers({"X-HubSpot-RateLimit-Remaining": "50", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}))
    assert limiter.acquire() == 0.0
    limiter.observe(
        httpx.Headers(
            {
                "X-HubSpot-RateLimit-Max": "100",
                "X-HubSpot-RateLimit-Remaining": "0",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            }
        )
    )
    assert limiter.acquire() == 0.5  # five requests' worth of the budget's average spacing


def test_many_threads_never_exceed_the_budget():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(50, 10.0), clock=clock)
    granted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            limiter.acquire()
            with lock:
                granted.append(clock.now())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted.sort()
    assert len(granted) == 200
    for index in range(len(granted) - 50):
        assert granted[index + 50] - granted[index] >= 10.0 - 1e-9


def test_tier_budgets_with_margin():
    assert crm_budget("starter").with_margin(0.9) == RequestBudget(90, 10.0)
    assert crm_budget("professional").with_margin(0.9).requests == 171
    assert crm_budget("increase").with_margin(0.9).requests == 225
    assert crm_budget("oauth").with_margin(0.9).requests == 99
    assert search_budget("enterprise").requests == 5
    assert search_budget("unlimited").requests is None
