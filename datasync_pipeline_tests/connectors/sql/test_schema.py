"""The connector checks configured names against the real table, and quotes every name it uses."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from datasync_pipeline.connectors.sql import SqlConnector, SqlSchemaError, SqlTableSpec, create_app_table
from datasync_pipeline_tests.connectors.sql.seeding import at, seed


def test_a_missing_table_is_named_with_its_near_matches_only(app_engine, customers):
    unrelated = sa.MetaData()
    for name in ("invoices", "ledger", "audit_log", "customer_notes"):
        sa.Table(name, unrelated, sa.Column("id", sa.Integer, primary_key=True))
    unrelated.create_all(app_engine)
    spec = SqlTableSpec(table="custmers", key_column="id", columns=["email"])

    with pytest.raises(SqlSchemaError) as raised:
        SqlConnector(app_engine, spec)

    message = str(raised.value)
    assert "'custmers' does not exist" in message
    assert "did you mean 'customers'" in message
    assert not any(name in message for name in ("invoices", "ledger", "audit_log", "existing tables"))


def test_a_missing_table_without_near_matches_says_how_many_there_are(app_engine, customers):
    with pytest.raises(SqlSchemaError, match=r"table 'zzz' does not exist in the app database \(none of its 1 tables has a similar name\)"):
        SqlConnector(app_engine, SqlTableSpec(table="zzz", key_column="id"))


def test_missing_columns_are_named_without_listing_the_table(app_engine, customers, customers_spec):
    spec = SqlTableSpec(table="customers", key_column="id", columns=["email", "phone"], updated_at_column="changed")

    with pytest.raises(SqlSchemaError) as raised:
        SqlConnector(app_engine, spec)

    message = str(raised.value)
    assert "column 'phone' does not exist" in message
    assert "column 'changed' does not exist" in message
    assert "existing columns" not in message and "'first_name'" not in message


def test_a_column_differing_only_in_case_is_missing_and_suggested(app_engine, customers):
    spec = SqlTableSpec(table="customers", key_column="id", columns=["EMAIL"])

    with pytest.raises(SqlSchemaError, match="column 'EMAIL' does not exist .did you mean 'email'"):
        SqlConnector(app_engine, spec)


def test_names_with_spaces_quotes_dashes_and_upper_case_work_everywhere(app_engine):
    spec = SqlTableSpec(
        table="Customer Accounts",
        key_column="Account ID",
        columns=["E-Mail", 'Nick "Name"', "LastName"],
        updated_at_column="Updated At",
        soft_delete_column="Deleted?",
        external_id_column="HubSpot.Id",
    )
    create_app_table(app_engine, spec)
    connector = SqlConnector(app_engine, spec)

    keys = seed(
        connector,
        [
            {"_ref": "h1", "E-Mail": "a@x", 'Nick "Name"': "Ada", "LastName": "L", "HubSpot.Id": "h1", "Updated At": at(0)},
            {"_ref": "h2", "E-Mail": "b@x", 'Nick "Name"': "Bob", "LastName": "B", "HubSpot.Id": "h2", "Updated At": at(1)},
        ],
    )
    updated = connector.update([{"Account ID": keys["h1"], "E-Mail": "a@new.x"}])
    with app_engine.begin() as connection:
        table = connector.app_table.table
        connection.execute(sa.update(table).where(table.c["Account ID"] == int(keys["h2"])).values({"Deleted?": at(2)}))

    assert updated.failed == {}
    frame = connector.read_all()
    assert list(frame.columns) == ["Account ID", "E-Mail", 'Nick "Name"', "LastName", "Updated At", "HubSpot.Id"]
    assert frame.to_dict("records")[0] | {"Updated At": None} == {
        "Account ID": keys["h1"],
        "E-Mail": "a@new.x",
        'Nick "Name"': "Ada",
        "LastName": "L",
        "Updated At": None,
        "HubSpot.Id": "h1",
    }
    assert list(connector.read_changed_since(at(0))["Account ID"]) == [keys["h1"]]
    assert connector.read_deleted([keys["h1"], keys["h2"]]) == [keys["h2"]]


@pytest.mark.postgres
def test_a_table_in_a_named_schema_is_found_there(postgres_url):
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.schema.CreateSchema("App Data"))
    spec = SqlTableSpec(table="customers", key_column="id", columns=["email"], schema="App Data")
    create_app_table(engine, spec)
    connector = SqlConnector(engine, spec)

    keys = seed(connector, [{"_ref": "r1", "email": "ada@example.com"}])

    assert list(connector.read_all()["id"]) == [keys["r1"]]
    with pytest.raises(SqlSchemaError, match="'public.customers' does not exist"):
        SqlConnector(engine, SqlTableSpec(table="customers", key_column="id", schema="public"))
    engine.dispose()
