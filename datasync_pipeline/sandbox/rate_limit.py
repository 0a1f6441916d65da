"""HubSpot's rate limits per token: a rolling window, a daily budget, and the search API's own 5 per second.

What it models, from HubSpot's documentation (API usage guidelines and the developer changelog):

- Every CRM answer, refused or not, error or success, carries ``X-HubSpot-RateLimit-Max`` (requests per
  window), ``-Remaining`` (left in the window, this request counted) and ``-Interval-Milliseconds`` (the
  window's length), and ``-Daily`` / ``-Daily-Remaining`` where the account has a daily limit (OAuth apps
  have none, and get no daily headers: changelog, "Rate limit headers will now appear for OAuth
  authenticated calls").
- The window rolls: a request leaves it one interval after it arrived. Requests are counted when they
  reach the server (after the configured latency), as HubSpot can only count what it has received.
- Search answers carry no rate-limit headers; search has its own limit of five requests a second.
- A refusal is a 429 with HubSpot's body: ``status``, ``message`` ("You have reached your
  ten_secondly_rolling limit."), ``errorType: RATE_LIMIT``, ``correlationId`` and ``policyName``
  (``TEN_SECONDLY_ROLLING``, ``SECONDLY`` for search, ``DAILY``), and no ``Retry-After``, which HubSpot
  does not document for these limits; injected faults can add one to exercise clients that honour it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from datasync_pipeline.sandbox.errors import error_body
from datasync_pipeline.sandbox.settings import SEARCH_REQUESTS_PER_SECOND, RateLimitTier

POLICY_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "DAILY": "You have reached your daily limit.",
    "SECONDLY": "You have reached your secondly limit.",
}


def rate_limit_body(policy_name: str) -> dict[str, Any]:
    """HubSpot's 429 body (plus a ``category``, which every sandbox error carries)."""
    message = POLICY_MESSAGES.get(policy_name, f"You have reached your {policy_name.lower()} limit.")
    body = error_body("RATE_LIMITS", message)
    return {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": body["correlationId"],
        "policyName": policy_name,
        "category": body["category"],
    }


@dataclass
class RateDecision:
    """Whether a request may go on, the headers to answer with, and the refusal body if it may not."""

    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    refusal: dict[str, Any] | None = None


class RateLimiter:
    """Counts requests per token; thread-safe, since the server answers from many threads at once."""

    def __init__(
        self, tier: RateLimitTier, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.tier = tier
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._window: dict[str, deque[float]] = {}
        self._search: dict[str, deque[float]] = {}
        self._daily: dict[str, tuple[str, int]] = {}

    @property
    def unlimited(self) -> bool:
        return self.tier.per_window is None and self.tier.daily is None

    def check(self, token: str, *, search: bool) -> RateDecision:
        if self.unlimited:
            return RateDecision(allowed=True)
        with self._lock:
            now = self._clock()
            today = datetime.now(UTC).date().isoformat()
            day, used_today = self._daily.get(token, (today, 0))
            if day != today:
                used_today = 0
            if self.tier.daily is not None and used_today >= self.tier.daily:
                return RateDecision(False, self._headers(token, now, used_today, search), rate_limit_body("DAILY"))
            if search:
                hits = self._recent(self._search, token, now, 1.0)
                if len(hits) >= SEARCH_REQUESTS_PER_SECOND:
                    return RateDecision(False, {}, rate_limit_body("SECONDLY"))
            else:
                hits = self._recent(self._window, token, now, self.window_seconds)
                if self.tier.per_window is not None and len(hits) >= self.tier.per_window:
                    headers = self._headers(token, now, used_today, search)
                    return RateDecision(False, headers, rate_limit_body("TEN_SECONDLY_ROLLING"))
            hits.append(now)
            self._daily[token] = (today, used_today + 1)
            return RateDecision(True, self._headers(token, now, used_today + 1, search))

    @staticmethod
    def _recent(table: dict[str, deque[float]], token: str, now: float, span: float) -> deque[float]:
        hits = table.setdefault(token, deque())
        while hits and hits[0] <= now - span:
            hits.popleft()
        return hits

    def _headers(self, token: str, now: float, used_today: int, search: bool) -> dict[str, str]:
        """The ``X-HubSpot-RateLimit-*`` headers; HubSpot sends none on search answers."""
        if search:
            return {}
        headers: dict[str, str] = {}
        if self.tier.per_window is not None:
            in_window = len(self._window.get(token, ()))
            headers["X-HubSpot-RateLimit-Max"] = str(self.tier.per_window)
            headers["X-HubSpot-RateLimit-Remaining"] = str(max(self.tier.per_window - in_window, 0))
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(int(self.window_seconds * 1000))
        if self.tier.daily is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.tier.daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(self.tier.daily - used_today, 0))
        return headers
