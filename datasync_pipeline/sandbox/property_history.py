"""Every value a property has held, for reads that ask ``propertiesWithHistory``.

HubSpot keeps each property's past values and returns them, newest first, when a read names properties in
``propertiesWithHistory`` (objects guides: "A comma separated list of the current and historical properties to
be returned in the response. If a requested property isn't defined, it won't be included"). Each version is
``{value, timestamp, sourceType, sourceId?, updatedByUserId?}``; a cleared value is a version with ``""``.
Writes through the API record versions with ``sourceType: "API"``; seeded records (which bypass the API)
show their current value as one ``IMPORT`` version at their last-modified date. The id, create date and
last-modified date come from the record's own columns, each as one version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.object_types import ObjectType
from datasync_pipeline.sandbox.store import StoredRecord
from datasync_pipeline.sandbox.timestamps import to_iso

history = store.property_history

API_SOURCE = "API"
SEEDED_SOURCE = "IMPORT"

# (record_id, name, value, timestamp)
Version = tuple[int, str, str, int]


def store_versions(connection: Connection, versions: list[Version]) -> None:
    if versions:
        connection.execute(sa.insert(history), [
            {"record_id": record_id, "name": name, "value": value, "timestamp": timestamp, "source_type": API_SOURCE}
            for record_id, name, value, timestamp in versions
        ])


def _stored(connection: Connection, ids: list[int], names: list[str]) -> dict[tuple[int, str], list[dict[str, Any]]]:
    found: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 500):
        query = (
            sa.select(history)
            .where(history.c.record_id.in_(ids[start : start + 500]), history.c.name.in_(names))
            .order_by(history.c.timestamp.desc(), sa.literal_column("rowid").desc())
        )
        for row in connection.execute(query):
            found.setdefault((row.record_id, row.name), []).append(
                {"value": row.value, "timestamp": to_iso(row.timestamp), "sourceType": row.source_type}
            )
    return found


def attach_history(
    connection: Connection,
    object_type: ObjectType,
    known: Iterable[str],
    bodies: list[dict[str, Any]],
    records: list[StoredRecord],
    requested: Iterable[str] | None,
) -> None:
    """Add ``propertiesWithHistory`` to rendered records (same order as ``records``) for the known names asked."""
    if requested is None:
        return
    known_names = set(known)
    names = [name for name in dict.fromkeys(requested) if name in known_names]
    stored = _stored(connection, [record.id for record in records], names) if names else {}
    for body, record in zip(bodies, records, strict=True):
        system = {
            "hs_object_id": (str(record.id), record.created_at),
            "createdate": (to_iso(record.created_at), record.created_at),
            object_type.last_modified_property: (to_iso(record.updated_at), record.updated_at),
        }
        block: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            if name in system:
                value, timestamp = system[name]
                block[name] = [{"value": value, "timestamp": to_iso(timestamp), "sourceType": "CALCULATED"}]
            elif (record.id, name) in stored:
                block[name] = stored[(record.id, name)]
            elif record.properties.get(name) is not None:
                block[name] = [{"value": record.properties[name], "timestamp": to_iso(record.updated_at),
                                "sourceType": SEEDED_SOURCE}]
            else:
                block[name] = []
        body["propertiesWithHistory"] = block
