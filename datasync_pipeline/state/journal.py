"""Where each HubSpot connection's webhooks journal was read up to, and the work it found that no run finished yet.

The change sensor reads the journal once per tick per connection (``sync/journal_feed.py``) and turns the events
on records of a sync into *targets*: HubSpot ids whose associations changed (``ASSOCIATION``), records deleted or
merged (``RECORD``), or, when the journal could not account for a stretch of time (a first read, an expired
offset, a subscription just created, a failed read), a full re-read of the sync's associations (``FULL``), done by
its next reconciling run. The targets and the new offset are
written in one transaction, so the offset never moves past an event that is not kept as a target.

A target stays until a run that carried it succeeded: the run's step that does the work settles the targets
recorded before the run started (``settle``), so a failed or canceled run leaves them for the next tick's run,
and nothing the journal said is lost. Reading twice is harmless: planning a pair again finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from datasync_pipeline.state.tables import metadata

ASSOCIATION, RECORD, FULL = "association", "record", "full"

journal_cursors = sa.Table(
    "datasync_journal_cursors",
    metadata,
    sa.Column("connection", sa.String(64), primary_key=True),
    sa.Column("journal_offset", sa.String(64), nullable=True),  # None: nothing journaled yet
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
)

journal_targets = sa.Table(
    "datasync_journal_targets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sync", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # association | record | full
    sa.Column("hubspot_id", sa.String(64), nullable=True),  # None for a full reconcile
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Target:
    sync: str
    kind: str
    hubspot_id: str | None = None


@dataclass
class Pending:
    """A sync's unfinished targets (up to a bound): ids by kind, whether a full reconcile is owed, the newest row."""

    associations: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    full: bool = False
    through: int = 0  # the id of the newest target counted

    def __bool__(self) -> bool:
        return bool(self.associations or self.records or self.full)

    @property
    def named(self) -> bool:
        """Records named (their run is launched at once); a full reconcile alone waits for the reconciling run."""
        return bool(self.associations or self.records)

    def describe(self) -> str:
        parts = []
        if self.full:
            parts.append("a full reconcile")
        if self.associations:
            parts.append(f"{len(self.associations):,} record{'s' if len(self.associations) != 1 else ''} with changed associations")
        if self.records:
            parts.append(f"{len(self.records):,} deleted or merged record{'s' if len(self.records) != 1 else ''}")
        return ", ".join(parts)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_cursor(engine: sa.Engine, connection: str) -> tuple[bool, str | None, datetime | None]:
    """(whether this connection's journal was ever read, the offset to read after, when it was last read)."""
    with engine.connect() as db:
        row = db.execute(sa.select(journal_cursors.c.journal_offset, journal_cursors.c.read_at)
                         .where(journal_cursors.c.connection == connection)).first()
    return (False, None, None) if row is None else (True, row[0], _utc(row[1]))


def record_read(engine: sa.Engine, connection: str, offset: str | None, targets: Iterable[Target], *, now: datetime | None = None) -> int:
    """Keep the targets found and move the connection's offset, in one transaction; returns the targets kept."""
    now = _utc(now or datetime.now(UTC))
    rows = [{"sync": t.sync, "kind": t.kind, "hubspot_id": t.hubspot_id, "recorded_at": now} for t in dict.fromkeys(targets)]
    with engine.begin() as db:
        if rows:
            db.execute(sa.insert(journal_targets), rows)
        updated = db.execute(sa.update(journal_cursors).where(journal_cursors.c.connection == connection)
                             .values(journal_offset=offset, read_at=now)).rowcount
        if not updated:
            db.execute(sa.insert(journal_cursors).values(connection=connection, journal_offset=offset, read_at=now))
    return len(rows)


def owe_full(engine: sa.Engine, syncs: Iterable[str], *, now: datetime | None = None) -> None:
    """A full reconcile owed by these syncs (once: not again while one is pending)."""
    now = _utc(now or datetime.now(UTC))
    with engine.begin() as db:
        for sync in dict.fromkeys(syncs):
            owed = db.execute(sa.select(journal_targets.c.id).where(journal_targets.c.sync == sync, journal_targets.c.kind == FULL).limit(1)).first()
            if owed is None:
                db.execute(sa.insert(journal_targets).values(sync=sync, kind=FULL, hubspot_id=None, recorded_at=now))


def pending(engine: sa.Engine, sync: str, *, recorded_before: datetime | None = None) -> Pending:
    """The sync's targets not settled yet (those recorded before a run's start, when given)."""
    if not sa.inspect(engine).has_table(journal_targets.name):
        return Pending()
    query = sa.select(journal_targets.c.id, journal_targets.c.kind, journal_targets.c.hubspot_id).where(journal_targets.c.sync == sync)
    if recorded_before is not None:
        query = query.where(journal_targets.c.recorded_at <= _utc(recorded_before))
    found = Pending()
    with engine.connect() as db:
        for row_id, kind, hubspot_id in db.execute(query.order_by(journal_targets.c.id)):
            found.through = max(found.through, int(row_id))
            if kind == FULL:
                found.full = True
            elif kind == ASSOCIATION:
                found.associations.append(str(hubspot_id))
            else:
                found.records.append(str(hubspot_id))
    found.associations = list(dict.fromkeys(found.associations))
    found.records = list(dict.fromkeys(found.records))
    return found


def settle(engine: sa.Engine, sync: str, kinds: Iterable[str], *, recorded_before: datetime) -> int:
    """A run that started at ``recorded_before`` did the work of these kinds of targets: they are done."""
    with engine.begin() as db:
        return db.execute(sa.delete(journal_targets).where(
            journal_targets.c.sync == sync, journal_targets.c.kind.in_(list(kinds)),
            journal_targets.c.recorded_at <= _utc(recorded_before))).rowcount
