"""Connectors by `kind`: the one place that lists them.

Each entry names the connection's config model (the `connections:` section of ``datasync.yaml``), its Dagster
resource, its check for ``datasync check`` (``ConnectionCheck``), and whether it can hold a sync's HubSpot side. Adding a connector is its own package under
``connectors/`` plus one entry here: the config, the code location, the checks and the sensor look kinds up
here and never name a connector.

Resources are named by import path and loaded when first asked for, so reading the config does not import
Dagster. A resource class offers ``from_connection(connection) -> resource`` and ``side(sync, mappings)``,
which opens the ``AppConnector`` (``connectors/base.py``) of one sync's app side for the run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field

from datasync_pipeline.connectors.hubspot.config import HubSpotConnection
from datasync_pipeline.connectors.sql.config import SqlConnection


@dataclass(frozen=True)
class ConnectorKind:
    kind: str
    config_model: type[BaseModel]
    resource_path: str  # "module:Class" of its Dagster resource
    checks_path: str  # "module:function" opening its ``ConnectionCheck`` for ``datasync check``
    hubspot_side: bool = False  # can be a sync's HubSpot side (every kind can be an app side)
    needs_table: bool = False  # its syncs say which `table` holds the object (else the app has the object by name)

    def resource_class(self) -> type:
        return _named(self.resource_path)

    def open_check(self, name: str, connection: BaseModel, problems: list, stack: Any) -> Any:
        """The connection's ``ConnectionCheck`` (``connectors/base.py``), or None with the reason in ``problems``."""
        return _named(self.checks_path)(name, connection, problems, stack)


def _named(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


KINDS: dict[str, ConnectorKind] = {
    "hubspot": ConnectorKind("hubspot", HubSpotConnection, "datasync_pipeline.connectors.hubspot.resource:HubSpotResource",
                             "datasync_pipeline.connectors.hubspot.checks:open_check", hubspot_side=True),
    "sql": ConnectorKind("sql", SqlConnection, "datasync_pipeline.connectors.sql.resource:SqlAppResource",
                         "datasync_pipeline.connectors.sql.checks:open_check", needs_table=True),
}


def connection_union() -> Any:
    """The `connections:` entry type: one of the registered models, told apart by `kind`."""
    models = tuple(entry.config_model for entry in KINDS.values())
    union = models[0]
    for model in models[1:]:
        union = union | model
    return Annotated[union, Field(discriminator="kind")]


def kind_of(connection: BaseModel) -> ConnectorKind:
    return KINDS[connection.kind]


def resource_for(connection: BaseModel) -> Any:
    """The Dagster resource of a configured connection (secrets stay ``dg.EnvVar`` until a run starts)."""
    return kind_of(connection).resource_class().from_connection(connection)
