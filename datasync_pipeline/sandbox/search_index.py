"""When a write becomes visible to search: HubSpot's indexing delay, and writes that surface out of order.

What it models:
- HubSpot's CRM search answers from an index that trails writes, while reads by id and lists see a write at once.
  HubSpot's guide "CRM search" (developers.hubspot.com/docs/api-reference/latest/crm/search-the-crm; summarised in
  HUBSPOT_API.md "Newly written records appear after a short indexing delay") says so; the webhooks journal guide
  ("Webhook journal APIs", .../webhooks-journal/journal-entries/guide) pitches the journal as the faster way to
  change data for the same reason.
- Writes do not surface in last-modified order: a public extractor (Estuary, HUBSPOT_API.md "Change capture and
  dates") saw records appear up to about an hour behind later changes. The sandbox gives each write an extra random
  delay of up to ``jitter_ms`` (seeded, so runs repeat), or holds chosen ids back until they are released.

How: while a record's latest write is not visible yet, ``search_index_lag`` keeps the version search still shows
(the one before the pending write; none for a record created since, which search does not find at all). Search
reads the records table with those versions swapped in (`searchable`). A second write before the first surfaced
keeps the older indexed version and takes the new write's visibility time: an index only ever shows a whole
version, never a half-applied one. Time is the sandbox clock, so tests advance it instead of sleeping.

Defaults (no delay, no jitter, nothing held) keep search instant, and then nothing is stored or joined.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import FromClause

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.clock import Clock
from datasync_pipeline.sandbox.store import StoredRecord

lag = store.search_index_lag
records = store.records


class SearchIndex:
    """The indexing rules of one sandbox, changeable at runtime (``POST /_sandbox/search-index``)."""

    def __init__(self, clock: Clock, *, delay_ms: int = 0, jitter_ms: int = 0, seed: int = 0) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.delay_ms, self.jitter_ms, self.seed = 0, 0, seed
        self._random = random.Random(seed)
        self._held: set[int] = set()
        self.configure(delay_ms=delay_ms, jitter_ms=jitter_ms, seed=seed)

    def configure(self, *, delay_ms: int | None = None, jitter_ms: int | None = None, seed: int | None = None) -> None:
        for name, value in (("delay_ms", delay_ms), ("jitter_ms", jitter_ms)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} must be a non-negative whole number of milliseconds")
        with self._lock:
            if delay_ms is not None:
                self.delay_ms = delay_ms
            if jitter_ms is not None:
                self.jitter_ms = jitter_ms
            if seed is not None:
                self.seed = seed
                self._random = random.Random(seed)

    @property
    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held)

    @property
    def lags(self) -> bool:
        """Whether new writes may surface late at all."""
        with self._lock:
            return self.delay_ms > 0 or self.jitter_ms > 0 or bool(self._held)

    def hold(self, connection: Connection, ids: Iterable[int]) -> None:
        """Keep these records' pending and future writes out of search until `release`."""
        wanted = list(ids)
        with self._lock:
            self._held.update(wanted)
        if wanted:
            connection.execute(sa.update(lag).where(lag.c.id.in_(wanted)).values(visible_at=None))

    def release(self, connection: Connection, ids: Iterable[int]) -> None:
        """Let these records' held writes surface now."""
        wanted = list(ids)
        with self._lock:
            self._held.difference_update(wanted)
        if wanted:
            connection.execute(
                sa.update(lag).where(lag.c.id.in_(wanted), lag.c.visible_at.is_(None)).values(visible_at=self.clock.milliseconds())
            )

    def has_pending(self, connection: Connection) -> bool:
        """Whether any write is still waiting to surface (what makes search swap versions in)."""
        now = self.clock.milliseconds()
        query = sa.select(lag.c.id).where(sa.or_(lag.c.visible_at.is_(None), lag.c.visible_at > now)).limit(1)
        return connection.execute(query).first() is not None

    def has_rows(self, connection: Connection) -> bool:
        return connection.execute(sa.select(lag.c.id).limit(1)).first() is not None

    def pending_count(self, connection: Connection) -> int:
        now = self.clock.milliseconds()
        query = sa.select(sa.func.count()).select_from(lag).where(sa.or_(lag.c.visible_at.is_(None), lag.c.visible_at > now))
        return connection.execute(query).scalar_one()

    def note_writes(self, connection: Connection, before: dict[int, StoredRecord | None]) -> None:
        """Record that these records were just written; ``before`` is each one's state before (None: new).

        Call inside the write transaction, before or after the records table is updated.
        """
        if not before or not (self.lags or self.has_rows(connection)):
            return
        now = self.clock.milliseconds()
        ids = list(before)
        waiting = {
            row.id: row.visible_at
            for start in range(0, len(ids), 500)
            for row in connection.execute(sa.select(lag.c.id, lag.c.visible_at).where(lag.c.id.in_(ids[start : start + 500])))
        }
        for record_id, prior in before.items():
            visible_at = self._visible_at(record_id, now)
            still_waiting = record_id in waiting and (waiting[record_id] is None or waiting[record_id] > now)
            if still_waiting:
                connection.execute(sa.update(lag).where(lag.c.id == record_id).values(visible_at=visible_at))
                continue
            connection.execute(sa.delete(lag).where(lag.c.id == record_id))
            if visible_at is not None and visible_at <= now:
                continue
            connection.execute(sa.insert(lag).values(id=record_id, visible_at=visible_at, **_indexed_version(prior)))
        connection.execute(sa.delete(lag).where(lag.c.visible_at <= now))

    def _visible_at(self, record_id: int, now: int) -> int | None:
        with self._lock:
            if record_id in self._held:
                return None
            extra = self._random.randint(0, self.jitter_ms) if self.jitter_ms > 0 else 0
            return now + self.delay_ms + extra

    def searchable(self, connection: Connection) -> FromClause:
        """What search reads: the records table, or (while writes are pending) it with the indexed versions swapped in.

        The answer has the records table's columns, so search's filters and sorts apply to it unchanged.
        """
        if not self.has_pending(connection):
            return records
        now = self.clock.milliseconds()
        pending = sa.or_(lag.c.visible_at.is_(None), lag.c.visible_at > now)
        waiting_ids = sa.select(lag.c.id).where(pending)
        current = sa.select(
            records.c.id, records.c.object_type, records.c.properties, records.c.created_at, records.c.updated_at,
            records.c.archived, records.c.archived_at,
        ).where(records.c.id.not_in(waiting_ids))
        indexed = sa.select(
            lag.c.id, lag.c.object_type, lag.c.properties, lag.c.created_at, lag.c.updated_at, lag.c.archived,
            lag.c.archived_at,
        ).where(pending, lag.c.present.is_(True))
        return sa.union_all(current, indexed).subquery("records")

    def describe(self, connection: Connection) -> dict[str, Any]:
        return {"delayMs": self.delay_ms, "jitterMs": self.jitter_ms, "seed": self.seed, "held": [str(i) for i in self.held],
                "pending": self.pending_count(connection)}


def _indexed_version(prior: StoredRecord | None) -> dict[str, Any]:
    if prior is None:
        return {"present": False, "object_type": "", "properties": "{}", "created_at": 0, "updated_at": 0,
                "archived": False, "archived_at": None}
    return {"present": True, "object_type": prior.object_type, "properties": json.dumps(prior.properties),
            "created_at": prior.created_at, "updated_at": prior.updated_at, "archived": prior.archived,
            "archived_at": prior.archived_at}
