"""Putting the demo data where the embedded default configuration looks for it."""

from __future__ import annotations

import sqlalchemy as sa

from datasync_pipeline.config import DatasyncConfig, HubSpotConnection, SqlConnection
from datasync_pipeline.config.secrets import resolve
from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table
from datasync_pipeline.demo.seed import CUSTOMER_COLUMNS, DemoCounts, demo_contacts


def seed_demo(config: DatasyncConfig, *, records_per_side: int) -> DemoCounts:
    """Seed the first contacts sync of the configuration: sandbox contacts and app customers."""
    from datasync_pipeline.sandbox import Sandbox, SandboxSettings

    sync = next(s for s in config.syncs if s.object == "contacts")
    hubspot_connection = config.connections[config.hubspot_connection_name(sync)]
    app_connection = config.connections[sync.app]
    assert isinstance(hubspot_connection, HubSpotConnection) and hubspot_connection.sandbox is not None, "the demo seeds the sandbox"
    assert isinstance(app_connection, SqlConnection)

    hubspot, app, counts = demo_contacts(records_per_side)
    sandbox = Sandbox(SandboxSettings(db_path=hubspot_connection.sandbox.path, token=hubspot_connection.sandbox.token))
    sandbox.seed("contacts", hubspot)

    engine = sa.create_engine(resolve(app_connection.url, where=f"connections.{sync.app}.url"))
    spec = SqlTableSpec(table=sync.table.name, key_column=sync.table.key, columns=list(CUSTOMER_COLUMNS),
                        updated_at_column=sync.table.updated_at, external_id_column=sync.table.external_id)
    table = create_app_table(engine, spec, CUSTOMER_COLUMNS)
    with engine.begin() as connection:
        connection.execute(sa.insert(table), app)
    engine.dispose()
    return counts
