"""`datasync records` through typer's CliRunner, on the state of real runs: listing, filters, exports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from datasync_pipeline.cli import app
from datasync_pipeline_tests.health.troubled_sync import SECRET_TOKEN, troubled_sync_history

SECRETS = [SECRET_TOKEN, "Sup3rSecretPassw0rd", "postgresql://", "sqlite:///", "sandbox-token"]


@pytest.fixture(scope="module")
def troubled(tmp_path_factory):
    with troubled_sync_history(tmp_path_factory.mktemp("troubled")) as (sync, _):
        yield sync


def invoke(troubled, *args: str):
    return CliRunner().invoke(app, ["records", "--config", str(troubled.config_file), *args], env={"COLUMNS": "250"})


def json_rows(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_lists_the_records_as_a_table(troubled):
    result = invoke(troubled, "--columns", "status,category,email,city")

    assert result.exit_code == 0, result.output
    assert "5 records" in result.output
    ann = next(line for line in result.output.splitlines() if "ann@example.com" in line)
    assert "failed" in ann and "database_error" in ann and "Berlin" in ann


def test_filters_by_status_object_and_period(troubled):
    failed = json_rows(invoke(troubled, "--status", "failed", "--json"))
    assert [row["email"] for row in failed] == ["ann@example.com"]
    assert "the ERP is locked for maintenance" in failed[0]["message"]

    two_states = json_rows(invoke(troubled, "--status", "deleted_in_hubspot", "--status", "excluded", "--json", "--columns", "status,app_id"))
    assert sorted((row["status"], row["app_id"]) for row in two_states) == [("deleted_in_hubspot", "2"), ("excluded", "3")]

    assert len(json_rows(invoke(troubled, "--object", "contacts", "--json"))) == 5
    assert invoke(troubled, "--object", "deals", "--json").output == ""

    today = datetime.now(UTC).date()
    assert len(json_rows(invoke(troubled, "--since", today.isoformat(), "--json"))) == 5
    assert invoke(troubled, "--until", (today - timedelta(days=1)).isoformat(), "--json").output == ""


def test_a_limit_shortens_the_listing_and_says_how_many_more(troubled):
    result = invoke(troubled, "--limit", "2", "--columns", "status")

    assert result.exit_code == 0, result.output
    assert "5 records, the first 2" in result.output
    assert "3 more: raise --limit, or export them all with --output records.csv" in result.output


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_exports_by_extension_with_progress_and_without_secrets(troubled, tmp_path, suffix):
    path = tmp_path / f"export{suffix}"
    result = invoke(troubled, "--output", str(path), "--columns", "sync,status,category,message,email,city")

    assert result.exit_code == 0, result.output
    assert f"5 records exported to {path}" in result.output
    exported = {".csv": lambda: pd.read_csv(path, dtype=str), ".xlsx": lambda: pd.read_excel(path, dtype=str),
                ".parquet": lambda: pq.read_table(path).to_pandas()}[suffix]()
    assert list(exported.columns) == ["sync", "status", "category", "message", "email", "city"]
    assert sorted(exported["status"]) == ["deleted_in_hubspot", "excluded", "failed", "synced", "synced"]
    text = exported.to_csv() + result.output
    for secret in SECRETS:
        assert secret not in text
    raw = path.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in raw


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "lost"], "unknown status 'lost'; use one of synced, failed, excluded, deleted_in_hubspot, deleted_in_app"),
        (["--columns", "email,shoe_size"], "unknown column 'shoe_size'"),
        (["--since", "yesterday"], "'yesterday' is not a date"),
        (["--output", "records.json"], "cannot export to 'records.json': name a file ending in .csv, .xlsx, .parquet"),
        (["--sync", "contcts"], "no sync named 'contcts'; known syncs: contacts"),
    ],
)
def test_bad_filters_are_refused_with_what_would_work(troubled, args, message):
    result = invoke(troubled, *args)

    assert result.exit_code == 2
    assert message in result.output
