"""A thread-safe rolling-window rate limiter, so concurrent batch chunks use the budget but not more.

HubSpot counts requests in a rolling ten-second window (one second for search). The limiter grants a
request only when fewer than the budget's requests were granted in the last window, otherwise the caller
waits until the oldest one ages out. It also listens to the server: the `X-HubSpot-RateLimit-*` headers
say how much of the window is left, which matters when other clients share the account, and a 429 pauses
every thread, not only the one that got it.

The clock is injected so tests advance time by hand instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Protocol

from datasync_pipeline.connectors.hubspot.tiers import RequestBudget


class Clock(Protocol):
    """Where the limiter and the retry policy read the time and wait."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class RollingWindowLimiter:
    """At most `budget.requests` grants in any `budget.window_seconds`; `requests=None` grants at once.

    `reserve` is how many requests of the server's window we leave unused before slowing down, typically
    the number of requests that may be in flight at once.
    """

    def __init__(self, budget: RequestBudget, *, clock: Clock | None = None, reserve: int = 1) -> None:
        self.budget = budget
        self.clock = clock or MonotonicClock()
        self.reserve = max(1, reserve)
        self._lock = threading.Lock()
        self._granted: deque[float] = deque()
        self._paused_until = float("-inf")

    def acquire(self) -> float:
        """Wait until a request may be sent and record it; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock.now()
                wait = self._wait_needed(now)
                if wait <= 0:
                    if self.budget.requests is not None:
                        self._granted.append(now)
                    return waited
            self.clock.sleep(wait)
            waited += wait

    def pause(self, seconds: float) -> None:
        """Hold every request back for `seconds` (the server told us to, e.g. with a 429)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock.now() + seconds)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Slow down when HubSpot's rate-limit headers say its window is nearly spent.

        With `Remaining` at or below the reserve, new requests are spread out at the budget's average
        rate (window / max per request still to be freed) instead of being sent in a burst that would 429.
        """
        remaining = _int_header(headers, "x-hubspot-ratelimit-remaining")
        if remaining is None or remaining > self.reserve:
            return
        interval_ms = _int_header(headers, "x-hubspot-ratelimit-interval-milliseconds")
        window = interval_ms / 1000.0 if interval_ms else self.budget.window_seconds
        maximum = _int_header(headers, "x-hubspot-ratelimit-max") or self.budget.requests or 1
        self.pause(window * (self.reserve - remaining + 1) / max(1, maximum))

    def _wait_needed(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        if self.budget.requests is None:
            return 0.0
        window_start = now - self.budget.window_seconds
        while self._granted and self._granted[0] <= window_start:
            self._granted.popleft()
        if len(self._granted) < self.budget.requests:
            return 0.0
        return self._granted[0] + self.budget.window_seconds - now


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
