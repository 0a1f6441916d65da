"""`datasync health` through typer's CliRunner, on the state and run history of real runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from datasync_pipeline.cli import app
from datasync_pipeline_tests.health.troubled_sync import troubled_sync_history


@pytest.fixture(scope="module")
def troubled(tmp_path_factory):
    with troubled_sync_history(tmp_path_factory.mktemp("troubled")) as (sync, _):
        yield sync


def invoke(*args: str):
    return CliRunner().invoke(app, ["health", *args], env={"COLUMNS": "250"})


def test_a_table_per_sync_with_the_steps_of_each_failing_category(troubled):
    result = invoke("--config", str(troubled.config_file))

    assert result.exit_code == 1, result.output  # failing: ann failed, ben was deleted in HubSpot
    lines = [line.strip("│ ") for line in result.output.splitlines()]
    assert "contacts (contacts): 5 records" in result.output
    assert any(line.startswith("synced") and line.endswith("2") for line in lines)
    assert any(line.startswith("Database error (database_error)") and line.endswith("1") for line in lines)
    assert any(line.startswith("no unique identity") and line.endswith("1") for line in lines)
    assert any(line.startswith("deleted in HubSpot") and line.endswith("1") for line in lines)
    assert "Database error (1): The app database refused or failed the write" in result.output
    assert "  - To bring the record back in HubSpot, preview what would be restored: `datasync restore --sync contacts --target hubspot --preview`" in result.output
    assert "The records: datasync records --sync contacts --status failed --status deleted_in_hubspot" in result.output


def test_json_for_scripts(troubled):
    result = invoke("--config", str(troubled.config_file), "--json", "--sync", "contacts")

    assert result.exit_code == 1, result.output
    [contacts] = json.loads(result.output)
    assert {key: contacts[key] for key in ("sync", "total", "synced", "failed", "excluded", "deleted_in_hubspot", "deleted_in_app")} == {
        "sync": "contacts", "total": 5, "synced": 2, "failed": 1, "excluded": 1, "deleted_in_hubspot": 1, "deleted_in_app": 0}
    assert contacts["failed_by_category"] == {"database_error": 1}
    assert contacts["excluded_by_reason"] == {"no unique identity": 1}
    assert "history" not in contacts


def test_history_reads_the_dagster_run_history(troubled):
    result = invoke("--config", str(troubled.config_file), "--json", "--history", "--days", "2")

    assert result.exit_code == 1, result.output
    history = json.loads(result.output)[0]["history"]
    assert history["last_run"]["run_id"] == troubled.broken.run_id and history["last_run"]["status"] == "FAILURE"
    assert history["last_success"]["run_id"] == troubled.incremental.run_id
    assert [day["day"] for day in history["days"]][-1] == datetime.now(UTC).date().isoformat() and len(history["days"]) == 2
    assert {k: history["days"][-1][k] for k in ("runs", "failed_runs", "records_synced", "records_failed")} == {
        "runs": 4, "failed_runs": 2, "records_synced": 2, "records_failed": 1}


def test_history_as_a_table(troubled):
    result = invoke("--config", str(troubled.config_file), "--history", "--days", "1")

    assert result.exit_code == 1, result.output
    assert "UTC  failure  incremental  " + troubled.broken.run_id in result.output.split("contacts: last run ")[1].splitlines()[0]
    assert "UTC  success  incremental  " + troubled.incremental.run_id in result.output.split("contacts: last success ")[1].splitlines()[0]
    today_line = next(line for line in result.output.splitlines() if datetime.now(UTC).date().isoformat() in line and "│" in line)
    assert [cell.strip() for cell in today_line.strip("│").split("│")][1:] == ["4", "2", "2", "1"]


def test_an_unknown_sync_is_refused_with_the_known_ones(troubled):
    result = invoke("--config", str(troubled.config_file), "--sync", "contcts")

    assert result.exit_code == 2
    assert "No sync named 'contcts' in the configuration; known syncs: contacts" in result.output


DEFAULT_INTERVALS = {"COLUMNS": "250", "DATASYNC_SENSOR_INTERVAL_SECONDS": "600", "DATASYNC_RECONCILE_SECONDS": "3600"}


def run_cli(*args: str, **env: str):
    return CliRunner().invoke(app, list(args), env={**DEFAULT_INTERVALS, **env})


def test_a_failing_sync_exits_1_and_its_json_says_why(troubled):
    result = run_cli("health", "--config", str(troubled.config_file), "--json")

    assert result.exit_code == 1, result.output
    [contacts] = json.loads(result.output)
    assert contacts["healthy"] is False and contacts["enabled"] is True
    assert contacts["failing"] == 2 and contacts["stale_after_minutes"] == 80
    assert contacts["last_success_at"] is not None
    assert [reason["code"] for reason in contacts["reasons"]] == ["failing"]
    assert contacts["reasons"][0]["message"] == (
        "2 records need attention (1 failed, 1 deleted in HubSpot): "
        "`datasync records --sync contacts --status failed --status deleted_in_hubspot`")


def test_the_table_view_ends_with_why_it_exits_1(troubled):
    result = run_cli("health", "--config", str(troubled.config_file))

    assert result.exit_code == 1
    assert result.output.rstrip().splitlines()[-1].startswith("contacts: failing: 2 records need attention")


def test_a_sync_without_a_successful_run_is_stale(troubled, tmp_path):
    result = run_cli("health", "--config", str(troubled.config_file), "--json", DAGSTER_HOME=str(tmp_path / "empty_dagster_home"))

    assert result.exit_code == 1, result.output
    [contacts] = json.loads(result.output)
    stale = [reason for reason in contacts["reasons"] if reason["code"] == "stale"]
    assert stale and stale[0]["message"].startswith("no successful run in the Dagster run history")
    assert contacts["last_success_at"] is None


def test_stale_after_0_skips_the_freshness_check(troubled, tmp_path):
    result = run_cli("health", "--config", str(troubled.config_file), "--json", "--stale-after", "0",
                     DAGSTER_HOME=str(tmp_path / "empty_dagster_home"))

    [contacts] = json.loads(result.output)
    assert contacts["stale_after_minutes"] is None
    assert [reason["code"] for reason in contacts["reasons"]] == ["failing"]


def test_the_stale_default_is_explained_in_help():
    result = run_cli("health", "--help")

    assert "--stale-after" in result.output and "DATASYNC_RECONCILE_SECONDS" in " ".join(result.output.split())


def test_a_deleted_pair_counts_the_same_in_health_sync_list_and_records(troubled):
    config = str(troubled.config_file)
    [health] = json.loads(run_cli("health", "--config", config, "--json", "--stale-after", "0").output)
    listed = next(row for row in json.loads(run_cli("sync", "list", "--config", config, "--json").output) if row["name"] == "contacts")

    def records_with(status: str) -> int:
        result = run_cli("records", "--config", config, "--sync", "contacts", "--status", status, "--json")
        assert result.exit_code == 0, result.output
        return len(result.output.splitlines())

    for key in ("failed", "excluded", "deleted_in_hubspot", "deleted_in_app"):
        assert listed[key] == health[key], key
    assert listed["failed_by_category"] == health["failed_by_category"] == {"database_error": 1}
    assert records_with("failed") == health["failed"] == 1
    assert records_with("deleted_in_hubspot") == health["deleted_in_hubspot"] == 1


def test_the_suggested_records_command_lists_every_failing_record(troubled):
    [health] = json.loads(run_cli("health", "--config", str(troubled.config_file), "--json", "--stale-after", "0").output)
    command = health["records_command"].split()
    assert command[0] == "datasync"

    result = run_cli(*command[1:], "--config", str(troubled.config_file), "--json")

    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == health["failing"] == 2
    assert sorted(row["status"] for row in rows) == ["deleted_in_hubspot", "failed"]
