"""The v4 association endpoints: list one record's links, and batch read / create / default / archive.

Shapes follow HubSpot: a link is ``{toObjectId, associationTypes: [{category, typeId, label}]}``, with
``label`` null for unlabeled links and "Primary" for primary ones.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.association_links import Link, add_link, links_from, remove_links
from datasync_pipeline.sandbox.association_labels import labeled_link
from datasync_pipeline.sandbox.association_types import HUBSPOT_DEFINED, pair_for, type_label
from datasync_pipeline.sandbox.errors import HubSpotError, json_response, validation_error
from datasync_pipeline.sandbox.http_input import (
    inputs_of,
    parse_record_id,
    query_int,
    read_body,
    read_json,
    resolve_object_type,
)
from datasync_pipeline.sandbox.request_shapes import (
    ASSOCIATIONS_BATCH_ARCHIVE,
    ASSOCIATIONS_BATCH_CREATE,
    ASSOCIATIONS_BATCH_DEFAULT,
    ASSOCIATIONS_BATCH_READ,
    LABELED_ASSOCIATION,
    check_body,
)
from datasync_pipeline.sandbox.object_types import ObjectType
from datasync_pipeline.sandbox.timestamps import now_milliseconds, to_iso

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox

MAX_LIST_LIMIT = 500
BATCH_READ_LIMIT = 1_000
BATCH_WRITE_LIMIT = 2_000


def _grouped_targets(from_type: ObjectType, to_type: ObjectType, links: list[Link]) -> dict[int, list[dict[str, Any]]]:
    """Links of each source record, grouped by target: ``{from_id: [{toObjectId, associationTypes}]}``."""
    grouped: dict[int, dict[int, list[dict[str, Any]]]] = defaultdict(dict)
    for link in links:
        types = grouped[link.from_id].setdefault(link.to_id, [])
        types.append({
            "category": link.category,
            "typeId": link.type_id,
            "label": type_label(from_type.name, to_type.name, link.category, link.type_id, link.label),
        })
    return {
        from_id: [{"toObjectId": to_id, "associationTypes": types} for to_id, types in targets.items()]
        for from_id, targets in grouped.items()
    }


def list_associations(
    sandbox: Sandbox, request: Request, object_type: str, object_id: str, to_object_type: str
) -> Response:
    from_type, to_type = resolve_object_type(object_type), resolve_object_type(to_object_type)
    limit = min(max(query_int(request, "limit", MAX_LIST_LIMIT), 1), MAX_LIST_LIMIT)
    after = parse_record_id(request.args.get("after", "0")) or 0
    record_id = parse_record_id(object_id)
    if record_id is None:
        raise validation_error(f"Object id {object_id!r} is not a valid id.")
    with sandbox.store.reading() as connection:
        links = links_from(connection, [record_id], to_type.name, after_to_id=after, limit=limit + 1)
    targets = _grouped_targets(from_type, to_type, links).get(record_id, [])
    body: dict[str, Any] = {"results": targets[:limit]}
    if len(targets) > limit:
        next_after = str(targets[limit]["toObjectId"])
        body["paging"] = {"next": {"after": next_after, "link": f"{request.base_url}?after={next_after}"}}
    return json_response(body)


def batch_read(sandbox: Sandbox, request: Request, from_object_type: str, to_object_type: str) -> Response:
    """Links of up to 1,000 records; records without any come back as NO_ASSOCIATIONS_FOUND errors (207)."""
    from_type, to_type = resolve_object_type(from_object_type), resolve_object_type(to_object_type)
    inputs = inputs_of(read_body(request, ASSOCIATIONS_BATCH_READ), BATCH_READ_LIMIT)
    started_at = now_milliseconds()
    raw_ids = [str(item.get("id", "")) for item in inputs]
    ids = [record_id for raw in raw_ids if (record_id := parse_record_id(raw)) is not None]
    with sandbox.store.reading() as connection:
        grouped = _grouped_targets(from_type, to_type, links_from(connection, ids, to_type.name))
    results, errors = [], []
    for raw in dict.fromkeys(raw_ids):
        record_id = parse_record_id(raw)
        if record_id in grouped:
            results.append({"from": {"id": raw}, "to": grouped[record_id]})
        else:
            errors.append({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                "message": f"No {to_type.singular.lower()} is associated with {from_type.singular.lower()} {raw}.",
                "context": {"fromObjectId": [raw]},
            })
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body["startedAt"], body["completedAt"] = to_iso(started_at), to_iso(now_milliseconds())
    return json_response(body, status=207 if errors else 200)


def _endpoint_ids(sandbox: Sandbox, from_type: ObjectType, to_type: ObjectType, pairs: list[tuple[Any, Any]]) -> list[tuple[int, int]]:
    """Check that both ends of every link exist, and return them as numeric ids."""
    parsed = [(parse_record_id(source), parse_record_id(target)) for source, target in pairs]
    with sandbox.store.reading() as connection:
        sources = store.fetch_records(connection, from_type.name, {s for s, _ in parsed if s is not None})
        targets = store.fetch_records(connection, to_type.name, {t for _, t in parsed if t is not None})
    missing = [
        str(raw_source if source not in sources else raw_target)
        for (raw_source, raw_target), (source, target) in zip(pairs, parsed, strict=True)
        if source not in sources or target not in targets
    ]
    if missing:
        raise validation_error(
            f"Could not associate: these {from_type.name}/{to_type.name} ids do not exist: {missing}",
            context={"ids": missing},
        )
    return [(source, target) for source, target in parsed]  # type: ignore[misc]


def batch_create(sandbox: Sandbox, request: Request, from_object_type: str, to_object_type: str) -> Response:
    from_type, to_type = resolve_object_type(from_object_type), resolve_object_type(to_object_type)
    inputs = inputs_of(read_body(request, ASSOCIATIONS_BATCH_CREATE), BATCH_WRITE_LIMIT)
    started_at = now_milliseconds()
    ids = _endpoint_ids(
        sandbox, from_type, to_type, [((item.get("from") or {}).get("id"), (item.get("to") or {}).get("id")) for item in inputs]
    )
    links: list[Link] = []
    links_per_input: list[list[Link]] = []
    for item, (source, target) in zip(inputs, ids, strict=True):
        links_per_input.append([])
        for association_type in item.get("types") or []:
            category = association_type.get("associationCategory", HUBSPOT_DEFINED)
            type_id = association_type.get("associationTypeId")
            if not sandbox.labels.is_known(from_type.name, to_type.name, category, type_id):
                raise validation_error(
                    f"{category} association type {type_id} does not exist between {from_type.name} and {to_type.name}."
                )
            links.append(labeled_link(sandbox.labels, from_type.name, source, to_type.name, target, category, type_id))
            links_per_input[-1].append(links[-1])
        if not item.get("types"):
            raise validation_error("Every input needs at least one association type in 'types'.")
    with sandbox.store.transaction() as connection:
        for link in links:
            add_link(connection, link)
        sandbox.changes.links_changed(connection, added=links)
    # Each result is a LabelsBetweenObjectPair, as HubSpot's v4 reference answers: the labels of the types just
    # created for that pair (a label of each labeled type; unlabeled types add none).
    results = [
        {"fromObjectTypeId": from_type.type_id, "fromObjectId": source, "toObjectTypeId": to_type.type_id,
         "toObjectId": target, "labels": _labels_of(from_type.name, to_type.name, created)}
        for (source, target), created in zip(ids, links_per_input, strict=True)
    ]
    body = {"status": "COMPLETE", "results": results, "startedAt": to_iso(started_at), "completedAt": to_iso(now_milliseconds())}
    return json_response(body, status=201)


def batch_associate_default(sandbox: Sandbox, request: Request, from_object_type: str, to_object_type: str) -> Response:
    """Link with the pair's default (unlabeled) type: ``{inputs: [{from: {id}, to: {id}}]}``."""
    from_type, to_type = resolve_object_type(from_object_type), resolve_object_type(to_object_type)
    pair = pair_for(from_type.name, to_type.name)
    if pair is None:
        raise validation_error(f"There is no default association between {from_type.name} and {to_type.name}.")
    inputs = inputs_of(read_body(request, ASSOCIATIONS_BATCH_DEFAULT), BATCH_WRITE_LIMIT)
    started_at = now_milliseconds()
    ids = _endpoint_ids(
        sandbox, from_type, to_type, [((item.get("from") or {}).get("id"), (item.get("to") or {}).get("id")) for item in inputs]
    )
    default_links = [Link(from_type.name, source, to_type.name, target, HUBSPOT_DEFINED, pair.unlabeled) for source, target in ids]
    with sandbox.store.transaction() as connection:
        for link in default_links:
            add_link(connection, link)
        sandbox.changes.links_changed(connection, added=default_links)
    results = [
        {"from": {"id": str(source)}, "to": {"id": str(target)},
         "associationSpec": {"associationCategory": HUBSPOT_DEFINED, "associationTypeId": pair.unlabeled}}
        for source, target in ids
    ]
    body = {"status": "COMPLETE", "results": results, "startedAt": to_iso(started_at), "completedAt": to_iso(now_milliseconds())}
    return json_response(body)


def batch_archive(sandbox: Sandbox, request: Request, from_object_type: str, to_object_type: str) -> Response:
    """Remove every link between each ``from`` and its listed ``to`` records: ``{inputs: [{from: {id}, to: [{id}]}]}``."""
    from_type, to_type = resolve_object_type(from_object_type), resolve_object_type(to_object_type)
    inputs = inputs_of(read_body(request, ASSOCIATIONS_BATCH_ARCHIVE), BATCH_WRITE_LIMIT)
    with sandbox.store.transaction() as connection:
        for item in inputs:
            source = parse_record_id((item.get("from") or {}).get("id"))
            targets = item.get("to") or []
            if isinstance(targets, dict):
                targets = [targets]
            target_ids = [target_id for target in targets if (target_id := parse_record_id((target or {}).get("id"))) is not None]
            if source is not None:
                removed = _existing_links(connection, from_type, source, to_type, target_ids)
                remove_links(connection, from_type.name, source, to_type.name, target_ids)
                sandbox.changes.links_changed(connection, removed=removed)
    return Response(status=204)


def put_default_association(
    sandbox: Sandbox, request: Request, object_type: str, object_id: str, to_object_type: str, to_object_id: str
) -> Response:
    """``PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}``: one default link.

    HubSpot answers ``BatchResponsePublicDefaultAssociation``: ``results: [{from: {id}, to: {id},
    associationSpec: {associationCategory, associationTypeId}}]`` (the official client's ``create_default``).
    """
    from_type, to_type = resolve_object_type(object_type), resolve_object_type(to_object_type)
    pair = pair_for(from_type.name, to_type.name)
    if pair is None:
        raise validation_error(f"There is no default association between {from_type.name} and {to_type.name}.")
    [(source, target)] = _endpoint_ids(sandbox, from_type, to_type, [(object_id, to_object_id)])
    link = Link(from_type.name, source, to_type.name, target, HUBSPOT_DEFINED, pair.unlabeled)
    with sandbox.store.transaction() as connection:
        add_link(connection, link)
        sandbox.changes.links_changed(connection, added=[link])
    result = {"from": {"id": str(source)}, "to": {"id": str(target)},
              "associationSpec": {"associationCategory": HUBSPOT_DEFINED, "associationTypeId": pair.unlabeled}}
    return json_response({"status": "COMPLETE", "results": [result], "startedAt": to_iso(now_milliseconds()),
                          "completedAt": to_iso(now_milliseconds())})


def put_labeled_association(
    sandbox: Sandbox, request: Request, object_type: str, object_id: str, to_object_type: str, to_object_id: str
) -> Response:
    """``PUT /crm/v4/objects/{from}/{id}/associations/{to}/{toId}`` with ``[{associationCategory, associationTypeId}]``.

    Links two records with the listed types (labels among them) and answers 201 with
    ``{fromObjectTypeId, fromObjectId, toObjectTypeId, toObjectId, labels}`` (``LabelsBetweenObjectPair``).
    """
    from_type, to_type = resolve_object_type(object_type), resolve_object_type(to_object_type)
    specs = read_json(request)
    check_body(LABELED_ASSOCIATION, specs)
    if not specs:
        raise validation_error("List at least one association type to create.")
    [(source, target)] = _endpoint_ids(sandbox, from_type, to_type, [(object_id, to_object_id)])
    links = []
    for spec in specs:
        category = spec.get("associationCategory") or HUBSPOT_DEFINED
        type_id = spec.get("associationTypeId")
        if not sandbox.labels.is_known(from_type.name, to_type.name, category, type_id):
            raise validation_error(
                f"{category} association type {type_id} does not exist between {from_type.name} and {to_type.name}."
            )
        links.append(labeled_link(sandbox.labels, from_type.name, source, to_type.name, target, category, type_id))
    with sandbox.store.transaction() as connection:
        for link in links:
            add_link(connection, link)
        sandbox.changes.links_changed(connection, added=links)
    return json_response({"fromObjectTypeId": from_type.type_id, "fromObjectId": source, "toObjectTypeId": to_type.type_id,
                          "toObjectId": target, "labels": _labels_of(from_type.name, to_type.name, links)}, status=201)


def _labels_of(from_type: str, to_type: str, links: list[Link]) -> list[str]:
    """The labels of these links' types, in order, once each (unlabeled types have none)."""
    labels: list[str] = []
    for link in links:
        label = type_label(from_type, to_type, link.category, link.type_id, link.label)
        if label is not None and label not in labels:
            labels.append(label)
    return labels


def delete_association(
    sandbox: Sandbox, request: Request, object_type: str, object_id: str, to_object_type: str, to_object_id: str
) -> Response:
    from_type, to_type = resolve_object_type(object_type), resolve_object_type(to_object_type)
    source, target = parse_record_id(object_id), parse_record_id(to_object_id)
    if source is None or target is None:
        raise HubSpotError(400, "VALIDATION_ERROR", "Association ids must be numeric.")
    with sandbox.store.transaction() as connection:
        removed = _existing_links(connection, from_type, source, to_type, [target])
        remove_links(connection, from_type.name, source, to_type.name, [target])
        sandbox.changes.links_changed(connection, removed=removed)
    return Response(status=204)


def _existing_links(connection: Any, from_type: ObjectType, source: int, to_type: ObjectType, targets: list[int]) -> list[Link]:
    """The links between one record and some others, read before they are removed (for the journal)."""
    wanted = set(targets)
    return [link for link in links_from(connection, [source], to_type.name) if link.to_id in wanted]
