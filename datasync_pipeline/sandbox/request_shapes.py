"""The JSON shape of every request body the sandbox accepts, checked before any handler reads it.

HubSpot reads a body into typed classes first (its published OpenAPI schemas: ``SimplePublicObjectInputForCreate``,
``PublicObjectSearchRequest``, ``BatchInputPublicAssociationMultiPost`` ...) and answers any value of the wrong
kind with a 400 ``VALIDATION_ERROR`` whose message starts ``Invalid input JSON``, before the endpoint runs. A
string where an object belongs, a list of strings where a list of objects belongs, a number where a list
belongs: each is that 400, never a 500. Scalars are coerced as HubSpot's deserializer does: a string field
takes numbers and booleans too (property values ``1`` and ``true`` are stored as ``"1"`` and ``"true"``), an
integer field takes a numeric string, but an object or a list is never a string.

``null`` stands for a missing field, as it does in HubSpot's classes; unknown fields are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from datasync_pipeline.sandbox.errors import validation_error

_JSON_KIND = {dict: "Object value", list: "Array value", str: "String value", bool: "Boolean value",
              int: "Integer value", float: "Floating-point value"}


def _refuse(expected: str, value: Any, where: str) -> None:
    found = _JSON_KIND.get(type(value), "value")
    raise validation_error(
        f"Invalid input JSON: Cannot deserialize value of type `{expected}` from {found} at {where or 'the body'}",
        context={"path": [where or "$"]},
    )


class Shape:
    expected = "value"

    def check(self, value: Any, where: str) -> None:
        raise NotImplementedError


class Text(Shape):
    """A string field: strings, numbers and booleans are accepted (and read as text); objects and lists are not."""

    expected = "java.lang.String"

    def check(self, value: Any, where: str) -> None:
        if value is not None and not isinstance(value, str | int | float | bool):
            _refuse(self.expected, value, where)


class Integer(Shape):
    expected = "int"

    def check(self, value: Any, where: str) -> None:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return
        _refuse(self.expected, value, where)


class Boolean(Shape):
    expected = "boolean"

    def check(self, value: Any, where: str) -> None:
        if value is None or isinstance(value, bool) or (isinstance(value, str) and value.lower() in {"true", "false"}):
            return
        _refuse(self.expected, value, where)


@dataclass
class OneOf(Shape):
    """An enumeration: one of a fixed set of strings."""

    values: frozenset[str]
    expected: str = "enum"

    def check(self, value: Any, where: str) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            _refuse(self.expected, value, where)
        if value not in self.values:
            raise validation_error(
                f"Invalid input JSON: Cannot deserialize value of type `{self.expected}` from String \"{value}\" at "
                f"{where}: not one of the values accepted for Enum class: [{', '.join(sorted(self.values))}]"
            )


@dataclass
class ListOf(Shape):
    item: Shape
    expected: str = "java.util.ArrayList"

    def check(self, value: Any, where: str) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            _refuse(self.expected, value, where)
        for index, item in enumerate(value):
            if item is None:
                raise validation_error(f"Invalid input JSON: null is not allowed at {where}[{index}]")
            self.item.check(item, f"{where}[{index}]")


@dataclass
class MapOf(Shape):
    """An object with free keys (a record's ``properties``): every value of one shape."""

    value_shape: Shape
    expected: str = "java.util.LinkedHashMap"

    def check(self, value: Any, where: str) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            _refuse(self.expected, value, where)
        for key, item in value.items():
            self.value_shape.check(item, f"{where}.{key}" if where else key)


@dataclass
class Fields(Shape):
    """An object with known fields; ``required`` ones must be present and not null."""

    fields: dict[str, Shape]
    required: Iterable[str] = ()
    expected: str = "object"

    def check(self, value: Any, where: str) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            _refuse(self.expected, value, where)
        for name in self.required:
            if value.get(name) is None:
                path = f"{where}.{name}" if where else name
                raise validation_error(f"Invalid input JSON: the field '{path}' is required.", context={"path": [path]})
        for name, shape in self.fields.items():
            if name in value:
                shape.check(value[name], f"{where}.{name}" if where else name)


@dataclass
class TextOrFields(Shape):
    """A search sort: ``"-createdate"`` or ``{propertyName, direction}`` (the sandbox takes both forms)."""

    fields: Fields = field(default_factory=lambda: Fields({}))

    def check(self, value: Any, where: str) -> None:
        if isinstance(value, str):
            return
        self.fields.check(value, where)


def check_body(shape: Shape, body: Any) -> None:
    """Raise HubSpot's 400 when ``body`` does not have ``shape``."""
    shape.check(body, "")


CATEGORIES = frozenset({"HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"})
TEXT, INTEGER, BOOLEAN = Text(), Integer(), Boolean()
TEXTS = ListOf(TEXT)
PROPERTY_VALUES = MapOf(TEXT)
OBJECT_ID = Fields({"id": TEXT})
ASSOCIATION_SPEC = Fields({"associationCategory": OneOf(CATEGORIES, "AssociationCategory"), "associationTypeId": INTEGER})
CREATE_ASSOCIATION = Fields({"to": OBJECT_ID, "types": ListOf(ASSOCIATION_SPEC)})

OBJECT_CREATE = Fields({"properties": PROPERTY_VALUES, "associations": ListOf(CREATE_ASSOCIATION), "objectWriteTraceId": TEXT})
OBJECT_UPDATE = Fields({"properties": PROPERTY_VALUES, "objectWriteTraceId": TEXT})
BATCH_READ = Fields({
    "properties": TEXTS, "propertiesWithHistory": TEXTS, "idProperty": TEXT, "inputs": ListOf(Fields({"id": TEXT})),
})
BATCH_CREATE = Fields({"inputs": ListOf(OBJECT_CREATE)})
BATCH_UPDATE = Fields({"inputs": ListOf(Fields({
    "id": TEXT, "idProperty": TEXT, "properties": PROPERTY_VALUES, "objectWriteTraceId": TEXT,
}))})
BATCH_ARCHIVE = Fields({"inputs": ListOf(OBJECT_ID)})
GDPR_DELETE = Fields({"objectId": TEXT, "idProperty": TEXT})
SEARCH = Fields({
    "filterGroups": ListOf(Fields({"filters": ListOf(Fields({
        "propertyName": TEXT, "operator": TEXT, "value": TEXT, "highValue": TEXT, "values": TEXTS,
    }))})),
    "sorts": ListOf(TextOrFields(Fields({"propertyName": TEXT, "direction": TEXT}))),
    "properties": TEXTS,
    "limit": INTEGER,
    "after": TEXT,
    "query": TEXT,
})

ASSOCIATIONS_BATCH_READ = Fields({"inputs": ListOf(Fields({"id": TEXT, "after": TEXT}))})
ASSOCIATIONS_BATCH_CREATE = Fields({"inputs": ListOf(Fields({
    "from": OBJECT_ID, "to": OBJECT_ID, "types": ListOf(ASSOCIATION_SPEC),
}))})
ASSOCIATIONS_BATCH_DEFAULT = Fields({"inputs": ListOf(Fields({"from": OBJECT_ID, "to": OBJECT_ID}))})
ASSOCIATIONS_BATCH_ARCHIVE = Fields({"inputs": ListOf(Fields({"from": OBJECT_ID, "to": ListOf(OBJECT_ID)}))})

LABEL_CREATE = Fields({"label": TEXT, "name": TEXT, "inverseLabel": TEXT})
LABEL_UPDATE = Fields({"associationTypeId": INTEGER, "label": TEXT, "inverseLabel": TEXT})
LABELED_ASSOCIATION = ListOf(ASSOCIATION_SPEC)
PIPELINE_STAGE = Fields({"id": TEXT, "label": TEXT, "displayOrder": INTEGER, "metadata": MapOf(TEXT)})
PIPELINE = Fields({"id": TEXT, "label": TEXT, "displayOrder": INTEGER, "stages": ListOf(PIPELINE_STAGE)})
PROPERTY_GROUP = Fields({"name": TEXT, "label": TEXT, "displayOrder": INTEGER})
PROPERTY_OPTION = Fields({"label": TEXT, "value": TEXT, "description": TEXT, "displayOrder": INTEGER, "hidden": BOOLEAN})
PROPERTY_CREATE = Fields({
    "name": TEXT, "label": TEXT, "type": TEXT, "fieldType": TEXT, "groupName": TEXT, "description": TEXT,
    "options": ListOf(PROPERTY_OPTION), "displayOrder": INTEGER, "hasUniqueValue": BOOLEAN, "hidden": BOOLEAN,
    "formField": BOOLEAN, "calculationFormula": TEXT, "externalOptions": BOOLEAN, "referencedObjectType": TEXT,
})

MERGE = Fields({"primaryObjectId": TEXT, "objectIdToMerge": TEXT}, required=("primaryObjectId", "objectIdToMerge"))
JOURNAL_BATCH_READ = Fields({"inputs": TEXTS})
JOURNAL_SUBSCRIPTION = Fields({
    "subscriptionType": TEXT, "portalId": INTEGER, "actions": TEXTS, "objectTypeId": TEXT, "objectIds": ListOf(INTEGER),
    "properties": TEXTS, "associatedObjectTypeIds": TEXTS,
})
SEARCH_INDEX_CONTROL = Fields({"delayMs": INTEGER, "jitterMs": INTEGER, "seed": INTEGER, "hold": TEXTS, "release": TEXTS})
