"""The record view and its exports, on the state of real runs."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

from datasync_pipeline.health.export import export_records
from datasync_pipeline.health.records import (
    RecordViewError,
    choose_columns,
    count_records,
    parse_time,
    read_records,
    selected_syncs,
)
from datasync_pipeline.health.rows import RecordFilter
from datasync_pipeline.state import StateStore
from datasync_pipeline_tests.health.troubled_sync import SECRET_TOKEN, troubled_sync_history

SECRETS = [SECRET_TOKEN, "Sup3rSecretPassw0rd", "postgresql://", "sqlite:///", "sandbox-token"]


@pytest.fixture(scope="module")
def troubled(tmp_path_factory):
    with troubled_sync_history(tmp_path_factory.mktemp("troubled")) as (sync, _):
        yield sync


@pytest.fixture(scope="module")
def view(troubled):
    config = troubled.scenario.config
    return StateStore(troubled.state_url).engine, selected_syncs(config)


def all_rows(view, **kwargs) -> pd.DataFrame:
    engine, syncs = view
    columns = kwargs.pop("columns", None) or choose_columns(syncs, None)
    return pd.concat(list(read_records(engine, syncs, columns=columns, **kwargs)), ignore_index=True)


def by_person(rows: pd.DataFrame) -> dict[str, tuple]:
    """Rows keyed by email (the app id for the record that has none)."""
    return {(row.email if pd.notna(row.email) else f"app:{row.app_id}"): (row.status, None if pd.isna(row.category) else row.category)
            for row in rows.itertuples()}


def test_one_row_per_record_with_its_status_and_category(view):
    rows = all_rows(view)

    assert by_person(rows) == {
        "ann@example.com": ("failed", "database_error"),
        "ben@example.com": ("deleted_in_hubspot", "deleted_in_hubspot"),
        "dan@example.com": ("synced", None),
        "eve@example.com": ("synced", None),
        "not-an-email": ("excluded", "no unique identity"),  # never synced, yet named by the email it has
    }
    assert count_records(*view) == 5
    ann = rows[rows["email"] == "ann@example.com"].iloc[0]
    assert "the ERP is locked for maintenance" in ann["message"]
    assert ann["city"] == "Berlin"  # the last synced value, not the Bonn that failed to reach the app
    assert ann["hubspot_id"] and ann["app_id"] == "1" and ann["object"] == "contacts"
    assert rows["time"].dt.tz is not None


def test_filters_by_status(view):
    engine, syncs = view
    failed = all_rows(view, where=RecordFilter(statuses=("failed",)))
    deleted_or_excluded = all_rows(view, where=RecordFilter(statuses=("deleted_in_hubspot", "excluded")))

    assert failed["email"].tolist() == ["ann@example.com"]
    assert sorted(deleted_or_excluded["status"]) == ["deleted_in_hubspot", "excluded"]
    assert count_records(engine, syncs, RecordFilter(statuses=("synced",))) == 2


def test_filters_by_object_type_and_sync(troubled):
    config = troubled.scenario.config
    assert [s.name for s in selected_syncs(config, objects=["contacts"])] == ["contacts"]
    assert selected_syncs(config, objects=["companies"]) == []
    with pytest.raises(RecordViewError, match="no sync named 'contcts'; known syncs: contacts"):
        selected_syncs(config, syncs=["contcts"])


def test_filters_by_time_period(view):
    rows = all_rows(view)
    latest = rows["time"].max().to_pydatetime()
    today = datetime.now(UTC).date().isoformat()
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()

    assert len(all_rows(view, where=RecordFilter(since=parse_time(today)))) == 5
    assert all_rows(view, where=RecordFilter(until=parse_time(yesterday, end_of_day=True))).empty
    from_latest = all_rows(view, where=RecordFilter(since=latest))
    before_latest = all_rows(view, where=RecordFilter(until=latest))
    assert set(from_latest["time"]) == {latest}
    assert len(from_latest) + len(before_latest) == 5


def test_parse_time_reads_dates_and_iso_timestamps_in_utc():
    assert parse_time("2026-11-28") == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_time("2026-11-28", end_of_day=True) == datetime(2026, 11, 29, tzinfo=UTC)
    assert parse_time("2026-11-28T21:10:00+01:00") == datetime(2026, 11, 28, 20, 10, tzinfo=UTC)
    assert parse_time("2026-11-28T21:10:00") == datetime(2026, 11, 28, 21, 10, tzinfo=UTC)
    with pytest.raises(RecordViewError, match="not a date"):
        parse_time("last tuesday")


def test_chosen_columns_in_their_order_and_unknown_ones_refused(view):
    _, syncs = view
    rows = all_rows(view, columns=choose_columns(syncs, ["email", "status", "city"]))

    assert list(rows.columns) == ["email", "status", "city"]
    with pytest.raises(RecordViewError, match="unknown column 'shoe_size'; available: sync, object, status"):
        choose_columns(syncs, ["email", "shoe_size"])


def test_rows_come_in_chunks_and_a_limit_stops_early(view):
    engine, syncs = view
    columns = choose_columns(syncs, None)
    chunks = list(read_records(engine, syncs, columns=columns, chunk_size=2))

    assert [len(chunk) for chunk in chunks] == [2, 2, 1]  # 4 pairs, then 1 unpaired exclusion
    assert pd.concat(chunks, ignore_index=True).equals(all_rows(view))
    assert sum(len(chunk) for chunk in read_records(engine, syncs, columns=columns, chunk_size=2, limit=3)) == 3


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_exports_open_with_their_readers_hold_every_row_and_no_secret(view, tmp_path, suffix):
    engine, syncs = view
    columns = choose_columns(syncs, None)
    path = tmp_path / f"records{suffix}"
    progress: list[int] = []

    written = export_records(read_records(engine, syncs, columns=columns, chunk_size=2), path, columns, progress=progress.append)

    assert written == 5 and progress == [2, 2, 1]
    if suffix == ".csv":
        exported = pd.read_csv(path, dtype=str)
        text = path.read_text()
    elif suffix == ".xlsx":
        exported = pd.read_excel(path, sheet_name="records", dtype=str)
        sheet = openpyxl.load_workbook(path)["records"]
        assert isinstance(sheet.cell(row=2, column=columns.index("time") + 1).value, datetime)  # a real Excel date
        with zipfile.ZipFile(path) as archive:
            text = "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
    else:
        table = pq.read_table(path)
        exported = table.to_pandas()
        text = str(table.schema.metadata) + table.to_pandas().to_csv()
    assert list(exported.columns) == columns
    assert sorted(exported["status"]) == ["deleted_in_hubspot", "excluded", "failed", "synced", "synced"]
    assert "ann@example.com" in set(exported["email"])
    assert "the ERP is locked for maintenance" in text
    for secret in SECRETS:
        assert secret not in text
