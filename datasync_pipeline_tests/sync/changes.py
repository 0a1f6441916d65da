"""Changes on either side at chosen times, for the probe and sensor tests (no sleeping, no clock races)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

WATERMARK = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)
BEFORE = WATERMARK - timedelta(hours=1)


def write_customer(home: Path, email: str, updated_at: datetime | str, *, table: str = "customers") -> None:
    """Insert an app row stamped `updated_at` (a datetime in UTC, or text exactly as some other tool wrote it)."""
    engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
    if not isinstance(updated_at, str):
        updated_at = updated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with engine.begin() as connection:
        # Raw text on purpose: SQLite keeps whatever shape the writing tool chose.
        customers = sa.table(table, sa.column("email"), sa.column("updated_at"))
        connection.execute(sa.insert(customers).values(email=email, updated_at=updated_at))
    engine.dispose()
