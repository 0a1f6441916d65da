"""Ongoing sync end to end (rules 3, 7, 9, 10): incremental runs on the sandbox and a SQLite app."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from datasync_pipeline.defs.launch import run_first_sync, run_incremental
from datasync_pipeline.state import StateStore
from datasync_pipeline_tests.defs.scenario import contacts_scenario


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def synced(tmp_path, instance):
    """Two linked contacts after a first sync."""
    scenario = contacts_scenario(tmp_path)
    scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann", "city": "Berlin"},
                           {"email": "ben@example.com", "firstname": "Ben"}])
    scenario.seed_app([{"email": "ann@example.com", "first_name": "Ann", "city": "Berlin"},
                       {"email": "ben@example.com", "first_name": "Ben"}])
    assert run_first_sync(scenario.config, instance=instance).success
    return scenario


def hubspot_id_of(scenario, email: str) -> str:
    return next(i for i, p in scenario.hubspot_contacts().items() if p["email"] == email)


def update_app(scenario, email: str, **values) -> None:
    scenario.update_customer(email, **values)


def crash_at_checkpoint(monkeypatch, scenario, instance) -> None:
    """An incremental run that dies after both loads, before its checkpoint commits anything."""
    def crash(*args, **kwargs):
        raise RuntimeError("killed after the loads")

    with monkeypatch.context() as patch:
        patch.setattr("datasync_pipeline.sync.checkpoint.commit_pair_values", crash)
        assert not run_incremental(scenario.config, ["contacts"], instance=instance).success


def update_hubspot(scenario, record_id: str, **properties) -> None:
    import httpx

    response = httpx.Client(transport=httpx.WSGITransport(app=scenario.sandbox.wsgi_app), base_url="http://sandbox").patch(
        f"/crm/v3/objects/contacts/{record_id}", json={"properties": properties}, headers={"Authorization": "Bearer sandbox-token"})
    response.raise_for_status()


def test_rule9_changes_on_each_side_flow_to_the_other_and_an_idle_run_writes_nothing(synced, instance):
    ann = hubspot_id_of(synced, "ann@example.com")
    update_hubspot(synced, ann, city="Bonn")
    update_app(synced, "ben@example.com", last_name="Berg")
    report = run_incremental(synced.config, ["contacts"], instance=instance)
    assert report.success
    [run] = report.syncs
    assert run.value("app_load", "datasync/updated") == 1 and run.value("hubspot_load", "datasync/updated") == 1
    assert run.value("hubspot_load", "datasync/created") == 0 and run.value("app_load", "datasync/created") == 0
    customers = {c["email"]: c for c in synced.customers()}
    assert customers["ann@example.com"]["city"] == "Bonn"
    assert synced.hubspot_contacts()[hubspot_id_of(synced, "ben@example.com")]["lastname"] == "Berg"
    assert instance.get_run_by_id(report.run_id).tags["datasync/mode"] == "incremental"

    # Our own writes come back as changes; the three-way merge finds nothing to do.
    again = run_incremental(synced.config, ["contacts"], instance=instance).syncs[0]
    assert again.value("app_load", "datasync/updated") == 0 and again.value("hubspot_load", "datasync/updated") == 0


def test_rule3_a_field_changed_on_both_sides_goes_to_the_default_app_and_is_logged(synced, instance):
    ann = hubspot_id_of(synced, "ann@example.com")
    update_hubspot(synced, ann, city="Bonn")
    update_app(synced, "ann@example.com", city="Köln")
    assert run_incremental(synced.config, ["contacts"], instance=instance).success
    customers = {c["email"]: c for c in synced.customers()}
    assert customers["ann@example.com"]["city"] == "Bonn"  # HubSpot is the default app
    conflicts = StateStore(synced.config.state.url).conflicts("contacts")
    assert conflicts[["hubspot_id", "field", "hubspot_value", "app_value", "winner"]].values.tolist() == [[ann, "city", "Bonn", "Köln", "hubspot"]]


def test_issue9_a_crash_between_the_loads_and_the_checkpoint_keeps_the_runs_conflict_log(synced, instance, monkeypatch):
    ann = hubspot_id_of(synced, "ann@example.com")
    update_hubspot(synced, ann, city="Bonn")
    update_app(synced, "ann@example.com", city="Köln")
    crash_at_checkpoint(monkeypatch, synced, instance)
    assert run_incremental(synced.config, ["contacts"], instance=instance).success  # the rerun finds the pair converged
    conflicts = StateStore(synced.config.state.url).conflicts("contacts")
    assert conflicts[["hubspot_id", "field", "hubspot_value", "app_value", "winner"]].values.tolist() == [[ann, "city", "Bonn", "Köln", "hubspot"]]


def test_new_records_are_matched_before_anything_is_created(synced, instance):
    # A new app row and a new HubSpot contact with the same address: linked, not created twice.
    synced.seed_app([{"email": "Cy@Example.com ", "first_name": "Cy"}])
    synced.sandbox.seed("contacts", [{"email": "cy@example.com", "lastname": "Chen"}])
    synced.seed_app([{"email": "dee@example.com", "first_name": "Dee"}])
    run = run_incremental(synced.config, ["contacts"], instance=instance).syncs[0]
    assert run.value("hubspot_load", "datasync/created") == 1  # only dee
    assert run.value("app_load", "datasync/created") == 0
    contacts = synced.hubspot_contacts()
    assert sorted(p["email"] for p in contacts.values()) == ["ann@example.com", "ben@example.com", "cy@example.com", "dee@example.com"]
    cy = {c["email"].strip().lower(): c for c in synced.customers()}["cy@example.com"]
    assert cy["last_name"] == "Chen"


def test_a_new_app_record_matching_a_hubspot_contact_that_did_not_change_is_linked(synced, instance):
    synced.sandbox.seed("contacts", [{"email": "eve@example.com", "firstname": "Eve"}])
    assert run_incremental(synced.config, ["contacts"], instance=instance).success  # eve goes to the app
    synced.sandbox.seed("contacts", [{"email": "fay@example.com", "firstname": "Fay"}])
    # Move the HubSpot watermark past fay's creation: only the app side will show a change.
    store = StateStore(synced.config.state.url)
    store.advance_watermarks("contacts", {"hubspot": store.watermarks("contacts")["hubspot"].replace(year=2100)})
    synced.seed_app([{"email": "FAY@example.com", "first_name": "Fay", "city": "Graz"}])
    run = run_incremental(synced.config, ["contacts"], instance=instance).syncs[0]
    assert run.value("hubspot_load", "datasync/created") == 0
    fay = next(p for p in synced.hubspot_contacts().values() if p["email"] == "fay@example.com")
    assert fay["city"] == "Graz"


def test_rule10_a_record_deleted_on_one_side_is_not_deleted_on_the_other_and_its_pair_fails(synced, instance):
    import httpx

    ann = hubspot_id_of(synced, "ann@example.com")
    httpx.Client(transport=httpx.WSGITransport(app=synced.sandbox.wsgi_app), base_url="http://sandbox").delete(
        f"/crm/v3/objects/contacts/{ann}", headers={"Authorization": "Bearer sandbox-token"}).raise_for_status()
    engine = sa.create_engine(f"sqlite:///{synced.home}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM customers WHERE email = 'ben@example.com'"))
    engine.dispose()
    update_app(synced, "ann@example.com", city="Wien")  # a change to the survivor does not flow any more

    # A hard delete in the app leaves no change to read: the hourly reconciling run checks every link.
    run = run_incremental(synced.config, ["contacts"], instance=instance, reason="reconcile").syncs[0]
    assert run.value("checkpoint", "datasync/deleted_in_hubspot") == 1 and run.value("checkpoint", "datasync/deleted_in_app") == 1
    assert run.value("hubspot_load", "datasync/created") == 0 and run.value("app_load", "datasync/created") == 0
    assert [c["email"] for c in synced.customers()] == ["ann@example.com"]  # ann stays in the app
    assert [p["email"] for p in synced.hubspot_contacts().values()] == ["ben@example.com"]  # ben stays in HubSpot
    store = StateStore(synced.config.state.url)
    assert store.outcome_counts("contacts") == {"failed/deleted_in_hubspot": 1, "failed/deleted_in_app": 1}
    # A first-sync rerun does not recreate them either.
    rerun = run_first_sync(synced.config, instance=instance).syncs[0]
    assert rerun.value("hubspot_load", "datasync/created") == 0 and rerun.value("app_load", "datasync/created") == 0


def test_rule7_linked_records_keep_syncing_whatever_the_filters_say(tmp_path, instance):
    scenario = contacts_scenario(tmp_path, extra="    filters:\n      app: [{field: country, operator: eq, value: DE}]")
    scenario.seed_app([{"email": "ann@example.com", "first_name": "Ann", "country": "DE"},
                       {"email": "bob@example.com", "first_name": "Bob", "country": "AT"}])
    first = run_first_sync(scenario.config, instance=instance).syncs[0]
    assert first.value("hubspot_load", "datasync/created") == 1 and first.value("hubspot_load", "datasync/excluded/outside filters") == 1
    update_app(scenario, "ann@example.com", country="FR", city="Paris")
    assert run_incremental(scenario.config, ["contacts"], instance=instance).success
    ann = next(p for p in scenario.hubspot_contacts().values() if p["email"] == "ann@example.com")
    assert ann["country"] == "FR" and ann["city"] == "Paris"


def test_a_run_killed_during_load_is_redone_from_the_old_watermark_without_duplicates(synced, instance, monkeypatch):
    from datasync_pipeline.connectors.sql import SqlConnector

    store = StateStore(synced.config.state.url)
    before = store.watermarks("contacts")
    ann = hubspot_id_of(synced, "ann@example.com")
    update_hubspot(synced, ann, city="Bonn")
    synced.sandbox.seed("contacts", [{"email": "gus@example.com", "firstname": "Gus"}])
    update_app(synced, "ben@example.com", last_name="Berg")
    real_update = SqlConnector.update

    def killed(self, rows):
        raise RuntimeError("worker killed during the app load")

    monkeypatch.setattr(SqlConnector, "update", killed)
    assert not run_incremental(synced.config, ["contacts"], instance=instance).success
    assert store.watermarks("contacts") == before  # the checkpoint did not run

    monkeypatch.setattr(SqlConnector, "update", real_update)
    assert run_incremental(synced.config, ["contacts"], instance=instance).success
    customers = {c["email"]: c for c in synced.customers()}
    assert customers["ann@example.com"]["city"] == "Bonn"  # the change the killed run lost is redone
    assert sorted(customers) == ["ann@example.com", "ben@example.com", "gus@example.com"]  # gus created once
    assert synced.hubspot_contacts()[hubspot_id_of(synced, "ben@example.com")]["lastname"] == "Berg"
    assert len(synced.hubspot_contacts()) == 3
    assert store.watermarks("contacts")["app"] > before["app"]


def test_a_transient_write_failure_is_retried_by_a_later_run_and_then_cleared(synced, instance, monkeypatch):
    monkeypatch.setenv("DATASYNC_RETRY_BACKOFF_SECONDS", "0")  # due at once, so the next run retries
    engine = sa.create_engine(f"sqlite:///{synced.home}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text(
            "CREATE TRIGGER refuse BEFORE UPDATE OF city ON customers WHEN NEW.email = 'ann@example.com' "
            "BEGIN SELECT RAISE(ABORT, 'the ERP is locked for maintenance'); END"))
    update_hubspot(synced, hubspot_id_of(synced, "ann@example.com"), city="Bonn")
    store = StateStore(synced.config.state.url)

    first = run_incremental(synced.config, ["contacts"], instance=instance).syncs[0]
    assert first.value("app_load", "datasync/failed/database_error") == 1
    assert store.outcome_counts("contacts") == {"failed/database_error": 1}

    with engine.begin() as connection:
        connection.execute(sa.text("DROP TRIGGER refuse"))
    engine.dispose()
    # Move the HubSpot watermark past the change: only the retry can bring it back.
    store.advance_watermarks("contacts", {"hubspot": store.watermarks("contacts")["hubspot"].replace(year=2100)})
    second = run_incremental(synced.config, ["contacts"], instance=instance).syncs[0]
    assert second.value("app_load", "datasync/updated") == 1
    assert {c["email"]: c["city"] for c in synced.customers()}["ann@example.com"] == "Bonn"
    assert store.outcome_counts("contacts") == {}


def test_the_conflict_log_exports_to_csv_and_excel(synced, instance, tmp_path, monkeypatch):
    import pandas as pd
    from typer.testing import CliRunner

    from datasync_pipeline.cli import app

    update_hubspot(synced, hubspot_id_of(synced, "ann@example.com"), city="Bonn")
    update_app(synced, "ann@example.com", city="Köln")
    assert run_incremental(synced.config, ["contacts"], instance=instance).success
    config_file = tmp_path / "datasync.yaml"
    from datasync_pipeline_tests.defs.scenario import CONFIG

    config_file.write_text(CONFIG.format(home=synced.home, extra=""))
    for name in ("conflicts.csv", "conflicts.xlsx"):
        result = CliRunner().invoke(app, ["conflicts", "--config", str(config_file), "--sync", "contacts", "--output", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        exported = pd.read_csv(tmp_path / name) if name.endswith(".csv") else pd.read_excel(tmp_path / name)
        assert exported[["field", "hubspot_value", "app_value", "winner"]].values.tolist() == [["city", "Bonn", "Köln", "hubspot"]]


def test_sync_run_syncs_one_change_now_as_the_sensors_runs_do(synced, instance, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from datasync_pipeline.cli import app
    from datasync_pipeline_tests.defs.scenario import CONFIG

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    config_file = tmp_path / "datasync.yaml"
    config_file.write_text(CONFIG.format(home=synced.home, extra=""))
    update_app(synced, "ann@example.com", city="Linz")

    result = CliRunner().invoke(app, ["sync", "run", "contacts", "--config", str(config_file)])

    assert result.exit_code == 0, result.output
    assert "succeeded: HubSpot 0 created, 1 updated" in result.output
    assert synced.hubspot_contacts()[hubspot_id_of(synced, "ann@example.com")]["city"] == "Linz"
    [run] = dg.DagsterInstance.get().get_runs(limit=1)
    assert run.job_name == "incremental_sync" and run.tags["datasync/reason"] == "change" and run.tags["datasync/sync"] == "contacts"


def test_issue9_an_in_side_duplicate_stays_excluded_as_a_duplicate_when_it_changes(tmp_path, instance):
    scenario = contacts_scenario(tmp_path)
    scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann"}])
    scenario.seed_app([{"email": "ann@example.com", "first_name": "Ann"}, {"email": " ANN@example.com", "first_name": "Ann twice"}])
    assert run_first_sync(scenario.config, instance=instance).success
    store = StateStore(scenario.config.state.url)
    assert store.outcome_counts("contacts") == {"excluded/duplicate identity": 1}
    update_app(scenario, " ANN@example.com", city="Graz")  # the duplicate changes

    run = run_incremental(scenario.config, ["contacts"], instance=instance)

    assert run.success and run.syncs[0].value("hubspot_load", "datasync/created") == 0
    assert store.outcome_counts("contacts") == {"excluded/duplicate identity": 1}  # not "failed/duplicate_on_other_side"
    assert len(scenario.hubspot_contacts()) == 1


def test_issue9_an_edit_made_after_a_run_died_before_its_checkpoint_is_not_overruled_by_that_runs_writes(synced, instance, monkeypatch):
    """The dead run's HubSpot write still carries the time it left (the echo ledger): it is no user change."""
    update_app(synced, "ann@example.com", city="Linz")
    crash_at_checkpoint(monkeypatch, synced, instance)
    ann = hubspot_id_of(synced, "ann@example.com")
    assert synced.hubspot_contacts()[ann]["city"] == "Linz"  # written before the crash
    update_app(synced, "ann@example.com", city="Graz")  # the user's later edit

    assert run_incremental(synced.config, ["contacts"], instance=instance).success
    assert synced.hubspot_contacts()[ann]["city"] == "Graz"
    assert {c["email"]: c["city"] for c in synced.customers()}["ann@example.com"] == "Graz"
    assert StateStore(synced.config.state.url).conflicts("contacts").empty  # no conflict: only the app changed
