"""Turning stored records into HubSpot's JSON: which properties show, nulls, system values, associations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Connection

from datasync_pipeline.sandbox.association_links import links_from
from datasync_pipeline.sandbox.association_types import v3_type_name
from datasync_pipeline.sandbox.object_types import ObjectType
from datasync_pipeline.sandbox.property_definitions import DEFAULT_READ_PROPERTIES, PropertyDefinition
from datasync_pipeline.sandbox.store import StoredRecord
from datasync_pipeline.sandbox.timestamps import to_iso

def system_values(object_type: ObjectType, record: StoredRecord) -> dict[str, str]:
    """The properties backed by the record's columns: id, create date and last-modified date."""
    return {
        "hs_object_id": str(record.id),
        "createdate": to_iso(record.created_at),
        object_type.last_modified_property: to_iso(record.updated_at),
    }


def render_record(
    object_type: ObjectType,
    definitions: dict[str, PropertyDefinition],
    record: StoredRecord,
    requested: Iterable[str] | None,
) -> dict[str, Any]:
    """A record as HubSpot returns it.

    With no ``requested`` properties the type's defaults show; unknown names are ignored; a requested
    property without a value is ``null``; the id, create date and last-modified date always show.
    """
    names = DEFAULT_READ_PROPERTIES[object_type.name] if requested is None else requested
    system = system_values(object_type, record)
    properties: dict[str, str | None] = {}
    for name in names:
        if name in definitions:
            properties[name] = system.get(name, record.properties.get(name))
    properties.update(system)
    body: dict[str, Any] = {
        "id": str(record.id),
        "properties": dict(sorted(properties.items())),
        "createdAt": to_iso(record.created_at),
        "updatedAt": to_iso(record.updated_at),
        "archived": record.archived,
    }
    if record.archived and record.archived_at is not None:
        body["archivedAt"] = to_iso(record.archived_at)
    return body


def render_written_record(
    object_type: ObjectType, definitions: dict[str, PropertyDefinition], record: StoredRecord
) -> dict[str, Any]:
    """The answer to a write: every property the record holds, plus the system ones."""
    return render_record(object_type, definitions, record, list(record.properties))


def attach_associations(
    connection: Connection, object_type: ObjectType, bodies: list[dict[str, Any]], to_types: list[ObjectType]
) -> None:
    """Add the v3 ``associations`` block (``{"companies": {"results": [{id, type}]}}``) to rendered records."""
    if not bodies or not to_types:
        return
    ids = [int(body["id"]) for body in bodies]
    by_id = {body["id"]: body for body in bodies}
    for to_type in to_types:
        for link in links_from(connection, ids, to_type.name):
            body = by_id[str(link.from_id)]
            block = body.setdefault("associations", {}).setdefault(to_type.name, {"results": []})
            block["results"].append(
                {"id": str(link.to_id), "type": v3_type_name(object_type.name, to_type.name, link.category, link.type_id)}
            )
