"""`datasync check`: the configuration against the real app database and HubSpot, one line per problem, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from datasync_pipeline.cli import app
from datasync_pipeline_tests.defs.scenario import contacts_scenario

CONFIG = """
connections:
  hubspot: {{kind: hubspot, sandbox: {{path: "{home}/sandbox.sqlite"}}, tier: unlimited}}
  app: {{kind: sql, url: "sqlite:///{home}/app.sqlite"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - name: contacts
    object: contacts
    app: app
{sync}
"""
GOOD_SYNC = "    table: {name: customers}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An app database with a `customers` table (and unrelated tables), and a sandbox portal."""
    scenario = contacts_scenario(tmp_path)
    scenario.sandbox.close()
    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.sqlite")
    unrelated = sa.MetaData()
    for name in ("invoices", "ledger", "audit_log", "orders"):
        sa.Table(name, unrelated, sa.Column("id", sa.Integer, primary_key=True))
    unrelated.create_all(engine)
    engine.dispose()
    return tmp_path


def check(home: Path, sync: str, *args: str, extra_connections: str = ""):
    path = home / "datasync.yaml"
    text = CONFIG.format(home=home, sync=sync)
    path.write_text(text.replace("state:", extra_connections + "state:", 1) if extra_connections else text)
    return CliRunner().invoke(app, ["check", "--config", str(path), *args], env={"COLUMNS": "80"})


def test_a_right_configuration_passes_and_nothing_is_written(home):
    files = {path.name: (path.stat().st_size, path.stat().st_mtime_ns) for path in home.iterdir()}

    result = check(home, GOOD_SYNC)

    assert result.exit_code == 0, result.output
    assert result.output == "ok: 1 sync against 2 connections; nothing was written.\n"
    after = {path.name: (path.stat().st_size, path.stat().st_mtime_ns) for path in home.iterdir() if path.name != "datasync.yaml"}
    assert after == {name: stat for name, stat in files.items()}
    assert not (home / "state.sqlite").exists()


def test_a_table_typo_is_one_line_with_its_near_match_not_the_schema(home):
    result = check(home, "    table: {name: custmers}")

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{home}/datasync.yaml:10 syncs[0].table.name: table 'custmers' does not exist in the app database (did you mean 'customers'?)",
        "1 problem; nothing was written.",
    ]


def test_every_column_typo_and_missing_property_is_named_where_it_is_written(home):
    sync = """    table: {name: customers, key: idd, updated_at: updatedat, external_id: hubspotid}
    mappings:
      - {hubspot: firstnme, app: first_name}
      - {hubspot: city, app: citty}
    filters:
      app: [{field: contry, operator: eq, value: DE}]
      hubspot: [{field: countyr, operator: eq, value: DE}]"""

    result = check(home, sync, "--json")

    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["config"] == f"{home}/datasync.yaml"
    found = {(problem["path"], problem["message"]) for problem in report["problems"]}
    assert found == {
        ("syncs[0].table.key", "table 'customers': column 'idd' does not exist (did you mean 'id'?)"),
        ("syncs[0].table.updated_at", "table 'customers': column 'updatedat' does not exist (did you mean 'updated_at'?)"),
        ("syncs[0].table.external_id", "table 'customers': column 'hubspotid' does not exist (did you mean 'hubspot_id'?)"),
        ("syncs[0].mappings[1].app", "table 'customers': column 'citty' does not exist (did you mean 'city'?)"),
        ("syncs[0].filters.app[0].field", "table 'customers': column 'contry' does not exist (did you mean 'country' or 'city'?)"),
        ("syncs[0].mappings[0]", "HubSpot contacts have no property 'firstnme' (did you mean 'firstname' or 'lastname'?): "
                                 "create it in HubSpot or fix the mapping"),
        ("syncs[0].filters.hubspot[0].field", "HubSpot contacts have no property 'countyr' (did you mean 'country'?)"),
    }
    assert all(problem["where"].startswith(f"{home}/datasync.yaml:") for problem in report["problems"])


def test_a_mapping_whose_types_cannot_work_is_refused(home):
    result = check(home, "    table: {name: customers}\n    mappings: [{hubspot: city, app: updated_at}]")

    assert result.exit_code == 1
    assert "syncs[0].mappings[0]: city -> customers.updated_at (DATETIME): a string property cannot be mapped to a datetime field" in result.output


def test_unreachable_connections_are_named_without_creating_anything(home, monkeypatch):
    monkeypatch.delenv("DATASYNC_TEST_ABSENT_TOKEN", raising=False)
    extra = (f'  other_app: {{kind: sql, url: "sqlite:///{home}/missing.sqlite"}}\n'
             '  crm_eu: {kind: hubspot, token: "${DATASYNC_TEST_ABSENT_TOKEN}"}\n')

    result = check(home, GOOD_SYNC + "\n    hubspot: hubspot", "--json", extra_connections=extra)

    assert result.exit_code == 1, result.output
    found = {(problem["path"], problem["message"]) for problem in json.loads(result.output)["problems"]}
    assert found == {
        ("connections.other_app.url", f"the SQLite database file '{home}/missing.sqlite' does not exist: check the path"),
        ("connections.crm_eu.token", "connections.crm_eu.token: environment variable DATASYNC_TEST_ABSENT_TOKEN is not set"),
    }
    assert not (home / "missing.sqlite").exists()


def test_a_refused_file_is_reported_problem_by_problem(home):
    result = check(home, "    table: {name: customers}\n    direction: sideways", "--json")

    assert result.exit_code == 1
    [problem] = json.loads(result.output)["problems"]
    assert problem["path"] == "syncs[0].direction" and problem["where"] == f"{home}/datasync.yaml:11"


def test_the_webhooks_journal_is_checked_usable_and_named_when_it_is_not(home, monkeypatch):
    from datasync_pipeline.sandbox import Sandbox, SandboxSettings, serve_in_thread

    sandbox = Sandbox(SandboxSettings(db_path=str(home / "portal.sqlite"), tier="unlimited", client_id="journal-app", client_secret="right-secret"))
    monkeypatch.setenv("DATASYNC_TEST_PORTAL_TOKEN", "sandbox-token")
    monkeypatch.setenv("DATASYNC_TEST_JOURNAL_ID", "journal-app")
    monkeypatch.setenv("DATASYNC_TEST_JOURNAL_SECRET", "wrong-secret")
    try:
        with serve_in_thread(sandbox) as served:
            extra = (f'  crm_eu:\n    kind: hubspot\n    base_url: "{served.url}"\n    token: "${{DATASYNC_TEST_PORTAL_TOKEN}}"\n    tier: unlimited\n'
                     '    journal:\n      client_id: "${DATASYNC_TEST_JOURNAL_ID}"\n      client_secret: "${DATASYNC_TEST_JOURNAL_SECRET}"\n')
            path = home / "datasync.yaml"
            text = CONFIG.format(home=home, sync=GOOD_SYNC + "\n    hubspot: hubspot").replace("tier: unlimited}", "tier: unlimited, journal: true}", 1)
            path.write_text(text.replace("state:", extra + "state:", 1))
            refused = CliRunner().invoke(app, ["check", "--config", str(path), "--json"], env={"COLUMNS": "80"})
            monkeypatch.setenv("DATASYNC_TEST_JOURNAL_SECRET", "right-secret")
            accepted = CliRunner().invoke(app, ["check", "--config", str(path)], env={"COLUMNS": "80"})
    finally:
        sandbox.close()

    [problem] = json.loads(refused.output)["problems"]
    assert problem["path"] == "connections.crm_eu.journal" and "the webhooks journal is not usable" in problem["message"]
    assert "BAD_CLIENT_ID" in problem["message"] and "wrong-secret" not in problem["message"]
    assert accepted.exit_code == 0, accepted.output  # the embedded sandbox's journal (its own app) and crm_eu's both answer
