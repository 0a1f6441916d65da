"""Retrying failed writes: which failures are worth retrying, when, and how often.

Transient failures (rate limited after the client's own retries, server errors, database errors)
are retried by later runs with exponential backoff, at most ``DATASYNC_RETRY_MAX_ATTEMPTS`` times
and at most ``DATASYNC_RETRY_RECORDS_PER_RUN`` records a run, which keeps retries to a small share
of the API budget (500 records are 5 batch reads). Other failures (an invalid email, a missing
required field) would fail the same way again: they wait until the record changes or the user acts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.settings import current as current_settings

RETRYABLE = {ErrorCategory.RATE_LIMITED, ErrorCategory.SERVER_ERROR, ErrorCategory.DATABASE_ERROR, ErrorCategory.UNKNOWN}


def max_attempts() -> int:
    return current_settings().retry_max_attempts


def records_per_run() -> int:
    return current_settings().retry_records_per_run


def backoff(attempts: int) -> timedelta:
    """10 minutes after the first failure, doubling, at most a day (base from DATASYNC_RETRY_BACKOFF_SECONDS)."""
    base = current_settings().retry_backoff_seconds
    return timedelta(seconds=min(base * 2 ** (attempts - 1), 86_400))


def next_attempt(category: str, attempts: int, now: datetime) -> datetime | None:
    if category not in {str(c) for c in RETRYABLE} or attempts >= max_attempts():
        return None
    return now + backoff(attempts)
