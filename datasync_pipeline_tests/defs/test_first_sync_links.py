"""First syncs over links left by earlier runs (rule 6 and "links are evidence, identity is the rule"), as Dagster runs
on the sandbox and SQLite apps: another database under the same sync, a rerun after pending edits, a linked row
whose email became invalid, and the external-id column of matched rows."""

from __future__ import annotations

import dagster as dg
import httpx
import pytest

from datasync_pipeline.config import parse_config
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.defs.launch import run_first_sync
from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline.state import StateStore
from datasync_pipeline_tests.defs.scenario import CONFIG, contacts_scenario


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def contacts_in(home) -> dict[str, dict]:
    """HubSpot contacts by id, read through a sandbox opened now (it knows the properties the runs created)."""
    sandbox = Sandbox(SandboxSettings(db_path=str(home / "sandbox.sqlite"), tier="unlimited"))
    try:
        with HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                           transport=httpx.WSGITransport(app=sandbox.wsgi_app)) as client:
            return {r["id"]: r["properties"] for r in client.list_records("contacts", properties=["email", "firstname", "datasync_id"])}
    finally:
        sandbox.close()


def test_a_production_database_pointed_at_a_portal_synced_with_staging_keeps_its_rows(tmp_path, instance):
    staging_home, production_home = tmp_path / "staging", tmp_path / "production"
    staging_home.mkdir()
    production_home.mkdir()
    staging = contacts_scenario(staging_home)
    staging.seed_app([{"email": f"staging{i}@example.com", "first_name": "Stage"} for i in range(1, 11)])
    assert run_first_sync(staging.config, instance=instance).success
    in_hubspot = contacts_in(staging_home)
    assert {p["datasync_id"] for p in in_hubspot.values()} == {f"contacts:{i}" for i in range(1, 11)}

    # The same sync pointed at production (other people under ids 1-10), with a fresh state store.
    production = contacts_scenario(production_home)
    production.seed_app([{"email": f"person{i}@example.org", "first_name": "Prod"} for i in range(1, 11)])
    before = production.customers()
    production.config = parse_config(CONFIG.format(home=production_home, extra="").replace(
        f"{production_home}/sandbox.sqlite", f"{staging_home}/sandbox.sqlite"), source="production")
    assert run_first_sync(production.config, instance=instance).success

    assert production.customers()[:10] == before  # not one production row rewritten
    assert contacts_in(staging_home) == in_hubspot  # nor a staging contact
    assert StateStore(production.config.state.url).outcome_counts("contacts")["failed/link_contradicts_identity"] == 10


def test_a_rerun_first_sync_carries_pending_app_edits_instead_of_reverting_them(tmp_path, instance):
    scenario = contacts_scenario(tmp_path)
    scenario.seed_hubspot([{"email": f"p{i}@example.com", "firstname": "Old", "city": "Bonn"} for i in range(5)])
    scenario.seed_app([{"email": f"p{i}@example.com", "first_name": "Old", "city": "Bonn"} for i in range(5)])
    assert run_first_sync(scenario.config, instance=instance).success
    scenario.update_customer("p1@example.com", first_name="New")  # not synced yet; HubSpot is the default app

    rerun = run_first_sync(scenario.config, instance=instance)
    assert rerun.success
    by_email = {p["email"]: p for p in scenario.hubspot_contacts().values()}
    assert by_email["p1@example.com"]["firstname"] == "New"
    assert {c["email"]: c["first_name"] for c in scenario.customers()}["p1@example.com"] == "New"
    assert rerun.syncs[0].value("hubspot_load", "datasync/conflicts_logged") == 0


def test_a_linked_row_whose_email_became_invalid_stays_linked_and_fails(tmp_path, instance):
    scenario = contacts_scenario(tmp_path)
    scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann"}])
    scenario.seed_app([{"email": "ann@example.com", "first_name": "Ann"}])
    assert run_first_sync(scenario.config, instance=instance).success
    scenario.update_customer("ann@example.com", email="ann(at)example")

    assert run_first_sync(scenario.config, instance=instance).success
    assert [c["email"] for c in scenario.customers()] == ["ann(at)example"]  # no second row for Ann
    store = StateStore(scenario.config.state.url)
    assert store.pair_count("contacts") == 1
    assert store.outcome_counts("contacts") == {"failed/invalid_email": 1}


def test_matched_rows_get_the_linked_hubspot_id_in_their_external_id_column(tmp_path, instance):
    scenario = contacts_scenario(tmp_path)
    [ann] = scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann"}])
    scenario.seed_app([{"email": "ANN@example.com", "first_name": "Ann"}])
    report = run_first_sync(scenario.config, instance=instance)
    assert report.success
    assert [c["hubspot_id"] for c in scenario.customers()] == [ann]
    assert report.syncs[0].value("app_load", "datasync/external_ids_written") == 1
    assert report.syncs[0].value("app_load", "datasync/updated") == 0  # bookkeeping, not a synced change
