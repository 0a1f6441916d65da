"""The object view and the `no_failed_records` asset check, on the state and history of real runs."""

from __future__ import annotations

import dagster as dg
import pytest

from datasync_pipeline.health.object_view import object_view
from datasync_pipeline.state import StateStore
from datasync_pipeline_tests.health.troubled_sync import troubled_sync_history


@pytest.fixture(scope="module")
def troubled(tmp_path_factory):
    with troubled_sync_history(tmp_path_factory.mktemp("troubled")) as (sync, instance):
        yield sync, instance


def check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return [event.dagster_event.event_specific_data for event in events]


def test_the_object_view_counts_each_record_once_in_its_state(troubled):
    sync, _ = troubled
    [view] = object_view(sync.scenario.config, StateStore(sync.state_url).engine)

    assert (view.synced, view.deleted_in_hubspot, view.deleted_in_app) == (2, 1, 0)
    assert view.failed == {"database_error": 1}
    assert view.excluded == {"no unique identity": 1}
    assert view.total == 5  # ann, ben, dan, eve, and Nox without an email


def test_the_object_view_gives_the_steps_of_each_failing_category_and_exclusion(troubled):
    sync, _ = troubled
    [view] = object_view(sync.scenario.config, StateStore(sync.state_url).engine, ["contacts"])
    steps = view.as_dict()["troubleshooting"]

    assert sorted(steps) == ["database_error", "deleted_in_hubspot", "no unique identity"]
    assert steps["deleted_in_hubspot"]["steps"][0].startswith("To bring the record back in HubSpot")
    assert "`datasync restore --sync contacts --target hubspot --preview`" in steps["deleted_in_hubspot"]["steps"][0]
    assert steps["database_error"]["title"] == "Database error"


def test_the_check_passes_when_records_are_only_synced_or_excluded(troubled):
    sync, instance = troubled
    [evaluation] = check_evaluations(instance, sync.first.run_id)

    assert evaluation.asset_key == dg.AssetKey(["contacts", "checkpoint"]) and evaluation.check_name == "no_failed_records"
    assert evaluation.passed
    assert evaluation.metadata["datasync/failed"].value == 0 and evaluation.metadata["datasync/excluded"].value == 1


def test_the_check_fails_with_the_failing_counts_by_category_and_names_each_failed_record(troubled):
    sync, instance = troubled
    [evaluation] = check_evaluations(instance, sync.incremental.run_id)

    # 2 of 4 records failing is far above the 5% share: an error, although the run itself succeeded.
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert sync.incremental.success
    records = evaluation.metadata["datasync/failed_records"].value
    assert "| side | record | identity | step | category | message | what to do |" in records
    assert "`database_error`" in records and "`deleted_in_hubspot`" in records
    assert any(key.startswith("datasync/failed_records/") for key in instance.get_run_by_id(sync.incremental.run_id).tags)
    metadata = {key: value.value for key, value in evaluation.metadata.items()}
    assert metadata["datasync/failed"] == 2
    assert metadata["datasync/failed/database_error"] == 1 and metadata["datasync/failed/deleted_in_hubspot"] == 1
    table = evaluation.metadata["datasync/failing_by_category"]
    assert isinstance(table, dg.MarkdownMetadataValue)
    assert "| Database error (`database_error`) | 1 |" in table.value
    assert "| Deleted in HubSpot (`deleted_in_hubspot`) | 1 | 1. To bring the record back in HubSpot" in table.value


def test_the_check_is_defined_on_every_sync_checkpoint():
    from datasync_pipeline.config import parse_config
    from datasync_pipeline.defs.checks import build_health_checks

    config = parse_config("""
connections:
  hubspot: {kind: hubspot, sandbox: {path: sandbox.sqlite}}
  app: {kind: sql, url: "sqlite:///app.sqlite"}
state: {url: "sqlite:///state.sqlite"}
syncs:
  - {name: contacts, object: contacts, app: app, table: {name: customers}}
  - {name: companies, object: companies, app: app, table: {name: companies}}
""", source="test")
    keys = {key for check in build_health_checks(config) for key in check.check_keys}
    assert keys == {dg.AssetCheckKey(dg.AssetKey([name, "checkpoint"]), "no_failed_records") for name in ("contacts", "companies")}


def test_a_small_share_of_failing_records_is_a_warning_and_every_step_is_shown(monkeypatch):
    from datasync_pipeline.defs.checks import health_check_result
    from datasync_pipeline.health.object_view import SyncHealth

    health = SyncHealth("contacts", "contacts", synced=999, failed={"database_error": 1})
    result = health_check_result(health)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    table = result.metadata["datasync/failing_by_category"].value
    assert "1. " in table and "<br>2. " in table  # every troubleshooting step, not only the first
    monkeypatch.setenv("DATASYNC_FAILED_SHARE_ERROR", "0.0005")
    assert health_check_result(health).severity == dg.AssetCheckSeverity.ERROR
