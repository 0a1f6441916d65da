"""Reads: in full, streamed, incremental from a watermark, and which linked rows are gone."""

from __future__ import annotations

from datetime import timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa

from datasync_pipeline.connectors.sql import SqlConnector, SqlTableSpec, create_app_table
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline_tests.connectors.sql.seeding import at, seed


def _people(count: int) -> list[dict]:
    return [
        {
            "_ref": f"h{i}",
            "email": f"person{i}@example.com",
            "first_name": f"P{i}",
            "hubspot_id": f"h{i}",
            "updated_at": at(i),
        }
        for i in range(count)
    ]


def _soft_delete(connector: SqlConnector, key: str) -> None:
    table = connector.app_table.table
    with connector.engine.begin() as connection:
        connection.execute(sa.update(table).where(table.c.id == int(key)).values(deleted_at=at(100)))


def test_read_all_returns_live_rows_with_string_keys_python_values_and_utc_times(customers):
    keys = seed(customers, _people(3))
    _soft_delete(customers, keys["h1"])

    frame = customers.read_all()

    assert list(frame.columns) == ["id", "email", "first_name", "last_name", "updated_at", "hubspot_id"]
    assert list(frame["id"]) == [keys["h0"], keys["h2"]]
    assert frame["last_name"].tolist() == [None, None]
    assert str(frame["updated_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["updated_at"].tolist() == [pd.Timestamp(at(0)), pd.Timestamp(at(2))]


def test_iter_all_streams_every_live_row_in_chunks(customers):
    seed(customers, _people(7))

    chunks = list(customers.iter_all(chunk_size=3))

    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), customers.read_all())


def test_changed_since_includes_rows_stamped_exactly_at_the_watermark(customers):
    rows = _people(4)
    for row, seconds in zip(rows, [0, 5, 5, 9], strict=True):
        row["updated_at"] = at(seconds)
    keys = seed(customers, rows)

    changed = customers.read_changed_since(at(5))

    assert list(changed["id"]) == [keys["h1"], keys["h2"], keys["h3"]]
    assert changed["updated_at"].tolist() == [pd.Timestamp(at(5)), pd.Timestamp(at(5)), pd.Timestamp(at(9))]


def test_changed_since_orders_by_time_then_key_and_reads_everything_without_a_watermark(customers):
    rows = _people(3)
    for row, seconds in zip(rows, [7, 3, 3], strict=True):
        row["updated_at"] = at(seconds)
    keys = seed(customers, rows)

    changed = customers.read_changed_since(None)

    assert list(changed["id"]) == [keys["h1"], keys["h2"], keys["h0"]]


def test_changed_since_compares_in_utc_whatever_the_watermark_zone(customers):
    keys = seed(customers, _people(3))
    same_instant_elsewhere = at(1).astimezone(timezone(timedelta(hours=2)))

    changed = customers.read_changed_since(same_instant_elsewhere)

    assert list(changed["id"]) == [keys["h1"], keys["h2"]]


def test_changed_since_leaves_out_soft_deleted_rows(customers):
    keys = seed(customers, _people(3))
    _soft_delete(customers, keys["h2"])

    assert list(customers.read_changed_since(at(0))["id"]) == [keys["h0"], keys["h1"]]


def test_sqlite_text_timestamps_in_another_shape_are_not_lost_at_the_watermark(sqlite_url):
    """Apps writing SQLite by hand store '2024-05-01 09:00:05' (no fraction) or ISO 'T...Z' text."""
    engine = sa.create_engine(sqlite_url)
    spec = SqlTableSpec(table="customers", key_column="id", columns=["email"])
    create_app_table(engine, spec)
    table = sa.Table("customers", sa.MetaData(), autoload_with=engine)
    raw_text = sa.type_coerce(table.c.updated_at, sa.String)
    with engine.begin() as connection:
        stamps = [("a@x", "2024-05-01 09:00:05"), ("b@x", "2024-05-01T09:00:05Z"), ("c@x", "2024-05-01 09:00:04.999")]
        for email, stamp in stamps:
            connection.execute(sa.insert(table).values({"email": email, raw_text: stamp}))
    connector = SqlConnector(engine, spec)

    changed = connector.read_changed_since(at(5))

    assert list(changed["email"]) == ["a@x", "b@x"]
    assert connector.max_updated_at() == at(5)
    engine.dispose()


def test_max_updated_at_is_the_latest_stamp_in_utc_or_none_when_empty(customers):
    assert customers.max_updated_at() is None

    seed(customers, _people(3))

    assert customers.max_updated_at() == at(2)
    assert customers.max_updated_at().utcoffset() == timedelta(0)


def test_read_deleted_reports_hard_and_soft_deleted_keys_in_batches(app_engine, customers_spec):
    create_app_table(app_engine, customers_spec)
    connector = SqlConnector(app_engine, customers_spec, batch_size=4)
    keys = seed(connector, _people(10))
    table = connector.app_table.table
    with app_engine.begin() as connection:
        connection.execute(sa.delete(table).where(table.c.id.in_([int(keys["h3"]), int(keys["h8"])])))
    _soft_delete(connector, keys["h5"])
    statements: list[str] = []
    sa.event.listen(app_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    deleted = connector.read_deleted([keys[f"h{i}"] for i in range(10)] + ["not-a-key"])

    assert deleted == [keys["h3"], keys["h5"], keys["h8"], "not-a-key"]
    assert len(statements) == 3  # 11 keys in batches of 4, not one query per key


def test_a_boolean_soft_delete_flag_hides_and_reports_flagged_rows(app_engine):
    spec = SqlTableSpec(table="companies", key_column="id", columns=["name"], soft_delete_column="is_deleted")
    create_app_table(app_engine, spec, {"is_deleted": sa.Boolean})
    connector = SqlConnector(app_engine, spec)
    keys = seed(
        connector,
        [
            {"_ref": "a", "name": "Acme", "is_deleted": False},
            {"_ref": "b", "name": "Bolt", "is_deleted": True},
            {"_ref": "c", "name": "Cogs"},
        ],
    )

    assert list(connector.read_all()["name"]) == ["Acme", "Cogs"]
    assert connector.read_deleted(keys.values()) == [keys["b"]]


def test_incremental_reads_need_an_updated_at_column(app_engine):
    spec = SqlTableSpec(table="notes", key_column="id", columns=["body"], updated_at_column=None)
    create_app_table(app_engine, spec)
    connector = SqlConnector(app_engine, spec)

    with pytest.raises(DatasyncError, match="no updated_at column configured"):
        connector.read_changed_since(None)
    assert list(connector.read_all().columns) == ["id", "body"]


def test_rows_are_read_by_key_and_by_identity_value_ignoring_case(app_engine, customers_spec):
    from datasync_pipeline.connectors.sql import SqlConnector, create_app_table

    table = create_app_table(app_engine, customers_spec)
    with app_engine.begin() as connection:
        connection.execute(sa.insert(table), [{"email": " Ann@Example.com", "first_name": "Ann"}, {"email": "ben@example.com", "first_name": "Ben"},
                                              {"email": "cy@example.com", "first_name": "Cy"}])
    connector = SqlConnector(app_engine, customers_spec)
    keys = connector.read_all()["id"].tolist()
    assert connector.read_keys([keys[0], keys[2], "999"])["first_name"].tolist() == ["Ann", "Cy"]
    assert sorted(connector.read_matching("email", ["ann@example.com", "BEN@example.com", "zed@example.com"])["first_name"]) == ["Ann", "Ben"]
    assert connector.read_keys([]).empty


def test_soft_deletes_among_the_changes_are_found_without_checking_every_row(customers):
    keys = seed(customers, _people(3))
    table = customers.app_table.table
    with customers.engine.begin() as connection:
        # h2 deleted recently (its updated_at moves with it); h0 deleted long before the watermark.
        connection.execute(sa.update(table).where(table.c.id == int(keys["h2"])).values(deleted_at=at(100), updated_at=at(100)))
        connection.execute(sa.update(table).where(table.c.id == int(keys["h0"])).values(deleted_at=at(0), updated_at=at(0)))
    assert customers.read_soft_deleted_since(at(50)) == [keys["h2"]]
