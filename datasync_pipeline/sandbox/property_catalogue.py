"""Which properties exist per object type: HubSpot's defaults plus the custom ones created through the API.

Custom definitions live in the store so they survive restarts; they are cached here because every read
and write consults the catalogue.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from typing import Any

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.errors import HubSpotError, not_found, validation_error
from datasync_pipeline.sandbox.common_default_properties import EXTRA_DEFAULT_PROPERTIES
from datasync_pipeline.sandbox.object_types import OBJECT_TYPES, ObjectType
from datasync_pipeline.sandbox.property_definitions import (
    DEFAULT_PROPERTIES,
    FIELD_TYPES,
    PROPERTY_TYPES,
    PropertyDefinition,
    PropertyOption,
)
from datasync_pipeline.sandbox.pipelines import PIPELINE_PROPERTIES
from datasync_pipeline.sandbox.reference_checks import ReferenceChecks
from datasync_pipeline.sandbox.timestamps import now_milliseconds, to_iso

_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PropertyCatalogue:
    """HubSpot's default properties, the portal's custom ones, and the checks values meet against reference data.

    The options of the pipeline and stage properties (deals ``pipeline``/``dealstage``, tickets
    ``hs_pipeline``/``hs_pipeline_stage``) are the portal's pipelines and stages, as in HubSpot, so custom
    stages are valid values as soon as they exist.
    """

    def __init__(self, record_store: store.Store, checks: ReferenceChecks) -> None:
        self._store = record_store
        self.checks = checks
        self._lock = threading.Lock()
        self._definitions: dict[str, dict[str, PropertyDefinition]] = {}
        self._reload()

    def refresh_pipelines(self) -> None:
        """Called when pipelines change: the pipeline and stage properties' options follow."""
        with self._lock:
            self._reload()

    def _pipeline_options(self, object_type: str) -> dict[str, tuple[PropertyOption, ...]]:
        names = PIPELINE_PROPERTIES.get(object_type)
        if names is None:
            return {}
        pipelines = self.checks.pipelines.all(object_type)
        stages = [stage for pipeline in pipelines for stage in pipeline["stages"]]
        return {
            names.pipeline: tuple(PropertyOption(p["label"], p["id"], p["displayOrder"]) for p in pipelines),
            names.stage: tuple(PropertyOption(s["label"], s["id"], s["displayOrder"]) for s in stages),
        }

    def _reload(self) -> None:
        with self._store.reading() as connection:
            custom = store.load_custom_properties(connection)
        definitions: dict[str, dict[str, PropertyDefinition]] = {}
        for object_type in OBJECT_TYPES:
            merged = {definition.name: definition for definition in DEFAULT_PROPERTIES[object_type]}
            for definition in EXTRA_DEFAULT_PROPERTIES[object_type]:
                merged.setdefault(definition.name, definition)
            for body in custom.get(object_type, []):
                merged[body["name"]] = PropertyDefinition.from_json(body)
            for name, options in self._pipeline_options(object_type).items():
                merged[name] = replace(merged[name], options=options)
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
        self._check(body)
        name = body["name"]
        stored = {**body, "createdAt": to_iso(now_milliseconds())}
        with self._lock:
            if name in self.definitions(object_type):
                raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
            with self._store.transaction() as connection:
                store.insert_custom_property(connection, object_type.name, stored)
            self._reload()
        return self.definitions(object_type)[name]

    @staticmethod
    def _check(body: dict[str, Any]) -> None:
        """The rules a custom property definition follows, on create and on update."""
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

    def update(self, object_type: ObjectType, name: str, changes: dict[str, Any]) -> PropertyDefinition:
        """``PATCH /crm/v3/properties/{objectType}/{propertyName}``: change a custom property's definition.

        HubSpot marks its own properties' definitions read-only (``modificationMetadata.readOnlyDefinition``),
        so a PATCH of one is a 400; a property's name and type stay what they were created with.
        """
        with self._lock:
            current = self._existing(object_type, name)
            if current.hubspot_defined:
                raise validation_error(f"Property {name} is defined by HubSpot; its definition is read only.")
            for fixed in ("name", "type"):
                if changes.get(fixed) not in (None, getattr(current, fixed)):
                    raise validation_error(f"The {fixed} of property {name} cannot be changed.")
            with self._store.reading() as connection:
                stored = store.load_custom_properties(connection)
            body = next(item for item in stored.get(object_type.name, []) if item["name"] == name)
            updated = {**body, **{key: value for key, value in changes.items() if value is not None and key != "name"}}
            self._check(updated)
            updated["updatedAt"] = to_iso(now_milliseconds())
            with self._store.transaction() as connection:
                store.replace_custom_property(connection, object_type.name, updated)
            self._reload()
        return self.definitions(object_type)[name]

    def archive(self, object_type: ObjectType, name: str) -> None:
        """``DELETE /crm/v3/properties/{objectType}/{propertyName}``: custom properties only (``archivable``)."""
        with self._lock:
            if self._existing(object_type, name).hubspot_defined:
                raise validation_error(f"Property {name} is defined by HubSpot and cannot be archived.")
            with self._store.transaction() as connection:
                store.delete_custom_property(connection, object_type.name, name)
            self._reload()

    def _existing(self, object_type: ObjectType, name: str) -> PropertyDefinition:
        definition = self.definitions(object_type).get(name)
        if definition is None:
            raise not_found(f"Unable to find property {name} for object type {object_type.name}.")
        return definition

    # Property groups ---------------------------------------------------------------------------

    def groups(self, object_type: ObjectType) -> list[dict[str, Any]]:
        """The type's groups: HubSpot's own (every group its default properties use) and the custom ones."""
        with self._store.reading() as connection:
            custom = store.load_reference(connection, f"property_groups:{object_type.name}")
        names = dict.fromkeys(definition.group_name for definition in self.definitions(object_type).values())
        found = {
            name: {"name": name, "label": name.replace("_", " ").capitalize(), "displayOrder": -1, "archived": False}
            for name in names if name and name not in custom
        }
        found.update(custom)
        return list(found.values())

    def create_group(self, object_type: ObjectType, body: dict[str, Any]) -> dict[str, Any]:
        name, label = body.get("name"), body.get("label")
        if not isinstance(name, str) or not _PROPERTY_NAME.match(name) or not label:
            raise validation_error("A property group needs a name (lower-case letters, digits, underscores) and a label.")
        if any(group["name"] == name for group in self.groups(object_type)):
            raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists.")
        group = {"name": name, "label": str(label), "displayOrder": int(body.get("displayOrder") or -1), "archived": False}
        with self._store.transaction() as connection:
            store.put_reference(connection, f"property_groups:{object_type.name}", name, group)
        return group
