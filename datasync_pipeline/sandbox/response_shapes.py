"""The JSON shape of every answer the sandbox serves, as machine-readable schemas, and a checker for them.

The CRM shapes are HubSpot's published OpenAPI components, by their names there (``SimplePublicObject``,
``BatchResponseSimplePublicObject``, ``CollectionResponseWithTotalSimplePublicObjectForwardPaging``, ``Property``,
``Pipeline``, ``PublicOwner``, v4's ``LabelsBetweenObjectPair`` ...), with the fields those specs mark required;
the OAuth shapes are the official client's ``TokenResponseIF`` and ``AccessTokenInfoResponse`` (hubspot-api-client
12); the ``/_sandbox/`` shapes are the sandbox's own. `ENDPOINT_SHAPES` gives, per route (HubSpot's v3/v4 path
template; the date-versioned paths answer the same), the success status and the shape of its body (None: no body).

Schemas are a small subset of JSON Schema (``type``, ``properties``, ``required``, ``items``, ``enum``, ``$ref``
to a name here), checked by `problems`: ``jsonschema`` is not a dependency of the project, and the subset is all
these shapes need.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": name}


def _object(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {"type": "object", "properties": {**required, **(optional or {})}, "required": sorted(required)}


def _list(item: Schema) -> Schema:
    return {"type": "array", "items": item}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
ANY_OBJECT: Schema = {"type": "object"}
BATCH_STATUS: Schema = {"type": "string", "enum": ["PENDING", "PROCESSING", "CANCELED", "COMPLETE"]}
ASSOCIATION_CATEGORY: Schema = {"type": "string", "enum": ["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"]}
PAGING: Schema = _object({}, {"next": _object({"after": STRING}, {"link": STRING})})


def _batch(result: Schema) -> Schema:
    return _object(
        {"status": BATCH_STATUS, "results": _list(result), "startedAt": STRING, "completedAt": STRING},
        {"requestedAt": STRING, "links": ANY_OBJECT, "numErrors": INTEGER, "errors": _list(ANY_OBJECT)},
    )


SHAPES: dict[str, Schema] = {
    "Error": _object(
        {"category": STRING, "correlationId": STRING, "message": STRING},
        {"status": STRING, "subCategory": STRING, "context": ANY_OBJECT, "links": ANY_OBJECT, "errors": _list(ANY_OBJECT)},
    ),
    "SimplePublicObject": _object(
        {"id": STRING, "properties": {"type": "object", "additionalProperties": NULLABLE_STRING},
         "createdAt": STRING, "updatedAt": STRING, "archived": BOOLEAN},
        {"archivedAt": STRING, "propertiesWithHistory": ANY_OBJECT, "associations": ANY_OBJECT},
    ),
    "SimplePublicUpsertObject": {"allOf": [_ref("SimplePublicObject"), _object({"new": BOOLEAN})]},
    "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging": _object(
        {"results": _list(_ref("SimplePublicObject"))}, {"paging": PAGING}),
    "CollectionResponseWithTotalSimplePublicObjectForwardPaging": _object(
        {"total": INTEGER, "results": _list(_ref("SimplePublicObject"))}, {"paging": PAGING}),
    "BatchResponseSimplePublicObject": _batch(_ref("SimplePublicObject")),
    "BatchResponseSimplePublicUpsertObject": _batch(_ref("SimplePublicUpsertObject")),
    "Option": _object({"label": STRING, "value": STRING}, {"description": STRING, "displayOrder": INTEGER, "hidden": BOOLEAN}),
    "Property": _object(
        {"name": STRING, "label": STRING, "type": STRING, "fieldType": STRING, "groupName": STRING,
         "options": _list(_ref("Option"))},
        {"description": STRING, "hasUniqueValue": BOOLEAN, "hidden": BOOLEAN, "hubspotDefined": BOOLEAN,
         "calculated": BOOLEAN, "modificationMetadata": ANY_OBJECT, "archived": BOOLEAN},
    ),
    "CollectionResponseProperty": _object({"results": _list(_ref("Property"))}),
    "PropertyGroup": _object({"name": STRING, "label": STRING, "displayOrder": INTEGER, "archived": BOOLEAN}),
    "CollectionResponsePropertyGroup": _object({"results": _list(_ref("PropertyGroup"))}),
    "PipelineStage": _object(
        {"id": STRING, "label": STRING, "displayOrder": INTEGER, "metadata": ANY_OBJECT, "createdAt": STRING,
         "updatedAt": STRING, "archived": BOOLEAN},
        {"archivedAt": STRING, "writePermissions": STRING},
    ),
    "Pipeline": _object(
        {"id": STRING, "label": STRING, "displayOrder": INTEGER, "stages": _list(_ref("PipelineStage")),
         "createdAt": STRING, "updatedAt": STRING, "archived": BOOLEAN},
        {"archivedAt": STRING},
    ),
    "CollectionResponsePipeline": _object({"results": _list(_ref("Pipeline"))}),
    "CollectionResponsePipelineStage": _object({"results": _list(_ref("PipelineStage"))}),
    "PublicOwner": _object(
        {"id": STRING, "type": STRING, "createdAt": STRING, "updatedAt": STRING, "archived": BOOLEAN},
        {"email": STRING, "firstName": STRING, "lastName": STRING, "userId": INTEGER,
         "userIdIncludingInactive": INTEGER, "teams": _list(ANY_OBJECT)},
    ),
    "CollectionResponsePublicOwnerForwardPaging": _object({"results": _list(_ref("PublicOwner"))}, {"paging": PAGING}),
    "AssociationSpecWithLabel": _object({"category": ASSOCIATION_CATEGORY, "typeId": INTEGER}, {"label": NULLABLE_STRING}),
    "CollectionResponseAssociationSpecWithLabelNoPaging": _object({"results": _list(_ref("AssociationSpecWithLabel"))}),
    "MultiAssociatedObjectWithLabel": _object(
        {"toObjectId": {"type": ["integer", "string"]}, "associationTypes": _list(_ref("AssociationSpecWithLabel"))}),
    "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging": _object(
        {"results": _list(_ref("MultiAssociatedObjectWithLabel"))}, {"paging": PAGING}),
    "BatchResponsePublicAssociationMultiWithLabel": _batch(
        _object({"from": _object({"id": STRING}), "to": _list(_ref("MultiAssociatedObjectWithLabel"))})),
    "LabelsBetweenObjectPair": _object(
        {"fromObjectTypeId": STRING, "fromObjectId": {"type": ["integer", "string"]}, "toObjectTypeId": STRING,
         "toObjectId": {"type": ["integer", "string"]}, "labels": _list(STRING)}),
    "BatchResponseLabelsBetweenObjectPair": _batch(_ref("LabelsBetweenObjectPair")),
    "PublicDefaultAssociation": _object(
        {"from": _object({"id": STRING}), "to": _object({"id": STRING}),
         "associationSpec": _object({"associationCategory": ASSOCIATION_CATEGORY, "associationTypeId": INTEGER})}),
    "BatchResponsePublicDefaultAssociation": _batch(_ref("PublicDefaultAssociation")),
    "TokenResponseIF": _object(
        {"access_token": STRING, "refresh_token": STRING, "token_type": STRING, "expires_in": INTEGER},
        {"id_token": STRING, "hub_id": INTEGER, "user_id": INTEGER, "scopes": _list(STRING), "token_use": STRING},
    ),
    "AccessTokenInfoResponse": _object(
        {"hub_id": INTEGER, "user_id": INTEGER, "scopes": _list(STRING), "token_type": STRING, "user": STRING,
         "hub_domain": STRING, "app_id": INTEGER, "expires_in": INTEGER, "token": STRING}),
    # The webhooks journal (2026-03): "Get the next local journal entry", "Create or update a subscription".
    "JournalFetchResponse": _object({"currentOffset": STRING, "expiresAt": STRING, "url": STRING}),
    "BatchResponseJournalFetchResponse": _batch(_ref("JournalFetchResponse")),
    "SubscriptionResponse": _object(
        {"actions": _list(STRING), "appId": INTEGER, "createdAt": STRING, "id": INTEGER, "objectTypeId": STRING,
         "subscriptionType": STRING, "updatedAt": STRING},
        {"associatedObjectTypeIds": _list(STRING), "createdBy": INTEGER, "deletedAt": STRING, "listIds": _list(INTEGER),
         "objectIds": _list(INTEGER), "portalId": INTEGER, "properties": _list(STRING), "actionOverrides": ANY_OBJECT},
    ),
    "SubscriptionListResponse": _object({"results": _list(_ref("SubscriptionResponse"))}),
    # What the sandbox's pre-signed journal links download (HubSpot's file format is not published; see journal.py).
    "SandboxJournalFile": _object({"offset": STRING, "occurredAt": INTEGER, "portalId": INTEGER, "appId": INTEGER,
                                   "events": _list(_object({"action": STRING, "objectTypeId": STRING, "objectId": INTEGER,
                                                            "occurredAt": INTEGER, "eventId": INTEGER, "subscriptionId": INTEGER}))}),
    # The sandbox's own control API.
    "SandboxSeeded": _object({"objectType": STRING, "ids": _list(STRING)}),
    "SandboxFaults": _object({"fault": ANY_OBJECT, "pending": _list(ANY_OBJECT)}),
    "SandboxStats": _object({"requestCounts": ANY_OBJECT, "pendingFaults": _list(ANY_OBJECT), "tier": STRING}),
    "SandboxCode": _object({"code": STRING}),
    "SandboxClock": _object({"advancedSeconds": {"type": ["integer", "number"]}}, {"now": STRING}),
    "SandboxSearchIndex": _object({"delayMs": INTEGER, "jitterMs": INTEGER, "seed": INTEGER, "held": _list(STRING),
                                   "pending": INTEGER}),
}

OBJECTS = "/crm/v3/objects/{objectType}"
RECORD_ASSOCIATIONS = "/crm/v4/objects/{objectType}/{objectId}/associations"
ASSOCIATION_BATCH = "/crm/v4/associations/{fromObjectType}/{toObjectType}"
PROPERTIES = "/crm/v3/properties/{objectType}"
PIPELINES = "/crm/v3/pipelines/{objectType}"
STAGES = PIPELINES + "/{pipelineId}/stages"

ENDPOINT_SHAPES: dict[tuple[str, str], tuple[int, str | None]] = {
    ("GET", OBJECTS): (200, "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"),
    ("POST", OBJECTS): (201, "SimplePublicObject"),
    ("GET", OBJECTS + "/{objectId}"): (200, "SimplePublicObject"),
    ("PATCH", OBJECTS + "/{objectId}"): (200, "SimplePublicObject"),
    ("DELETE", OBJECTS + "/{objectId}"): (204, None),
    ("POST", OBJECTS + "/search"): (200, "CollectionResponseWithTotalSimplePublicObjectForwardPaging"),
    ("POST", OBJECTS + "/gdpr-delete"): (204, None),
    ("POST", OBJECTS + "/merge"): (200, "SimplePublicObject"),
    ("POST", OBJECTS + "/batch/read"): (200, "BatchResponseSimplePublicObject"),
    ("POST", OBJECTS + "/batch/create"): (201, "BatchResponseSimplePublicObject"),
    ("POST", OBJECTS + "/batch/update"): (200, "BatchResponseSimplePublicObject"),
    ("POST", OBJECTS + "/batch/upsert"): (200, "BatchResponseSimplePublicUpsertObject"),
    ("POST", OBJECTS + "/batch/archive"): (204, None),
    ("GET", RECORD_ASSOCIATIONS + "/{toObjectType}"): (200, "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging"),
    ("PUT", RECORD_ASSOCIATIONS + "/default/{toObjectType}/{toObjectId}"): (200, "BatchResponsePublicDefaultAssociation"),
    ("PUT", RECORD_ASSOCIATIONS + "/{toObjectType}/{toObjectId}"): (201, "LabelsBetweenObjectPair"),
    ("DELETE", RECORD_ASSOCIATIONS + "/{toObjectType}/{toObjectId}"): (204, None),
    ("POST", ASSOCIATION_BATCH + "/batch/read"): (200, "BatchResponsePublicAssociationMultiWithLabel"),
    ("POST", ASSOCIATION_BATCH + "/batch/create"): (201, "BatchResponseLabelsBetweenObjectPair"),
    ("POST", ASSOCIATION_BATCH + "/batch/associate/default"): (200, "BatchResponsePublicDefaultAssociation"),
    ("POST", ASSOCIATION_BATCH + "/batch/archive"): (204, None),
    ("GET", ASSOCIATION_BATCH + "/labels"): (200, "CollectionResponseAssociationSpecWithLabelNoPaging"),
    ("POST", ASSOCIATION_BATCH + "/labels"): (200, "CollectionResponseAssociationSpecWithLabelNoPaging"),
    ("PUT", ASSOCIATION_BATCH + "/labels"): (204, None),
    ("DELETE", ASSOCIATION_BATCH + "/labels/{associationTypeId}"): (204, None),
    ("GET", PROPERTIES): (200, "CollectionResponseProperty"),
    ("POST", PROPERTIES): (201, "Property"),
    ("GET", PROPERTIES + "/groups"): (200, "CollectionResponsePropertyGroup"),
    ("POST", PROPERTIES + "/groups"): (201, "PropertyGroup"),
    ("GET", PROPERTIES + "/groups/{groupName}"): (200, "PropertyGroup"),
    ("GET", PROPERTIES + "/{propertyName}"): (200, "Property"),
    ("PATCH", PROPERTIES + "/{propertyName}"): (200, "Property"),
    ("DELETE", PROPERTIES + "/{propertyName}"): (204, None),
    ("GET", PIPELINES): (200, "CollectionResponsePipeline"),
    ("POST", PIPELINES): (201, "Pipeline"),
    ("GET", PIPELINES + "/{pipelineId}"): (200, "Pipeline"),
    ("PUT", PIPELINES + "/{pipelineId}"): (200, "Pipeline"),
    ("PATCH", PIPELINES + "/{pipelineId}"): (200, "Pipeline"),
    ("DELETE", PIPELINES + "/{pipelineId}"): (204, None),
    ("GET", STAGES): (200, "CollectionResponsePipelineStage"),
    ("POST", STAGES): (201, "PipelineStage"),
    ("GET", STAGES + "/{stageId}"): (200, "PipelineStage"),
    ("PUT", STAGES + "/{stageId}"): (200, "PipelineStage"),
    ("PATCH", STAGES + "/{stageId}"): (200, "PipelineStage"),
    ("DELETE", STAGES + "/{stageId}"): (204, None),
    ("GET", "/crm/v3/owners"): (200, "CollectionResponsePublicOwnerForwardPaging"),
    ("GET", "/crm/v3/owners/{ownerId}"): (200, "PublicOwner"),
    ("POST", "/oauth/v1/token"): (200, "TokenResponseIF"),
    ("POST", "/oauth/v3/token"): (200, "TokenResponseIF"),
    ("GET", "/oauth/v1/access-tokens/{token}"): (200, "AccessTokenInfoResponse"),
    ("POST", "/_sandbox/seed"): (201, "SandboxSeeded"),
    ("POST", "/_sandbox/owners"): (201, "PublicOwner"),
    ("POST", "/_sandbox/faults"): (201, "SandboxFaults"),
    ("DELETE", "/_sandbox/faults"): (204, None),
    ("GET", "/_sandbox/stats"): (200, "SandboxStats"),
    ("POST", "/_sandbox/oauth/authorize"): (201, "SandboxCode"),
    ("POST", "/_sandbox/clock"): (200, "SandboxClock"),
    ("GET", "/_sandbox/search-index"): (200, "SandboxSearchIndex"),
    ("POST", "/_sandbox/search-index"): (200, "SandboxSearchIndex"),
    ("POST", "/webhooks-journal/subscriptions/2026-03"): (200, "SubscriptionResponse"),
    ("GET", "/webhooks-journal/subscriptions/2026-03"): (200, "SubscriptionListResponse"),
    ("DELETE", "/webhooks-journal/subscriptions/2026-03/portals/{portalId}"): (204, None),
    ("GET", "/webhooks-journal/files/{offset}"): (200, "SandboxJournalFile"),
}
for _journal in ("/webhooks-journal/journal/2026-03", "/webhooks-journal/journal-local/2026-03"):
    ENDPOINT_SHAPES.update({
        ("GET", _journal + "/earliest"): (200, "JournalFetchResponse"),
        ("GET", _journal + "/latest"): (200, "JournalFetchResponse"),
        ("GET", _journal + "/offset/{offset}/next"): (200, "JournalFetchResponse"),
        ("GET", _journal + "/batch/earliest/{count}"): (200, "BatchResponseJournalFetchResponse"),
        ("GET", _journal + "/batch/latest/{count}"): (200, "BatchResponseJournalFetchResponse"),
        ("POST", _journal + "/batch/read"): (200, "BatchResponseJournalFetchResponse"),
    })

_VERSIONED = (
    ("/crm/objects/2026-03/{objectType}/{objectId}/associations", "/crm/v4/objects/{objectType}/{objectId}/associations"),
    ("/crm/objects/2026-03", "/crm/v3/objects"),
    ("/crm/associations/2026-03", "/crm/v4/associations"),
    ("/crm/properties/2026-03", "/crm/v3/properties"),
    ("/crm/pipelines/2026-03", "/crm/v3/pipelines"),
)


def canonical_template(template: str) -> str:
    """A date-versioned path template as its v3/v4 twin, which answers the same shapes."""
    for versioned, classic in _VERSIONED:
        if template.startswith(versioned):
            return classic + template[len(versioned):]
    return template


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,), "null": (type(None),),
    "integer": (int,), "number": (int, float),
}


def problems(instance: Any, schema: Schema | str, where: str = "$") -> list[str]:
    """Where `instance` departs from `schema` (a schema or a name in `SHAPES`); empty when it conforms."""
    if isinstance(schema, str):
        schema = SHAPES[schema]
    if "$ref" in schema:
        return problems(instance, SHAPES[schema["$ref"]], where)
    if "allOf" in schema:
        return [problem for part in schema["allOf"] for problem in problems(instance, part, where)]
    found: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        is_bool = isinstance(instance, bool)
        if not any(isinstance(instance, _JSON_TYPES[name]) and (name == "boolean" or not is_bool) for name in names):
            return [f"{where}: expected {' or '.join(names)}, got {type(instance).__name__}"]
    if "enum" in schema and instance not in schema["enum"]:
        found.append(f"{where}: {instance!r} is not one of {schema['enum']}")
    if isinstance(instance, dict):
        found += [f"{where}: missing {name!r}" for name in schema.get("required", []) if name not in instance]
        for name, value in instance.items():
            if name in schema.get("properties", {}):
                found += problems(value, schema["properties"][name], f"{where}.{name}")
            elif "additionalProperties" in schema:
                found += problems(value, schema["additionalProperties"], f"{where}.{name}")
    if isinstance(instance, list) and "items" in schema:
        for index, item in enumerate(instance):
            found += problems(item, schema["items"], f"{where}[{index}]")
    return found
