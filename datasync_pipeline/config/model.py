"""The shape of ``datasync.yaml``: connections, the state store and the syncs between them.

pydantic validates the file; every model forbids unknown keys so a typo is refused with its path
instead of being silently ignored. Secrets never live in the file: a value written as ``${VAR}``
is kept as a reference and resolved only when a run needs it (see ``secrets.py``).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from datasync_pipeline.config.base import ENV_REFERENCE, StrictModel
from datasync_pipeline.connectors.hubspot.config import HubSpotConnection, SandboxSpec
from datasync_pipeline.connectors.registry import connection_union, kind_of
from datasync_pipeline.connectors.sql.config import SqlConnection
from datasync_pipeline.objects.catalogue import OBJECT_TYPES, ValueType
from datasync_pipeline.vocabulary import ChangeCapture, Direction, Side

__all__ = ["ENV_REFERENCE", "Direction", "HubSpotConnection", "SandboxSpec", "Side", "SqlConnection", "StrictModel"]

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


# Connections are the connectors' own models, found by their `kind` (connectors/registry.py).
Connection = connection_union()


class AppTable(StrictModel):
    """Where the synced object lives in the SQL app."""

    name: str
    schema_name: str | None = Field(default=None, alias="schema")
    key: str = "id"
    updated_at: str | None = "updated_at"
    soft_delete: str | None = None
    external_id: str | None = Field(default="hubspot_id", description="column keeping the linked HubSpot id; makes app creates idempotent")
    changes: ChangeCapture = Field(default=ChangeCapture.UPDATED_AT, description="how changes are found: updated_at (the "
                                   "high-water mark, any database) or trigger (a change log kept by a trigger, Postgres; "
                                   "`datasync sync prepare NAME` creates it)")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Lookup(StrEnum):
    """How a mapping finds the HubSpot id behind what the app holds (``sync/translate.py``)."""

    OWNER_EMAIL = "owner_email"  # hubspot_owner_id <- the owner's email (or "First Last") in the app
    LABEL = "label"  # pipeline / stage ids <- their labels in the app (a stage's label within its record's pipeline)


class FieldMapping(StrictModel):
    """One HubSpot property <-> app column pair; a default mapping is overridden or switched off by naming its property."""

    hubspot: str
    app: str | None = None
    enabled: bool = True
    type: ValueType | None = Field(default=None, description="the HubSpot property's type (custom mappings; default: "
                                                            "the type of its HubSpot property definition, read when a run starts)")
    app_type: ValueType | None = Field(default=None, description="the app column's type; checked against the property's")
    values: dict[str, str] | None = Field(default=None, description="app value -> HubSpot value (an enumeration's options); "
                                                                     "a value without an entry fails its record")
    lookup: Lookup | None = Field(default=None, description="owner_email (hubspot_owner_id) or label (pipelines and stages): "
                                                            "the app holds what people read, HubSpot the id")


class AssociationSpec(StrictModel):
    """An association kept by this sync (rule 8), and where the app keeps it: the column holding the associated
    record's key in an app with tables; another HubSpot portal keeps associations itself (no column)."""

    object: str
    app_column: str | None = Field(default=None, description="the app column holding the associated record's key (apps with tables)")
    enabled: bool = True


class FilterOperator(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    IN = "in"
    NOT_IN = "not_in"
    HAS_VALUE = "has_value"
    HAS_NO_VALUE = "has_no_value"
    CONTAINS = "contains"


class FilterRule(StrictModel):
    """A criterion a record must meet to take part in the first sync (rule 7)."""

    field: str
    operator: FilterOperator
    value: str | list[str] | None = None


class SideFilters(StrictModel):
    hubspot: list[FilterRule] = []
    app: list[FilterRule] = []


class SyncSpec(StrictModel):
    """One object sync between a HubSpot account and an app table."""

    name: str = Field(pattern=NAME_PATTERN)
    object: str
    hubspot: str | None = Field(default=None, description="HubSpot connection name; default: the only one")
    app: str = Field(description="app connection name")
    table: AppTable | None = Field(default=None, description="where a SQL app keeps the object (other apps have it by name)")
    direction: Direction = Direction.TWO_WAY
    default_app: Side = Side.HUBSPOT
    use_default_mappings: bool = True
    mappings: list[FieldMapping] = []
    associations: list[AssociationSpec] = []
    sync_contacts_without_email: bool = False
    filters: SideFilters = SideFilters()
    enabled: bool = True

    @field_validator("object")
    @classmethod
    def _known_object(cls, value: str) -> str:
        if value not in OBJECT_TYPES:
            raise ValueError(f"unknown object {value!r}; choose one of {', '.join(sorted(OBJECT_TYPES))}")
        return value


class StateStoreSpec(StrictModel):
    url: str = Field(description="SQLAlchemy URL of the state store (pairs and last synced values)")


class DatasyncConfig(StrictModel):
    connections: dict[str, Connection]
    state: StateStoreSpec
    syncs: list[SyncSpec]

    @field_validator("connections")
    @classmethod
    def _connection_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(NAME_PATTERN, name):
                raise ValueError(f"connection name {name!r} must be lower-case letters, digits and _")
        return value

    def hubspot_connection_name(self, sync: SyncSpec) -> str:
        if sync.hubspot is not None:
            return sync.hubspot
        return next(n for n, c in self.connections.items() if kind_of(c).hubspot_side and n != sync.app)

