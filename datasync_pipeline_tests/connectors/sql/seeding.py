"""Helpers for the SQL connector tests: fixed instants and seeding through the connector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from datasync_pipeline.connectors.sql import SqlConnector

T0 = datetime(2024, 5, 1, 9, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """A fixed instant ``seconds`` after T0, so tests never depend on the clock."""
    return T0 + timedelta(seconds=seconds)


def seed(connector: SqlConnector, rows: list[dict]) -> dict[str, str]:
    """Insert ``rows`` (each needs ``_ref``), assert none failed, and return the keys per ``_ref``."""
    result = connector.insert(rows)
    assert result.failed == {}
    return result.written
