"""Another HubSpot portal as the other side of a sync: the ``AppConnector`` interface over ``HubSpotClient``.

The engine's HubSpot is the primary portal; this is a second portal taking the app's place (a regional portal,
a staging copy). ``SqlSide`` is the model: the same frames, the same idempotence, the same per-record outcomes.
What differs is how HubSpot keeps each thing (``HUBSPOT_API.md``):

- the link is a unique custom property of this portal (``datasync_hubspot_id``) holding ``<sync>:<primary id>``;
  creates are upserts on it, so a rerun after a crash updates what the first run created;
- deletions are archives: an archived record cannot be read by id, ``archived=true`` lists it with its
  ``archivedAt``, search never shows it (so the change probe reads that list beside its one search), and there
  is no endpoint to restore it;
- an association is the record's primary one to that object (a contact's primary company) or, for kinds
  without a primary, its lowest associated id; association changes do not move the last-modified time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from datasync_pipeline.connectors.base import REFERENCE, FieldType, SideBinding, WriteResult
from datasync_pipeline.connectors.hubspot.app_frames import (
    EPOCH,
    after_ms,
    associated_ids,
    at_or_after_ms,
    distinct_text,
    engine_frame,
    field_type,
    modified_at,
    parsed_time,
    properties_of,
    read_properties,
)
from datasync_pipeline.connectors.hubspot.batching import BatchResult
from datasync_pipeline.connectors.hubspot.client import HubSpotClient
from datasync_pipeline.connectors.hubspot.errors import HubSpotRequestError
from datasync_pipeline.connectors.hubspot.search import OBJECT_ID_PROPERTY, SEARCH_PAGE_SIZE, last_modified_property
from datasync_pipeline.engine.frames import ORIGIN_PROPERTY as ENGINE_ORIGIN_PROPERTY
from datasync_pipeline.engine.frames import origin_value
from datasync_pipeline.errors import DatasyncError, ErrorCategory, RecordError
from datasync_pipeline.objects.catalogue import ASSOCIATIONS, AssociationKind

DEFAULT_ORIGIN_PROPERTY = "datasync_hubspot_id"
ORIGIN_PROPERTY_LABEL = "datasync primary HubSpot id"
PRIMARY_ORIGIN_PROPERTY = ENGINE_ORIGIN_PROPERTY  # "datasync_id" in the sync's own portal
PRIMARY_ORIGIN_LABEL = "datasync record id"


class HubSpotSide:
    """One synced object type in a second HubSpot portal, as the engine reads and writes it.

    ``client`` talks to that portal and stays the caller's (``close`` leaves it open). ``binding.fields`` maps each
    engine field (a property of the primary portal) to a property of this one; ``binding.filters`` read this
    portal's property names; ``binding.associations`` name the associated objects (a portal keeps associations
    itself, so they have no ``app_column``).
    """

    kind = "hubspot"

    def __init__(self, client: HubSpotClient, binding: SideBinding, *, origin_property: str = DEFAULT_ORIGIN_PROPERTY,
                 origin_label: str = ORIGIN_PROPERTY_LABEL, as_app: bool = True) -> None:
        self.client, self.binding, self.origin_property, self.origin_label = client, binding, origin_property, origin_label
        # As the app side, a record gone from the portal is a record deleted in the app; as the sync's own HubSpot
        # side (``primary``), HubSpot's "not found" stands as it is.
        self.as_app = as_app
        self.object_type = binding.object_type
        self.modified_property = last_modified_property(binding.object_type)
        self._properties = read_properties(binding, origin_property, self.modified_property)
        self._association_kinds = {association.object: _association_kind(binding.object_type, association.object)
                                   for association in binding.associations}
        self._origin_property_ready = False
        self._stamps: dict[str, datetime] = {}

    def __enter__(self) -> HubSpotSide:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def describe(self) -> str:
        return f"HubSpot {self.object_type}"

    def close(self) -> None:
        """Nothing to release: the client belongs to whoever passed it in."""

    @property
    def keeps_origins(self) -> bool:
        return True

    # --- reads ------------------------------------------------------------------------------------------
    def _frame(self, records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
        """Records as an engine frame, each once (a lookup's search may answer a record for two values), with the
        associated record of each kept association read alongside."""
        records = list({str(record["id"]): record for record in records}.values())
        ids = [str(record["id"]) for record in records]
        associated = {name: self._associated(name, ids) for name in self._association_kinds} if ids else {}
        return engine_frame(records, self.binding, origin_property=self.origin_property, associated=associated)

    def _associated(self, object_name: str, record_ids: Sequence[str]) -> dict[str, str | None]:
        links = self.client.read_associations(self.object_type, object_name, list(record_ids))
        return associated_ids(links, self._association_kinds[object_name])

    @classmethod
    def primary(cls, client: HubSpotClient, binding: SideBinding) -> HubSpotSide:
        """The sync's own HubSpot account as a writer (the loads, restore): fields under their own names, creates
        upserted on ``datasync_id`` (``<sync>:<app id>``), which is how the compare links them back."""
        return cls(client, binding, origin_property=PRIMARY_ORIGIN_PROPERTY, origin_label=PRIMARY_ORIGIN_LABEL, as_app=False)

    def read_all(self) -> pd.DataFrame:
        return self._frame(self.client.list_all(self.object_type, properties=self._properties))

    def read_changed_since(self, since: datetime) -> pd.DataFrame:
        """Through search's (last-modified, id) walk (``search.py``), which never pages past 10,000 results."""
        changed = self.client.search_modified_since(self.object_type, at_or_after_ms(since), properties=self._properties)
        return self._frame(changed)

    def read_by_ids(self, record_ids: Iterable[str]) -> pd.DataFrame:
        ids = distinct_text(record_ids)
        if not ids:
            return self._frame([])
        answer = self.client.batch_read(self.object_type, ids, properties=self._properties)
        self._raise_unless_not_found(answer, "reading")
        return self._frame(answer.results.values())

    def lookup(self, field_name: str, values: Iterable[str]) -> pd.DataFrame:
        """By email, a batch read on email as unique id (HubSpot's own contact identity); by any other property a
        search ``IN``, which HubSpot matches ignoring case (string values must be sent lowercase)."""
        app_property = self.binding.fields.get(field_name)
        if app_property is None:
            raise DatasyncError(f"{self.describe()} maps no property to {field_name!r}: records cannot be looked up by it")
        wanted = distinct_text(str(value).strip().lower() for value in values if value is not None and str(value).strip())
        if not wanted:
            return self._frame([])
        if app_property == "email" and self.object_type in ("contacts", "0-1"):
            answer = self.client.batch_read(self.object_type, wanted, properties=self._properties, id_property="email")
            self._raise_unless_not_found(answer, "looking up")
            return self._frame(answer.results.values())
        return self._frame(self.client.search_by_values(self.object_type, app_property, wanted, properties=self._properties))

    def _raise_unless_not_found(self, answer: BatchResult, doing: str) -> None:
        """A read whose failures are all "not found" answered every id; any other failure (retries exhausted, a
        missing scope) would make records look deleted, so it stops the read."""
        for error in answer.failed.values():
            if error.category != ErrorCategory.NOT_FOUND:
                raise HubSpotRequestError(RecordError(error.category, f"{doing} {self.describe()}: {error.message}"), status=None)

    # --- deletions ----------------------------------------------------------------------------------------
    def deleted_among(self, record_ids: Iterable[str]) -> list[str]:
        """The ids a batch read no longer finds: archived ones (HubSpot answers 404 for them) and purged ones."""
        ids = distinct_text(record_ids)
        if not ids:
            return []
        answer = self.client.batch_read(self.object_type, ids, properties=[OBJECT_ID_PROPERTY])
        self._raise_unless_not_found(answer, "checking for deletions in")
        return [record_id for record_id in ids if record_id in answer.failed]

    def deleted_since(self, since: datetime) -> dict[str, datetime]:
        """Archived records with ``archivedAt`` at or after ``since``; records purged from the recycle bin leave no
        trace here and are found by ``deleted_among``."""
        return self._archived_from(at_or_after_ms(since))

    def _archived_from(self, first_ms: int) -> dict[str, datetime]:
        """Record id -> ``archivedAt`` of the archived records archived at ``first_ms`` or later. Search never shows
        archived records, so they come from the list with ``archived=true`` (100 a page), filtered here."""
        archived: dict[str, datetime] = {}
        for record in self.client.list_records(self.object_type, properties=[OBJECT_ID_PROPERTY], archived=True):
            stamp = parsed_time(record.get("archivedAt"))
            if stamp is not None and at_or_after_ms(stamp) >= first_ms:
                archived[str(record["id"])] = stamp
        return archived

    def changes_synced(self) -> None:
        """A portal keeps no change position of datasync's: its changes are found by time."""

    # --- the change probe --------------------------------------------------------------------------------
    def newest_changes(self, since: datetime, *, limit: int) -> tuple[list[tuple[str, datetime]], bool]:
        """Up to ``limit`` records changed strictly after ``since``, newest first, and whether that is all of them.

        Archiving moves no last-modified time and search never shows archived records, so the edits come from one
        search and the deletions (a change too) from the archived list, with ``archivedAt`` as their time.
        """
        edited, more_edited = self._newest_edits(since, limit + 1)
        archived = self._archived_from(after_ms(since) + 1)
        changes = sorted({**edited, **archived}.items(), key=lambda change: change[1], reverse=True)
        return changes[:limit], not more_edited and len(changes) <= limit

    def _newest_edits(self, since: datetime, count: int) -> tuple[dict[str, datetime], bool]:
        """Up to ``count`` records last modified after ``since``, newest first, and whether more match (HubSpot's
        ``total``): one search while ``count`` fits a page (the sensor's probe, as the primary portal's probe asks,
        ``sync/probe.py``), further pages for more (a run settling past its own writes, ``sync/own_writes.py``)."""
        after_filter = {"propertyName": self.modified_property, "operator": "GT", "value": str(after_ms(since))}
        edited: dict[str, datetime] = {}
        page_after: str | None = None
        while True:
            body = {
                "filterGroups": [{"filters": [after_filter]}],
                "sorts": [{"propertyName": self.modified_property, "direction": "DESCENDING"}],
                "properties": [OBJECT_ID_PROPERTY, self.modified_property],
                "limit": max(1, min(count - len(edited), SEARCH_PAGE_SIZE)),
                **({"after": page_after} if page_after else {}),
            }
            answer = self.client.search(self.object_type, body)
            results = answer.get("results") or []
            edited.update({str(record["id"]): modified_at(record, self.modified_property) or EPOCH for record in results})
            page_after = ((answer.get("paging") or {}).get("next") or {}).get("after")
            more = int(answer.get("total") or 0) > len(edited) or bool(page_after)
            if not more or not results or len(edited) >= count or not page_after:
                return edited, more

    # --- mapping checks ----------------------------------------------------------------------------------
    def value_types(self) -> Mapping[str, FieldType]:
        """Every property of the object type in this portal, typed by its definition."""
        return {definition["name"]: field_type(definition) for definition in self.client.get_properties(self.object_type)}

    # --- writes ---------------------------------------------------------------------------------------------
    def create(self, records: Sequence[Mapping[str, Any]]) -> WriteResult:
        """Upserts on the origin property (``datasync_id`` in the sync's own portal, ``datasync_hubspot_id`` in a second
        one): a record created before from the same ``_ref`` is found by its origin value and updated."""
        if not records:
            return WriteResult()
        self._ensure_origin_property()
        inputs: dict[str, dict[str, Any]] = {}
        for record in records:
            reference = str(record[REFERENCE])
            origin = origin_value(self.binding.sync_name, reference)
            values = {name: record.get(name) for name in self.binding.fields}
            properties = properties_of(values, self.binding.fields, clear_missing=False)
            inputs[reference] = {"ref": reference, "id": origin, "properties": {**properties, self.origin_property: origin}}
        return self._outcome(self.client.batch_upsert(self.object_type, list(inputs.values()), id_property=self.origin_property))

    def update(self, records: Mapping[str, Mapping[str, Any]], *, origins: Mapping[str, str] | None = None) -> WriteResult:
        """Field changes and kept origins (the origin property, ``<sync>:<primary id>``) in one batch update; None
        clears a property. A record no longer there fails as deleted in the app, as a missing row does in ``SqlSide``."""
        origins = origins or {}
        ids = distinct_text([*records, *origins])
        if not ids:
            return WriteResult()
        if origins:
            self._ensure_origin_property()
        values_by_id = {str(record_id): values for record_id, values in records.items()}
        origin_by_id = {str(record_id): str(hubspot_id) for record_id, hubspot_id in origins.items()}
        inputs = []
        for record_id in ids:
            properties = properties_of(values_by_id.get(record_id, {}), self.binding.fields, clear_missing=True)
            if record_id in origin_by_id:
                properties[self.origin_property] = origin_value(self.binding.sync_name, origin_by_id[record_id])
            inputs.append({"ref": record_id, "id": record_id, "properties": properties})
        return self._outcome(self.client.batch_update(self.object_type, inputs), missing_is_deleted=self.as_app)

    def _ensure_origin_property(self) -> None:
        if not self._origin_property_ready:
            self.client.ensure_unique_property(self.object_type, self.origin_property, self.origin_label)
            self._origin_property_ready = True

    def _outcome(self, answer: BatchResult, *, missing_is_deleted: bool = False) -> WriteResult:
        """The client's per-input outcome as a ``WriteResult``, each written record stamped with the last-modified
        time HubSpot answered with (kept for ``written_stamps``)."""
        result = WriteResult()
        for reference, record in answer.results.items():
            record_id = str(record["id"])
            result.written[reference] = record_id
            stamp = modified_at(record, self.modified_property)
            if stamp is not None:
                result.stamped[reference] = self._stamps[record_id] = stamp
        for reference, error in answer.failed.items():
            if missing_is_deleted and error.category == ErrorCategory.NOT_FOUND:
                error = RecordError(ErrorCategory.DELETED_IN_APP, f"{self.describe()} {reference} was not updated: "
                                                                  f"it is archived or gone from the portal ({error.message})")
            result.fail(reference, error)
        return result

    def set_associations(self, keys: Mapping[str, Mapping[str, str | None]]) -> WriteResult:
        """Point each record at its associated record (or at none), one association object at a time."""
        targets_by_object: dict[str, dict[str, str | None]] = {}
        for record_id, targets in keys.items():
            for object_name, target in targets.items():
                targets_by_object.setdefault(object_name, {})[str(record_id)] = None if target is None else str(target)
        failed: dict[str, RecordError] = {}
        for object_name, targets in targets_by_object.items():
            for record_id, error in self._point_at(object_name, targets).items():
                failed.setdefault(record_id, error)
        result = WriteResult()
        for record_id in distinct_text(keys):
            if record_id in failed:
                result.fail(record_id, failed[record_id])
            else:
                result.written[record_id] = record_id
        return result

    def _point_at(self, object_name: str, targets: Mapping[str, str | None]) -> dict[str, RecordError]:
        """Create the new links first, so that a failed create keeps the old one; then archive the old ones: where
        cleared, and where replaced for kinds without a primary (a new primary company demotes the old one itself,
        which HubSpot then keeps as an ordinary association, as it does in the primary portal)."""
        kind = self._association_kinds.get(object_name)
        if kind is None:
            raise DatasyncError(f"{self.describe()} keeps no association to {object_name!r}")
        current = self._associated(object_name, list(targets))
        changing = {record_id: target for record_id, target in targets.items() if target != current.get(record_id)}
        creates = [{"ref": record_id, "from_id": record_id, "to_id": target, "type_id": kind.type_id}
                   for record_id, target in changing.items() if target is not None]
        failed = dict(self.client.create_associations(self.object_type, object_name, creates).failed) if creates else {}
        removals = [(record_id, current[record_id]) for record_id, target in changing.items()
                    if record_id not in failed and current.get(record_id) is not None and (target is None or not kind.primary)]
        if removals:
            try:
                self.client.archive_associations(self.object_type, object_name, removals)
            except HubSpotRequestError as failure:
                failed.update({record_id: failure.record_error for record_id, _ in removals})
        return failed

    def undelete(self, record_ids: Iterable[str]) -> WriteResult:
        """HubSpot restores archived records only from its recycle bin in the UI, no API does (``HUBSPOT_API.md``):
        archived or purged records fail as deleted in the app, and a restore creates them again (``create``, a new
        id); live ones need nothing and count as written."""
        ids = distinct_text(record_ids)
        deleted = set(self.deleted_among(ids))
        result = WriteResult()
        for record_id in ids:
            if record_id in deleted:
                result.fail(record_id, RecordError(
                    ErrorCategory.DELETED_IN_APP,
                    f"{self.describe()} {record_id} is archived and HubSpot has no API to restore it: restore it from "
                    "the recycle bin in HubSpot (kept 90 days), or let the sync create it again",
                ))
            else:
                result.written[record_id] = record_id
        return result

    def written_stamps(self) -> dict[str, datetime]:
        return dict(self._stamps)


def _association_kind(object_type: str, object_name: str) -> AssociationKind:
    kind = ASSOCIATIONS.get((object_type, object_name))
    if kind is None:
        raise DatasyncError(f"HubSpot {object_type} have no association to {object_name} that datasync keeps")
    return kind
