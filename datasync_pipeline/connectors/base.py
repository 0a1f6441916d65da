"""The other side of a sync: what the engine asks of any app (a SQL table, another HubSpot portal, a SaaS CRM).

One interface, so that the engine never learns which app is on the other side. A connector is opened for one
object sync (``SideBinding``: its name, object type, mappings, filters and associations) and speaks in engine
frames: one row per record, ``record_id`` (the app's own id, as text), one column per mapped field named by its
HubSpot property, and the columns the engine reads beside them:

- ``_origin_hubspot_id``: the HubSpot id the record keeps from its link (the SQL external-id column, a property
  in another portal), None where it keeps none; how a rerun links instead of duplicating, and how a reused id is
  told from the record linked (``engine/reused_keys.py``);
- ``_modified_at``: when the app last changed the record (UTC), for watermarks, echoes and freshness;
- ``_in_filters`` (only when the sync filters this side) and ``_association_<object>`` per kept association.

Each connector owns its parsing (SQL rows, HubSpot JSON), its config model and its way of making creates
idempotent (the SQL external-id column; a unique property in another portal). Writes answer one
``WriteResult`` with per-record outcomes, so one bad record never stops the rest.

Cursors are times: a connector reads "changed since" a time, inclusive, and says which time each record it
returns was changed at; the engine keeps the watermark. ``datasync_pipeline_tests/connectors/contract`` is the
suite every connector must pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from datasync_pipeline.errors import RecordError
from datasync_pipeline.objects.catalogue import ValueType

# A problem of the configuration: where it is in the file (``("mappings", 2, "app")``, under the sync) and what is wrong.
Problem = tuple[tuple[Any, ...], str]

RECORD_ID = "record_id"
ORIGIN_HUBSPOT_ID = "_origin_hubspot_id"
REFERENCE = "_ref"


@dataclass
class WriteResult:
    """Per-record outcome of a write, keyed by the caller's reference (``_ref`` of a create, the id of an update).

    ``written`` maps each reference to the id of the record written (new for creates); ``failed`` maps it to the
    categorised error. Every reference given is in exactly one. ``stamped`` maps written references to the
    modification time the write left on the record, where the app has one (the echo ledger keeps it).
    """

    written: dict[str, str] = field(default_factory=dict)
    failed: dict[str, RecordError] = field(default_factory=dict)
    stamped: dict[str, datetime] = field(default_factory=dict)

    def merge(self, other: WriteResult) -> WriteResult:
        self.written.update(other.written)
        self.failed.update(other.failed)
        self.stamped.update(other.stamped)
        return self

    def fail(self, reference: str, error: RecordError) -> None:
        self.failed[reference] = error


@dataclass(frozen=True)
class FieldType:
    """What an app field holds: the engine's value type, and the app's own name for it (for messages)."""

    value_type: ValueType
    declared: str  # "NUMERIC(10, 2)", "number"


@dataclass(frozen=True)
class SideBinding:
    """What a connector knows of the sync it serves: the engine's field names and the app's names for them."""

    sync_name: str
    object_type: str
    fields: Mapping[str, str]  # HubSpot property (engine field) -> the app's field (column, property)
    filter_fields: Sequence[str] = ()  # app fields the sync's app filters read
    filters: Sequence[Any] = ()  # the sync's app-side filter rules (config.model.FilterRule)
    associations: Sequence[Any] = ()  # the associations kept (config.model.AssociationSpec): object + app field

    @property
    def app_fields(self) -> list[str]:
        """Every app field a read needs: the mapped ones, those the filters read, the association keys."""
        keys = [association.app_column for association in self.associations if association.app_column]
        return list(dict.fromkeys([*self.fields.values(), *self.filter_fields, *keys]))


@runtime_checkable
class AppConnector(Protocol):
    """One synced object in one app, as the engine reads and writes it. See the module docstring for the frames."""

    kind: str

    def describe(self) -> str:
        """What this side is, for messages: "table customers", "HubSpot contacts of portal erp"."""

    def close(self) -> None:
        """Release what the connector holds (a connection pool, an HTTP client it created)."""

    # --- reads: engine frames ---------------------------------------------------------------------------
    def read_all(self) -> pd.DataFrame:
        """Every live record (first sync)."""

    def read_changed_since(self, since: datetime) -> pd.DataFrame:
        """Live records changed at or after ``since`` (incremental sync)."""

    def read_by_ids(self, record_ids: Iterable[str]) -> pd.DataFrame:
        """The live records with these ids; ids not found are left out."""

    def lookup(self, field_name: str, values: Iterable[str]) -> pd.DataFrame:
        """Live records whose field (an engine field name) equals one of ``values``, case and surrounding space ignored."""

    # --- deletions -----------------------------------------------------------------------------------------
    def deleted_among(self, record_ids: Iterable[str]) -> list[str]:
        """Those of ``record_ids`` that no longer exist or are marked deleted."""

    def deleted_since(self, since: datetime) -> dict[str, datetime]:
        """Records marked deleted at or after ``since`` (soft deletes, archives), with the time of each; ``{}`` where
        the app cannot tell (hard deletes are then found by ``deleted_among``)."""

    # --- the change probe --------------------------------------------------------------------------------
    def newest_changes(self, since: datetime, *, limit: int) -> tuple[list[tuple[str, datetime]], bool]:
        """Up to ``limit`` records changed strictly after ``since`` (deleted ones included), as (id, time), and
        whether that is all of them. Cheap: the sensor asks it every tick."""

    def changes_synced(self) -> None:
        """The run's checkpoint has written what it read and advanced the watermarks: a connector that keeps its own
        change position (the SQL change log) moves it past what this run read; the others do nothing. Never called
        by a dry run or a failed run, so their changes are read again."""

    # --- mapping checks ----------------------------------------------------------------------------------
    def value_types(self) -> Mapping[str, FieldType]:
        """Per app field that exists, the kind of value it holds; a mapping to a field that cannot hold its values
        is refused before anything is read (``objects/type_checks.py``)."""

    # --- writes ---------------------------------------------------------------------------------------------
    def create(self, records: Sequence[Mapping[str, Any]]) -> WriteResult:
        """Create records: each has ``_ref`` (the HubSpot id it comes from, the reference of its outcome) and engine
        fields. Idempotent: a record created before from the same ``_ref`` is updated, not created again."""

    def update(self, records: Mapping[str, Mapping[str, Any]], *, origins: Mapping[str, str] | None = None) -> WriteResult:
        """Change fields (engine names) of existing records: record id -> values; None clears a field. ``origins``
        (record id -> HubSpot id): the linked HubSpot id each of these records keeps, written in the same write (a
        record may be in either mapping or both; ignored where the app keeps no origin)."""

    def set_associations(self, keys: Mapping[str, Mapping[str, str | None]]) -> WriteResult:
        """Point records at associated records: record id -> {associated object: its id in this app, or None}."""

    def undelete(self, record_ids: Iterable[str]) -> WriteResult:
        """Clear the deleted mark of these records where the app keeps deleted records (a restore keeps the id)."""

    def written_stamps(self) -> dict[str, datetime]:
        """Record id -> the modification time this connector's writes left on it (empty where the app has none)."""

    @property
    def keeps_origins(self) -> bool:
        """Whether records keep their linked HubSpot id (``_origin_hubspot_id``): creates are then idempotent."""


class ConnectionCheck(Protocol):
    """``datasync check`` against one live connection: opened once by its kind's ``open_check(name, connection,
    problems, stack)`` (None, with the reason added to ``problems``, when it cannot connect), then asked per sync.
    Reads only, and finds what a run would meet when it starts."""

    def app_problems(self, sync: Any, mappings: Sequence[Any], problems: list[Problem]) -> Iterable[Problem]:
        """Problems of a sync whose app side this connection is: the fields it maps, filters and keeps associations
        in exist there and can hold the values; paths are under the sync (``("table", "name")``, ``("mappings", 0)``)."""

    def hubspot_properties(self, object_type: str, problems: list[Problem]) -> list[dict[str, Any]] | None:
        """The property definitions of an object type, where this connection can be a sync's HubSpot side."""


def empty_frame(binding: SideBinding) -> pd.DataFrame:
    """An engine frame without records, with the columns a read of this binding has."""
    return pd.DataFrame({name: pd.Series(dtype=object) for name in [RECORD_ID, *binding.fields, ORIGIN_HUBSPOT_ID]})
