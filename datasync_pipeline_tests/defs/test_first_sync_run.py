"""The walking skeleton: the demo's first sync (companies, contacts, deals and their associations) as a
Dagster run on the sandbox and a SQLite app."""

from __future__ import annotations

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from datasync_pipeline.config import load_config
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.defs.launch import run_first_sync
from datasync_pipeline.demo.setup import create_demo_tables, seed_demo
from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline.state import StateStore

TABLES = {"companies": "companies", "contacts": "customers", "deals": "deals"}


@pytest.fixture
def demo_home(tmp_path, monkeypatch):
    monkeypatch.delenv("DATASYNC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATASYNC_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def app_rows(home, table: str) -> list[dict]:
    engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
    with engine.connect() as connection:
        target = sa.Table(table, sa.MetaData(), autoload_with=connection)
        rows = [dict(r._mapping) for r in connection.execute(sa.select(target).order_by(target.c.id))]
    engine.dispose()
    return rows


def hubspot_records(home, object_type: str, properties: tuple[str, ...] = ("datasync_id",), *, portal: str = "sandbox.sqlite") -> list[dict]:
    sandbox = Sandbox(SandboxSettings(db_path=str(home / portal), tier="unlimited"))
    try:
        with HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                           transport=httpx.WSGITransport(app=sandbox.wsgi_app)) as client:
            return list(client.list_records(object_type, properties=list(properties)))
    finally:
        sandbox.close()


def config_sync(config, name: str):
    return next(sync for sync in config.syncs if sync.name == name)


PORTAL_SYNCS = {"portal_companies": "companies", "portal_contacts": "contacts"}


def side_sizes(home, sync_name: str) -> tuple[int, int]:
    """How many records each side of a demo sync holds: the first portal's, and the app table's or second portal's."""
    object_type = PORTAL_SYNCS.get(sync_name, sync_name)
    app_side = (len(hubspot_records(home, object_type, portal="portal_b.sqlite")) if sync_name in PORTAL_SYNCS
                else len(app_rows(home, TABLES[sync_name])))
    return len(hubspot_records(home, object_type)), app_side


def hubspot_contacts(home) -> list[dict]:
    return hubspot_records(home, "contacts", ("email", "firstname", "lastname", "city", "phone", "datasync_id"))


def test_demo_first_sync_runs_end_to_end_and_a_rerun_changes_nothing(demo_home, instance):
    config = load_config()
    assert [sync.name for sync in config.syncs] == ["companies", "contacts", "deals", "portal_companies", "portal_contacts"]
    seeded = seed_demo(config, records_per_side=400)

    report = run_first_sync(config, instance=instance)
    assert report.success
    store = StateStore(config.state.url)
    by_name = {sync.name: sync for sync in report.syncs}
    # Every sync reads both sides before any writes (its reads come first in the run): each compares the seeded data.
    for sync in report.syncs:
        object_type = config_sync(config, sync.name).object
        counts = seeded.objects[sync.name] if sync.name in TABLES else seeded.portals["portal_b"][object_type]
        assert sync.value("hubspot_records", "dagster/row_count") == counts.hubspot, sync.name
        assert sync.value("app_records", "dagster/row_count") == counts.app, sync.name
        matched = sync.value("matched", "datasync/matched")
        excluded = sync.value("hubspot_load", "datasync/excluded") + sync.value("app_load", "datasync/excluded")
        created_in_hubspot = sync.value("hubspot_load", "datasync/created")
        created_in_app = sync.value("app_load", "datasync/created")
        failed = sync.value("hubspot_load", "datasync/failed") + sync.value("app_load", "datasync/failed")
        assert matched <= counts.shared and failed == 0, sync.name
        # Every record of both sides is in exactly one state: linked (matched or created) or excluded.
        assert 2 * matched + created_in_hubspot + created_in_app + excluded == counts.hubspot + counts.app, sync.name
        assert store.pair_count(sync.name) == matched + created_in_hubspot + created_in_app, sync.name
    # The first portal holds what every sync of the object created in it; each app what its own sync created.
    for object_type in ("companies", "contacts", "deals"):
        created = sum(sync.value("hubspot_load", "datasync/created") for sync in report.syncs if config_sync(config, sync.name).object == object_type)
        assert len(hubspot_records(demo_home, object_type)) == seeded.objects[object_type].hubspot + created, object_type
    for name in TABLES:
        assert len(app_rows(demo_home, TABLES[name])) == seeded.objects[name].app + by_name[name].value("app_load", "datasync/created"), name
    for name, object_type in (("portal_companies", "companies"), ("portal_contacts", "contacts")):
        in_portal = len(hubspot_records(demo_home, object_type, portal="portal_b.sqlite"))
        assert in_portal == seeded.portals["portal_b"][object_type].app + by_name[name].value("app_load", "datasync/created"), name
    assert 0 < by_name["contacts"].value("matched", "datasync/matched") and by_name["contacts"].value("app_load", "datasync/excluded") > 0
    assert 0 < by_name["companies"].value("matched", "datasync/matched")  # domains written differently still match
    assert by_name["deals"].value("matched", "datasync/matched") == 0  # deals are never matched: created on the other side
    assert 0 < by_name["portal_contacts"].value("matched", "datasync/matched") and 0 < by_name["portal_companies"].value("matched", "datasync/matched")
    run = instance.get_run_by_id(report.run_id)
    assert run.tags["datasync/mode"] == "first"

    # Associations (rule 8): written both ways; those to a record the partner did not link fail alone, and are kept.
    assert "associations" not in by_name["companies"].metadata
    for name in ("contacts", "deals", "portal_contacts"):
        associations = by_name[name].metadata["associations"]
        assert associations["datasync/associations_created_in_hubspot"] > 0 and associations["datasync/associations_updated_in_app"] > 0
        failed_associations = associations.get("datasync/failed/association_failed", 0)
        assert store.outcome_counts(name).get("failed/association_failed", 0) <= failed_associations
    assert by_name["contacts"].metadata["associations"]["datasync/conflicts"] > 0  # a different company on each side
    assert by_name["deals"].metadata["associations"]["datasync/failed/association_failed"] > 0  # contacts without email
    customers = app_rows(demo_home, "customers")
    companies_by_key = {str(row["id"]) for row in app_rows(demo_home, "companies")}
    assert all(row["company_id"] is None or str(row["company_id"]) in companies_by_key for row in customers)

    # The first portal is the hub between the app and the second portal: what one sync created in it, the other
    # carries on at the next run. The run after that finds everything linked: nothing created, updated or associated.
    assert run_first_sync(config, instance=instance).success
    sizes = {name: side_sizes(demo_home, name) for name in by_name}
    customers = app_rows(demo_home, "customers")
    rerun = run_first_sync(config, instance=instance)
    assert rerun.success
    for sync in rerun.syncs:
        for step in ("hubspot_load", "app_load"):
            assert sync.value(step, "datasync/created") == 0 and sync.value(step, "datasync/updated") == 0, (sync.name, step)
        if sync.name not in ("companies", "portal_companies"):
            assert sync.value("associations", "dagster/row_count") == 0, sync.name
        assert side_sizes(demo_home, sync.name) == sizes[sync.name], sync.name
    assert app_rows(demo_home, "customers") == customers
    # Every linked app row holds its HubSpot id, those created in HubSpot by the first run included.
    linked = dict(zip(store.known_pairs("contacts")["app_id"], store.known_pairs("contacts")["hubspot_id"]))
    assert all(row["hubspot_id"] == linked[str(row["id"])] for row in customers if str(row["id"]) in linked)


def test_differently_cased_email_updates_the_existing_contact_instead_of_duplicating(demo_home, instance):
    config = load_config()
    sync = next(s for s in config.syncs if s.name == "contacts")
    sandbox = Sandbox(SandboxSettings(db_path=str(demo_home / "sandbox.sqlite")))
    [hubspot_id] = sandbox.seed("contacts", [{"email": "ann@example.com", "firstname": "Ann", "lastname": None}])
    sandbox.close()
    tables = create_demo_tables(config)
    engine = sa.create_engine(f"sqlite:///{demo_home}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.insert(tables["contacts"]), [{"email": " ANN@Example.com", "first_name": "Anna", "last_name": "Berg"}])
    engine.dispose()

    report = run_first_sync(config, instance=instance)
    assert report.success
    [contact] = hubspot_contacts(demo_home)
    assert contact["id"] == hubspot_id
    assert contact["properties"]["firstname"] == "Ann"  # HubSpot is the default app: its value wins
    assert contact["properties"]["lastname"] == "Berg"  # the empty side is filled
    [customer] = app_rows(demo_home, "customers")
    assert customer["first_name"] == "Ann" and customer["last_name"] == "Berg"
    assert sync.default_app.value == "hubspot"
