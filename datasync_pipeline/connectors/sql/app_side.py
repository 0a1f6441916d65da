"""A SQL table as the other side of a sync: the ``AppConnector`` interface over ``SqlConnector``.

``SqlConnector`` reads and writes rows under the table's own column names; this layer speaks the engine's
frames (``connectors/base.py``): it renames columns to the sync's field names, types association keys, keeps
the linked HubSpot id in the external-id column (which makes creates idempotent), and answers the sensor's
probe with one query on ``updated_at``. Nothing outside ``connectors/sql`` knows the app is SQL.

A table with ``changes: trigger`` (Postgres) reads its sync's change log beside ``updated_at`` (``change_log.py``):
the changed records are those found by time *and* those with an entry in the log, whatever their ``updated_at``
(a transaction committed after the overlap); a row gone or marked deleted with an entry in the log is a deletion
found by this run, not by the hourly reconciling one. The log adds to the time read, never replaces it, so the
changes made before the log existed are read too. ``changes_synced`` consumes what the run read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.connectors.base import REFERENCE, FieldType, SideBinding, WriteResult
from datasync_pipeline.connectors.sql import timestamps
from datasync_pipeline.connectors.sql.change_log import ChangeLog
from datasync_pipeline.connectors.sql.connector import SqlConnector
from datasync_pipeline.connectors.sql.database_errors import translate_connection_errors
from datasync_pipeline.connectors.sql.frames import engine_frame
from datasync_pipeline.connectors.sql.spec import SqlTableSpec
from datasync_pipeline.connectors.sql.value_types import field_types
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.vocabulary import ChangeCapture


class SqlSide:
    """One synced object's table in a SQL app, as the engine reads and writes it."""

    kind = "sql"

    def __init__(self, url_or_engine: str | sa.URL | sa.Engine, table: Any, binding: SideBinding) -> None:
        """``table``: the sync's ``table:`` settings (``config.model.AppTable``: name, schema, key, updated_at,
        soft_delete, external_id)."""
        self.table, self.binding = table, binding
        spec = SqlTableSpec(
            table=table.name, schema=table.schema_name, key_column=table.key, columns=binding.app_fields,
            updated_at_column=table.updated_at, soft_delete_column=table.soft_delete, external_id_column=table.external_id,
        )
        by_trigger = getattr(table, "changes", ChangeCapture.UPDATED_AT) == ChangeCapture.TRIGGER
        self.rows = SqlConnector(url_or_engine, spec, writing_sync=binding.sync_name if by_trigger else None)
        try:
            self.change_log = ChangeLog(self.rows.engine, sync_name=binding.sync_name, table=table.name,
                                        schema=table.schema_name) if by_trigger else None
        except BaseException:
            self.rows.close()
            raise

    def __enter__(self) -> SqlSide:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def describe(self) -> str:
        return f"table {self.table.name!r}"

    def close(self) -> None:
        self.rows.close()

    @property
    def keeps_origins(self) -> bool:
        return self.table.external_id is not None

    # --- reads ------------------------------------------------------------------------------------------
    def _frame(self, rows: pd.DataFrame) -> pd.DataFrame:
        return engine_frame(rows, self.binding, self.table)

    def read_all(self) -> pd.DataFrame:
        if self.change_log is not None:
            self.change_log.pin()  # every entry below the horizon is in this read: the checkpoint consumes them
        return self._frame(self.rows.read_all())

    def read_changed_since(self, since: datetime) -> pd.DataFrame:
        if self.change_log is None:
            return self._frame(self.rows.read_changed_since(since))
        logged = self.change_log.changes()  # pins the horizon before the rows are read: they are at least as new
        by_time = self.rows.read_changed_since(since)
        key = self.table.key
        read = set(by_time[key])
        by_log = self.rows.read_keys([record_key for record_key in logged if record_key not in read])
        rows = pd.concat([by_time, by_log], ignore_index=True) if len(by_log) else by_time
        return self._frame(rows)

    def read_by_ids(self, record_ids: Iterable[str]) -> pd.DataFrame:
        return self._frame(self.rows.read_keys(record_ids))

    def lookup(self, field_name: str, values: Iterable[str]) -> pd.DataFrame:
        column = self.binding.fields.get(field_name)
        if column is None:
            raise DatasyncError(f"{self.describe()} maps no column to {field_name!r}: records cannot be looked up by it")
        wanted = [str(value).strip() for value in values if str(value).strip()]
        return self._frame(self.rows.read_matching(column, wanted) if wanted else self.rows.read_keys([]))

    # --- deletions ----------------------------------------------------------------------------------------
    def deleted_among(self, record_ids: Iterable[str]) -> list[str]:
        return self.rows.read_deleted(record_ids)

    def deleted_since(self, since: datetime) -> dict[str, datetime]:
        """Rows soft-deleted since ``since``; with a change log also every logged row now gone or marked deleted,
        at the time of its last entry (a hard delete, a deletion committed after the overlap)."""
        found = {key: stamp.to_pydatetime() for key, stamp in self.rows.read_soft_deleted_stamps_since(since).items()}
        if self.change_log is not None:
            logged = self.change_log.changes()
            for key in self.rows.read_deleted([key for key in logged if key not in found]):
                found[key] = logged[key][1]
        return found

    def changes_synced(self) -> None:
        """The run's checkpoint has written what it read: the change log's entries it read are consumed."""
        if self.change_log is not None:
            self.change_log.consume()

    # --- the change probe --------------------------------------------------------------------------------
    def newest_changes(self, since: datetime, *, limit: int) -> tuple[list[tuple[str, datetime]], bool]:
        """The newest rows (soft-deleted ones included: a deletion is a change) with ``updated_at`` after ``since``:
        ``(key, updated_at)`` newest first, at most ``limit`` of them, and whether they are all there are (one row
        more is read to know). With a change log, also the rows with an entry not yet consumed, whatever their
        ``updated_at``, at the time of their last entry."""
        by_time, complete = self._newest_by_time(since, limit=limit)
        if self.change_log is None:
            return by_time, complete
        logged, log_complete = self.change_log.newest(limit)
        known = dict(by_time)
        merged = by_time + [(key, stamp) for key, stamp in logged if key not in known]
        merged.sort(key=lambda change: change[1], reverse=True)
        return merged[:limit], complete and log_complete and len(merged) <= limit

    def _newest_by_time(self, since: datetime, *, limit: int) -> tuple[list[tuple[str, datetime]], bool]:
        table = self.rows.app_table
        column = table.updated_at
        if column is None:
            raise DatasyncError(f"table {table.name!r} has no updated_at column configured")
        engine = self.rows.engine
        dialect = engine.dialect
        with translate_connection_errors(engine, f"checking table {table.name!r} for changes"):
            with engine.connect() as connection:
                if dialect.name == "sqlite":
                    # SQLite keeps text of mixed shapes: filter coarsely in SQL, exactly after parsing (timestamps.py).
                    # The coarse filter lets rows just before ``since`` through, last in the order: when one is in
                    # the page, every later row is too.
                    statement = (sa.select(table.key, timestamps.select_expression(column, dialect))
                                 .where(timestamps.at_or_after(column, since, dialect), column.is_not(None))
                                 .order_by(timestamps.order_expression(column, dialect).desc()).limit(limit + 1))
                    rows = connection.execute(statement).all()
                    parsed = timestamps.parse_utc(pd.Series([row[1] for row in rows], dtype=object))
                    cutoff = timestamps.watermark_timestamp(since)
                    later = [(str(row[0]), stamp.to_pydatetime()) for row, stamp in zip(rows, parsed, strict=True) if stamp > cutoff]
                    later = sorted(later, key=lambda change: change[1], reverse=True)
                    return later[:limit], len(later) <= limit and (len(rows) <= limit or len(later) < len(rows))
                bound = sa.literal(timestamps.to_column_value(since, column, dialect), column.type)
                statement = sa.select(table.key, column).where(column > bound).order_by(column.desc()).limit(limit + 1)
                rows = connection.execute(statement).all()
        return [(str(key), timestamps.as_utc(stamp)) for key, stamp in rows[:limit]], len(rows) <= limit

    # --- mapping checks ----------------------------------------------------------------------------------
    def value_types(self) -> Mapping[str, FieldType]:
        return field_types(self.rows.app_table.table)

    # --- writes ---------------------------------------------------------------------------------------------
    def _columns(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {self.binding.fields[name]: value for name, value in values.items()}

    def create(self, records: Sequence[Mapping[str, Any]]) -> WriteResult:
        rows = []
        for record in records:
            columns = {self.binding.fields[name]: record.get(name) for name in self.binding.fields}
            if self.table.external_id:
                columns[self.table.external_id] = record[REFERENCE]
            rows.append({REFERENCE: record[REFERENCE], **columns})
        return self.rows.insert(rows)

    def update(self, records: Mapping[str, Mapping[str, Any]], *, origins: Mapping[str, str] | None = None) -> WriteResult:
        origins = (origins or {}) if self.table.external_id else {}
        rows = [{self.table.key: record_id, **self._columns(records.get(record_id, {})),
                 **({self.table.external_id: origins[record_id]} if record_id in origins else {})}
                for record_id in dict.fromkeys([*records, *origins])]
        return self.rows.update(rows) if rows else WriteResult()

    def set_associations(self, keys: Mapping[str, Mapping[str, str | None]]) -> WriteResult:
        columns = {association.object: association.app_column for association in self.binding.associations}
        rows = [{self.table.key: record_id, **{columns[name]: self._typed_key(columns[name], key) for name, key in by_object.items()}}
                for record_id, by_object in keys.items()]
        return self.rows.update(rows) if rows else WriteResult()

    def _typed_key(self, column: str, key: str | None) -> Any:
        """The associated row's key in the foreign-key column's own type (an integer column gets an int)."""
        if key is None:
            return None  # the association was cleared
        try:
            python_type = self.rows.app_table.table.c[column].type.python_type
        except (AttributeError, KeyError, NotImplementedError):
            return key
        if python_type is int:
            try:
                return int(key)
            except (TypeError, ValueError):
                return key
        return key

    def undelete(self, record_ids: Iterable[str]) -> WriteResult:
        if not self.table.soft_delete:
            return WriteResult()
        return self.rows.undelete(record_ids)

    def written_stamps(self) -> dict[str, datetime]:
        return self.rows.written_stamps()
