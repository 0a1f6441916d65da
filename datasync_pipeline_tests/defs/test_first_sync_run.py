"""The walking skeleton: the contacts first sync as a Dagster run on the sandbox and a SQLite app."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from datasync_pipeline.config import load_config
from datasync_pipeline.defs.launch import run_first_sync
from datasync_pipeline.demo.seed import CUSTOMER_COLUMNS
from datasync_pipeline.demo.setup import seed_demo
from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline.state import StateStore


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


def customers(home) -> list[dict]:
    engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(sa.text("select * from customers order by id"))]
    engine.dispose()
    return rows


def hubspot_contacts(home) -> list[dict]:
    sandbox = Sandbox(SandboxSettings(db_path=str(home / "sandbox.sqlite"), tier="unlimited"))
    from datasync_pipeline.connectors.hubspot import HubSpotClient
    import httpx

    with HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                       transport=httpx.WSGITransport(app=sandbox.wsgi_app)) as client:
        return list(client.list_records("contacts", properties=["email", "firstname", "lastname", "city", "phone", "datasync_id"]))


def test_first_sync_of_contacts_runs_end_to_end_and_a_rerun_changes_nothing(demo_home, instance):
    config = load_config()
    counts = seed_demo(config, records_per_side=400)

    report = run_first_sync(config, instance=instance)
    assert report.success
    [contacts] = report.syncs
    assert contacts.value("hubspot_records", "dagster/row_count") == counts.hubspot
    assert contacts.value("app_records", "dagster/row_count") == counts.app
    matched = contacts.value("matched", "datasync/matched")
    excluded = contacts.value("hubspot_load", "datasync/excluded") + contacts.value("app_load", "datasync/excluded")
    created_in_hubspot = contacts.value("hubspot_load", "datasync/created")
    created_in_app = contacts.value("app_load", "datasync/created")
    failed = contacts.value("hubspot_load", "datasync/failed") + contacts.value("app_load", "datasync/failed")
    assert 0 < matched <= counts.shared and excluded > 0 and failed == 0
    # Every record of both sides is in exactly one state: linked (matched or created) or excluded.
    assert 2 * matched + created_in_hubspot + created_in_app + excluded == counts.hubspot + counts.app
    run = instance.get_run_by_id(report.run_id)
    assert run.tags["datasync/mode"] == "first"

    after_hubspot, after_app = hubspot_contacts(demo_home), customers(demo_home)
    assert len(after_hubspot) == counts.hubspot + created_in_hubspot
    assert len(after_app) == counts.app + created_in_app
    store = StateStore(config.state.url)
    assert store.pair_count("contacts") == matched + created_in_hubspot + created_in_app

    # The second first-sync finds everything linked: nothing created, nothing updated.
    rerun = run_first_sync(config, instance=instance).syncs[0]
    assert rerun.value("hubspot_load", "datasync/created") == 0 and rerun.value("app_load", "datasync/created") == 0
    assert rerun.value("hubspot_load", "datasync/updated") == 0 and rerun.value("app_load", "datasync/updated") == 0
    assert len(hubspot_contacts(demo_home)) == len(after_hubspot) and len(customers(demo_home)) == len(after_app)


def test_differently_cased_email_updates_the_existing_contact_instead_of_duplicating(demo_home, instance):
    config = load_config()
    sync = config.syncs[0]
    sandbox = Sandbox(SandboxSettings(db_path=str(demo_home / "sandbox.sqlite")))
    [hubspot_id] = sandbox.seed("contacts", [{"email": "ann@example.com", "firstname": "Ann", "lastname": None}])
    from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table

    engine = sa.create_engine(f"sqlite:///{demo_home}/app.sqlite")
    spec = SqlTableSpec(table="customers", key_column="id", columns=list(CUSTOMER_COLUMNS), updated_at_column="updated_at", external_id_column="hubspot_id")
    table = create_app_table(engine, spec, CUSTOMER_COLUMNS)
    with engine.begin() as connection:
        connection.execute(sa.insert(table), [{"email": " ANN@Example.com", "first_name": "Anna", "last_name": "Berg"}])
    engine.dispose()

    report = run_first_sync(config, instance=instance)
    assert report.success
    [contact] = hubspot_contacts(demo_home)
    assert contact["id"] == hubspot_id
    assert contact["properties"]["firstname"] == "Ann"  # HubSpot is the default app: its value wins
    assert contact["properties"]["lastname"] == "Berg"  # the empty side is filled
    [customer] = customers(demo_home)
    assert customer["first_name"] == "Ann" and customer["last_name"] == "Berg"
    assert sync.default_app.value == "hubspot"
