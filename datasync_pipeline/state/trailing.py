"""The trailing passes of each sync: when each ran, and how many changes it caught that the fast reads missed.

HubSpot search surfaces a write after an indexing delay, and not always in last-modified order (Estuary saw
results up to about an hour late); an app transaction can commit long after the ``updated_at`` it stamped. A
fast incremental read (since the watermark, less a short overlap) misses such a change for good. So every
so often a run re-reads a whole window behind the watermarks (``sync/extract.py``): its *trailing pass*. A pass
reads from the previous pass's start less the window, so that a change surfacing up to a window late is read by
one pass or the next, whatever falls between them. A change it reads that the fast reads had missed (modified
before the fast read's start, and still a change against the last synced values) is a *late arrival*: synced
like any change, and counted here, per side, for health.

A first sync counts as a pass (``kind="first_sync"``, nothing late): the first trailing pass reads from it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from datasync_pipeline.state.tables import metadata

FIRST_SYNC, TRAILING = "first_sync", "trailing"

trailing_passes = sa.Table(
    "datasync_trailing_passes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sync", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "trailing" or "first_sync"
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),  # the run's start
    sa.Column("read_from", sa.DateTime(timezone=True), nullable=True),  # where its reads started
    sa.Column("late_hubspot", sa.Integer, nullable=False, default=0),
    sa.Column("late_app", sa.Integer, nullable=False, default=0),
    sa.Column("run_id", sa.String(64), nullable=True),
)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def last_pass_start(engine: sa.Engine, sync: str) -> datetime | None:
    """When the latest pass (or first sync) of ``sync`` started; None before any."""
    with engine.connect() as connection:
        value = connection.execute(sa.select(trailing_passes.c.started_at).where(trailing_passes.c.sync == sync)
                                   .order_by(trailing_passes.c.started_at.desc()).limit(1)).scalar()
    return _utc(value) if value is not None else None


def trailing_read_from(engine: sa.Engine, sync: str, *, now: datetime, window: timedelta, every: timedelta) -> datetime | None:
    """Where this run's trailing pass reads from, or None when no pass is due (the last one is younger than
    ``every``). Before any pass (a store from before passes were kept): from ``now`` less the window."""
    last = last_pass_start(engine, sync)
    if last is not None and now - last < every:
        return None
    return (last if last is not None else now) - window


def record_pass(engine: sa.Engine, sync: str, *, kind: str, started_at: datetime, read_from: datetime | None,
                late_hubspot: int = 0, late_app: int = 0, run_id: str | None = None) -> None:
    with engine.begin() as connection:
        connection.execute(sa.insert(trailing_passes).values(
            sync=sync, kind=kind, started_at=_utc(started_at), read_from=_utc(read_from) if read_from else None,
            late_hubspot=late_hubspot, late_app=late_app, run_id=run_id))


def late_arrivals(engine: sa.Engine, sync: str, *, since: datetime | None = None) -> dict[str, int]:
    """Late arrivals caught per side (and the passes run) since a time, or ever; nothing in a store that has kept no
    passes yet (a read-only look at an older store)."""
    if not sa.inspect(engine).has_table(trailing_passes.name):
        return {"passes": 0, "hubspot": 0, "app": 0}
    query = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(trailing_passes.c.late_hubspot), 0),
                      sa.func.coalesce(sa.func.sum(trailing_passes.c.late_app), 0)).where(
        trailing_passes.c.sync == sync, trailing_passes.c.kind == TRAILING)
    if since is not None:
        query = query.where(trailing_passes.c.started_at >= _utc(since))
    with engine.connect() as connection:
        passes, hubspot, app = connection.execute(query).one()
    return {"passes": int(passes), "hubspot": int(hubspot), "app": int(app)}
