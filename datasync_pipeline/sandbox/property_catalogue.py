"""Which properties exist per object type: HubSpot's defaults plus the custom ones created through the API.

Custom definitions live in the store so they survive restarts; they are cached here because every read
and write consults the catalogue.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.errors import HubSpotError, validation_error
from datasync_pipeline.sandbox.object_types import OBJECT_TYPES, ObjectType
from datasync_pipeline.sandbox.property_definitions import (
    DEFAULT_PROPERTIES,
    FIELD_TYPES,
    PROPERTY_TYPES,
    PropertyDefinition,
)
from datasync_pipeline.sandbox.timestamps import now_milliseconds, to_iso

_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PropertyCatalogue:
    def __init__(self, record_store: store.Store) -> None:
        self._store = record_store
        self._lock = threading.Lock()
        self._definitions: dict[str, dict[str, PropertyDefinition]] = {}
        self._reload()

    def _reload(self) -> None:
        with self._store.reading() as connection:
            custom = store.load_custom_properties(connection)
        definitions: dict[str, dict[str, PropertyDefinition]] = {}
        for object_type in OBJECT_TYPES:
            merged = {definition.name: definition for definition in DEFAULT_PROPERTIES[object_type]}
            for body in custom.get(object_type, []):
                merged[body["name"]] = PropertyDefinition.from_json(body)
            definitions[object_type] = merged
        self._definitions = definitions

    def definitions(self, object_type: ObjectType) -> dict[str, PropertyDefinition]:
        return self._definitions[object_type.name]

    def unique_properties(self, object_type: ObjectType) -> set[str]:
        """Properties whose values identify one record: contact email, and custom ``hasUniqueValue`` ones."""
        names = {name for name, definition in self.definitions(object_type).items() if definition.has_unique_value}
        if object_type.name == "contacts":
            names.add("email")
        return names

    def create(self, object_type: ObjectType, body: dict[str, Any]) -> PropertyDefinition:
        """Create a custom property from a ``POST /crm/v3/properties/{objectType}`` body."""
        name = body.get("name")
        if not isinstance(name, str) or not _PROPERTY_NAME.match(name):
            raise validation_error(f"Property name {name!r} is invalid: use lower-case letters, digits and underscores.")
        for required in ("label", "type", "fieldType", "groupName"):
            if not body.get(required):
                raise validation_error(f"Property {name} is missing the required field '{required}'.")
        if body["type"] not in PROPERTY_TYPES:
            raise validation_error(f"Property type {body['type']!r} is invalid; one of {sorted(PROPERTY_TYPES)}.")
        if body["fieldType"] not in FIELD_TYPES:
            raise validation_error(f"Field type {body['fieldType']!r} is invalid; one of {sorted(FIELD_TYPES)}.")
        if body.get("hasUniqueValue") and body["type"] not in {"string", "number"}:
            raise validation_error("Only string and number properties can have unique values.")
        if body["type"] == "enumeration" and not body.get("options"):
            raise validation_error(f"Enumeration property {name} needs options.")
        for option in body.get("options") or []:
            if not isinstance(option, dict) or "value" not in option:
                raise validation_error(f"Every option of property {name} needs a value.")
        stored = {**body, "createdAt": to_iso(now_milliseconds())}
        with self._lock:
            if name in self.definitions(object_type):
                raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
            with self._store.transaction() as connection:
                store.insert_custom_property(connection, object_type.name, stored)
            self._reload()
        return self.definitions(object_type)[name]
