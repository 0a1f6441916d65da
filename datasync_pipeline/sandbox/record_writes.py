"""Creating and updating records with HubSpot's checks, inside one write transaction.

Single and batch endpoints share this so they fail the same way: a 400 for bad values, a 409 with the
existing id for a unique value taken by another record. Checks run before anything of the input is
written, so a failing input never leaves half a record behind.

Inputs are checked and applied one at a time, in order, but against a ``WriteSession`` in memory: a batch
reads what it needs up front (``prefetch``) and is stored at the end (``flush``), a handful of statements
whatever its size. Association links are the exception: they are stored as they are made, since nothing
the session answers depends on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Connection

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.change_capture import ChangeCapture
from datasync_pipeline.sandbox.association_labels import labeled_link
from datasync_pipeline.sandbox.association_links import Link, add_link, set_primary_company
from datasync_pipeline.sandbox.association_types import HUBSPOT_DEFINED, is_primary
from datasync_pipeline.sandbox.create_rules import missing_required, with_default_pipeline
from datasync_pipeline.sandbox.errors import HubSpotError, validation_error
from datasync_pipeline.sandbox.http_input import parse_record_id
from datasync_pipeline.sandbox.object_types import ObjectType
from datasync_pipeline.sandbox.property_catalogue import PropertyCatalogue
from datasync_pipeline.sandbox.property_values import as_text, normalize_properties
from datasync_pipeline.sandbox.store import StoredRecord
from datasync_pipeline.sandbox.write_session import WriteSession, snapshot


def conflict(object_type: ObjectType, existing_id: int) -> HubSpotError:
    return HubSpotError(409, "CONFLICT", f"{object_type.label} already exists. Existing ID: {existing_id}")


class RecordWriter:
    """Writes records of one object type through one open transaction, all stamped with the same time.

    ``create`` and ``update`` return a copy of the record as that write left it; nothing is stored
    until ``flush``.
    """

    def __init__(
        self, connection: Connection, object_type: ObjectType, catalogue: PropertyCatalogue, now: int,
        changes: ChangeCapture | None = None,
    ) -> None:
        self.connection = connection
        self.object_type = object_type
        self.definitions = catalogue.definitions(object_type)
        self.checks = catalogue.checks
        self.unique_properties = catalogue.unique_properties(object_type)
        self.now = now
        self.session = WriteSession(connection, object_type.name)
        self.changes = changes
        self._links: list[Link] = []

    def prefetch(
        self,
        *,
        lookups: Iterable[tuple[Any, str]] = (),
        properties: Iterable[Any] = (),
        associations: Iterable[Any] = (),
    ) -> None:
        """Read ahead, in a few queries, what some inputs will need.

        ``lookups`` are ``(idProperty, id)`` pairs naming existing records; ``properties`` and
        ``associations`` are the inputs' raw values, whose unique values and linked records are fetched.
        Only an optimisation: anything left out is read when it is needed.
        """
        by_value, by_id = [], []
        for id_property, raw_id in lookups:
            if id_property and id_property != "hs_object_id":
                if isinstance(id_property, str):
                    by_value.append((id_property, raw_id.strip().lower()))
            elif (record_id := parse_record_id(raw_id)) is not None:
                by_id.append(record_id)
        for id_property, key in by_value:
            self.session.expect_lookups(id_property, [key])
        properties = [values for values in properties if isinstance(values, dict)]
        self.session.prefetch_owners([*by_value, *self._unique_keys(properties)])
        self.session.prefetch_records(by_id)
        self.session.prefetch_record_types([*self._linked_ids(associations), *self._named_companies(properties)])

    def find(self, raw_id: str, id_property: Any) -> StoredRecord | None:
        """The live record an input's ``id`` names: a record id, or a value of ``idProperty``."""
        if id_property and id_property != "hs_object_id":
            record_id = self.session.find_by_value(id_property, raw_id.strip().lower())
        else:
            record_id = parse_record_id(raw_id)
        return self.session.record(record_id) if record_id is not None else None

    def create(self, properties: Any, associations: Any = None) -> StoredRecord:
        values = {
            name: value
            for name, value in normalize_properties(self.object_type, self.definitions, properties).items()
            if value is not None
        }
        problem = missing_required(self.object_type, values)
        if problem is not None:
            raise problem
        values = with_default_pipeline(self.object_type, values)
        self.checks.check(self.object_type, values, {})
        links = self._parse_associations(associations)
        self._refuse_taken_values(values, record_id=None)
        record = self.session.add(dict(values), self.now)
        self.session.note_versions(record.id, values, self.now)
        self.session.claim(record.id, self._unique_part(values))
        for to_type, to_id, category, type_id in links:
            link = labeled_link(self.checks.labels, self.object_type.name, record.id, to_type, to_id, category, type_id)
            add_link(self.connection, link, mirror_source=False)
            self._links.append(link)
            if is_primary(self.object_type.name, to_type, category, type_id):
                self._mirror_primary_company(record, to_id)
        self._follow_associated_company(record, values)
        return snapshot(record)

    def update(self, record: StoredRecord, properties: Any) -> StoredRecord:
        """Apply ``properties`` to a record the session handed out (``find``)."""
        normalized = normalize_properties(self.object_type, self.definitions, properties)
        self.checks.check(self.object_type, normalized, record.properties)
        self._refuse_taken_values(normalized, record_id=record.id)
        for name, value in normalized.items():
            if value is None:
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
        record.updated_at = max(self.now, record.updated_at + 1)
        self.session.note_versions(record.id, normalized, record.updated_at)
        self.session.changed(record)
        self.session.claim(record.id, self._unique_part(normalized))
        self._follow_associated_company(record, normalized)
        return snapshot(record)

    def flush(self) -> None:
        """Store every write, then tell the search index and the journal (``changes``) what changed."""
        if self.changes is None:
            self.session.flush()
            return
        created, changed = self.session.created, self.session.changed_records
        before = (store.fetch_records(self.connection, self.object_type.name, [record.id for record in changed])
                  if changed and self.changes.wants_prior_state(self.connection) else {})
        self.session.flush()
        self.changes.records_written(self.connection, self.object_type, created, before, changed)
        self.changes.links_changed(self.connection, added=self._links)

    def _unique_part(self, values: dict[str, str | None]) -> dict[str, str | None]:
        return {name: value for name, value in values.items() if name in self.unique_properties}

    def _refuse_taken_values(self, values: dict[str, str | None], *, record_id: int | None) -> None:
        for name, value in self._unique_part(values).items():
            if not value:
                continue
            owner = self.session.owner(name, store.unique_key(value))
            if owner is not None and owner != record_id:
                raise conflict(self.object_type, owner)

    def _follow_associated_company(self, record: StoredRecord, values: dict[str, str | None]) -> None:
        """Writing a contact's ``associatedcompanyid`` sets (or clears) its primary company, as in HubSpot."""
        if self.object_type.name != "contacts" or "associatedcompanyid" not in values:
            return
        company_id = parse_record_id(values["associatedcompanyid"])
        if values["associatedcompanyid"] is None:
            set_primary_company(self.connection, record.id, None)
        elif company_id is not None and self.session.record_type(company_id) == "companies":
            set_primary_company(self.connection, record.id, company_id, mirror=False)
            self._mirror_primary_company(record, company_id)

    def _mirror_primary_company(self, record: StoredRecord, company_id: int) -> None:
        """A contact's primary company shows in its ``associatedcompanyid``, without moving its last-modified date."""
        if self.object_type.name == "contacts":
            record.properties["associatedcompanyid"] = str(company_id)
            self.session.changed(record)

    def _unique_keys(self, properties: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """The ``(property, value key)`` of every unique value some inputs set (as they will be once normalised)."""
        return [
            (name, store.unique_key(as_text(value)))
            for values in properties
            for name, value in values.items()
            if name in self.unique_properties and value is not None
        ]

    def _named_companies(self, properties: list[dict[str, Any]]) -> list[int]:
        if self.object_type.name != "contacts":
            return []
        named = (parse_record_id(as_text(values["associatedcompanyid"])) for values in properties
                 if values.get("associatedcompanyid") is not None)
        return [company_id for company_id in named if company_id is not None]

    @staticmethod
    def _linked_ids(associations: Iterable[Any]) -> list[int]:
        targets = (
            association.get("to") for listed in associations if isinstance(listed, list)
            for association in listed if isinstance(association, dict)
        )
        named = (parse_record_id(target.get("id")) for target in targets if isinstance(target, dict))
        return [record_id for record_id in named if record_id is not None]

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
            to_type = self.session.record_type(to_id) if to_id is not None else None
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
                if not self.checks.labels.is_known(self.object_type.name, to_type, category, type_id):
                    raise validation_error(
                        f"One or more associations are invalid: {category} type {type_id} does not associate "
                        f"{self.object_type.name} with {to_type}."
                    )
                links.append((to_type, to_id, category, type_id))
        return links
