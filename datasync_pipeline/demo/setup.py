"""Putting the demo data where the embedded default configuration looks for it.

Every sync of the configuration whose object has demo data (companies, contacts, deals) is seeded:
its records in the sandbox, its table in the SQLite app, and the associations its config keeps on
both sides. The app tables are created here, with an integer column per association. A sync whose
app is a second sandbox portal (portal-to-portal) has that portal seeded with its own contacts and
companies, some of them the first portal's (``seed.portal_b_data``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa

from datasync_pipeline.config import DatasyncConfig, HubSpotConnection, SqlConnection, SyncSpec
from datasync_pipeline.config.secrets import resolve
from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table
from datasync_pipeline.demo.seed import APP_COLUMNS, DemoCounts, DemoData, HubSpotLink, PortalData, demo_data, portal_b_data
from datasync_pipeline.objects.catalogue import ASSOCIATIONS

SEED_ORDER = ("companies", "contacts", "deals")  # associated objects first: their app keys are needed


@dataclass(frozen=True)
class DemoSeed:
    """What was seeded, per object; ``hubspot``, ``app`` and ``shared`` are the contacts' counts."""

    objects: Mapping[str, DemoCounts] = field(default_factory=dict)
    portals: Mapping[str, Mapping[str, DemoCounts]] = field(default_factory=dict)  # app portal -> object -> counts

    @property
    def hubspot(self) -> int:
        return self.objects["contacts"].hubspot

    @property
    def app(self) -> int:
        return self.objects["contacts"].app

    @property
    def shared(self) -> int:
        return self.objects["contacts"].shared


def demo_syncs(config: DatasyncConfig) -> dict[str, SyncSpec]:
    """The first sync of each object the demo has data for, in seeding order, with a SQL app."""
    syncs: dict[str, SyncSpec] = {}
    for sync in config.syncs:
        if sync.object in APP_COLUMNS and isinstance(config.connections[sync.app], SqlConnection):
            syncs.setdefault(sync.object, sync)
    return {name: syncs[name] for name in SEED_ORDER if name in syncs}


def create_demo_tables(config: DatasyncConfig) -> dict[str, sa.Table]:
    """Create the app table of every demo sync (if missing), with its association columns."""
    tables = {}
    for name, sync in demo_syncs(config).items():
        engine = sa.create_engine(_app_url(config, sync))
        try:
            tables[name] = create_app_table(engine, _table_spec(sync), _column_types(sync))
        finally:
            engine.dispose()
    return tables


def seed_demo(config: DatasyncConfig, *, records_per_side: int) -> DemoSeed:
    """Seed every demo sync of the configuration: sandbox records, app rows, and their associations."""
    from datasync_pipeline.sandbox import Sandbox, SandboxSettings

    syncs = demo_syncs(config)
    assert "contacts" in syncs, "the demo needs a contacts sync"
    data = demo_data(records_per_side)
    tables = create_demo_tables(config)

    hubspot_connection = config.connections[config.hubspot_connection_name(syncs["contacts"])]
    assert isinstance(hubspot_connection, HubSpotConnection) and hubspot_connection.sandbox is not None, "the demo seeds the sandbox"
    settings = SandboxSettings(db_path=hubspot_connection.sandbox.path, token=hubspot_connection.sandbox.token, tier="unlimited")
    sandbox = Sandbox(settings)
    try:
        hubspot_ids = {name: sandbox.seed(name, data.hubspot[name]) for name in syncs}
        _associate_in_sandbox(sandbox, settings.token, data, hubspot_ids)
    finally:
        sandbox.close()

    app_keys: dict[str, list] = {}
    for name, sync in syncs.items():
        engine = sa.create_engine(_app_url(config, sync))
        try:
            app_keys[name] = _insert_app_rows(engine, tables[name], sync, data, name, app_keys)
        finally:
            engine.dispose()
    portals = {name: _seed_portal(connection, portal_syncs, data, records_per_side)
               for name, (connection, portal_syncs) in _portal_syncs(config).items()}
    return DemoSeed({name: data.counts[name] for name in syncs}, portals)


PORTAL_OBJECTS = ("companies", "contacts")


def _portal_syncs(config: DatasyncConfig) -> dict[str, tuple[HubSpotConnection, dict[str, SyncSpec]]]:
    """Sandbox portals on the app side of a contacts or companies sync: name -> (connection, object -> sync)."""
    portals: dict[str, tuple[HubSpotConnection, dict[str, SyncSpec]]] = {}
    for sync in config.syncs:
        connection = config.connections[sync.app]
        if sync.object in PORTAL_OBJECTS and isinstance(connection, HubSpotConnection) and connection.sandbox is not None:
            portals.setdefault(sync.app, (connection, {}))[1].setdefault(sync.object, sync)
    return portals


def _seed_portal(connection: HubSpotConnection, syncs: Mapping[str, SyncSpec], data: DemoData, records_per_side: int) -> dict[str, DemoCounts]:
    """A second portal with a quarter as many contacts as a side of the demo (half of them the first portal's) and
    their companies, each contact with a primary company where its sync keeps that association."""
    from datasync_pipeline.sandbox import Sandbox, SandboxSettings

    portal: PortalData = portal_b_data(data, max(records_per_side // 4, 4))
    sandbox = Sandbox(SandboxSettings(db_path=connection.sandbox.path, token=connection.sandbox.token, tier="unlimited"))
    try:
        companies = sandbox.seed("companies", portal.companies) if "companies" in syncs else []
        contacts = sandbox.seed("contacts", portal.contacts) if "contacts" in syncs else []
        keeps_companies = "contacts" in syncs and any(a.object == "companies" for a in syncs["contacts"].associations)
        if companies and keeps_companies:
            links = [HubSpotLink("contacts", index, "companies", company, primary=True)
                     for index, company in enumerate(portal.primary_company) if company is not None]
            _associate_in_sandbox(sandbox, connection.sandbox.token, DemoData(hubspot_links=links), {"contacts": contacts, "companies": companies})
    finally:
        sandbox.close()
    return {name: portal.counts[name] for name in syncs}


def _associate_in_sandbox(sandbox, token: str, data: DemoData, ids: dict[str, list[str]]) -> None:
    """Link the seeded HubSpot records through the v4 batch API of the in-process sandbox (a few calls)."""
    from datasync_pipeline.connectors.hubspot import HubSpotClient

    inputs: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for link in data.hubspot_links:
        kind = ASSOCIATIONS.get((link.from_object, link.to_object))
        if kind is None or link.from_object not in ids or link.to_object not in ids:
            continue
        from_id, to_id = ids[link.from_object][link.from_index], ids[link.to_object][link.to_index]
        type_id = kind.type_id if link.primary or not kind.primary else _UNLABELED_COMPANY[link.from_object]
        inputs[(link.from_object, link.to_object)].append(
            {"ref": f"{from_id}-{to_id}-{type_id}", "from_id": from_id, "to_id": to_id, "type_id": type_id}
        )
    with HubSpotClient(base_url="http://sandbox.embedded", token=token, tier="unlimited",
                       transport=httpx.WSGITransport(app=sandbox.wsgi_app)) as client:
        for (from_object, to_object), batch in inputs.items():
            result = client.create_associations(from_object, to_object, batch)
            assert not result.failed, f"seeding {from_object} -> {to_object}: {next(iter(result.failed.values())).message}"


# HubSpot's unlabeled type ids of the links that can also be primary (a second, non-primary company).
_UNLABELED_COMPANY = {"contacts": 279, "deals": 341, "tickets": 339}


def _insert_app_rows(engine: sa.Engine, table: sa.Table, sync: SyncSpec, data: DemoData, name: str,
                     app_keys: dict[str, list]) -> list:
    """Insert the object's app rows with their association columns; returns their keys in order."""
    rows = [dict(row) for row in data.app[name]]
    for row, links in zip(rows, data.app_links.get(name, [{}] * len(rows)), strict=True):
        for association in sync.associations:
            index = links.get(association.object)
            keys = app_keys.get(association.object)
            row[association.app_column] = keys[index] if keys is not None and index is not None else None
    key = table.c[sync.table.key]
    with engine.begin() as connection:
        if not rows:
            return []
        inserted = connection.execute(sa.insert(table).returning(key, sort_by_parameter_order=True), rows)
        return list(inserted.scalars())


def _table_spec(sync: SyncSpec) -> SqlTableSpec:
    columns = [*APP_COLUMNS[sync.object], *(association.app_column for association in sync.associations)]
    return SqlTableSpec(table=sync.table.name, schema=sync.table.schema_name, key_column=sync.table.key, columns=columns,
                        updated_at_column=sync.table.updated_at, external_id_column=sync.table.external_id)


def _column_types(sync: SyncSpec) -> dict[str, sa.types.TypeEngine]:
    return {**APP_COLUMNS[sync.object], **{association.app_column: sa.Integer() for association in sync.associations}}


def _app_url(config: DatasyncConfig, sync: SyncSpec) -> str:
    connection = config.connections[sync.app]
    assert isinstance(connection, SqlConnection)
    return resolve(connection.url, where=f"connections.{sync.app}.url")
