"""Creating and updating records with HubSpot's checks, inside one write transaction.

Single and batch endpoints share this so they fail the same way: a 400 for bad values, a 409 with the
existing id for a unique value taken by another record. Checks run before anything of the input is
written, so a failing input never leaves half a record behind.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.association_links import Link, add_link, set_primary_company
from datasync_pipeline.sandbox.association_types import HUBSPOT_DEFINED, is_known_type
from datasync_pipeline.sandbox.errors import HubSpotError, validation_error
from datasync_pipeline.sandbox.http_input import parse_record_id
from datasync_pipeline.sandbox.object_types import ObjectType
from datasync_pipeline.sandbox.property_catalogue import PropertyCatalogue
from datasync_pipeline.sandbox.property_values import normalize_properties
from datasync_pipeline.sandbox.store import StoredRecord


def conflict(object_type: ObjectType, existing_id: int) -> HubSpotError:
    return HubSpotError(409, "CONFLICT", f"{object_type.label} already exists. Existing ID: {existing_id}")


class RecordWriter:
    """Writes records of one object type through one open transaction, all stamped with the same time."""

    def __init__(
        self, connection: Connection, object_type: ObjectType, catalogue: PropertyCatalogue, now: int
    ) -> None:
        self.connection = connection
        self.object_type = object_type
        self.definitions = catalogue.definitions(object_type)
        self.unique_properties = catalogue.unique_properties(object_type)
        self.now = now

    def create(self, properties: Any, associations: Any = None) -> StoredRecord:
        values = {
            name: value
            for name, value in normalize_properties(self.object_type, self.definitions, properties).items()
            if value is not None
        }
        links = self._parse_associations(associations)
        self._refuse_taken_values(values, record_id=None)
        [record_id] = store.allocate_ids(self.connection, 1)
        store.insert_records(self.connection, self.object_type.name, [(record_id, values, self.now, self.now)])
        store.claim_unique_values(self.connection, self.object_type.name, record_id, self._unique_part(values))
        for to_type, to_id, category, type_id in links:
            add_link(self.connection, Link(self.object_type.name, record_id, to_type, to_id, category, type_id))
        self._follow_associated_company(record_id, values)
        return self._reload(record_id)

    def update(self, record: StoredRecord, properties: Any) -> StoredRecord:
        normalized = normalize_properties(self.object_type, self.definitions, properties)
        self._refuse_taken_values(normalized, record_id=record.id)
        for name, value in normalized.items():
            if value is None:
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
        record.updated_at = max(self.now, record.updated_at + 1)
        store.update_record(self.connection, record)
        store.claim_unique_values(self.connection, self.object_type.name, record.id, self._unique_part(normalized))
        self._follow_associated_company(record.id, normalized)
        return self._reload(record.id)

    def _reload(self, record_id: int) -> StoredRecord:
        return store.fetch_records(self.connection, self.object_type.name, [record_id], archived=None)[record_id]

    def _unique_part(self, values: dict[str, str | None]) -> dict[str, str | None]:
        return {name: value for name, value in values.items() if name in self.unique_properties}

    def _refuse_taken_values(self, values: dict[str, str | None], *, record_id: int | None) -> None:
        for name, value in self._unique_part(values).items():
            if not value:
                continue
            owner = store.find_unique_owner(self.connection, self.object_type.name, name, value)
            if owner is not None and owner != record_id:
                raise conflict(self.object_type, owner)

    def _follow_associated_company(self, record_id: int, values: dict[str, str | None]) -> None:
        """Writing a contact's ``associatedcompanyid`` sets (or clears) its primary company, as in HubSpot."""
        if self.object_type.name != "contacts" or "associatedcompanyid" not in values:
            return
        company_id = parse_record_id(values["associatedcompanyid"])
        if values["associatedcompanyid"] is None:
            set_primary_company(self.connection, record_id, None)
        elif company_id is not None and store.fetch_records(self.connection, "companies", [company_id]):
            set_primary_company(self.connection, record_id, company_id)

    def _parse_associations(self, associations: Any) -> list[tuple[str, int, str, int]]:
        """Validate the ``associations`` of a create input: ``[{to: {id}, types: [{associationCategory, associationTypeId}]}]``."""
        if not associations:
            return []
        if not isinstance(associations, list):
            raise validation_error("Invalid input JSON: 'associations' must be a list.")
        links = []
        for association in associations:
            target = (association or {}).get("to") or {}
            to_id = parse_record_id(target.get("id"))
            to_type = find_record_type(self.connection, to_id) if to_id is not None else None
            if to_type is None:
                raise validation_error(
                    f"One or more associations are invalid: the object {target.get('id')} does not exist.",
                    context={"toObjectId": [str(target.get("id"))]},
                )
            types = association.get("types") or []
            if not types:
                raise validation_error("One or more associations are invalid: 'types' is empty.")
            for association_type in types:
                category = association_type.get("associationCategory", HUBSPOT_DEFINED)
                type_id = association_type.get("associationTypeId")
                if not isinstance(type_id, int) or not is_known_type(self.object_type.name, to_type, category, type_id):
                    raise validation_error(
                        f"One or more associations are invalid: {category} type {type_id} does not associate "
                        f"{self.object_type.name} with {to_type}."
                    )
                links.append((to_type, to_id, category, type_id))
        return links


def find_record_type(connection: Connection, record_id: int) -> str | None:
    """The object type of a live record, from its portal-wide id."""
    query = sa.select(store.records.c.object_type).where(
        store.records.c.id == record_id, store.records.c.archived.is_(False)
    )
    return connection.execute(query).scalar_one_or_none()
