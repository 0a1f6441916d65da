"""Records that never synced show their identity in the record view; stores from before the column get it added."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from datasync_pipeline.config import parse_config
from datasync_pipeline.health.records import read_records
from datasync_pipeline.health.rows import RecordFilter
from datasync_pipeline.state import StateStore
from datasync_pipeline.state.tables import record_status

CONFIG = """
connections:
  hubspot: {kind: hubspot, sandbox: {path: sandbox.sqlite}}
  app: {kind: sql, url: "sqlite:///app.sqlite"}
state: {url: "sqlite:///state.sqlite"}
syncs:
  - {name: contacts, object: contacts, app: app, table: {name: customers}}
"""
NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def outcome_row(record_id: str, **extra) -> dict:
    return {"sync": "contacts", "side": "app", "record_id": record_id, "status": "excluded", "category": "no unique identity",
            "message": "no valid email", "recorded_by": "app", "recorded_at": NOW, **extra}


def rows(engine: sa.Engine, columns: list[str]) -> pd.DataFrame:
    [sync] = parse_config(CONFIG, source="test").syncs
    return pd.concat(list(read_records(engine, [sync], columns=columns, where=RecordFilter())))


def test_an_excluded_record_shows_the_identity_its_load_recorded(state_url):
    store = StateStore(state_url)
    with store.engine.begin() as connection:
        connection.execute(record_status.insert(), [
            outcome_row("7", identity={"email": "bad@@x.io", "firstname": "Nox"}),
            outcome_row("8", identity=None),  # recorded without an identity: values stay empty
        ])

    shown = rows(store.engine, ["app_id", "status", "email", "firstname", "city"])

    assert shown.astype(object).where(shown.notna(), None).to_dict("records") == [
        {"app_id": "7", "status": "excluded", "email": "bad@@x.io", "firstname": "Nox", "city": None},
        {"app_id": "8", "status": "excluded", "email": None, "firstname": None, "city": None},
    ]
    store.engine.dispose()


def test_a_store_created_before_the_identity_column_gets_it_and_keeps_its_rows(state_url):
    engine = sa.create_engine(state_url)
    before = sa.MetaData()
    sa.Table(record_status.name, before, *(column._copy() for column in record_status.columns if column.name != "identity"))
    before.create_all(engine)
    with engine.begin() as connection:
        connection.execute(before.tables[record_status.name].insert(), [outcome_row("7")])

    StateStore(engine)
    StateStore(engine)  # opening again finds the column and adds nothing

    assert "identity" in {column["name"] for column in sa.inspect(engine).get_columns(record_status.name)}
    with engine.begin() as connection:
        connection.execute(record_status.update().values(identity={"email": "bad@@x.io"}))
    assert rows(engine, ["app_id", "email"]).to_dict("records") == [{"app_id": "7", "email": "bad@@x.io"}]
    engine.dispose()
