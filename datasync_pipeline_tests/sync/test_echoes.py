"""No echo runs (issue 8): after a run, the probe does not take the run's own writes for changes.

Runs go through Dagster (``defs.launch``) on the sandbox and a SQLite app; the probe is the one the
change sensor uses, through the real HubSpot client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from datasync_pipeline.connectors.sql import timestamps
from datasync_pipeline.defs.launch import run_first_sync, run_incremental
from datasync_pipeline.sync.probe import PROBE_PAGE, ProbeResult
from datasync_pipeline.state import StateStore, echoes
from datasync_pipeline_tests.defs.scenario import ContactsScenario, contacts_scenario
from datasync_pipeline_tests.sync.changes import WATERMARK
from datasync_pipeline_tests.sync.test_probe import client_for, make_probe, sync_named


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[ContactsScenario]:
    scenario = contacts_scenario(tmp_path)
    yield scenario
    scenario.sandbox.close()


@pytest.fixture
def synced(scenario: ContactsScenario, instance) -> ContactsScenario:
    """After a first sync that wrote on both sides: a create and an update each way."""
    scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann"}, {"email": "cy@example.com", "firstname": "Cy"}])
    scenario.seed_app([{"email": "bob@example.com", "first_name": "Bob"}, {"email": "cy@example.com", "city": "Graz"}])
    report = run_first_sync(scenario.config, instance=instance)
    [run] = report.syncs
    assert report.success and run.value("hubspot_load", "datasync/created") == 1 and run.value("app_load", "datasync/created") == 1
    assert run.value("hubspot_load", "datasync/updated") == 1 and run.value("app_load", "datasync/updated") == 1
    return scenario


def probe(scenario: ContactsScenario) -> ProbeResult:
    store = StateStore(scenario.config.state.url)
    return make_probe(scenario, store, client_for(scenario)).probe([sync_named(scenario, "contacts")])["contacts"]


def hubspot_id_of(scenario: ContactsScenario, email: str) -> str:
    return next(i for i, p in scenario.hubspot_contacts().items() if p["email"] == email)


def patch_hubspot(scenario: ContactsScenario, record_id: str, **properties) -> None:
    import httpx

    httpx.Client(transport=httpx.WSGITransport(app=scenario.sandbox.wsgi_app), base_url="http://sandbox").patch(
        f"/crm/v3/objects/contacts/{record_id}", json={"properties": properties},
        headers={"Authorization": "Bearer sandbox-token"}).raise_for_status()


def change_app_after_our_write(scenario: ContactsScenario, email: str, **values) -> None:
    """A user's change of a row we wrote, made after our run: stamped by the database's clock, after our write."""
    engine = sa.create_engine(f"sqlite:///{scenario.home}/app.sqlite")
    with engine.begin() as connection:
        table = sa.Table("customers", sa.MetaData(), autoload_with=connection)
        [ours] = connection.execute(sa.select(sa.type_coerce(table.c.updated_at, sa.String)).where(table.c.email == email)).scalars()
        connection.execute(table.update().where(table.c.email == email).values(
            **values, updated_at=sa.func.strftime("%Y-%m-%d %H:%M:%f000", "now")))
        [now] = connection.execute(sa.select(sa.type_coerce(table.c.updated_at, sa.String)).where(table.c.email == email)).scalars()
    engine.dispose()
    assert timestamps.parse_utc(pd.Series([now])).iloc[0] > timestamps.parse_utc(pd.Series([ours])).iloc[0]


def test_issue8_a_writing_run_is_not_followed_by_a_run_that_finds_only_its_own_writes(synced, instance):
    result = probe(synced)

    assert not result.changed, result.message
    assert result.message.startswith("contacts: no change in HubSpot since ")
    # The run moved its watermarks past its own writes (a create and an update on each side, and in the app the
    # HubSpot id written into the row created in HubSpot), as nothing else had changed.
    store = StateStore(synced.config.state.url)
    for side, written in (("hubspot", 2), ("app", 3)):
        assert echoes.count_after(store, "contacts", side, echoes.EPOCH) == written, side
        assert echoes.count_after(store, "contacts", side, store.watermarks("contacts")[side]) == 0, side

    # An incremental run that writes is no different.
    patch_hubspot(synced, hubspot_id_of(synced, "ann@example.com"), city="Bonn")
    assert probe(synced).hubspot.changed
    report = run_incremental(synced.config, ["contacts"], instance=instance)
    assert report.success and report.syncs[0].value("app_load", "datasync/updated") == 1
    assert not probe(synced).changed


def test_issue8_a_change_right_after_our_write_of_the_same_record_is_still_a_change_and_is_synced(synced, instance):
    bob = hubspot_id_of(synced, "bob@example.com")  # created in HubSpot by the first sync
    patch_hubspot(synced, bob, city="Linz")  # the sandbox stamps a later lastmodifieddate than our write's
    change_app_after_our_write(synced, "ann@example.com", city="Wels")  # created in the app by the first sync

    result = probe(synced)
    assert result.changed and result.hubspot.count == 1 and result.app.count == 1, result.message

    assert run_incremental(synced.config, ["contacts"], instance=instance).success
    assert {c["email"]: c["city"] for c in synced.customers()}["bob@example.com"] == "Linz"
    assert synced.hubspot_contacts()[hubspot_id_of(synced, "ann@example.com")]["city"] == "Wels"
    assert not probe(synced).changed


def test_more_changes_than_one_page_count_as_changed_even_if_every_one_seen_is_ours(scenario):
    store = StateStore(scenario.config.state.url)
    store.advance_watermarks("contacts", {"hubspot": WATERMARK, "app": WATERMARK})
    stamp = WATERMARK + timedelta(minutes=1)
    ids = scenario.sandbox.seed("contacts", [{"email": f"c{i}@example.com"} for i in range(PROBE_PAGE)], updated_at=stamp)
    echoes.record_writes(store, "contacts", echoes.HUBSPOT, dict.fromkeys(ids, stamp))
    assert not probe(scenario).hubspot.changed  # a full page, all ours, and nothing beyond it

    scenario.sandbox.seed("contacts", [{"email": "someone@example.com"}], updated_at=stamp - timedelta(seconds=1))
    result = probe(scenario)
    assert result.hubspot.changed and result.hubspot.count == PROBE_PAGE + 1  # unseen beyond the page: not skipped


def test_the_ledger_forgets_writes_the_watermark_has_passed(scenario):
    store = StateStore(scenario.config.state.url)
    store.advance_watermarks("contacts", {"hubspot": WATERMARK, "app": WATERMARK})
    echoes.record_writes(store, "contacts", echoes.APP, {"1": WATERMARK - timedelta(seconds=1), "2": WATERMARK + timedelta(seconds=1)})
    echoes.record_writes(store, "contacts", echoes.APP, {"3": WATERMARK + timedelta(seconds=2)})
    with store.engine.connect() as connection:
        kept = sorted(connection.execute(sa.text("select record_id from datasync_echoes")).scalars())
    assert kept == ["2", "3"]


def test_issue9_after_a_soft_delete_in_the_app_the_probe_settles(tmp_path: Path, instance):
    """The run that marks the deletion moves the app watermark past it: the sensor does not see it again forever."""
    scenario = contacts_scenario(tmp_path, soft_delete=True)
    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.sqlite")
    scenario.seed_hubspot([{"email": "ben@example.com", "firstname": "Ben"}])
    scenario.seed_app([{"email": "ben@example.com", "first_name": "Ben"}])
    assert run_first_sync(scenario.config, instance=instance).success
    now = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE customers SET deleted_at = {now}, updated_at = {now}"))
    engine.dispose()
    assert probe(scenario).app.changed

    run = run_incremental(scenario.config, ["contacts"], instance=instance)  # right after the delete, within the overlap
    assert run.success and run.syncs[0].value("checkpoint", "datasync/deleted_in_app") == 1
    assert not probe(scenario).changed, probe(scenario).message
    scenario.sandbox.close()


def test_issue8_a_first_sync_writing_more_than_a_probe_page_is_not_followed_by_an_echo_run(scenario, instance):
    scenario.seed_hubspot([{"email": f"hub{i}@example.com", "firstname": f"Hub {i}"} for i in range(PROBE_PAGE + 50)])
    scenario.seed_app([{"email": f"app{i}@example.com", "first_name": f"App {i}"} for i in range(PROBE_PAGE + 50)])
    assert run_first_sync(scenario.config, instance=instance).success

    result = probe(scenario)

    assert not result.changed, result.message
