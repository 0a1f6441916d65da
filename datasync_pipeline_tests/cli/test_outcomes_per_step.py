"""A record whose write and associations both failed shows both, each with its category, in `datasync records` and
`datasync health` (tables and --json) and in the asset check, and counts once as a failed record."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from datasync_pipeline.cli import app
from datasync_pipeline.config import parse_config
from datasync_pipeline.defs.checks import failed_records_markdown, health_check_result
from datasync_pipeline.health.object_view import sync_health
from datasync_pipeline.state import Link, StateStore
from datasync_pipeline.vocabulary import Recorder

CONFIG = """
connections:
  hubspot: {{kind: hubspot, sandbox: {{path: sandbox.sqlite}}}}
  app: {{kind: sql, url: "sqlite:///app.sqlite"}}
state: {{url: "{state_url}"}}
syncs:
  - {{name: contacts, object: contacts, app: app, table: {{name: customers}}}}
"""


def outcome(record_id: str, category: str, message: str, *, side: str = "app") -> pd.DataFrame:
    return pd.DataFrame([(side, record_id, "failed", category, message)], columns=["side", "record_id", "status", "category", "message"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def twice_failed(request, tmp_path):
    """Pair 1/10 failed its app write and its associations; unpaired app record 20 the same; pair 2/11 is synced."""
    state_url = request.getfixturevalue(f"{request.param}_url")
    config_file = tmp_path / "datasync.yaml"
    config_file.write_text(CONFIG.format(state_url=state_url))
    store = StateStore(state_url)
    store.link("contacts", [Link("1", "10", {"email": "ann@example.com"}), Link("2", "11", {"email": "bob@example.com"})])
    for record_id in ("10", "20"):
        store.record_outcomes("contacts", outcome(record_id, "database_error", "the ERP is locked"), recorded_by=Recorder.APP_LOAD, run_id="r1")
        store.record_outcomes("contacts", outcome(record_id, "association_failed", "company 7 has no pair"),
                              recorded_by=Recorder.ASSOCIATIONS, run_id="r1")
    store.name_outcomes("contacts", "app", {"20": {"email": "cleo@example.com"}})
    yield config_file, store
    store.engine.dispose()


def invoke(config_file, *args: str):
    return CliRunner().invoke(app, [*args, "--config", str(config_file)], env={"COLUMNS": "250"})


def test_records_lists_each_record_once_with_both_categories_and_messages(twice_failed):
    config_file, _ = twice_failed
    result = invoke(config_file, "records", "--json", "--status", "failed")

    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(row["hubspot_id"], row["app_id"], row["email"]) for row in rows] == [("1", "10", "ann@example.com"), (None, "20", "cleo@example.com")]
    for row in rows:
        assert row["status"] == "failed" and row["category"] == "association_failed, database_error"
        assert row["message"] == "association_failed: company 7 has no pair; database_error: the ERP is locked"

    table = invoke(config_file, "records", "--columns", "status,category,app_id")
    assert table.exit_code == 0, table.output
    assert "3 records" in table.output  # two pairs and one unpaired record: the twice-failed ones once each
    assert sum("association_failed, database_error" in line for line in table.output.splitlines()) == 2


def test_health_counts_a_twice_failed_record_once_and_under_each_category(twice_failed):
    config_file, store = twice_failed
    result = invoke(config_file, "health", "--json", "--stale-after", "0")

    assert result.exit_code == 1, result.output  # failing
    [view] = json.loads(result.output)
    assert (view["total"], view["synced"], view["failed"], view["failing"]) == (3, 1, 2, 2)
    assert view["failed_by_category"] == {"association_failed": 2, "database_error": 2}
    assert set(view["troubleshooting"]) == {"association_failed", "database_error"}
    assert "2 records need attention (2 failed)" in view["reasons"][0]["message"]

    table = invoke(config_file, "health", "--stale-after", "0")
    assert "(association_failed)" in table.output and "(database_error)" in table.output
    assert "counted under each category" in table.output


def test_the_check_counts_records_and_lists_each_outcome_with_its_step(twice_failed):
    _, store = twice_failed
    [sync] = parse_config(CONFIG.format(state_url="sqlite://"), source="test").syncs
    health = sync_health(store.engine, sync)
    records = failed_records_markdown(store.engine, "contacts")
    result = health_check_result(health, records)

    assert result.metadata["datasync/failed"].value == 2  # records, not outcomes
    assert result.metadata["datasync/failed/association_failed"].value == 2
    lines = [line for line in records.splitlines() if "| 10 |" in line]
    assert len(lines) == 2 and any("| app load | `database_error`" in line for line in lines)
    assert any("| associations | `association_failed`" in line for line in lines)


def test_clearing_one_outcome_leaves_the_other_in_every_view(twice_failed):
    config_file, store = twice_failed
    store.clear_outcomes("contacts", "app", ["10", "20"], recorded_by=Recorder.ASSOCIATIONS)

    rows = [json.loads(line) for line in invoke(config_file, "records", "--json", "--status", "failed").output.splitlines()]
    assert [(row["app_id"], row["category"], row["message"]) for row in rows] == [
        ("10", "database_error", "the ERP is locked"), ("20", "database_error", "the ERP is locked")]
    [view] = json.loads(invoke(config_file, "health", "--json", "--stale-after", "0").output)
    assert view["failed_by_category"] == {"database_error": 2} and view["failed"] == 2
