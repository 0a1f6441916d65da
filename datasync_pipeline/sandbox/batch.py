"""The batch record endpoints: read, create, update, upsert, archive (at most 100 inputs each).

Two failure modes, as in HubSpot: without an ``objectWriteTraceId`` on every input, one bad input fails
the whole batch with that input's error and nothing is written; with trace ids, the good inputs are
written and the answer is a 207 listing each failure under its trace id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox import merge, store
from datasync_pipeline.sandbox.errors import HubSpotError, json_response, not_found, validation_error
from datasync_pipeline.sandbox.http_input import (
    checked_id_property,
    inputs_of,
    parse_record_id,
    query_bool,
    read_body,
    refuse_duplicate_ids,
    resolve_object_type,
)
from datasync_pipeline.sandbox.object_types import ObjectType
from datasync_pipeline.sandbox.property_history import attach_history
from datasync_pipeline.sandbox.record_writes import RecordWriter
from datasync_pipeline.sandbox.request_shapes import BATCH_ARCHIVE, BATCH_CREATE, BATCH_READ, BATCH_UPDATE
from datasync_pipeline.sandbox.records import render_record, render_written_record
from datasync_pipeline.sandbox.store import StoredRecord
from datasync_pipeline.sandbox.timestamps import now_milliseconds, to_iso

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from datasync_pipeline.sandbox.sandbox import Sandbox

BATCH_LIMIT = 100

# What writing one input produced: the record as written, and fields to add to its answer.
Written = tuple[StoredRecord, dict[str, Any]]


def _batch_body(results: list[dict[str, Any]], errors: list[dict[str, Any]], started_at: int) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body["startedAt"] = to_iso(started_at)
    body["completedAt"] = to_iso(now_milliseconds())
    return body


def _error_entry(error: HubSpotError, trace_id: str | None) -> dict[str, Any]:
    """One failed input in a 207: the error's category and message, under the input's trace id."""
    context = dict(error.extra.get("context") or {})
    if trace_id is not None:
        context["objectWriteTraceId"] = [trace_id]
    entry = {"status": "error", "category": error.category, "message": error.message, "context": context}
    if error.extra.get("errors"):
        entry["errors"] = error.extra["errors"]
    return entry


def _lookup_ids(
    connection: Connection, kind: ObjectType, raw_ids: list[str], id_property: str | None, *, archived: bool = False
) -> dict[str, int]:
    """Map each input id (or idProperty value) to a record id, leaving out the ones that name nothing."""
    if id_property and id_property != "hs_object_id":
        by_value = store.find_ids_by_property(connection, kind.name, id_property, raw_ids, archived=archived)
        return {raw: by_value[raw.strip().lower()] for raw in raw_ids if raw.strip().lower() in by_value}
    return {raw: record_id for raw in raw_ids if (record_id := parse_record_id(raw)) is not None}


def batch_read(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    kind = resolve_object_type(object_type)
    body = read_body(request, BATCH_READ)
    inputs = inputs_of(body, BATCH_LIMIT)
    raw_ids = [str(item.get("id", "")) for item in inputs]
    refuse_duplicate_ids(raw_ids)
    archived = query_bool(request, "archived")
    started_at = now_milliseconds()
    requested = body.get("properties") or None
    definitions = sandbox.catalogue.definitions(kind)
    with sandbox.store.reading() as connection:
        id_property = checked_id_property(body.get("idProperty"), definitions, kind)
        record_ids = _lookup_ids(connection, kind, raw_ids, id_property, archived=archived)
        found = store.fetch_records(connection, kind.name, record_ids.values(), archived=archived)
        if not archived:
            # Ids of records merged away read as the record they were merged into (``merge``).
            moved = merge.survivors(connection, kind.name, [i for i in record_ids.values() if i not in found])
            survivors = store.fetch_records(connection, kind.name, set(moved.values()))
            found.update({old: survivors[new] for old, new in moved.items() if new in survivors})
    results, missing, read = [], [], []
    for raw in raw_ids:
        record = found.get(record_ids.get(raw, -1))
        if record is None:
            missing.append(raw)
        else:
            results.append(render_record(kind, definitions, record, requested))
            read.append(record)
    if body.get("propertiesWithHistory"):
        with sandbox.store.reading() as connection:
            attach_history(connection, kind, definitions, results, read, body["propertiesWithHistory"])
    errors = []
    if missing:
        message = f"Could not get some {kind.singular} objects, they may be deleted or not exist. Check that ids are valid."
        errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "message": message, "context": {"ids": missing}})
    return json_response(_batch_body(results, errors, started_at), status=207 if errors else 200)


def _run_writes(
    sandbox: Sandbox,
    kind: ObjectType,
    inputs: list[dict[str, Any]],
    prefetch: Callable[[RecordWriter], None],
    write_one: Callable[[RecordWriter, dict[str, Any]], Written],
    success_status: int,
) -> Response:
    """Apply ``write_one`` to each input in one transaction, in whichever failure mode the inputs ask for.

    ``prefetch`` reads ahead what the whole batch needs, so the inputs are checked and applied in memory
    and stored together at the end; the answer is rendered from the written records once the write lock
    is released.
    """
    started_at = now_milliseconds()
    partial = bool(inputs) and all(item.get("objectWriteTraceId") for item in inputs)
    written: list[tuple[Written, dict[str, Any]]] = []
    errors: list[dict[str, Any]] = []
    with sandbox.store.transaction() as connection:
        writer = RecordWriter(connection, kind, sandbox.catalogue, sandbox.clock.milliseconds(), sandbox.changes)
        prefetch(writer)
        for item in inputs:
            try:
                written.append((write_one(writer, item), item))
            except HubSpotError as error:
                if not partial:
                    raise
                errors.append(_error_entry(error, str(item["objectWriteTraceId"])))
        writer.flush()
    results = [
        {**_with_trace(render_written_record(kind, writer.definitions, record), item), **extra}
        for (record, extra), item in written
    ]
    return json_response(_batch_body(results, errors, started_at), status=207 if errors else success_status)


def batch_create(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    kind = resolve_object_type(object_type)
    inputs = inputs_of(read_body(request, BATCH_CREATE), BATCH_LIMIT)

    def prefetch(writer: RecordWriter) -> None:
        writer.prefetch(
            properties=[item.get("properties") for item in inputs],
            associations=[item.get("associations") for item in inputs],
        )

    def create_one(writer: RecordWriter, item: dict[str, Any]) -> Written:
        return writer.create(item.get("properties"), item.get("associations")), {}

    return _run_writes(sandbox, kind, inputs, prefetch, create_one, success_status=201)


def _with_trace(body: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    if item.get("objectWriteTraceId"):
        body["objectWriteTraceId"] = str(item["objectWriteTraceId"])
    return body


def _current_record(writer: RecordWriter, kind: ObjectType, raw_id: str, id_property: Any) -> StoredRecord:
    record = writer.find(raw_id, id_property)
    if record is None:
        raise not_found(
            f"Could not find {kind.singular} {raw_id}: it may be deleted or not exist.", context={"ids": [raw_id]}
        )
    return record


def batch_update(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    kind = resolve_object_type(object_type)
    inputs = inputs_of(read_body(request, BATCH_UPDATE), BATCH_LIMIT)
    refuse_duplicate_ids([str(item.get("id", "")).strip().lower() for item in inputs])
    definitions = sandbox.catalogue.definitions(kind)
    for item in inputs:
        checked_id_property(item.get("idProperty"), definitions, kind)

    def prefetch(writer: RecordWriter) -> None:
        writer.prefetch(
            lookups=[(item.get("idProperty"), str(item.get("id", ""))) for item in inputs],
            properties=[item.get("properties") for item in inputs],
        )

    def update_one(writer: RecordWriter, item: dict[str, Any]) -> Written:
        record = _current_record(writer, kind, str(item.get("id", "")), item.get("idProperty"))
        return writer.update(record, item.get("properties") or {}), {}

    return _run_writes(sandbox, kind, inputs, prefetch, update_one, success_status=200)


def batch_upsert(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    """Create-or-update by a unique property (``idProperty``); each result says whether it was ``new``."""
    kind = resolve_object_type(object_type)
    inputs = inputs_of(read_body(request, BATCH_UPDATE), BATCH_LIMIT)
    unique = sandbox.catalogue.unique_properties(kind)
    for item in inputs:
        id_property = item.get("idProperty")
        if id_property not in unique:
            raise validation_error(
                f"idProperty {id_property!r} is not a unique property of {kind.name}; "
                f"upserts need one of: {sorted(unique)}."
            )
    refuse_duplicate_ids([str(item.get("id", "")).strip().lower() for item in inputs])

    def prefetch(writer: RecordWriter) -> None:
        writer.prefetch(
            lookups=[(item["idProperty"], str(item.get("id", ""))) for item in inputs],
            properties=[item.get("properties") for item in inputs],
        )

    def upsert_one(writer: RecordWriter, item: dict[str, Any]) -> Written:
        raw_id, id_property = str(item.get("id", "")), item["idProperty"]
        properties = dict(item.get("properties") or {})
        current = writer.find(raw_id, id_property)
        if current is None:
            properties[id_property] = raw_id
            record, new = writer.create(properties), True
        else:
            properties.pop(id_property, None)
            record, new = writer.update(current, properties), False
        return record, {"new": new}

    return _run_writes(sandbox, kind, inputs, prefetch, upsert_one, success_status=200)


def batch_archive(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    kind = resolve_object_type(object_type)
    inputs = inputs_of(read_body(request, BATCH_ARCHIVE), BATCH_LIMIT)
    raw_ids = [str(item.get("id", "")) for item in inputs]
    refuse_duplicate_ids(raw_ids)
    record_ids = [record_id for raw in raw_ids if (record_id := parse_record_id(raw)) is not None]
    with sandbox.store.transaction() as connection:
        sandbox.changes.archive(connection, kind, record_ids, sandbox.clock.milliseconds())
    return Response(status=204)
