"""The single-record endpoints: list, get, create, update, archive, and GDPR delete."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox import merge, store
from datasync_pipeline.sandbox.errors import HubSpotError, json_response, not_found, validation_error
from datasync_pipeline.sandbox.http_input import (
    checked_id_property,
    parse_record_id,
    query_bool,
    query_int,
    query_list,
    read_body,
    resolve_object_type,
)
from datasync_pipeline.sandbox.request_shapes import GDPR_DELETE, OBJECT_CREATE, OBJECT_UPDATE
from datasync_pipeline.sandbox.object_types import ObjectType
from datasync_pipeline.sandbox.property_history import attach_history
from datasync_pipeline.sandbox.record_writes import RecordWriter
from datasync_pipeline.sandbox.records import attach_associations, render_record, render_written_record
from datasync_pipeline.sandbox.store import StoredRecord

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox

MAX_LIST_LIMIT = 100


def _association_types(request: Request) -> list[ObjectType]:
    return [resolve_object_type(name) for name in query_list(request, "associations") or []]


def list_objects(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    kind = resolve_object_type(object_type)
    limit = min(max(query_int(request, "limit", 10), 1), MAX_LIST_LIMIT)
    after = parse_record_id(request.args.get("after", "0")) or 0
    archived = query_bool(request, "archived")
    definitions = sandbox.catalogue.definitions(kind)
    with sandbox.store.reading() as connection:
        found = store.list_records(connection, kind.name, archived=archived, after_id=after, limit=limit + 1)
        page = found[:limit]
        results = [render_record(kind, definitions, record, query_list(request, "properties")) for record in page]
        attach_associations(connection, kind, results, _association_types(request))
        attach_history(connection, kind, definitions, results, page, query_list(request, "propertiesWithHistory"))
    body: dict = {"results": results}
    if len(found) > limit:
        next_after = str(found[limit].id)
        query = [(key, value) for key, value in request.args.items(multi=True) if key != "after"]
        query.append(("after", next_after))
        body["paging"] = {"next": {"after": next_after, "link": f"{request.base_url}?{urlencode(query)}"}}
    return json_response(body)


def find_record(
    sandbox: Sandbox, kind: ObjectType, object_id: str, id_property: str | None, *, archived: bool,
    follow_merges: bool = False,
) -> StoredRecord | None:
    """A record by id, or by a unique property when ``idProperty`` is given (``?idProperty=email``).

    ``follow_merges``: the id of a record merged away names the record it was merged into (``merge``).
    """
    id_property = checked_id_property(id_property, sandbox.catalogue.definitions(kind), kind)
    with sandbox.store.reading() as connection:
        if id_property and id_property != "hs_object_id":
            ids = store.find_ids_by_property(connection, kind.name, id_property, [object_id], archived=archived)
            record_id = ids.get(object_id.strip().lower())
        else:
            record_id = parse_record_id(object_id)
        if record_id is None:
            return None
        found = store.fetch_records(connection, kind.name, [record_id], archived=archived).get(record_id)
        if found is None and follow_merges and not archived:
            survivor = merge.survivors(connection, kind.name, [record_id]).get(record_id)
            if survivor is not None:
                found = store.fetch_records(connection, kind.name, [survivor]).get(survivor)
        return found


def _missing(kind: ObjectType, object_id: str) -> HubSpotError:
    if parse_record_id(object_id) is None:
        message = "Object not found.  objectId are usually numeric."
    else:
        message = f"resource not found: {kind.singular} {object_id} does not exist"
    return not_found(message, context={"id": [object_id]})


def get_object(sandbox: Sandbox, request: Request, object_type: str, object_id: str) -> Response:
    kind = resolve_object_type(object_type)
    record = find_record(sandbox, kind, object_id, request.args.get("idProperty"), archived=query_bool(request, "archived"),
                         follow_merges=True)
    if record is None:
        raise _missing(kind, object_id)
    definitions = sandbox.catalogue.definitions(kind)
    body = render_record(kind, definitions, record, query_list(request, "properties"))
    with sandbox.store.reading() as connection:
        attach_associations(connection, kind, [body], _association_types(request))
        attach_history(connection, kind, definitions, [body], [record], query_list(request, "propertiesWithHistory"))
    return json_response(body)


def create_object(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    kind = resolve_object_type(object_type)
    body = read_body(request, OBJECT_CREATE)
    with sandbox.store.transaction() as connection:
        writer = RecordWriter(connection, kind, sandbox.catalogue, sandbox.clock.milliseconds(), sandbox.changes)
        record = writer.create(body.get("properties"), body.get("associations"))
        writer.flush()
    return json_response(render_written_record(kind, writer.definitions, record), status=201)


def update_object(sandbox: Sandbox, request: Request, object_type: str, object_id: str) -> Response:
    kind = resolve_object_type(object_type)
    body = read_body(request, OBJECT_UPDATE)
    if "properties" not in body:
        raise validation_error("Invalid input JSON: 'properties' is required.")
    record = find_record(sandbox, kind, object_id, request.args.get("idProperty"), archived=False)
    if record is None:
        raise _missing(kind, object_id)
    with sandbox.store.transaction() as connection:
        writer = RecordWriter(connection, kind, sandbox.catalogue, sandbox.clock.milliseconds(), sandbox.changes)
        current = writer.session.record(record.id)
        if current is None:
            raise _missing(kind, object_id)
        updated = writer.update(current, body["properties"])
        writer.flush()
    return json_response(render_written_record(kind, writer.definitions, updated))


def archive_object(sandbox: Sandbox, request: Request, object_type: str, object_id: str) -> Response:
    """HubSpot answers 204 whether or not the record existed."""
    kind = resolve_object_type(object_type)
    record_id = parse_record_id(object_id)
    if record_id is not None:
        with sandbox.store.transaction() as connection:
            sandbox.changes.archive(connection, kind, [record_id], sandbox.clock.milliseconds())
    return Response(status=204)


def gdpr_delete(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    """Permanent deletion of a contact (``{objectId, idProperty?}``): gone even from the archive."""
    kind = resolve_object_type(object_type)
    if kind.name != "contacts":
        raise not_found(f"GDPR delete exists for contacts only, not {kind.name}.")
    body = read_body(request, GDPR_DELETE)
    object_id = str(body.get("objectId", ""))
    record = find_record(sandbox, kind, object_id, body.get("idProperty"), archived=False) or find_record(
        sandbox, kind, object_id, body.get("idProperty"), archived=True
    )
    if record is None:
        raise _missing(kind, object_id)
    with sandbox.store.transaction() as connection:
        store.delete_records_permanently(connection, [record.id])
    return Response(status=204)
