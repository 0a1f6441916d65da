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

    assert result.exit_code == 0, result.output
    lines = [line.strip("│ ") for line in result.output.splitlines()]
    assert "contacts (contacts): 5 records" in result.output
    assert any(line.startswith("synced") and line.endswith("2") for line in lines)
    assert any(line.startswith("Database error (database_error)") and line.endswith("1") for line in lines)
    assert any(line.startswith("no unique identity") and line.endswith("1") for line in lines)
    assert any(line.startswith("deleted in HubSpot") and line.endswith("1") for line in lines)
    assert "Database error (1): The app database refused or failed the write" in result.output
    assert "  - To bring the record back in HubSpot, preview what would be restored: `datasync restore --sync contacts --target hubspot --preview`" in result.output
    assert "The records: datasync records --sync contacts --status failed" in result.output


def test_json_for_scripts(troubled):
    result = invoke("--config", str(troubled.config_file), "--json", "--sync", "contacts")

    assert result.exit_code == 0, result.output
    [contacts] = json.loads(result.output)
    assert {key: contacts[key] for key in ("sync", "total", "synced", "failed", "excluded", "deleted_in_hubspot", "deleted_in_app")} == {
        "sync": "contacts", "total": 5, "synced": 2, "failed": 1, "excluded": 1, "deleted_in_hubspot": 1, "deleted_in_app": 0}
    assert contacts["failed_by_category"] == {"database_error": 1}
    assert contacts["excluded_by_reason"] == {"no unique identity": 1}
    assert "history" not in contacts


def test_history_reads_the_dagster_run_history(troubled):
    result = invoke("--config", str(troubled.config_file), "--json", "--history", "--days", "2")

    assert result.exit_code == 0, result.output
    history = json.loads(result.output)[0]["history"]
    assert history["last_run"]["run_id"] == troubled.broken.run_id and history["last_run"]["status"] == "FAILURE"
    assert history["last_success"]["run_id"] == troubled.incremental.run_id
    assert [day["day"] for day in history["days"]][-1] == datetime.now(UTC).date().isoformat() and len(history["days"]) == 2
    assert {k: history["days"][-1][k] for k in ("runs", "failed_runs", "records_synced", "records_failed")} == {
        "runs": 4, "failed_runs": 2, "records_synced": 2, "records_failed": 1}


def test_history_as_a_table(troubled):
    result = invoke("--config", str(troubled.config_file), "--history", "--days", "1")

    assert result.exit_code == 0, result.output
    assert "UTC  failure  incremental  " + troubled.broken.run_id in result.output.split("contacts: last run ")[1].splitlines()[0]
    assert "UTC  success  incremental  " + troubled.incremental.run_id in result.output.split("contacts: last success ")[1].splitlines()[0]
    today_line = next(line for line in result.output.splitlines() if datetime.now(UTC).date().isoformat() in line and "│" in line)
    assert [cell.strip() for cell in today_line.strip("│").split("│")][1:] == ["4", "2", "2", "1"]


def test_an_unknown_sync_is_refused_with_the_known_ones(troubled):
    result = invoke("--config", str(troubled.config_file), "--sync", "contcts")

    assert result.exit_code == 2
    assert "No sync named 'contcts' in the configuration; known syncs: contacts" in result.output
