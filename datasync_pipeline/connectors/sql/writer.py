"""Write rows to an app table in batches, so that one bad row never fails the others.

Each batch of ``batch_size`` rows is one transaction using executemany forms (multi-row INSERT ...
RETURNING where the dialect has it). When the database refuses a batch, the batch is split in two
and each half is retried in its own transaction, down to single rows: the rows that still fail are
the bad ones, and they alone are marked failed. Halving finds one bad row among 1,000 in about 20
transactions instead of 1,000, and needs no SAVEPOINT (which pysqlite does not handle reliably).

Creates are idempotent when the table keeps the HubSpot id (``external_id_column``): a row whose
external id is already present updates that row instead of inserting another, so a rerun after a
crash creates no duplicates. This is checked by query, so it works without a unique constraint.

A writer told the sync it writes for (``writing_sync``) names it in each transaction, so that the sync's change-log
trigger (``change_log.py``) does not take its own writes for changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
import sqlalchemy.exc as sa_exc

from datasync_pipeline.connectors.sql import timestamps
from datasync_pipeline.connectors.sql.batching import batched
from datasync_pipeline.connectors.sql.change_log import mark_own_writes
from datasync_pipeline.connectors.sql.database_errors import is_connection_problem, masked_url, record_error, translate_connection_errors
from datasync_pipeline.connectors.sql.results import WriteResult
from datasync_pipeline.connectors.sql.schema import AppTable
from datasync_pipeline.connectors.sql.values import to_column_value
from datasync_pipeline.errors import DatasyncError, ErrorCategory, RecordError

REFERENCE = "_ref"
# Name of the bound key in UPDATE ... WHERE key = :param; must differ from every column name.
_KEY_PARAMETER = "_datasync_key"


class _PendingRow(NamedTuple):
    reference: str
    values: dict[str, Any]
    key: object = None


_Statement = TypeVar("_Statement", sa.Insert, sa.Update)
_Unit = Callable[[sa.Connection, list[_PendingRow]], WriteResult]


class SqlWriter:
    """The write side of the SQL connector for one table."""

    def __init__(self, engine: sa.Engine, app_table: AppTable, batch_size: int, *, writing_sync: str | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._engine = engine
        self._writing_sync = writing_sync
        self._app = app_table
        self._batch_size = batch_size
        # app key -> the updated_at this writer's last committed write of the row left (see WriteResult.stamped)
        self.stamps: dict[str, datetime] = {}

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> WriteResult:
        """Create rows; each carries ``_ref`` and column values. Returns the new keys per ``_ref``."""
        result = WriteResult()
        pending: list[_PendingRow] = []
        external_id = self._app.spec.external_id_column
        seen_external_ids: dict[str, str] = {}
        for row in rows:
            reference = _reference(row)
            values = {name: _python_value(value) for name, value in row.items() if name != REFERENCE}
            error = self._unknown_columns_error(values, reference)
            if error is None:
                values, error = self._typed(values, reference)
            if error is None and external_id and values.get(external_id) is not None:
                first = seen_external_ids.setdefault(str(values[external_id]), reference)
                if first != reference:
                    error = RecordError(
                        ErrorCategory.DUPLICATE_ON_OTHER_SIDE,
                        f"table {self._app.name!r}: record {reference!r} was not written: its "
                        f"{external_id!r} {values[external_id]!r} is also given to record {first!r} in the same write",
                    )
            if error is not None:
                result.fail(reference, error)
            else:
                pending.append(_PendingRow(reference, values))
        for batch in batched(pending, self._batch_size):
            result.merge(self._write_isolating_failures(list(batch), self._insert_unit))
        self.stamps.update({result.written[reference]: stamp for reference, stamp in result.stamped.items()})
        return result

    def update(self, rows: Iterable[Mapping[str, Any]]) -> WriteResult:
        """Change rows; each carries the key column and the changed columns only.

        ``updated_at`` is set to now unless the row sets it. Results are keyed by the key (as str).
        A key with no live row fails as DELETED_IN_APP.
        """
        result = WriteResult()
        pending: list[_PendingRow] = []
        key_name = self._app.key.name
        for row in rows:
            if key_name not in row:
                raise ValueError(f"every row to update needs its key column {key_name!r}")
            reference = str(row[key_name])
            values = {
                name: _python_value(value) for name, value in row.items() if name not in (key_name, REFERENCE)
            }
            error = self._unknown_columns_error(values, reference)
            if error is None:
                values, error = self._typed(values, reference)
            try:
                key = self._app.coerce_key(row[key_name])
            except ValueError:
                error = error or self._deleted_error(reference)
            if error is not None:
                result.fail(reference, error)
            else:
                pending.append(_PendingRow(reference, values, key))
        for batch in batched(pending, self._batch_size):
            result.merge(self._write_isolating_failures(list(batch), self._update_unit))
        self.stamps.update({result.written[reference]: stamp for reference, stamp in result.stamped.items()})
        return result

    def undelete(self, keys: Iterable[str]) -> WriteResult:
        """Clear the soft-delete mark of those of ``keys`` whose row is soft-deleted; bumps updated_at.

        Results are keyed by the key (as str). Keys without a soft-deleted row (hard-deleted, live, or
        no soft-delete column) are in neither ``written`` nor ``failed``: the caller inserts those.
        """
        result = WriteResult()
        column = self._app.soft_delete
        if column is None:
            return result
        # What ``live_condition`` reads as not deleted: false for a flag, NULL for a timestamp.
        cleared = False if isinstance(column.type, sa.Boolean) else 0 if isinstance(column.type, sa.Integer) else None
        key = self._app.key
        for batch in batched(dict.fromkeys(str(k) for k in keys), self._batch_size):
            coerced = []
            for value in batch:
                try:
                    coerced.append(self._app.coerce_key(value))
                except ValueError:
                    continue  # no such row
            if not coerced:
                continue
            with translate_connection_errors(self._engine, f"restoring rows of {self._app.name!r}"):
                with self._engine.begin() as connection:
                    mark_own_writes(connection, self._writing_sync)
                    found = list(connection.execute(sa.select(key).where(key.in_(coerced), sa.not_(self._app.live_condition()))).scalars())
                    if found:
                        values = {column.name: cleared}
                        statement = self._stamping_updated_at(sa.update(self._app.table), values).values(values).where(key.in_(found))
                        connection.execute(statement)
            result.written.update({str(value): str(value) for value in found})
        return result

    def _typed(self, values: dict[str, Any], reference: str) -> tuple[dict[str, Any], RecordError | None]:
        """Values converted to their columns' types, or the error naming the first that does not convert."""
        try:
            return {name: to_column_value(self._app.table.c[name], value) for name, value in values.items()}, None
        except ValueError as problem:
            return values, RecordError(ErrorCategory.INVALID_PROPERTY_VALUE, f"table {self._app.name!r}, record {reference!r}: {problem}")

    def _write_isolating_failures(self, rows: list[_PendingRow], unit: _Unit) -> WriteResult:
        """Write ``rows`` in one transaction; on refusal, halve and retry until the bad rows are alone."""
        try:
            with translate_connection_errors(self._engine, f"writing to table {self._app.name!r}"):
                with self._engine.begin() as connection:
                    mark_own_writes(connection, self._writing_sync)
                    return unit(connection, rows)
        except sa_exc.SQLAlchemyError as exc:
            if is_connection_problem(exc):
                raise DatasyncError(
                    f"lost the app database at {masked_url(self._engine)} while writing to {self._app.name!r}"
                ) from None
            if len(rows) == 1:
                error = record_error(
                    exc,
                    table=self._app.name,
                    reference=rows[0].reference,
                    known_columns=self._app.table.c.keys(),
                )
                return WriteResult(failed={rows[0].reference: error})
        middle = len(rows) // 2
        first_half = self._write_isolating_failures(rows[:middle], unit)
        return first_half.merge(self._write_isolating_failures(rows[middle:], unit))

    def _insert_unit(self, connection: sa.Connection, rows: list[_PendingRow]) -> WriteResult:
        result = WriteResult()
        existing = self._existing_external_ids(connection, rows)
        external_id = self._app.spec.external_id_column
        to_update: list[_PendingRow] = []
        to_insert: list[_PendingRow] = []
        for row in rows:
            key = existing.get(str(row.values.get(external_id))) if external_id else None
            if key is not None:
                to_update.append(row._replace(key=key))
            else:
                to_insert.append(row)
        self._execute_updates(connection, to_update)
        keys = {row.reference: row.key for row in to_update}
        for group in _grouped_by_columns(to_insert):
            keys.update((row.reference, key) for row, key in zip(group, self._insert_group(connection, group), strict=True))
        result.written.update((reference, str(key)) for reference, key in keys.items())
        result.stamped.update(self._stamps(connection, keys))
        return result

    def _update_unit(self, connection: sa.Connection, rows: list[_PendingRow]) -> WriteResult:
        result = WriteResult()
        key = self._app.key
        statement = sa.select(key).where(key.in_([row.key for row in rows]), self._app.live_condition())
        live = {str(value) for value in connection.execute(statement).scalars()}
        present = [row for row in rows if str(row.key) in live]
        for row in rows:
            if str(row.key) not in live:
                result.fail(row.reference, self._deleted_error(row.reference))
        self._execute_updates(connection, present)
        for row in present:
            result.written[row.reference] = row.reference
        result.stamped.update(self._stamps(connection, {row.reference: row.key for row in present}))
        return result

    def _stamps(self, connection: sa.Connection, keys: Mapping[str, object]) -> dict[str, datetime]:
        """Reference -> the ``updated_at`` the rows with these keys hold, read in the writing transaction.

        Still inside the transaction that wrote them, so the value is the one this write left: a change
        made after the commit moves it on and is never mistaken for this write's (the echo ledger).
        """
        updated_at = self._app.updated_at
        if updated_at is None or not keys:
            return {}
        statement = sa.select(self._app.key, timestamps.select_expression(updated_at, connection.dialect)).where(
            self._app.key.in_(list({str(key): key for key in keys.values()}.values()))
        )
        rows = connection.execute(statement).all()
        parsed = timestamps.parse_utc(pd.Series([row[1] for row in rows], dtype=object))
        by_key = {str(row[0]): stamp.to_pydatetime() for row, stamp in zip(rows, parsed, strict=True) if not pd.isna(stamp)}
        return {reference: by_key[str(key)] for reference, key in keys.items() if str(key) in by_key}

    def _existing_external_ids(self, connection: sa.Connection, rows: list[_PendingRow]) -> dict[str, object]:
        external_id = self._app.external_id
        if external_id is None:
            return {}
        wanted = list({row.values[external_id.name] for row in rows if row.values.get(external_id.name) is not None})
        if not wanted:
            return {}
        statement = sa.select(external_id, self._app.key).where(external_id.in_(wanted))
        return {str(value): key for value, key in connection.execute(statement)}

    def _insert_group(self, connection: sa.Connection, group: list[_PendingRow]) -> list[object]:
        """Insert rows that set the same columns; returns their keys in order."""
        statement = self._stamping_updated_at(sa.insert(self._app.table), group[0].values)
        dialect = connection.dialect
        parameters = [row.values for row in group]
        if len(group) > 1 and group[0].values and dialect.insert_executemany_returning_sort_by_parameter_order:
            returning = statement.returning(self._app.key, sort_by_parameter_order=True)
            return list(connection.execute(returning, parameters).scalars())
        if dialect.insert_returning:
            returning = statement.returning(self._app.key)
            return [connection.execute(returning, values).scalar_one() for values in parameters]
        # No RETURNING (MySQL): one statement per row, reading the generated key back.
        return [connection.execute(statement, values).inserted_primary_key[0] for values in parameters]

    def _execute_updates(self, connection: sa.Connection, rows: list[_PendingRow]) -> None:
        key_name = self._app.key.name
        for group in _grouped_by_columns(rows):
            columns = {name: value for name, value in group[0].values.items() if name != key_name}
            if not columns and self._app.updated_at is None:
                continue  # nothing to set and no updated_at to bump
            statement = self._stamping_updated_at(sa.update(self._app.table), columns)
            statement = statement.where(self._app.key == sa.bindparam(_KEY_PARAMETER))
            parameters = [
                {_KEY_PARAMETER: row.key, **{n: v for n, v in row.values.items() if n != key_name}} for row in group
            ]
            connection.execute(statement, parameters)

    def _stamping_updated_at(self, statement: _Statement, values: Mapping[str, Any]) -> _Statement:
        """``statement`` setting updated_at to the database's now, unless the rows set it themselves.

        The database clock, not ours: the app stamps its own changes with it, and a skew between
        the two clocks would let an app change hide behind a watermark taken from our stamps.
        """
        updated_at = self._app.updated_at
        if updated_at is None or updated_at.name in values:
            return statement
        return statement.values({updated_at.name: timestamps.database_now(updated_at, self._engine.dialect)})

    def _unknown_columns_error(self, values: Mapping[str, Any], reference: str) -> RecordError | None:
        unknown = [name for name in values if not self._app.has_column(name)]
        if not unknown:
            return None
        return RecordError(
            ErrorCategory.UNKNOWN_PROPERTY,
            f"table {self._app.name!r}: record {reference!r} was not written: no column named "
            f"{', '.join(repr(name) for name in unknown)}",
        )

    def _deleted_error(self, reference: str) -> RecordError:
        return RecordError(
            ErrorCategory.DELETED_IN_APP,
            f"table {self._app.name!r}: record {reference!r} was not updated: no row with "
            f"{self._app.key.name!r} = {reference!r} (deleted in the app)",
        )


def _reference(row: Mapping[str, Any]) -> str:
    if REFERENCE not in row or row[REFERENCE] is None:
        raise ValueError(f"every row to insert needs a {REFERENCE!r} (the caller's reference for it)")
    return str(row[REFERENCE])


def _grouped_by_columns(rows: list[_PendingRow]) -> list[list[_PendingRow]]:
    """Rows grouped by the set of columns they set: one executemany per shape."""
    groups: dict[tuple[str, ...], list[_PendingRow]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row.values))].append(row)
    return list(groups.values())


def _python_value(value: Any) -> Any:
    """Plain Python for the driver: pandas' missing markers become None, numpy scalars Python ones."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value
