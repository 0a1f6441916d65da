"""Pending writes: what a load is about to write, recorded before it writes (a write-ahead base).

A pair's base (the values each side held after the last sync) is committed at the checkpoint, once
both loads are done. A run that dies after writing part of its plan leaves the base older than the
records: without this record, the next run would take the dead run's own writes for a user's changes,
and a user's later edit of the same field on the other side would lose as a "conflict" (or a value the
user cleared would be filled again from the dead run's copy).

So each load records, in the state store and before it calls the other side, the values it is about
to write: per record updated (keyed by that record's id) and per record created (keyed by the id of
the record it is created from, on the other side: the new record's id is not known yet). The next run
uses them as the base of a field wherever the record still holds exactly the value written there
(``engine/pending_base.py``); a write that never happened leaves a different value and changes
nothing. Entries go when the pair's values are committed, and with the sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from datasync_pipeline.state.tables import pending_writes
from datasync_pipeline.state.values import json_safe

UPDATE, CREATE = "update", "create"
CHUNK = 2_000


def record_pending(store: Any, sync: str, side: str, kind: str, values: Mapping[str, Mapping[str, Any]], *,
                   run_id: str | None) -> int:
    """Remember the values about to be written to ``side`` (record id -> {property: value}); returns how many.

    An entry for the same record replaces the older one.
    """
    now = datetime.now(UTC)
    rows = [{"sync": sync, "side": side, "kind": kind, "record_id": str(record_id), "values": json_safe(dict(written)),
             "run_id": run_id, "recorded_at": now} for record_id, written in values.items()]
    with store.engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            connection.execute(sa.delete(pending_writes).where(
                pending_writes.c.sync == sync, pending_writes.c.side == side, pending_writes.c.kind == kind,
                pending_writes.c.record_id.in_([row["record_id"] for row in chunk])))
            connection.execute(sa.insert(pending_writes), chunk)
    return len(rows)


def pending(store: Any, sync: str, side: str, kind: str, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The pending writes of these records (record id -> {property: value}); records without one are left out.

    One query for the sync's entries of this side and kind, filtered here: the table holds at most one run's
    writes (usually none), while the ids asked about can be every link of a first sync.
    """
    query = sa.select(pending_writes.c.record_id, pending_writes.c["values"]).where(
        pending_writes.c.sync == sync, pending_writes.c.side == side, pending_writes.c.kind == kind)
    with store.engine.connect() as connection:
        entries = {record_id: values for record_id, values in connection.execute(query)}
    if not entries:
        return {}
    return {record_id: dict(entries[record_id] or {}) for record_id in (str(i) for i in record_ids) if record_id in entries}


def clear_pending(store: Any, sync: str, *, hubspot_ids: Iterable[str], app_ids: Iterable[str],
                  connection: sa.Connection | None = None) -> None:
    """Forget the pending writes of these pairs' records: their values are committed (or known) now.

    Both kinds: updates of the records themselves, creates made from either of them.
    """
    hubspot, app = [str(i) for i in hubspot_ids], [str(i) for i in app_ids]
    if connection is None:
        with store.engine.begin() as connection:
            clear_pending(store, sync, hubspot_ids=hubspot, app_ids=app, connection=connection)
        return
    # (side written, kind, ids): an update names the record written, a create the record it came from.
    for side, kind, ids in (("hubspot", UPDATE, hubspot), ("app", UPDATE, app), ("app", CREATE, hubspot), ("hubspot", CREATE, app)):
        for start in range(0, len(ids), CHUNK):
            connection.execute(sa.delete(pending_writes).where(
                pending_writes.c.sync == sync, pending_writes.c.side == side, pending_writes.c.kind == kind,
                pending_writes.c.record_id.in_(ids[start : start + CHUNK])))
