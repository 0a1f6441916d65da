"""The properties API: an object type's property definitions (list, read, create, update, archive) and groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox.errors import json_response, not_found
from datasync_pipeline.sandbox.http_input import read_body, resolve_object_type
from datasync_pipeline.sandbox.request_shapes import PROPERTY_CREATE, PROPERTY_GROUP

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox


def list_properties(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    """All definitions at once: HubSpot does not page this endpoint."""
    kind = resolve_object_type(object_type)
    definitions = sandbox.catalogue.definitions(kind).values()
    return json_response({"results": [definition.to_json() for definition in definitions]})


def get_property(sandbox: Sandbox, request: Request, object_type: str, property_name: str) -> Response:
    kind = resolve_object_type(object_type)
    definition = sandbox.catalogue.definitions(kind).get(property_name)
    if definition is None:
        raise not_found(f"Unable to find property {property_name} for object type {kind.name}.")
    return json_response(definition.to_json())


def create_property(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    kind = resolve_object_type(object_type)
    definition = sandbox.catalogue.create(kind, read_body(request, PROPERTY_CREATE))
    return json_response(definition.to_json(), status=201)


def update_property(sandbox: Sandbox, request: Request, object_type: str, property_name: str) -> Response:
    kind = resolve_object_type(object_type)
    definition = sandbox.catalogue.update(kind, property_name, read_body(request, PROPERTY_CREATE))
    return json_response(definition.to_json())


def archive_property(sandbox: Sandbox, request: Request, object_type: str, property_name: str) -> Response:
    sandbox.catalogue.archive(resolve_object_type(object_type), property_name)
    return Response(status=204)


def list_groups(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    """``GET /crm/v3/properties/{objectType}/groups``: ``{results: [{name, label, displayOrder, archived}]}``."""
    return json_response({"results": sandbox.catalogue.groups(resolve_object_type(object_type))})


def get_group(sandbox: Sandbox, request: Request, object_type: str, group_name: str) -> Response:
    kind = resolve_object_type(object_type)
    for group in sandbox.catalogue.groups(kind):
        if group["name"] == group_name:
            return json_response(group)
    raise not_found(f"Unable to find property group {group_name} for object type {kind.name}.")


def create_group(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    group = sandbox.catalogue.create_group(resolve_object_type(object_type), read_body(request, PROPERTY_GROUP))
    return json_response(group, status=201)
