"""`datasync sync list | disable | enable | delete` through typer's CliRunner, on a file config and a SQLite state store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from datasync_pipeline.cli import app
from datasync_pipeline.state import Link, StateStore

HUBSPOT_MARK = datetime(2026, 11, 28, 20, 10, 3, tzinfo=UTC)
APP_MARK = datetime(2026, 11, 28, 20, 9, 55, tzinfo=UTC)

CONFIG = """
connections:
  hubspot: {{kind: hubspot, sandbox: {{path: "{home}/sandbox.sqlite"}}}}
  erp: {{kind: sql, url: "sqlite:///{home}/app.sqlite"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - {{name: contacts, object: contacts, app: erp, table: {{name: customers}}}}
  - {{name: deals, object: deals, app: erp, table: {{name: deals, schema: sales}}, direction: app_to_hubspot, enabled: false}}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "datasync.yaml"
    path.write_text(CONFIG.format(home=tmp_path))
    return path


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    """The state of a contacts sync after a first sync: 2 pairs, 1 failed and 2 excluded records, both watermarks."""
    store = StateStore(f"sqlite:///{tmp_path}/state.sqlite")
    store.link("contacts", [Link("101", "1"), Link("102", "2")])
    outcomes = pd.DataFrame(
        [
            ("hubspot", "103", "failed", "invalid_value", "bad email"),
            ("app", "7", "excluded", "no unique identity", "no email"),
            ("app", "8", "excluded", "no unique identity", "no email"),
        ],
        columns=["side", "record_id", "status", "category", "message"],
    )
    store.record_outcomes("contacts", outcomes, recorded_by="test")
    store.advance_watermarks("contacts", {"hubspot": HUBSPOT_MARK, "app": APP_MARK})
    return store


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(app, ["sync", *args], input=input, env={"COLUMNS": "250"})


def test_list_as_json_shows_each_sync_with_its_switches_watermarks_and_record_counts(config_file, store):
    result = invoke("list", "--config", str(config_file), "--json")

    assert result.exit_code == 0, result.output
    contacts, deals = json.loads(result.output)
    assert contacts == {
        "name": "contacts", "object": "contacts", "hubspot_connection": "hubspot", "app_connection": "erp",
        "app_table": "erp.customers", "direction": "two_way",
        "enabled_in_config": True, "switched_on": True, "enabled": True,
        "watermarks": {"hubspot": "2026-11-28T20:10:03.000000+00:00", "app": "2026-11-28T20:09:55.000000+00:00"},
        "pairs": 2, "failed": 1, "excluded": 2, "deleted_in_hubspot": 0, "deleted_in_app": 0,
        "failed_by_category": {"invalid_value": 1}, "excluded_by_reason": {"no unique identity": 2},
    }
    assert deals["app_table"] == "erp.sales.deals" and deals["direction"] == "app_to_hubspot"
    assert deals["enabled"] is False and deals["watermarks"] == {"hubspot": None, "app": None} and deals["pairs"] == 0


def test_list_as_a_table_names_every_sync_and_both_switches(config_file, store):
    store.set_enabled("contacts", False)

    result = invoke("list", "--config", str(config_file))

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    contacts_line = next(line for line in lines if "contacts" in line and "customers" in line)
    deals_line = next(line for line in lines if "deals" in line and "sales.deals" in line)
    assert "on / off" in contacts_line and "HubSpot: 2026-11-28 20:10:03 UTC" in contacts_line
    assert "off / on" in deals_line and "HubSpot: never" in deals_line
    assert "app: 2026-11-28 20:09:55 UTC" in result.output


def test_disable_then_enable_flips_the_switch_and_enable_shows_where_it_resumes(config_file, store):
    disabled = invoke("disable", "contacts", "--config", str(config_file))

    assert disabled.exit_code == 0, disabled.output
    assert not store.is_enabled("contacts")
    assert "contacts disabled: nothing moves until `datasync sync enable contacts`" in disabled.output

    enabled = invoke("enable", "contacts", "--config", str(config_file))

    assert enabled.exit_code == 0, enabled.output
    assert store.is_enabled("contacts")
    assert enabled.output.splitlines() == [
        "contacts enabled: resumes from the watermark: changes made while disabled are synced by the next run.",
        "  HubSpot read up to: 2026-11-28 20:10:03 UTC",
        "  app read up to: 2026-11-28 20:09:55 UTC",
    ]
    assert store.watermarks("contacts") == {"hubspot": HUBSPOT_MARK, "app": APP_MARK}  # nothing rewound


def test_enabling_a_sync_the_file_disables_says_the_file_must_change_too(config_file, store):
    result = invoke("enable", "deals", "--config", str(config_file))

    assert result.exit_code == 0, result.output
    assert "  HubSpot read up to: never (the first sync has not run yet)" in result.output
    assert "datasync.yaml still says `enabled: false` for deals" in result.output


def test_delete_asks_first_and_a_no_keeps_everything(config_file, store):
    result = invoke("delete", "contacts", "--config", str(config_file), input="n\n")

    assert result.exit_code == 1
    assert "Delete sync contacts? datasync forgets its 2 linked pairs" in result.output
    assert store.pair_count("contacts") == 2 and store.watermarks("contacts")


def test_delete_confirmed_forgets_the_sync_and_reminds_to_edit_the_file(config_file, store):
    result = invoke("delete", "contacts", "--config", str(config_file), input="y\n")

    assert result.exit_code == 0, result.output
    assert store.pair_count("contacts") == 0 and store.watermarks("contacts") == {} and store.outcome_counts("contacts") == {}
    assert "  linked pairs: 2 removed" in result.output
    assert "  failed and excluded records: 3 removed" in result.output
    assert "  watermarks: 2 removed" in result.output
    assert f"Now remove the sync named contacts from {config_file}" in result.output


def test_delete_with_yes_does_not_ask(config_file, store):
    result = invoke("delete", "contacts", "--yes", "--config", str(config_file))

    assert result.exit_code == 0, result.output
    assert "Delete sync contacts?" not in result.output
    assert store.pair_count("contacts") == 0
    assert "contacts deleted from the state store:" in result.output


@pytest.mark.parametrize("command", [["disable"], ["enable"], ["delete", "--yes"]])
def test_an_unknown_sync_name_is_refused_with_the_known_ones(config_file, store, command):
    result = invoke(*command, "contcts", "--config", str(config_file))

    assert result.exit_code == 2
    assert "No sync named 'contcts' in the configuration; known syncs: contacts, deals" in result.output
    assert store.pair_count("contacts") == 2 and store.is_enabled("contacts")


def test_delete_is_refused_while_a_run_holds_the_syncs_lease(config_file: Path, store: StateStore):
    from datasync_pipeline.state.leases import Lease

    lease = Lease.acquire(store.engine, ["contacts"], "run-in-progress")
    result = CliRunner().invoke(app, ["sync", "delete", "contacts", "--yes", "--config", str(config_file)])
    assert result.exit_code == 1
    assert "run-in-progress" in result.output and "cancel that run" in result.output
    assert store.pair_count("contacts") == 2  # nothing forgotten
    lease.release()
    assert CliRunner().invoke(app, ["sync", "delete", "contacts", "--yes", "--config", str(config_file)]).exit_code == 0
    assert store.pair_count("contacts") == 0


# --- prepare: the change log of `changes: trigger` (PostgreSQL) ------------------------------------------------

TRIGGER_CONFIG = """
connections:
  hubspot: {{kind: hubspot, sandbox: {{path: "{home}/sandbox.sqlite"}}}}
  erp: {{kind: sql, url: "{url}"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - {{name: contacts, object: contacts, app: erp, table: {{name: customers, changes: trigger}}}}
"""


def _trigger_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "trigger.yaml"
    path.write_text(TRIGGER_CONFIG.format(home=tmp_path, url=url))
    return path


@pytest.mark.postgres
def test_prepare_creates_the_change_log_once_and_delete_drops_it(tmp_path, postgres_url):
    import sqlalchemy as sa

    from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table

    engine = sa.create_engine(postgres_url)
    create_app_table(engine, SqlTableSpec(table="customers", key_column="id", columns=["email"], external_id_column="hubspot_id"),
                     {"email": sa.String(320)})
    config = _trigger_config(tmp_path, postgres_url)

    first = invoke("prepare", "contacts", "--config", str(config))
    again = invoke("prepare", "contacts", "--config", str(config), "--json")

    assert first.exit_code == 0, first.output
    assert first.output.count("\n") == 1 and "datasync_changes_contacts" in first.output and "created" in first.output
    assert again.exit_code == 0 and json.loads(again.output)["status"] == "already_prepared"
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM pg_trigger WHERE tgname = 'datasync_changes_contacts'")).scalar() == 1

    deleted = invoke("delete", "contacts", "--yes", "--config", str(config))

    assert deleted.exit_code == 0, deleted.output
    assert "change log" in deleted.output and "dropped" in deleted.output
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM pg_trigger WHERE tgname = 'datasync_changes_contacts'")).scalar() == 0
        assert connection.execute(sa.text("SELECT to_regclass('datasync_changes_contacts')")).scalar() is None
    engine.dispose()


def test_prepare_refuses_sqlite_in_one_line_naming_the_cause_and_the_fix(tmp_path):
    config = _trigger_config(tmp_path, f"sqlite:///{tmp_path}/app.sqlite")

    result = invoke("prepare", "contacts", "--config", str(config))
    as_json = invoke("prepare", "contacts", "--config", str(config), "--json")

    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "needs PostgreSQL and this app database is sqlite" in result.output and "changes: updated_at" in result.output
    assert as_json.exit_code == 1 and json.loads(as_json.output)["status"] == "refused"


def test_prepare_has_nothing_to_do_for_a_sync_read_by_time(config_file, store):
    result = invoke("prepare", "contacts", "--config", str(config_file))

    assert result.exit_code == 0 and "nothing to prepare" in result.output
