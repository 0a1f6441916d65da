"""Reading what a request asks for: JSON bodies, list-valued query parameters, object types and ids.

Malformed input gets HubSpot's 400 VALIDATION_ERROR with a message naming the problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request

from datasync_pipeline.sandbox.errors import HubSpotError, validation_error
from datasync_pipeline.sandbox.object_types import ObjectType, find_object_type
from datasync_pipeline.sandbox.request_shapes import Shape, check_body


def read_json(request: Request) -> Any:
    raw = request.get_data(as_text=True)
    if not raw.strip():
        raise validation_error("Invalid input JSON: the request body is empty.")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as problem:
        raise validation_error(
            f"Invalid input JSON on line {problem.lineno}, column {problem.colno}: {problem.msg}"
        ) from problem


def read_json_object(request: Request) -> dict[str, Any]:
    body = read_json(request)
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected an object at the top level.")
    return body


def read_body(request: Request, shape: Shape) -> dict[str, Any]:
    """A JSON object body of the given shape (see ``request_shapes``), or HubSpot's 400."""
    body = read_json_object(request)
    check_body(shape, body)
    return body


def query_list(request: Request, name: str) -> list[str] | None:
    """A list parameter given as ``a,b`` or repeated (``?p=a&p=b``, as HubSpot's clients send it)."""
    values = request.args.getlist(name)
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def query_bool(request: Request, name: str) -> bool:
    return request.args.get(name, "false").strip().lower() == "true"


def query_int(request: Request, name: str, default: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as problem:
        raise validation_error(f"Query parameter {name}={value!r} is not an integer.") from problem


def resolve_object_type(name: str) -> ObjectType:
    object_type = find_object_type(name)
    if object_type is None:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")
    return object_type


MAX_RECORD_ID = 2**63 - 1


def parse_record_id(value: Any) -> int | None:
    """Record ids are numeric strings (numbers accepted too) that fit HubSpot's 64-bit ids; anything else names no record."""
    text = str(value).strip() if value is not None and not isinstance(value, dict | list | bool) else ""
    if not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if number <= MAX_RECORD_ID else None


def checked_id_property(value: Any, known: Iterable[str], object_type: ObjectType) -> str | None:
    """An ``idProperty`` as given, refused with a 400 unless it names a property of the object type.

    HubSpot looks records up by any property it knows (``hs_object_id`` by default); an unknown name is a
    validation error, never an empty answer.
    """
    if value is None or value == "":
        return None
    name = str(value)
    if name not in known:
        raise validation_error(
            f"idProperty {name!r} is not a property of {object_type.name}.", context={"idProperty": [name]}
        )
    return name


def inputs_of(body: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """The ``inputs`` of a batch body, refused past HubSpot's per-batch limit."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise validation_error("Invalid input JSON: 'inputs' must be a list.")
    if len(inputs) > limit:
        raise validation_error(
            f"Batch input limit exceeded: received {len(inputs)} inputs, the limit is {limit}.",
            context={"limit": [str(limit)], "received": [str(len(inputs))]},
        )
    for item in inputs:
        if not isinstance(item, dict):
            raise validation_error("Invalid input JSON: every input must be an object.")
    return inputs


def refuse_duplicate_ids(ids: list[str]) -> None:
    seen: set[str] = set()
    duplicates = []
    for value in ids:
        if value in seen and value not in duplicates:
            duplicates.append(value)
        seen.add(value)
    if duplicates:
        raise validation_error(
            f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique",
            context={"ids": duplicates},
        )
