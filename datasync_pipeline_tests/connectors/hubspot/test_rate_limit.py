"""The rolling-window limiter, driven by a fake clock: no test here sleeps.

The one test across processes runs on the real clock, because processes share no other; it asserts only
the budget (no window ever holds more than it), never how long anything took.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import httpx
import pytest

from datasync_pipeline.connectors.hubspot.rate_limit import (
    GUARD_FRACTION,
    RollingWindowLimiter,
    SharedWindowLog,
    budget_key,
)
from datasync_pipeline.connectors.hubspot.tiers import RequestBudget, Tier, crm_budget, search_budget
from datasync_pipeline_tests.connectors.hubspot.fakes import FakeClock

HOLD = 10.0 * (1 + GUARD_FRACTION)  # how long a grant counts against a ten-second window


def _headers(maximum: int, remaining: int, interval_ms: int = 10_000) -> httpx.Headers:
    return httpx.Headers({
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms),
    })


def _assert_within(granted: list[float], limit: int, window: float) -> None:
    granted = sorted(granted)
    for index in range(len(granted) - limit):
        assert granted[index + limit] - granted[index] >= window - 1e-9, f"{limit + 1} grants inside {window} s"


def test_grants_the_budget_at_once_then_waits_for_the_oldest_grant_to_age_out():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(3, 10.0), clock=clock)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.advance(4.0)
    assert limiter.acquire() == pytest.approx(HOLD - 4.0)  # the first grant leaves the window (plus the guard) after it was made


def test_the_window_rolls_rather_than_resetting():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(2, 10.0), clock=clock)
    limiter.acquire()
    clock.advance(5.0)
    limiter.acquire()
    clock.advance(HOLD - 5.0)
    assert limiter.acquire() == 0.0  # the first grant has aged out
    assert limiter.acquire() == pytest.approx(5.0)  # the second leaves five seconds later


def test_a_long_run_uses_at_least_97_percent_of_the_budget_and_never_more():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(190, 10.0), clock=clock)
    granted = []
    for _ in range(5_000):
        limiter.acquire()
        granted.append(clock.now())
    _assert_within(granted, 190, 10.0)
    steady = granted[190:]  # after the first window's burst
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert 0.97 * 19.0 <= rate <= 19.0


def test_unlimited_budget_never_waits():
    limiter = RollingWindowLimiter(crm_budget(Tier.UNLIMITED), clock=FakeClock())
    assert sum(limiter.acquire() for _ in range(10_000)) == 0.0


def test_the_servers_max_and_interval_replace_the_tiers_guess():
    clock = FakeClock()
    limiter = RollingWindowLimiter(crm_budget(Tier.STARTER), clock=clock)
    sent_at = clock.now()
    limiter.acquire()
    limiter.observe(_headers(maximum=4, remaining=3, interval_ms=2_000), sent_at=sent_at)
    assert (limiter.limit, limiter.window_seconds) == (4, 2.0)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire() == pytest.approx(2.0 * (1 + GUARD_FRACTION))


def test_remaining_reveals_requests_another_client_made_and_they_hold_the_window():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(100, 10.0), clock=clock)
    sent_at = clock.now()
    limiter.acquire()
    # The server counted 60 in its window; we sent one: 59 came from elsewhere on the account.
    limiter.observe(_headers(maximum=100, remaining=40), sent_at=sent_at)
    assert sum(limiter.acquire() for _ in range(40)) == 0.0
    assert limiter.acquire() == pytest.approx(HOLD)  # the window is full until the unseen requests age out with ours
    # The same reading again adds nothing: the unseen requests are a level, not a stream.
    limiter.observe(_headers(maximum=100, remaining=40), sent_at=sent_at)
    assert limiter.acquire() == 0.0


def test_requests_still_in_flight_are_not_mistaken_for_another_clients():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(10, 10.0), clock=clock)
    sent_at = clock.now()
    for _ in range(4):  # ours, and three sent after it that the server may already have counted
        limiter.acquire()
    limiter.observe(_headers(maximum=10, remaining=6), sent_at=sent_at)
    assert sum(limiter.acquire() for _ in range(6)) == 0.0


def test_after_a_429_it_waits_only_until_the_window_frees():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(10, 10.0), clock=clock)
    for _ in range(10):
        limiter.acquire()
        clock.advance(1.0)
    # The window holds our ten grants; the oldest leaves 0.2 s from now (10 s after it, plus the guard).
    wait = limiter.refused(retry_after=None)
    assert wait == pytest.approx(HOLD - 10.0)
    clock.advance(wait)
    assert limiter.acquire() == 0.0


def test_after_a_429_requests_it_never_saw_are_spread_over_the_window():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(10, 10.0), clock=clock)
    for _ in range(8):
        limiter.acquire()
    # Two unseen requests, one assumed in each half of the window: the older leaves 2.5 s (+ guard) from now.
    assert limiter.refused(retry_after=None) == pytest.approx(HOLD - 7.5)


def test_retry_after_holds_every_caller_back_for_that_long():
    clock = FakeClock()
    limiter = RollingWindowLimiter(RequestBudget(None, 10.0), clock=clock)
    assert limiter.refused(retry_after=3.0) == 3.0
    assert limiter.acquire() == 3.0
    assert limiter.acquire() == 0.0


def test_with_no_budget_known_a_429_waits_out_the_window():
    limiter = RollingWindowLimiter(search_budget(Tier.UNLIMITED), clock=FakeClock())
    assert limiter.refused(retry_after=None) == 1.0


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
    assert len(granted) == 200
    _assert_within(granted, 50, 10.0)


def test_two_limiters_on_one_budget_file_never_exceed_it_together(tmp_path: Path):
    """Two limiters, each with its own connection to the file, as two processes would have."""
    clock = FakeClock()
    path = tmp_path / "windows.sqlite"
    key = budget_key("https://api.hubapi.com", "pat-token", "crm")
    limiters = [
        RollingWindowLimiter(RequestBudget(20, 10.0), clock=clock, window_log=SharedWindowLog(path, key, clock=clock)) for _ in range(2)
    ]
    granted: list[float] = []
    lock = threading.Lock()

    def worker(limiter: RollingWindowLimiter) -> None:
        for _ in range(30):
            limiter.acquire()
            with lock:
                granted.append(clock.now())

    threads = [threading.Thread(target=worker, args=(limiter,)) for limiter in limiters for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 120
    _assert_within(granted, 20, 10.0)


def test_a_budget_file_keys_accounts_apart_and_never_holds_the_token(tmp_path: Path):
    clock = FakeClock()
    path = tmp_path / "windows.sqlite"
    first = RollingWindowLimiter(RequestBudget(2, 10.0), clock=clock, window_log=SharedWindowLog(path, budget_key("u", "token-a", "crm"), clock=clock))
    second = RollingWindowLimiter(RequestBudget(2, 10.0), clock=clock, window_log=SharedWindowLog(path, budget_key("u", "token-b", "crm"), clock=clock))
    assert [first.acquire(), first.acquire(), second.acquire(), second.acquire()] == [0.0] * 4
    first.log.close()
    second.log.close()
    assert b"token-a" not in path.read_bytes()


def _grant_in_another_process(path: str, key: str, count: int, both_ready: threading.Barrier) -> list[float]:
    # A wide guard, so the moment read after each grant (not the grant's own) cannot make a window look over.
    limiter = RollingWindowLimiter(RequestBudget(8, 0.5), window_log=SharedWindowLog(Path(path), key), guard_fraction=0.2)
    both_ready.wait()
    granted = []
    for _ in range(count):
        limiter.acquire()
        granted.append(limiter.clock.now())
    return granted


def test_two_processes_on_one_budget_file_never_exceed_it_together(tmp_path: Path):
    context = multiprocessing.get_context("spawn")
    key = budget_key("http://127.0.0.1:1", "token", "crm")
    with context.Manager() as manager, context.Pool(2) as pool:
        both_ready = manager.Barrier(2)
        pending = [pool.apply_async(_grant_in_another_process, (str(tmp_path / "w.sqlite"), key, 20, both_ready)) for _ in range(2)]
        granted = [at for result in pending for at in result.get(timeout=120)]
    assert len(granted) == 40
    _assert_within(granted, 8, 0.5)
