"""Outcomes are kept per step: a record failing its write and its associations holds both, each cleared by its own
step, each with its own retry schedule; a store keyed the old way is upgraded in place, its rows kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from datasync_pipeline.state import StateStore
from datasync_pipeline.state.tables import record_status
from datasync_pipeline.vocabulary import Recorder

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
OLD_KEY = ["sync", "side", "record_id"]


def outcomes(rows: list[tuple[str, str, str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["side", "record_id", "status", "category", "message"])


def kept(store: StateStore) -> list[tuple[str, str, str, str, int]]:
    query = sa.select(record_status.c.record_id, record_status.c.recorded_by, record_status.c.category, record_status.c.status,
                      record_status.c.attempts).order_by(record_status.c.record_id, record_status.c.recorded_by)
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def test_a_load_failure_and_an_association_failure_of_one_record_are_both_kept_and_cleared_apart(app_database_url):
    store = StateStore(app_database_url)
    store.record_outcomes("contacts", outcomes([("app", "10", "failed", "server_error_after_retries", "503 from the ERP")]),
                          recorded_by=Recorder.APP_LOAD, run_id="r1")
    store.record_outcomes("contacts", outcomes([("app", "10", "failed", "association_failed", "company 7 is not synced")]),
                          recorded_by=Recorder.ASSOCIATIONS, run_id="r1")

    assert kept(store) == [("10", "app", "server_error_after_retries", "failed", 1), ("10", "associations", "association_failed", "failed", 1)]
    assert store.outcome_counts("contacts") == {"failed/server_error_after_retries": 1, "failed/association_failed": 1}
    assert store.failed_records("contacts", run_id="r1") == {("app", "10")}  # one record, however many outcomes

    store.clear_outcomes("contacts", "app", ["10"], recorded_by=Recorder.ASSOCIATIONS)  # the associations now hold

    assert kept(store) == [("10", "app", "server_error_after_retries", "failed", 1)]
    store.engine.dispose()


def test_each_outcome_keeps_its_own_retry_schedule(app_database_url):
    store = StateStore(app_database_url)
    load = outcomes([("app", "10", "failed", "server_error_after_retries", "503")])
    links = outcomes([("app", "10", "failed", "server_error_after_retries", "association call failed")])
    store.record_outcomes("contacts", load, recorded_by=Recorder.APP_LOAD, run_id="r1")
    store.record_outcomes("contacts", load, recorded_by=Recorder.APP_LOAD, run_id="r2")  # the load failed again
    store.record_outcomes("contacts", links, recorded_by=Recorder.ASSOCIATIONS, run_id="r2")

    assert [(by, attempts) for _, by, _, _, attempts in kept(store)] == [("app", 2), ("associations", 1)]
    later = datetime.now(UTC) + timedelta(days=2)
    assert store.due_retries("contacts", recorded_by=Recorder.APP_LOAD, now=later, limit=10) == [("app", "10")]
    assert store.due_retries("contacts", recorded_by=Recorder.HUBSPOT_LOAD, now=later, limit=10) == []
    with store.engine.connect() as connection:
        schedule = dict(connection.execute(sa.select(record_status.c.recorded_by, record_status.c.next_attempt_at)).all())
    assert schedule["app"] > schedule["associations"]  # the second failure waits longer; the first one's clock is its own
    store.engine.dispose()


def test_a_name_reaches_every_outcome_of_the_record(app_database_url):
    store = StateStore(app_database_url)
    for recorder, category in ((Recorder.APP_LOAD, "invalid_email"), (Recorder.ASSOCIATIONS, "association_failed")):
        store.record_outcomes("contacts", outcomes([("app", "10", "failed", category, None)]), recorded_by=recorder, run_id="r1")

    assert store.unnamed_outcomes("contacts", run_id="r1") == [("app", "10")]
    store.name_outcomes("contacts", "app", {"10": {"email": "bad@@x.io"}})

    assert store.unnamed_outcomes("contacts", run_id="r1") == []
    store.engine.dispose()


def old_shape_store(url: str, *, with_identity: bool) -> sa.Engine:
    """A ``datasync_record_status`` as releases before outcomes per step made it: keyed on (sync, side, record)."""
    engine = sa.create_engine(url)
    before = sa.MetaData()
    columns = []
    for column in record_status.columns:
        if column.name == "identity" and not with_identity:
            continue
        copy = column._copy()
        copy.primary_key = column.name in OLD_KEY
        columns.append(copy)
    old = sa.Table(record_status.name, before, *columns)
    before.create_all(engine)
    row = {"sync": "contacts", "side": "app", "status": "failed", "category": "server_error_after_retries", "message": "503",
           "recorded_by": "app", "recorded_at": NOW, "attempts": 2, "next_attempt_at": NOW}
    with engine.begin() as connection:
        connection.execute(old.insert(), [{**row, "record_id": "10"}, {**row, "record_id": "11", "recorded_by": "associations"},
                                          {**row, "record_id": "12", "status": "excluded", "category": "outside filters"}])
    assert sa.inspect(engine).get_pk_constraint(record_status.name)["constrained_columns"] == OLD_KEY
    return engine


@pytest.mark.parametrize("with_identity", [True, False], ids=["with-identity", "before-identity"])
def test_a_store_keyed_per_record_is_upgraded_in_place_and_keeps_its_rows(app_database_url, with_identity):
    engine = old_shape_store(app_database_url, with_identity=with_identity)

    store = StateStore(engine)
    StateStore(engine)  # opening again finds the new key and changes nothing

    inspector = sa.inspect(engine)
    assert inspector.get_pk_constraint(record_status.name)["constrained_columns"] == ["sync", "side", "record_id", "recorded_by"]
    assert "identity" in {column["name"] for column in inspector.get_columns(record_status.name)}
    assert not inspector.has_table(f"{record_status.name}_before_upgrade")
    assert kept(store) == [("10", "app", "server_error_after_retries", "failed", 2), ("11", "associations", "server_error_after_retries", "failed", 2),
                           ("12", "app", "outside filters", "excluded", 2)]
    # The upgraded store keeps a second outcome of record 10 beside the first.
    store.record_outcomes("contacts", outcomes([("app", "10", "failed", "association_failed", None)]), recorded_by=Recorder.ASSOCIATIONS)
    assert [(record, by) for record, by, *_ in kept(store)][:2] == [("10", "app"), ("10", "associations")]
    engine.dispose()
