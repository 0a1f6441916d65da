"""Watermarks past a run's own writes, so that a writing run is not followed by a run that finds only them.

The change probe already ignores the sync's own writes (the echo ledger, ``state/echoes.py``), but it looks
at one page of changes per side: after a run that wrote more records than that, it cannot tell and
launches a run. So once a step has written, the sync's watermark on that side is moved past its own
writes, when, and only when, every record changed on that side since the watermark is one of them with
exactly the time our write left. A real change (another record, or one of ours changed again after our
write) keeps the watermark where it is, so it is read and synced by the next run.

Listing the changes costs one HubSpot search per 200 of them (one SQL query for the app): no more than the
run that would otherwise follow and read them all again. Above ``VERIFY_LIMIT`` writes on one side (where
that listing would keep a run waiting on the search limit) that one run follows instead, and settles. A
first sync waits for no HubSpot listing of more than ``FIRST_SYNC_VERIFY_LIMIT`` writes: its writes are a
bulk the run that follows reads once, and at search's five requests a second even 10,000 of them would keep
the first sync waiting about as long again as its whole read and write at the CRM budget (issue 11).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from datasync_pipeline.connectors.hubspot.search import OBJECT_ID_PROPERTY, modified_ms
from datasync_pipeline.objects.catalogue import OBJECT_TYPES
from datasync_pipeline.state import echoes
from datasync_pipeline.sync.probe import APP, EPOCH, HUBSPOT, epoch_ms

VERIFY_LIMIT = 10_000
FIRST_SYNC_VERIFY_LIMIT = 1_000  # about 5 to 10 searches: a second or two

# (watermark, at most how many) -> the changes after it as (record id, modified time), and whether that is all
ChangeLister = Callable[[datetime, int], tuple[list[tuple[str, datetime]], bool]]


def settle_past_own_writes(store, sync_name: str, side: str, list_changes: ChangeLister, *, run_id: str | None,
                           verify_limit: int = VERIFY_LIMIT) -> datetime | None:
    """Advance the side's watermark to the newest of our own writes if nothing else changed; the new mark or None.

    More than ``verify_limit`` writes are not listed: the run that follows reads them instead.
    """
    mark = store.watermarks(sync_name).get(side)
    if mark is None:
        return None
    pending = echoes.count_after(store, sync_name, side, mark)
    if pending == 0 or pending > verify_limit:
        return None
    changes, complete = list_changes(mark, pending)
    if not complete or not changes:
        return None
    if len(echoes.echoes_among(store, sync_name, side, dict(changes))) != len(changes):
        return None  # a real change is among them: the next run reads from the old mark
    newest = max(stamp for _, stamp in changes)
    store.advance_watermarks(sync_name, {side: newest}, run_id=run_id)
    return newest


def hubspot_lister(client, object_type: str) -> ChangeLister:
    """HubSpot records modified after the watermark (id and last-modified), through the paged search."""
    modified = OBJECT_TYPES[object_type].last_modified_property

    def changes(mark: datetime, limit: int) -> tuple[list[tuple[str, datetime]], bool]:
        found: list[tuple[str, datetime]] = []
        for record in client.search_modified_since(object_type, epoch_ms(mark) + 1, properties=[OBJECT_ID_PROPERTY, modified]):
            if len(found) == limit:
                return found, False  # more than we wrote: something else changed too
            found.append((str(record["id"]), EPOCH + timedelta(milliseconds=modified_ms(record, modified))))
        return found, True

    return changes


def app_lister(side) -> ChangeLister:
    """App records changed after the watermark (deleted ones included), from the app's ``AppConnector``."""
    return lambda mark, limit: side.newest_changes(mark, limit=limit)


SIDES = (HUBSPOT, APP)
