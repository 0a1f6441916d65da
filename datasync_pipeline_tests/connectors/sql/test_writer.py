"""Writes: keys come back per reference, creates are idempotent, and a bad row fails alone."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from datasync_pipeline.connectors.sql import SqlConnector, SqlTableSpec, create_app_table
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline_tests.connectors.sql.seeding import at, seed


def _row_count(connector: SqlConnector) -> int:
    with connector.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(connector.app_table.table)).scalar_one()


def test_insert_returns_the_generated_key_of_each_reference(customers):
    result = customers.insert(
        [{"_ref": "trace-a", "email": "a@x"}, {"_ref": "trace-b", "email": "b@x", "first_name": "B"}]
    )

    assert result.failed == {}
    frame = customers.read_all().set_index("id")
    assert frame.loc[result.written["trace-a"], "email"] == "a@x"
    assert frame.loc[result.written["trace-b"], "first_name"] == "B"
    assert len(set(result.written.values())) == 2


def test_a_rerun_of_the_same_creates_updates_instead_of_duplicating(customers):
    first = customers.insert([{"_ref": f"h{i}", "email": f"p{i}@example.com", "hubspot_id": f"h{i}"} for i in range(5)])

    rerun = customers.insert(
        [{"_ref": f"h{i}", "email": f"p{i}@new.example.com", "hubspot_id": f"h{i}"} for i in range(3, 7)]
    )

    assert rerun.failed == {}
    assert rerun.written["h3"] == first.written["h3"] and rerun.written["h4"] == first.written["h4"]
    assert _row_count(customers) == 7
    emails = customers.read_all().set_index("hubspot_id")["email"]
    assert emails["h3"] == "p3@new.example.com" and emails["h0"] == "p0@example.com"


def test_the_same_external_id_twice_in_one_write_creates_one_row(customers):
    result = customers.insert(
        [{"_ref": "a", "email": "a@x", "hubspot_id": "h1"}, {"_ref": "b", "email": "b@x", "hubspot_id": "h1"}]
    )

    assert list(result.written) == ["a"]
    assert result.failed["b"].category == ErrorCategory.DUPLICATE_ON_OTHER_SIDE
    assert _row_count(customers) == 1


def test_update_changes_only_the_given_columns_and_bumps_updated_at(customers):
    keys = seed(customers, [{"_ref": "a", "email": "a@x", "first_name": "Ann", "updated_at": at(0)}])

    result = customers.update([{"id": keys["a"], "last_name": "Lee"}])

    assert result.written == {keys["a"]: keys["a"]} and result.failed == {}
    row = customers.read_all().iloc[0]
    assert (row["email"], row["first_name"], row["last_name"]) == ("a@x", "Ann", "Lee")
    assert row["updated_at"] > pd.Timestamp(at(0))
    assert customers.read_changed_since(at(1))["id"].tolist() == [keys["a"]]


def test_updating_a_row_that_is_gone_fails_as_deleted_in_the_app(customers):
    keys = seed(customers, [{"_ref": "a", "email": "a@x"}])

    result = customers.update([{"id": keys["a"], "first_name": "A"}, {"id": "424242", "first_name": "X"}])

    assert list(result.written) == [keys["a"]]
    assert result.failed["424242"].category == ErrorCategory.DELETED_IN_APP
    assert "'customers'" in result.failed["424242"].message


def test_one_row_missing_a_required_value_fails_alone(app_engine, customers_spec):
    create_app_table(app_engine, customers_spec, required=("email",))
    connector = SqlConnector(app_engine, customers_spec, batch_size=10)
    rows = [{"_ref": f"r{i}", "email": None if i == 4 else f"p{i}@x", "first_name": f"P{i}"} for i in range(10)]

    result = connector.insert(rows)

    assert set(result.failed) == {"r4"}
    error = result.failed["r4"]
    assert error.category == ErrorCategory.MISSING_REQUIRED_FIELD
    assert "'customers'" in error.message and "'email'" in error.message and "'r4'" in error.message
    assert len(result.written) == 9 and _row_count(connector) == 9


def test_several_bad_rows_across_batches_fail_alone(app_engine, customers_spec):
    create_app_table(app_engine, customers_spec, required=("email",))
    connector = SqlConnector(app_engine, customers_spec, batch_size=4)
    bad = {"r0", "r5", "r6", "r11"}
    rows = [{"_ref": f"r{i}", "email": None if f"r{i}" in bad else f"p{i}@x"} for i in range(12)]

    result = connector.insert(rows)

    assert set(result.failed) == bad
    assert {error.category for error in result.failed.values()} == {ErrorCategory.MISSING_REQUIRED_FIELD}
    assert _row_count(connector) == 8


def test_a_bad_update_fails_alone_too(customers):
    keys = seed(customers, [{"_ref": f"r{i}", "email": f"p{i}@x"} for i in range(4)])

    result = customers.update([{"id": keys[f"r{i}"], "email": None if i == 2 else f"q{i}@x"} for i in range(4)])

    assert set(result.failed) == {keys["r2"]}
    assert result.failed[keys["r2"]].category == ErrorCategory.MISSING_REQUIRED_FIELD
    assert sorted(customers.read_all()["email"]) == ["p2@x", "q0@x", "q1@x", "q3@x"]


def test_a_value_already_taken_in_a_unique_column_fails_as_a_duplicate(app_engine):
    metadata = sa.MetaData()
    sa.Table(
        "accounts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("domain", sa.String(100), unique=True),
    )
    metadata.create_all(app_engine)
    spec = SqlTableSpec(table="accounts", key_column="id", columns=["domain"], updated_at_column=None)
    connector = SqlConnector(app_engine, spec)
    seed(connector, [{"_ref": "first", "domain": "acme.com"}])

    result = connector.insert([{"_ref": "ok", "domain": "bolt.com"}, {"_ref": "taken", "domain": "acme.com"}])

    assert list(result.written) == ["ok"]
    assert result.failed["taken"].category == ErrorCategory.DUPLICATE_ON_OTHER_SIDE
    assert "'accounts'" in result.failed["taken"].message


def test_a_value_the_column_cannot_hold_fails_as_an_invalid_value(app_engine):
    spec = SqlTableSpec(table="deals", key_column="id", columns=["amount", "closed_at"], updated_at_column=None)
    create_app_table(app_engine, spec, {"amount": sa.Numeric(12, 2), "closed_at": sa.DateTime})
    connector = SqlConnector(app_engine, spec)

    result = connector.insert(
        [{"_ref": "ok", "amount": 10, "closed_at": at(0)}, {"_ref": "bad", "amount": 5, "closed_at": "next tuesday"}]
    )

    assert list(result.written) == ["ok"]
    assert result.failed["bad"].category == ErrorCategory.INVALID_PROPERTY_VALUE


def test_an_unknown_column_fails_the_row_before_touching_the_database(customers):
    result = customers.insert([{"_ref": "a", "email": "a@x", "phone": "123"}, {"_ref": "b", "email": "b@x"}])

    assert list(result.written) == ["b"]
    assert result.failed["a"].category == ErrorCategory.UNKNOWN_PROPERTY
    assert "'phone'" in result.failed["a"].message


def test_pandas_missing_values_and_numpy_scalars_are_written_as_plain_values(app_engine):
    spec = SqlTableSpec(table="products", key_column="id", columns=["name", "quantity"], updated_at_column=None)
    create_app_table(app_engine, spec, {"quantity": sa.Integer})
    connector = SqlConnector(app_engine, spec)
    frame = pd.DataFrame({"_ref": ["a", "b"], "name": ["Bolt", np.nan], "quantity": [np.int64(3), np.int64(4)]})
    rows = frame.to_dict("records")

    result = connector.insert(rows)

    assert result.failed == {}
    written = connector.read_all()[["name", "quantity"]].to_dict("records")
    assert written == [{"name": "Bolt", "quantity": 3}, {"name": None, "quantity": 4}]


@pytest.mark.slow
def test_fifty_thousand_rows_insert_in_one_transaction_per_batch(app_engine, customers_spec):
    create_app_table(app_engine, customers_spec)
    connector = SqlConnector(app_engine, customers_spec, batch_size=5000)
    rows = [{"_ref": f"h{i}", "email": f"p{i}@x", "first_name": "P", "hubspot_id": f"h{i}"} for i in range(50_000)]
    inserts: list[str] = []
    commits: list[bool] = []

    def count_inserts(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    sa.event.listen(app_engine, "before_cursor_execute", count_inserts)
    sa.event.listen(app_engine, "commit", lambda conn: commits.append(True))
    result = connector.insert(rows)

    assert len(result.written) == 50_000 and result.failed == {}
    assert len(commits) == 10  # ten batches of 5,000, one transaction each
    if app_engine.dialect.name == "postgresql":
        # Multi-row INSERT ... VALUES ... RETURNING, not one statement per row. (SQLite cannot keep
        # RETURNING in parameter order for multi-row inserts, so SQLAlchemy sends it row by row
        # inside the batch's transaction, which is fast in-process.)
        assert len(inserts) <= 100, f"{len(inserts)} INSERT statements"


def test_text_values_are_converted_to_the_column_types_and_bad_ones_fail_alone(app_engine):
    spec = SqlTableSpec(table="deals", key_column="id", columns=["name", "amount", "close_date", "won"], updated_at_column="updated_at",
                        external_id_column="hubspot_id")
    create_app_table(app_engine, spec, {"amount": sa.Numeric(12, 2), "close_date": sa.DateTime(timezone=True), "won": sa.Boolean})
    connector = SqlConnector(app_engine, spec)
    result = connector.insert([
        {"_ref": "1", "name": "A", "amount": "1200.50", "close_date": "2024-05-01T10:00:00.000Z", "won": "true"},
        {"_ref": "2", "name": "B", "amount": "7", "close_date": "1714557600000", "won": "false"},
        {"_ref": "3", "name": "C", "amount": "lots", "close_date": None, "won": None},
    ])
    assert set(result.written) == {"1", "2"}
    assert result.failed["3"].category == ErrorCategory.INVALID_PROPERTY_VALUE and "'amount' holds numbers" in result.failed["3"].message
    rows = connector.read_all().set_index("name")
    assert float(rows.loc["A", "amount"]) == 1200.5 and rows.loc["A", "won"] in (True, 1)
    closed = pd.Timestamp(rows.loc["B", "close_date"])
    closed = closed.tz_localize("UTC") if closed.tzinfo is None else closed.tz_convert("UTC")  # SQLite keeps no zone
    assert closed == pd.Timestamp("2024-05-01T10:00:00Z")
