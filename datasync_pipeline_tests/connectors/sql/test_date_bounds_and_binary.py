"""The first and last valid dates (0001-01-01, 9999-12-31) in both directions, and binary columns as hex."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from datasync_pipeline.config.model import AppTable
from datasync_pipeline.connectors.sql import SqlConnector, SqlTableSpec, create_app_table
from datasync_pipeline.connectors.sql.values import to_column_value
from datasync_pipeline.connectors.base import SideBinding
from datasync_pipeline.connectors.sql.frames import engine_frame
from datasync_pipeline.engine.frames import properties_of
from datasync_pipeline.engine.validation import record_schema, split_invalid
from datasync_pipeline.objects.catalogue import ResolvedMapping, ValueType

# What HubSpot may send for a date property at the bounds -> the date the app column gets.
FROM_HUBSPOT = {
    "0001-01-01": date(1, 1, 1),
    "9999-12-31": date(9999, 12, 31),
    "-62135596800000": date(1, 1, 1),  # midnight-UTC epoch milliseconds
    "253402214400000": date(9999, 12, 31),
    "9999-12-31T00:00:00.000Z": date(9999, 12, 31),
}
MAPPINGS = [ResolvedMapping("renewal", "renews_on", ValueType.DATE, False, False),
            ResolvedMapping("renewal_at", "renews_at", ValueType.DATETIME, False, False)]


@pytest.fixture
def contracts(app_engine: sa.Engine):
    spec = SqlTableSpec(table="contracts", key_column="id", columns=("renews_on", "renews_at", "blob"), updated_at_column="updated_at")
    create_app_table(app_engine, spec, {"renews_on": sa.Date, "renews_at": sa.DateTime(timezone=True), "blob": sa.LargeBinary})
    connector = SqlConnector(app_engine, spec, batch_size=100)
    yield connector
    connector.close()


def _as_date(value) -> date:
    """A date or timestamp column's value as read (``date``, ``datetime`` in UTC, or SQLite's stored text)."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def test_hubspot_dates_at_the_bounds_are_written_to_date_and_timestamp_columns(contracts):
    hubspot = pd.DataFrame({"record_id": list(FROM_HUBSPOT), "renewal": list(FROM_HUBSPOT), "renewal_at": list(FROM_HUBSPOT)}, dtype=object)
    valid, failed = split_invalid(hubspot, record_schema(MAPPINGS, name="contracts"), side="hubspot")
    assert failed.empty and len(valid) == len(FROM_HUBSPOT)

    result = contracts.insert([{"_ref": text, "renews_on": text, "renews_at": text} for text in FROM_HUBSPOT])
    assert result.failed == {}
    rows = contracts.read_all().set_index("id")
    for text, expected in FROM_HUBSPOT.items():
        row = rows.loc[result.written[text]]
        assert _as_date(row["renews_on"]) == expected, text
        assert _as_date(row["renews_at"]) == expected, text


def test_app_dates_at_the_bounds_are_read_valid_and_sent_as_yyyy_mm_dd(contracts):
    first, last = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)
    result = contracts.insert([{"_ref": "first", "renews_on": date(1, 1, 1), "renews_at": first},
                               {"_ref": "last", "renews_on": date(9999, 12, 31), "renews_at": last}])
    assert result.failed == {}
    frame = engine_frame(contracts.read_all(), SideBinding("s", "deals", {m.hubspot: m.app for m in MAPPINGS}), AppTable(name="contracts", external_id=None))
    valid, failed = split_invalid(frame, record_schema(MAPPINGS, name="contracts"), side="app")
    assert failed.empty
    sent = {row["record_id"]: properties_of(row, MAPPINGS[:1]) for row in valid.to_dict("records")}
    assert sent == {result.written["first"]: {"renewal": "0001-01-01"}, result.written["last"]: {"renewal": "9999-12-31"}}


def test_binary_values_are_read_as_hex_and_written_from_hex(contracts):
    result = contracts.insert([{"_ref": "a", "blob": b"\x00\xff"}, {"_ref": "b", "blob": "0a0b"}])
    assert result.failed == {}
    blobs = contracts.read_all().set_index("id")["blob"]
    assert blobs[result.written["a"]] == "00ff" and blobs[result.written["b"]] == "0a0b"


def test_a_text_that_is_no_date_or_no_hex_is_refused_with_the_column():
    with pytest.raises(ValueError, match="'renews_on' holds dates, not '0000-12-31'"):
        to_column_value(sa.Column("renews_on", sa.Date), "0000-12-31")
    with pytest.raises(ValueError, match="'blob' holds binary data"):
        to_column_value(sa.Column("blob", sa.LargeBinary), "xyz")
