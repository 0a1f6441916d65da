"""The change log of a sync whose table says ``changes: trigger`` (PostgreSQL): app-side changes found exactly.

Why: the ``updated_at`` high-water mark misses a row committed later than the read overlap (Postgres stamps
``now()`` when the transaction starts, not when it commits), and a hard delete leaves no row to read, so it waits
for the hourly reconciling run. Here a row trigger (``AFTER INSERT OR UPDATE OR DELETE``) on the synced table writes
one entry per changed row into the sync's log, inside the writing transaction: the entry commits with the change,
or not at all.

The objects, per sync, in the synced table's schema (``datasync sync prepare NAME`` creates them, idempotently;
``datasync sync delete NAME`` drops them):

- the table ``datasync_changes_<sync>``: ``seq`` (identity: the order of the writes), ``xid`` (``xid8``, the writing
  transaction, ``pg_current_xact_id()``), ``record_key`` (the row's key as text), ``operation`` (INSERT, UPDATE,
  DELETE; an update that changes the key logs the old key as a DELETE) and ``logged_at`` (``clock_timestamp()``);
- the function ``datasync_changes_<sync>()`` and the trigger ``datasync_changes_<sync>`` that calls it. The function
  is ``SECURITY DEFINER``: the app's other database users write the table, and the log is written with the rights of
  the user that prepared it (datasync's), so they need no grant on it.

One log per sync, not one shared table with a sync column: each sync consumes its log at its own pace (two syncs on
one table read the same changes independently), and deleting a sync drops its objects without touching another's.

**Committed later, safely.** A sequence value is handed out when a row is written, not when its transaction
commits: a reader that takes "entries after the last ``seq`` read" skips an entry whose transaction was still open
at the read and commits later under a smaller ``seq``. So the log is read only below a *horizon*,
``pg_snapshot_xmin(pg_current_snapshot())``: the oldest transaction still running. Every transaction with a smaller
id has ended (committed and visible, or rolled back and never visible), and every transaction that writes later gets
a larger id, so the entries below the horizon are final; an entry of a still-open transaction, and every later one,
waits for a read after it ends. This is the known fix for polling an outbox table in Postgres: Oskar Dudycz, "How
Postgres sequences issues can impact your messaging guarantees" (https://event-driven.io/en/ordering_in_postgres_outbox/,
2022), with PostgreSQL's "Transaction ID and Snapshot Information Functions" (``pg_snapshot_xmin``: the earliest
transaction id still active). Its cost: a transaction left open anywhere on the server holds the horizon back, and
changes behind it wait (none is lost) until it ends.

**The cursor is the log itself.** A run pins the horizon at its first read (``pin``) and reads every entry below it;
once its checkpoint has advanced the watermarks (what it read is written), ``consume`` deletes the entries below the
pinned horizon: exactly those the run read, as no entry below it can appear later. A failed run or a dry run
consumes nothing, so the next run reads the same entries again (a record read twice is harmless: the three-way merge
finds nothing changed). What is left in the log is what no run has synced yet, which also keeps the log small. The
engine's time watermark stays as it is: the log adds what a time read misses, it never replaces it.

**The sync's own writes are not changes.** ``SqlWriter`` marks its transactions with the transaction-local setting
``datasync.writing_sync`` (``WRITER_SETTING``); the trigger logs nothing for the sync named there. Another sync's
writes to the same table are changes for this one and are logged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from datasync_pipeline.connectors.sql import timestamps
from datasync_pipeline.connectors.sql.database_errors import translate_connection_errors
from datasync_pipeline.errors import DatasyncError

PREFIX = "datasync_changes_"
WRITER_SETTING = "datasync.writing_sync"
MAX_IDENTIFIER = 63  # Postgres truncates longer names
MIN_SERVER_VERSION = (13,)  # xid8, pg_current_xact_id, pg_current_snapshot


class ChangeLogRefused(DatasyncError):
    """The change log cannot be prepared here: the cause and the fix, in one line."""


class _Xid8(sa.types.UserDefinedType):
    """Postgres' 64-bit transaction id (never wraps around), compared as such."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "xid8"


def object_name(sync_name: str) -> str:
    """The log table's, the function's and the trigger's name: ``datasync_changes_<sync>``, shortened with a digest
    where it would pass Postgres' 63 characters."""
    name = f"{PREFIX}{sync_name}"
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(sync_name.encode()).hexdigest()[:8]
    return f"{name[:MAX_IDENTIFIER - 9]}_{digest}"


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` found and did."""

    log: str  # schema.table of the log
    created: bool  # False: everything was in place already (it is re-created the same, harmlessly)


@dataclass(frozen=True)
class Dropped:
    log: str
    existed: bool


def _require_postgres(engine: sa.Engine, what: str) -> None:
    if engine.dialect.name != "postgresql":
        raise ChangeLogRefused(
            f"{what}: `changes: trigger` needs PostgreSQL and this app database is {engine.dialect.name}: "
            "set `changes: updated_at` in the sync's table (the default) for this database")


def _resolve_table(connection: sa.Connection, schema: str | None, table: str) -> tuple[str, str] | None:
    """(schema, table) of the synced table as Postgres resolves it (the search path when no schema is set), or None."""
    quote = connection.dialect.identifier_preparer.quote
    qualified = f"{quote(schema)}.{quote(table)}" if schema else quote(table)
    statement = sa.text("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE c.oid = to_regclass(:name)")
    row = connection.execute(statement, {"name": qualified}).first()
    return (row[0], row[1]) if row else None


def _function_sql(quote, schema: str, name: str, key: str, sync_name: str) -> str:
    log = f"{quote(schema)}.{quote(name)}"
    key_column = quote(key)
    sync_literal = sync_name.replace("'", "''")  # the config allows [a-z0-9_] only; quoted all the same
    return f"""
CREATE OR REPLACE FUNCTION {log}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $datasync$
BEGIN
    IF current_setting('{WRITER_SETTING}', true) = '{sync_literal}' THEN
        RETURN NULL;  -- this sync's own write: not a change to sync back
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.{key_column} IS DISTINCT FROM NEW.{key_column}) THEN
        INSERT INTO {log} (record_key, operation) VALUES (OLD.{key_column}::text, 'DELETE');
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO {log} (record_key, operation) VALUES (NEW.{key_column}::text, TG_OP);
    END IF;
    RETURN NULL;
END
$datasync$"""


def prepare(engine: sa.Engine, *, sync_name: str, table: str, schema: str | None, key: str) -> Prepared:
    """Create the sync's log table, function and trigger on ``table`` (idempotent). Raises ``ChangeLogRefused`` with
    the cause and the fix where it cannot: not Postgres, too old a server, no such table or key, missing rights."""
    where = f"sync {sync_name!r}, table {table!r}"
    _require_postgres(engine, where)
    name = object_name(sync_name)
    quote = engine.dialect.identifier_preparer.quote
    with translate_connection_errors(engine, f"preparing the change log of {where}"):
        with engine.begin() as connection:
            version = connection.dialect.server_version_info or (0,)
            if tuple(version[:1]) < MIN_SERVER_VERSION:
                raise ChangeLogRefused(f"{where}: `changes: trigger` needs PostgreSQL 13 or later (xid8); this server is "
                                       f"{'.'.join(map(str, version))}: upgrade it, or set `changes: updated_at`")
            resolved = _resolve_table(connection, schema, table)
            if resolved is None:
                raise ChangeLogRefused(f"{where}: no such table in the app database: check `table.name` and `table.schema`")
            table_schema, table_name = resolved
            columns = {column["name"] for column in sa.inspect(connection).get_columns(table_name, schema=table_schema)}
            if key not in columns:
                raise ChangeLogRefused(f"{where}: the table has no key column {key!r}: check `table.key`")
            _require_rights(connection, table_schema, table_name, where)
            existed = _exists(connection, table_schema, name)
            log = f"{quote(table_schema)}.{quote(name)}"
            synced = f"{quote(table_schema)}.{quote(table_name)}"
            connection.execute(sa.text(
                f"CREATE TABLE IF NOT EXISTS {log} ("
                "seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                "xid xid8 NOT NULL DEFAULT pg_current_xact_id(), "
                "record_key text NOT NULL, "
                "operation text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')), "
                "logged_at timestamptz NOT NULL DEFAULT clock_timestamp())"))
            connection.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {quote(object_name(sync_name + '_xid'))} ON {log} (xid)"))
            connection.execute(sa.text(_function_sql(quote, table_schema, name, key, sync_name)))
            connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {quote(name)} ON {synced}"))
            connection.execute(sa.text(f"CREATE TRIGGER {quote(name)} AFTER INSERT OR UPDATE OR DELETE ON {synced} "
                                       f"FOR EACH ROW EXECUTE FUNCTION {log}()"))
    return Prepared(f"{table_schema}.{name}", created=not existed)


def _require_rights(connection: sa.Connection, schema: str, table: str, where: str) -> None:
    quote = connection.dialect.identifier_preparer.quote
    user = connection.execute(sa.text("SELECT current_user")).scalar_one()
    rights = connection.execute(sa.text(
        "SELECT has_schema_privilege(:schema, 'CREATE'), has_table_privilege(to_regclass(:table), 'TRIGGER')"),
        {"schema": schema, "table": f"{quote(schema)}.{quote(table)}"}).one()
    if not rights[0]:
        raise ChangeLogRefused(f"{where}: database user {user!r} may not create the log table in schema {schema!r}: "
                               f"GRANT CREATE ON SCHEMA {schema} TO {user}, or prepare as a user who may")
    if not rights[1]:
        raise ChangeLogRefused(f"{where}: database user {user!r} may not create a trigger on table {table!r}: "
                               f"GRANT TRIGGER ON {schema}.{table} TO {user}, or prepare as the table's owner")


def _exists(connection: sa.Connection, schema: str, name: str) -> bool:
    trigger = connection.execute(sa.text("SELECT 1 FROM pg_trigger WHERE tgname = :name AND NOT tgisinternal"), {"name": name}).first()
    return trigger is not None and _resolve_table(connection, schema, name) is not None


def drop(engine: sa.Engine, *, sync_name: str, table: str, schema: str | None) -> Dropped:
    """Drop the sync's trigger, function and log table where they exist; nothing else is touched."""
    where = f"sync {sync_name!r}, table {table!r}"
    _require_postgres(engine, where)
    name = object_name(sync_name)
    quote = engine.dialect.identifier_preparer.quote
    with translate_connection_errors(engine, f"dropping the change log of {where}"):
        with engine.begin() as connection:
            resolved = _resolve_table(connection, schema, table)
            log_schema = resolved[0] if resolved else (schema or connection.execute(sa.text("SELECT current_schema()")).scalar_one())
            existed = _resolve_table(connection, log_schema, name) is not None
            # CASCADE on the function drops the trigger calling it, even where the synced table was renamed.
            connection.execute(sa.text(f"DROP FUNCTION IF EXISTS {quote(log_schema)}.{quote(name)}() CASCADE"))
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {quote(log_schema)}.{quote(name)}"))
    return Dropped(f"{log_schema}.{name}", existed=existed)


class ChangeLog:
    """One sync's log, as its ``SqlSide`` reads it during a run (see the module docstring for the cursor)."""

    def __init__(self, engine: sa.Engine, *, sync_name: str, table: str, schema: str | None) -> None:
        _require_postgres(engine, f"sync {sync_name!r}, table {table!r}")
        self.engine, self.sync_name, self.table_name, self.schema = engine, sync_name, table, schema
        self._log: sa.Table | None = None
        self._horizon: str | None = None  # xid8 as text, pinned by the run's first read

    @property
    def log(self) -> sa.Table:
        if self._log is None:
            with self.engine.connect() as connection:
                resolved = _resolve_table(connection, self.schema, self.table_name)
                log_schema = resolved[0] if resolved else self.schema
                if _resolve_table(connection, log_schema, object_name(self.sync_name)) is None:
                    raise DatasyncError(f"sync {self.sync_name!r} reads its changes from a change log (`changes: trigger`) "
                                        f"that does not exist: run `datasync sync prepare {self.sync_name}`")
            self._log = sa.Table(
                object_name(self.sync_name), sa.MetaData(),
                sa.Column("seq", sa.BigInteger, primary_key=True), sa.Column("xid", _Xid8()),
                sa.Column("record_key", sa.Text), sa.Column("operation", sa.Text),
                sa.Column("logged_at", sa.DateTime(timezone=True)), schema=log_schema)
        return self._log

    def _current_horizon(self, connection: sa.Connection) -> str:
        return connection.execute(sa.select(sa.cast(sa.func.pg_snapshot_xmin(sa.func.pg_current_snapshot()), sa.Text))).scalar_one()

    def pin(self) -> None:
        """Fix this run's horizon (once): every read of the run, and ``consume``, use the same one."""
        if self._horizon is None:
            self.log  # noqa: B018 - a missing log is refused before anything is pinned
            with translate_connection_errors(self.engine, f"reading the change log of sync {self.sync_name!r}"):
                with self.engine.connect() as connection:
                    self._horizon = self._current_horizon(connection)

    def changes(self) -> dict[str, tuple[str, datetime]]:
        """Record key -> (its last operation, when it was logged), for every entry below the pinned horizon."""
        self.pin()
        log = self.log
        statement = (sa.select(log.c.record_key, log.c.operation, log.c.logged_at)
                     .where(log.c.xid < sa.cast(sa.literal(self._horizon), _Xid8())).order_by(log.c.seq))
        with translate_connection_errors(self.engine, f"reading the change log of sync {self.sync_name!r}"):
            with self.engine.connect() as connection:
                rows = connection.execute(statement).all()
        return {str(key): (operation, timestamps.as_utc(logged_at)) for key, operation, logged_at in rows}

    def newest(self, limit: int) -> tuple[list[tuple[str, datetime]], bool]:
        """The sensor's probe: the newest ``limit`` keys with entries below the horizon of now (not the pinned one:
        a probe is not a run), as (key, last logged), newest first, and whether that is all of them."""
        log = self.log
        with translate_connection_errors(self.engine, f"checking the change log of sync {self.sync_name!r}"):
            with self.engine.connect() as connection:
                horizon = sa.cast(sa.literal(self._current_horizon(connection)), _Xid8())
                newest = sa.func.max(log.c.logged_at).label("newest")
                statement = (sa.select(log.c.record_key, newest).where(log.c.xid < horizon).group_by(log.c.record_key)
                             .order_by(newest.desc()).limit(limit + 1))
                rows = connection.execute(statement).all()
        return [(str(key), timestamps.as_utc(stamp)) for key, stamp in rows[:limit]], len(rows) <= limit

    def consume(self) -> int:
        """The run's data is written: delete the entries it read (below the pinned horizon); how many."""
        if self._horizon is None:
            return 0
        log = self.log
        with translate_connection_errors(self.engine, f"consuming the change log of sync {self.sync_name!r}"):
            with self.engine.begin() as connection:
                deleted = connection.execute(sa.delete(log).where(log.c.xid < sa.cast(sa.literal(self._horizon), _Xid8()))).rowcount
        self._horizon = None
        return deleted


def mark_own_writes(connection: sa.Connection, sync_name: str | None) -> None:
    """Name the sync writing in this transaction, so that its trigger does not log the write as a change."""
    if sync_name is not None and connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.set_config(WRITER_SETTING, sync_name, True)))

