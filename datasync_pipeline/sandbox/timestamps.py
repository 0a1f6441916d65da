"""Time as the sandbox stores it (epoch milliseconds) and as HubSpot shows it (ISO-8601, ms, ``Z``)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime


def now_milliseconds() -> int:
    return int(time.time() * 1000)


def to_iso(milliseconds: int) -> str:
    """HubSpot's timestamp format: ``2024-05-01T12:00:00.000Z``."""
    moment = datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def datetime_to_milliseconds(moment: datetime) -> int:
    """Epoch milliseconds of a datetime; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_to_milliseconds(value: str | int | float | None) -> int | None:
    """Read a date the way HubSpot accepts one: epoch milliseconds, or an ISO date / datetime.

    Returns None when the value is not a date at all, so callers can report it as invalid.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime_to_milliseconds(datetime(day.year, day.month, day.day))
        return datetime_to_milliseconds(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def parse_number(value: str | None) -> float | None:
    """A property value read as a number for comparisons: numbers, epoch ms, or ISO dates."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        milliseconds = parse_to_milliseconds(text)
        return float(milliseconds) if milliseconds is not None else None
