"""Every value a connector reads round-trips through the state store and compares equal afterwards.

The last synced values are the base of the next three-way merge: read back from the store, a value
must compare equal to the same value read fresh (no spurious change), and unequal to a changed one.
Each case runs on a SQLite and a Postgres state store.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from datasync_pipeline.config.model import AppTable, Direction, Side
from datasync_pipeline.connectors.sql import SqlConnector, SqlTableSpec, create_app_table
from datasync_pipeline.connectors.base import SideBinding
from datasync_pipeline.connectors.sql.frames import engine_frame
from datasync_pipeline.engine.normalize import blank_to_none
from datasync_pipeline.engine.three_way import merge_three_way, pairs_with_values
from datasync_pipeline.objects.catalogue import ResolvedMapping, ValueType
from datasync_pipeline.connectors.sql.value_types import sql_value_type
from datasync_pipeline.state import Link, StateStore
from datasync_pipeline.state.tables import pairs
from datasync_pipeline.state.values import json_safe, json_safe_value

N, S, D, DT, B = ValueType.NUMBER, ValueType.STRING, ValueType.DATE, ValueType.DATETIME, ValueType.BOOL

# name: (the value as read, the same field changed, the mapping's value type)
CASES = {
    "decimal": (Decimal("1234567.89"), Decimal("1234567.99"), N),
    "decimal_trailing_zero_as_text": (Decimal("12.50"), Decimal("12.51"), S),
    "date": (date(2024, 5, 1), date(2024, 5, 2), D),
    "date_extremes": (date(1, 1, 1), date(9999, 12, 31), D),
    "datetime_naive": (datetime(2024, 5, 1, 10, 0, 0, 123456), datetime(2024, 5, 1, 10, 0, 0, 123457), DT),
    "datetime_utc": (datetime(2024, 5, 1, 10, 0, tzinfo=UTC), datetime(2024, 5, 1, 10, 1, tzinfo=UTC), DT),
    "datetime_other_zone": (datetime(2024, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=2))),
                            datetime(2024, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=3))), DT),
    "time": (time(10, 30), time(10, 30, 1), S),
    "bool": (True, False, B),
    "int": (42, 43, N),
    "big_int": (2**60 + 1, 2**60 + 2, N),
    "huge_int": (10**30 + 1, 10**30 + 2, N),
    "float": (1234567.5, 1234567.9, N),
    "numpy_int": (np.int64(2**62 + 1), np.int64(2**62 + 3), N),
    "numpy_float": (np.float64(2.5), np.float64(2.75), N),
    "numpy_float32": (np.float32(0.1), np.float32(0.2), N),
    "numpy_bool": (np.bool_(True), np.bool_(False), B),
    "timestamp_utc_nanoseconds": (pd.Timestamp("2024-05-01 10:00:00.000000001", tz="UTC"),
                                  pd.Timestamp("2024-05-01 10:00:00.000000002", tz="UTC"), DT),
    "timestamp_naive": (pd.Timestamp("2024-05-01 10:00"), pd.Timestamp("2024-05-01 10:01"), DT),
    "text": ("Bonn", "Köln", S),
}
MISSING = {"none": None, "nan": float("nan"), "numpy_nan": np.float64("nan"), "decimal_nan": Decimal("NaN"),
           "nat": pd.NaT, "na": pd.NA}


def _mapping(value_type: ValueType) -> ResolvedMapping:
    return ResolvedMapping("field", "field", value_type, False, False)


def _store_link(store: StateStore, value) -> None:
    """As a create does: both sides hold the value just written."""
    store.link("s", [Link("h1", "a1", hubspot_values={"field": value}, app_values={"field": value})])


def _merge_with_app_now(store: StateStore, app_value, value_type: ValueType) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three-way merge of the stored pair against the app record read now; HubSpot unchanged."""
    stored = store.last_values("s", hubspot_ids=["h1"])
    app_now = pd.DataFrame({"record_id": ["a1"], "field": pd.Series([app_value], dtype=object)})
    hubspot_now = pd.DataFrame({"record_id": pd.Series([], dtype=object), "field": pd.Series([], dtype=object)})
    laid_out = pairs_with_values(stored, hubspot_now, app_now, ["field"])
    return merge_three_way(laid_out, [_mapping(value_type)], direction=Direction.TWO_WAY, default_app=Side.HUBSPOT)


def _is_plain_json(value) -> bool:
    return value is None or type(value) in (str, int, float, bool) and not (type(value) is float and not math.isfinite(value))


def test_the_old_write_path_fails_on_decimal_date_datetime_and_link_now_stores_them(app_database_url):
    """What ``StateStore.link`` did before: the raw values into the JSON columns, which refuses them."""
    store = StateStore(app_database_url)
    now = datetime.now(UTC)
    for value in (Decimal("12.50"), date(2024, 5, 1), datetime(2024, 5, 1, 10, 0, tzinfo=UTC)):
        raw = {"sync": "s", "hubspot_id": "h1", "app_id": "a1", "linked_at": now, "synced_at": now, "status": "synced",
               "hubspot_values": None, "app_values": {"field": value}}
        with pytest.raises(sa.exc.StatementError) as raised, store.engine.begin() as connection:
            connection.execute(sa.insert(pairs).values(raw))
        assert isinstance(raised.value.orig, TypeError) and "is not JSON serializable" in str(raised.value.orig)

        store.link("s", [Link("h1", "a1", app_values={"field": value})])
        assert store.last_values("s", hubspot_ids=["h1"])["app_values"][0] == {"field": str(value)}


@pytest.mark.parametrize("name", list(CASES))
def test_a_stored_value_compares_equal_to_the_same_value_read_again(app_database_url, name):
    value, changed, value_type = CASES[name]
    store = StateStore(app_database_url)
    _store_link(store, value)
    read_back = store.last_values("s", hubspot_ids=["h1"])["app_values"][0]["field"]
    assert _is_plain_json(read_back)

    to_hubspot, to_app, conflicts = _merge_with_app_now(store, value, value_type)
    assert (len(to_hubspot), len(to_app), len(conflicts)) == (0, 0, 0), f"{name}: a spurious change of {value!r} (stored {read_back!r})"

    to_hubspot, to_app, _ = _merge_with_app_now(store, changed, value_type)
    assert to_hubspot[["record_id", "field"]].values.tolist() == [["h1", "field"]], f"{name}: the change to {changed!r} went unseen"
    assert to_hubspot["value"].tolist() == blank_to_none(pd.Series([changed], dtype=object)).tolist()
    assert len(to_app) == 0


@pytest.mark.parametrize("name", list(MISSING))
def test_a_missing_marker_is_stored_as_no_value(app_database_url, name):
    store = StateStore(app_database_url)
    _store_link(store, MISSING[name])
    assert store.last_values("s", hubspot_ids=["h1"])["app_values"][0] == {"field": None}
    assert all(len(frame) == 0 for frame in _merge_with_app_now(store, MISSING[name], N))
    to_hubspot, _, _ = _merge_with_app_now(store, Decimal("5"), N)
    assert to_hubspot["value"].tolist() == ["5"]


def test_json_safe_forms():
    values = {"big": 2**53 + 1, "edge": 2**53, "negative_big": -(2**60), "bytes": b"\x00\xffab", "view": memoryview(b"\x01"),
              "inf": float("inf"), "decimal_inf": Decimal("-Infinity"), "nested": {"at": date(2024, 5, 1), "list": [Decimal("1.0"), None]},
              "uuid_like": type("Thing", (), {"__str__": lambda self: "thing"})()}
    assert json_safe(values) == {"big": "9007199254740993", "edge": 2**53, "negative_big": str(-(2**60)), "bytes": "00ff6162",
                                 "view": "01", "inf": None, "decimal_inf": None,
                                 "nested": {"at": "2024-05-01", "list": ["1.0", None]}, "uuid_like": "thing"}
    json.dumps(json_safe(values), allow_nan=False)
    assert json_safe(None) is None
    assert json_safe_value(np.float32(0.1)) == 0.1 and type(json_safe_value(np.int64(3))) is int


# A real app table: the values each driver returns for each column type, read, stored, read again.
COLUMNS = {
    "amount": (sa.Numeric(14, 2), Decimal("1234567.89"), Decimal("1234567.99")),
    "day": (sa.Date(), date(1, 1, 1), date(9999, 12, 31)),
    "at_naive": (sa.DateTime(), datetime(2024, 5, 1, 10, 0, 0, 123456), datetime(2024, 5, 1, 10, 0, 0, 123457)),
    "at_zone": (sa.DateTime(timezone=True), datetime(2024, 5, 1, 10, 0, tzinfo=UTC), datetime(2024, 5, 1, 11, 0, tzinfo=UTC)),
    "clock": (sa.Time(), time(10, 30), time(10, 31)),
    "flag": (sa.Boolean(), True, False),
    "big": (sa.BigInteger(), 2**60 + 1, 2**60 + 2),
    "blob": (sa.LargeBinary(), b"\x00\xffab", b"\x00\xffac"),
    "ratio": (sa.Float(), float("nan"), 0.5),
}


@pytest.fixture
def typed_table(app_database_url: str):
    engine = sa.create_engine(app_database_url)
    spec = SqlTableSpec(table="typed", key_column="id", columns=tuple(COLUMNS), updated_at_column="updated_at")
    table = create_app_table(engine, spec, {name: column_type for name, (column_type, _, _) in COLUMNS.items()})
    connector = SqlConnector(engine, spec, batch_size=100)
    mappings = [ResolvedMapping(f"p_{name}", name, sql_value_type(table.c[name].type), False, False) for name in COLUMNS]
    yield connector, mappings
    connector.close()
    engine.dispose()


def _read(connector: SqlConnector, mappings: list[ResolvedMapping]) -> pd.DataFrame:
    return engine_frame(connector.read_all(), SideBinding("s", "contacts", {m.hubspot: m.app for m in mappings}), AppTable(name="typed", updated_at="updated_at", external_id=None))


def test_values_of_every_column_type_round_trip_through_the_store(app_database_url, typed_table):
    connector, mappings = typed_table
    key = connector.insert([{"_ref": "r", **{name: first for name, (_, first, _) in COLUMNS.items()}}]).written["r"]
    read = _read(connector, mappings)
    values = {m.hubspot: read.loc[0, m.hubspot] for m in mappings}
    assert values["p_blob"] == "00ff6162"  # binary values are hex text from the reader on
    store = StateStore(app_database_url)
    store.link("s", [Link("h1", key, hubspot_values=values, app_values=values)])
    stored = store.last_values("s", hubspot_ids=["h1"])
    fields = [m.hubspot for m in mappings]
    hubspot_now = pd.DataFrame({"record_id": pd.Series([], dtype=object), **{f: pd.Series([], dtype=object) for f in fields}})

    unchanged = merge_three_way(pairs_with_values(stored, hubspot_now, _read(connector, mappings), fields), mappings,
                                direction=Direction.TWO_WAY, default_app=Side.HUBSPOT)
    assert [frame["field"].tolist() for frame in unchanged] == [[], [], []]

    assert connector.update([{"id": key, **{name: changed for name, (_, _, changed) in COLUMNS.items()}}]).failed == {}
    to_hubspot, to_app, conflicts = merge_three_way(pairs_with_values(stored, hubspot_now, _read(connector, mappings), fields), mappings,
                                                    direction=Direction.TWO_WAY, default_app=Side.HUBSPOT)
    assert sorted(to_hubspot["field"]) == sorted(fields) and to_app.empty and conflicts.empty
