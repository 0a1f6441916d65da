"""Watermarks, the on/off switch of each sync, and the conflict log: the state that drives ongoing sync."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.state.tables import conflicts, sync_controls, watermarks

CONFLICT_COLUMNS = ["hubspot_id", "app_id", "field", "hubspot_value", "app_value", "winner"]


def _utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without a zone; they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_watermarks(engine: sa.Engine, sync: str) -> dict[str, datetime]:
    query = sa.select(watermarks.c.side, watermarks.c.modified_at).where(watermarks.c.sync == sync)
    with engine.connect() as connection:
        return {side: _utc(modified_at) for side, modified_at in connection.execute(query)}


def save_watermarks(engine: sa.Engine, sync: str, marks: Mapping[str, datetime], *, run_id: str | None) -> None:
    """Move watermarks forward (never back): a late, slower run cannot rewind a newer mark."""
    now = datetime.now(UTC)
    current = read_watermarks(engine, sync)
    with engine.begin() as connection:
        for side, modified_at in marks.items():
            if side in current and current[side] >= _utc(modified_at):
                continue
            connection.execute(sa.delete(watermarks).where(watermarks.c.sync == sync, watermarks.c.side == side))
            connection.execute(sa.insert(watermarks).values(sync=sync, side=side, modified_at=_utc(modified_at), run_id=run_id, recorded_at=now))


def is_enabled(engine: sa.Engine, sync: str) -> bool:
    """Switched off from the command line? (Syncs never switched are on.)"""
    with engine.connect() as connection:
        value = connection.execute(sa.select(sync_controls.c.enabled).where(sync_controls.c.sync == sync)).scalar()
    return True if value is None else bool(value)


def set_enabled(engine: sa.Engine, sync: str, enabled: bool) -> None:
    with engine.begin() as connection:
        connection.execute(sa.delete(sync_controls).where(sync_controls.c.sync == sync))
        connection.execute(sa.insert(sync_controls).values(sync=sync, enabled=enabled, changed_at=datetime.now(UTC)))


def record_conflicts(engine: sa.Engine, sync: str, frame: pd.DataFrame, *, run_id: str | None) -> int:
    if frame.empty:
        return 0
    now = datetime.now(UTC)
    rows = [
        {"sync": sync, **{c: (None if pd.isna(v) else str(v)) for c, v in zip(CONFLICT_COLUMNS, values)}, "run_id": run_id, "recorded_at": now}
        for values in frame[CONFLICT_COLUMNS].itertuples(index=False)
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(conflicts), rows)
    return len(rows)


def read_conflicts(engine: sa.Engine, sync: str | None = None) -> pd.DataFrame:
    query = sa.select(conflicts).order_by(conflicts.c.id)
    if sync is not None:
        query = query.where(conflicts.c.sync == sync)
    with engine.connect() as connection:
        return pd.read_sql(query, connection)
