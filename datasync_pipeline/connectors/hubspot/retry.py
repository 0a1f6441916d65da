"""When and how long to retry a HubSpot request.

Only transient failures are retried (`TransientRequestError`: 429, 423, 5xx, timeouts, connection errors).
The wait is the error's own when it has one (after a 429 the rate limiter's: `Retry-After`, or until the
rolling window frees; a 423's lock time), and otherwise backs off exponentially with jitter so concurrent
chunks do not retry in lock-step.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from datasync_pipeline.connectors.hubspot.errors import TransientRequestError

MAX_SERVER_WAIT_SECONDS = 300.0
LOCKED_MIN_WAIT_SECONDS = 2.0

_backoff = wait_exponential(multiplier=0.5, max=30.0) + wait_random(0, 0.5)


def retry_policy(*, max_attempts: int, sleep: Callable[[float], None], before_sleep=None) -> Retrying:
    """A tenacity `Retrying` over transient errors, re-raising the last one when attempts run out."""
    return Retrying(
        stop=stop_after_attempt(max_attempts),
        wait=_wait,
        retry=retry_if_exception_type(TransientRequestError),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def _wait(retry_state: RetryCallState) -> float:
    error = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(error, TransientRequestError) and error.wait_seconds is not None:
        return min(error.wait_seconds, MAX_SERVER_WAIT_SECONDS)
    return _backoff(retry_state)


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
