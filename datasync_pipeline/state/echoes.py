"""The echo ledger: our own writes are not changes.

Every write moves the record's last-modified time (HubSpot's ``lastmodifieddate`` /
``hs_lastmodifieddate``, the app's ``updated_at``), so without this ledger the change probe would
take each run's writes for changes and launch a run that finds only them. The loads record, per
record written, the time their write left on it: HubSpot's batch answers carry it, the SQL writer
reads it back inside the writing transaction. A record changed since the watermark is an echo when
the ledger holds exactly its current time; any later change moves that time on, so a change made
after our write is never taken for ours.

Entries are per sync (another sync's writes are changes for this one) and side. An entry at or
before its side's watermark can never be reported as a change again; such entries are dropped
whenever the sync records new ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from datasync_pipeline.connectors.hubspot.search import modified_ms
from datasync_pipeline.state.tables import echoes

HUBSPOT, APP = "hubspot", "app"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK = 2_000


def record_writes(store: Any, sync: str, side: str, stamps: Mapping[str, datetime]) -> int:
    """Remember the last-modified time our writes left on these records (record id -> time); returns how many.

    A record written again replaces its entry; entries its side's watermark has passed are dropped.
    """
    now = datetime.now(UTC)
    rows = [{"sync": sync, "side": side, "record_id": str(record_id), "modified_at": _utc(stamp), "recorded_at": now}
            for record_id, stamp in stamps.items()]
    watermark = store.watermarks(sync).get(side)
    with store.engine.begin() as connection:
        if watermark is not None:
            connection.execute(sa.delete(echoes).where(echoes.c.sync == sync, echoes.c.side == side,
                                                       echoes.c.modified_at <= _utc(watermark)))
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            connection.execute(sa.delete(echoes).where(echoes.c.sync == sync, echoes.c.side == side,
                                                       echoes.c.record_id.in_([row["record_id"] for row in chunk])))
            connection.execute(sa.insert(echoes), chunk)
    return len(rows)


def echoes_among(store: Any, sync: str, side: str, changed: Mapping[str, datetime]) -> set[str]:
    """Those of ``changed`` (record id -> its last-modified time now) that hold exactly the time our write left."""
    ids = [str(record_id) for record_id in changed]
    written: dict[str, datetime] = {}
    with store.engine.connect() as connection:
        for start in range(0, len(ids), CHUNK):
            query = sa.select(echoes.c.record_id, echoes.c.modified_at).where(
                echoes.c.sync == sync, echoes.c.side == side, echoes.c.record_id.in_(ids[start : start + CHUNK]))
            written.update({record_id: modified_at for record_id, modified_at in connection.execute(query)})
    return {str(record_id) for record_id, stamp in changed.items()
            if str(record_id) in written and _micros(written[str(record_id)]) == _micros(stamp)}


def count_after(store: Any, sync: str, side: str, watermark: datetime) -> int:
    """How many of the sync's own writes on this side are newer than the watermark."""
    query = sa.select(sa.func.count()).select_from(echoes).where(
        echoes.c.sync == sync, echoes.c.side == side, echoes.c.modified_at > _utc(watermark))
    with store.engine.connect() as connection:
        return connection.execute(query).scalar_one()


def hubspot_stamps(records: Iterable[Mapping[str, Any]], modified_property: str) -> dict[str, datetime]:
    """HubSpot id -> last-modified time, from the records a batch write answered with."""
    return {str(record["id"]): EPOCH + timedelta(milliseconds=modified_ms(record, modified_property))
            for record in records if record.get("id") is not None and modified_ms(record, modified_property)}


class StampedWrites:
    """A HubSpot client for one load that keeps, per record its batch writes returned, the last-modified time.

    Everything else passes through to the client. ``stamps`` is what ``record_writes`` takes.
    """

    def __init__(self, client: Any, modified_property: str) -> None:
        self._client = client
        self._modified_property = modified_property
        self.stamps: dict[str, datetime] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_create(self, *args: Any, **kwargs: Any) -> Any:
        return self._kept(self._client.batch_create(*args, **kwargs))

    def batch_update(self, *args: Any, **kwargs: Any) -> Any:
        return self._kept(self._client.batch_update(*args, **kwargs))

    def batch_upsert(self, *args: Any, **kwargs: Any) -> Any:
        return self._kept(self._client.batch_upsert(*args, **kwargs))

    def _kept(self, result: Any) -> Any:
        self.stamps.update(hubspot_stamps(result.results.values(), self._modified_property))
        return result


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _micros(value: datetime) -> int:
    return (_utc(value) - EPOCH) // timedelta(microseconds=1)
