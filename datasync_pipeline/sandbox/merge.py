"""``POST /crm/v3/objects/{contacts,companies,deals,tickets}/merge``: two records become one.

Modelled on HubSpot's reference pages "Merge two contacts" / "Merge two companies" / "Merge two objects with same
type" (developers.hubspot.com/docs/api-reference/crm-contacts-v3/basic/post-crm-v3-objects-contacts-merge and
siblings), the v1 "Merge two contact records" page, the "New subscription types for webhooks" changelog, and what
integrators report of live behaviour (supaglue-labs/supaglue#870, amp-labs/connectors#3487):
- the body is ``{primaryObjectId, objectIdToMerge}``; the answer is the surviving record (``SimplePublicObject``);
- "primaryObjectId: the record that the merge will generally set as the current value": the primary's values
  win, and a property only the merged record has a value for is carried over (``numberOfPropertiesMoved`` counts
  them); unique values the merged record held (a contact's email) are freed unless carried over;
- the survivor lists the ids merged into it in ``hs_merged_object_ids`` (``;``-separated, the merged record's own
  merged ids included) and its last-modified date moves;
- "you can see the combined history of the two records in the resulting single contact": the merged record's
  property history moves to the survivor (``propertiesWithHistory``);
- the merged record's associations move to the survivor (a link between the two is dropped; a contact keeps its
  own primary company);
- the merged id stops existing as a record: lists and search no longer show it (search once the index catches up,
  ``search_index``), and reads of it (``GET .../{id}``, batch read) answer the survivor, as HubSpot's do
  (supaglue#870: "calling GET on a remoteId actually yields a record with a different remoteId");
- the journal gets a MERGE event (``primaryObjectId, mergedObjectIds, newObjectId``) and a DELETE for the merged id
  (amp-labs#3487: HubSpot fires a deletion for each merged-away record).
Assumed: the survivor keeps the primary's id (HubSpot may mint a new one, ``newObjectId``; the sandbox never does),
and writes (PATCH, archive) to a merged id are 404s like any unknown id.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.association_types import HUBSPOT_DEFINED
from datasync_pipeline.sandbox.errors import json_response, not_found, validation_error
from datasync_pipeline.sandbox.http_input import parse_record_id, read_body, resolve_object_type
from datasync_pipeline.sandbox.records import render_written_record
from datasync_pipeline.sandbox.request_shapes import MERGE
from datasync_pipeline.sandbox.store import StoredRecord
from datasync_pipeline.sandbox.write_session import snapshot

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox

MERGEABLE = ("contacts", "companies", "deals", "tickets")
MERGED_IDS = "hs_merged_object_ids"
PRIMARY_COMPANY_TYPE = 1
associations = store.associations
history = store.property_history
merged_records = store.merged_records


def merge_objects(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    kind = resolve_object_type(object_type)
    if kind.name not in MERGEABLE:
        raise validation_error(f"Records of {kind.name} cannot be merged; merge works on {', '.join(MERGEABLE)}.")
    body = read_body(request, MERGE)
    primary_id, other_id = parse_record_id(body["primaryObjectId"]), parse_record_id(body["objectIdToMerge"])
    if primary_id is None or other_id is None:
        raise validation_error("primaryObjectId and objectIdToMerge must be record ids.")
    if primary_id == other_id:
        raise validation_error("A record cannot be merged with itself.")
    now = sandbox.clock.milliseconds()
    with sandbox.store.transaction() as connection:
        found = store.fetch_records(connection, kind.name, [primary_id, other_id])
        missing = [str(record_id) for record_id in (primary_id, other_id) if record_id not in found]
        if missing:
            raise not_found(f"Could not merge: {kind.singular} {', '.join(missing)} does not exist.", context={"ids": missing})
        primary, other = found[primary_id], found[other_id]
        before = snapshot(primary)
        moved = _merge_values(connection, kind.name, primary, other, sandbox.catalogue.unique_properties(kind), now)
        _move_history(connection, other.id, primary.id)
        _move_links(connection, other.id, primary.id)
        _remember(connection, kind.name, other, primary.id, now)
        store.delete_records_permanently(connection, [other.id])
        sandbox.changes.merged(connection, kind, before, primary, other, moved)
    return json_response(render_written_record(kind, sandbox.catalogue.definitions(kind), primary))


def _merge_values(
    connection: Connection, object_type: str, primary: StoredRecord, other: StoredRecord, unique: set[str] | frozenset[str], now: int
) -> int:
    """Fill the primary's gaps from the other record, list the merged ids, stamp the survivor; returns values moved."""
    carried = {name: value for name, value in other.properties.items()
               if name not in primary.properties and name not in {MERGED_IDS, "associatedcompanyid"}}
    primary.properties.update(carried)
    merged_ids = [*_split(primary.properties.get(MERGED_IDS)), *_split(other.properties.get(MERGED_IDS)), str(other.id)]
    primary.properties[MERGED_IDS] = ";".join(dict.fromkeys(merged_ids))
    primary.updated_at = max(now, primary.updated_at + 1)
    store.update_records(connection, [primary])
    released = [(other.id, name) for name in unique]
    claims = [(object_type, name, store.unique_key(value), primary.id) for name, value in carried.items() if name in unique and value]
    store.replace_unique_claims(connection, released, claims)
    return len(carried)


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(";") if part]


def _move_history(connection: Connection, from_id: int, to_id: int) -> None:
    connection.execute(sa.update(history).where(history.c.record_id == from_id).values(record_id=to_id))


def _move_links(connection: Connection, from_id: int, to_id: int) -> None:
    """Re-point the merged record's links at the survivor, both directions; the survivor's primary company stays."""
    rows = list(connection.execute(sa.select(associations).where(
        sa.or_(associations.c.from_id == from_id, associations.c.to_id == from_id))))
    survivor_has_primary = connection.execute(sa.select(associations.c.to_id).where(
        associations.c.from_id == to_id, associations.c.to_type == "companies",
        associations.c.category == HUBSPOT_DEFINED, associations.c.type_id == PRIMARY_COMPANY_TYPE)).first() is not None
    moved = []
    for row in rows:
        source = to_id if row.from_id == from_id else row.from_id
        target = to_id if row.to_id == from_id else row.to_id
        if source == target:
            continue
        is_primary_company = row.category == HUBSPOT_DEFINED and row.to_type == "companies" and row.type_id == PRIMARY_COMPANY_TYPE
        if row.from_id == from_id and is_primary_company and survivor_has_primary:
            continue
        moved.append({"from_id": source, "to_id": target, "category": row.category, "type_id": row.type_id,
                      "from_type": row.from_type, "to_type": row.to_type, "label": row.label})
    connection.execute(sa.delete(associations).where(sa.or_(associations.c.from_id == from_id, associations.c.to_id == from_id)))
    if moved:
        connection.execute(sa.insert(associations).prefix_with("OR IGNORE"), moved)
    if survivor_has_primary:
        _drop_reverse_primaries_without_forward(connection, to_id)
    # Contacts whose primary company was the merged company now point at the survivor.
    for contact in store.fetch_records(connection, "contacts", [row["to_id"] for row in moved if row["to_type"] == "contacts"],
                                       archived=None).values():
        if contact.properties.get("associatedcompanyid") == str(from_id):
            contact.properties["associatedcompanyid"] = str(to_id)
            store.update_record(connection, contact, touch=False)


def _drop_reverse_primaries_without_forward(connection: Connection, contact_id: int) -> None:
    """A company -> contact primary link (type 2) must mirror the contact's one primary company."""
    primary_company = connection.execute(sa.select(associations.c.to_id).where(
        associations.c.from_id == contact_id, associations.c.type_id == PRIMARY_COMPANY_TYPE,
        associations.c.to_type == "companies", associations.c.category == HUBSPOT_DEFINED)).scalar()
    connection.execute(sa.delete(associations).where(
        associations.c.to_id == contact_id, associations.c.from_type == "companies", associations.c.type_id == 2,
        associations.c.category == HUBSPOT_DEFINED, associations.c.from_id != primary_company))


def _remember(connection: Connection, object_type: str, other: StoredRecord, survivor_id: int, now: int) -> None:
    """Keep where the merged id went (and re-point ids merged into it before), for reads of old ids."""
    connection.execute(sa.update(merged_records).where(merged_records.c.merged_into == other.id).values(merged_into=survivor_id))
    connection.execute(sa.insert(merged_records).values(
        id=other.id, object_type=object_type, merged_into=survivor_id, merged_at=now, properties=json.dumps(other.properties)))


def survivors(connection: Connection, object_type: str, ids: list[int]) -> dict[int, int]:
    """For ids of records merged away, the id of the record they live on in."""
    if not ids:
        return {}
    query = sa.select(merged_records.c.id, merged_records.c.merged_into).where(
        merged_records.c.object_type == object_type, merged_records.c.id.in_(ids))
    return {row.id: row.merged_into for row in connection.execute(query)}
