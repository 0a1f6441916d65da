"""The change log of ``changes: trigger`` (``connectors/sql/change_log.py``) on a real PostgreSQL: what the trigger
logs, the horizon that keeps an open transaction's change from being skipped, consumption, prepare and drop.

An open transaction is a state the test holds on a connection of its own, never a time it waits for.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from datasync_pipeline.config.model import AppTable
from datasync_pipeline.connectors.base import SideBinding
from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table, change_log
from datasync_pipeline.connectors.sql.app_side import SqlSide
from datasync_pipeline.errors import DatasyncError

pytestmark = pytest.mark.postgres

SYNC = "contacts"
FIELDS = {"email": "email", "city": "city"}
TABLE = AppTable(name="customers", key="id", updated_at="updated_at", external_id="hubspot_id", changes="trigger")
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(postgres_url: str):
    engine = sa.create_engine(postgres_url)
    spec = SqlTableSpec(table="customers", key_column="id", columns=list(FIELDS.values()), updated_at_column="updated_at",
                        external_id_column="hubspot_id")
    create_app_table(engine, spec, {"email": sa.String(320), "city": sa.String(100)})
    yield engine
    engine.dispose()


def side(engine: sa.Engine, table: AppTable = TABLE) -> SqlSide:
    """A new connector: a new run (nothing pinned)."""
    return SqlSide(engine, table, SideBinding(sync_name=SYNC, object_type="contacts", fields=FIELDS))


def insert(engine: sa.Engine, email: str, *, at: datetime = LONG_AGO) -> str:
    with engine.begin() as connection:
        return str(connection.execute(sa.text("INSERT INTO customers (email, city, updated_at) VALUES (:email, 'Berlin', :at) "
                                              "RETURNING id"), {"email": email, "at": at}).scalar_one())


def log_rows(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(f"SELECT record_key, operation FROM {change_log.object_name(SYNC)} ORDER BY seq"))]


def consumed_run(engine: sa.Engine) -> None:
    """A run that read everything and reached its checkpoint."""
    connector = side(engine)
    connector.read_changed_since(datetime.now(UTC))
    connector.deleted_since(datetime.now(UTC))
    connector.changes_synced()
    connector.close()


def test_prepare_is_idempotent_and_the_trigger_logs_inserts_updates_deletes_and_key_changes(engine):
    assert change_log.prepare(engine, sync_name=SYNC, table="customers", schema=None, key="id").created is True
    assert change_log.prepare(engine, sync_name=SYNC, table="customers", schema=None, key="id").created is False
    ada = insert(engine, "ada@example.com")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET city = 'Paris' WHERE id = :id"), {"id": int(ada)})
        connection.execute(sa.text("UPDATE customers SET id = 1000 WHERE id = :id"), {"id": int(ada)})
        connection.execute(sa.text("DELETE FROM customers WHERE id = 1000"))

    assert log_rows(engine) == [(ada, "INSERT"), (ada, "UPDATE"), (ada, "DELETE"), ("1000", "UPDATE"), ("1000", "DELETE")]


def test_the_syncs_own_writes_are_not_logged_and_another_syncs_are(engine):
    change_log.prepare(engine, sync_name=SYNC, table="customers", schema=None, key="id")
    ada = insert(engine, "ada@example.com")
    consumed_run(engine)
    connector = side(engine)
    assert connector.update({ada: {"city": "Oslo"}}).failed == {}
    assert log_rows(engine) == []
    other = SqlSide(engine, TABLE, SideBinding(sync_name="other_sync", object_type="contacts", fields=FIELDS))
    other.update({ada: {"city": "Rome"}})
    assert log_rows(engine) == [(ada, "UPDATE")]
    connector.close()
    other.close()


def test_a_change_committed_after_a_run_read_is_read_by_the_next_run_whatever_its_updated_at(engine):
    change_log.prepare(engine, sync_name=SYNC, table="customers", schema=None, key="id")
    ada = insert(engine, "ada@example.com")
    consumed_run(engine)
    late = engine.connect()
    transaction = late.begin()
    try:
        # BEGIN; UPDATE ... updated_at = <when the transaction began, long before the overlap>; not committed yet
        late.execute(sa.text("UPDATE customers SET city = 'LateCommitCity', updated_at = :at WHERE id = :id"),
                     {"at": LONG_AGO + timedelta(seconds=1), "id": int(ada)})
        # Meanwhile a run reads, writes and checkpoints: it must not consume the open transaction's entry.
        during = side(engine)
        assert list(during.read_changed_since(datetime.now(UTC) - timedelta(seconds=60))["record_id"]) == []
        during.changes_synced()
        during.close()
        transaction.commit()
    finally:
        late.close()

    after = side(engine)
    changed = after.read_changed_since(datetime.now(UTC) - timedelta(seconds=60))
    assert changed[["record_id", "city"]].to_dict("records") == [{"record_id": ada, "city": "LateCommitCity"}]
    changes, complete = after.newest_changes(datetime.now(UTC), limit=10)
    assert [key for key, _ in changes] == [ada] and complete
    after.close()
    # The time read alone (changes: updated_at) never sees it: this is what the log is for.
    by_time = side(engine, TABLE.model_copy(update={"changes": "updated_at"}))
    assert by_time.read_changed_since(datetime.now(UTC) - timedelta(seconds=60)).empty
    by_time.close()


def test_an_entry_behind_an_open_transaction_waits_and_is_not_consumed(engine):
    change_log.prepare(engine, sync_name=SYNC, table="customers", schema=None, key="id")
    ada, ben = insert(engine, "ada@example.com"), insert(engine, "ben@example.com")
    consumed_run(engine)
    holder = engine.connect()
    transaction = holder.begin()
    try:
        holder.execute(sa.text("UPDATE customers SET city = 'Held' WHERE id = :id"), {"id": int(ada)})
        with engine.begin() as connection:  # committed after the open transaction began: a larger xid
            connection.execute(sa.text("UPDATE customers SET city = 'Lund', updated_at = :at WHERE id = :id"),
                               {"at": LONG_AGO, "id": int(ben)})
        during = side(engine)
        assert during.read_changed_since(datetime.now(UTC)).empty  # beyond the horizon: not final yet
        during.changes_synced()
        during.close()
        transaction.commit()
    finally:
        holder.close()
    after = side(engine)
    assert sorted(after.read_changed_since(datetime.now(UTC))["record_id"]) == sorted([ada, ben])
    after.close()


def test_a_hard_delete_is_a_deletion_found_by_an_ordinary_read_and_consumed_only_at_the_checkpoint(engine):
    change_log.prepare(engine, sync_name=SYNC, table="customers", schema=None, key="id")
    ada, ben = insert(engine, "ada@example.com"), insert(engine, "ben@example.com")
    consumed_run(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM customers WHERE id = :id"), {"id": int(ben)})

    dry = side(engine)  # a dry run (or a failed one) never reaches changes_synced
    assert set(dry.deleted_since(datetime.now(UTC))) == {ben}
    dry.close()
    run = side(engine)
    assert set(run.deleted_since(datetime.now(UTC))) == {ben}
    run.changes_synced()
    run.close()
    assert log_rows(engine) == []
    assert side(engine).deleted_since(datetime.now(UTC)) == {}
    assert ada


def test_drop_removes_the_log_function_and_trigger_and_writes_go_on(engine):
    change_log.prepare(engine, sync_name=SYNC, table="customers", schema=None, key="id")
    assert change_log.drop(engine, sync_name=SYNC, table="customers", schema=None).existed is True
    assert change_log.drop(engine, sync_name=SYNC, table="customers", schema=None).existed is False
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM pg_trigger WHERE tgname = :n"), {"n": change_log.object_name(SYNC)}).scalar() == 0
        assert connection.execute(sa.text("SELECT count(*) FROM pg_proc WHERE proname = :n"), {"n": change_log.object_name(SYNC)}).scalar() == 0
        assert connection.execute(sa.text("SELECT to_regclass(:n)"), {"n": change_log.object_name(SYNC)}).scalar() is None
    insert(engine, "ada@example.com")  # the table works without its trigger


def test_a_sync_without_its_log_is_told_to_prepare(engine):
    connector = side(engine)
    with pytest.raises(DatasyncError, match="datasync sync prepare contacts"):
        connector.read_changed_since(datetime.now(UTC))
    connector.close()


def test_prepare_refuses_without_the_right_to_create_a_trigger(engine, postgres_url):
    role = f"datasync_reader_{uuid.uuid4().hex[:8]}"  # roles are server-wide: a name of this test's own
    with engine.begin() as connection:
        schema = connection.execute(sa.text("SELECT current_schema()")).scalar_one()
        connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(sa.text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        connection.execute(sa.text(f'GRANT SELECT ON customers TO "{role}"'))
    reader = sa.create_engine(sa.make_url(postgres_url).set(username=role))
    try:
        with pytest.raises(change_log.ChangeLogRefused, match=f"user '{role}' may not create the log table in schema .*GRANT CREATE"):
            change_log.prepare(reader, sync_name=SYNC, table="customers", schema=None, key="id")
    finally:
        reader.dispose()
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP OWNED BY "{role}"'))
            connection.execute(sa.text(f'DROP ROLE "{role}"'))


def test_object_names_fit_postgres_identifiers():
    assert change_log.object_name("contacts") == "datasync_changes_contacts"
    long = change_log.object_name("a" * 63)
    assert len(long) == 63 and long != change_log.object_name("a" * 62 + "b")


def test_sqlite_is_refused_naming_the_cause_and_the_fix(tmp_path):
    sqlite = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with pytest.raises(change_log.ChangeLogRefused, match="needs PostgreSQL and this app database is sqlite.*changes: updated_at"):
        change_log.prepare(sqlite, sync_name=SYNC, table="customers", schema=None, key="id")
    sqlite.dispose()
