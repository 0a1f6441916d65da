"""Read an app table into pandas: in full, streamed, incrementally, and the keys that disappeared.

Frames have one column per read column (key, mapped columns, ``updated_at``, external id) under the
table's own column names. Keys and external ids are strings, whatever their database type, so they
join with HubSpot ids and the state store; mapped values stay Python objects (``None`` for missing,
never ``NaN``), except binary values, which are hex text (a driver's ``memoryview`` has no stable text
to compare or send); ``updated_at`` is ``datetime64[ns, UTC]``. Soft-deleted rows are left out everywhere
except in ``read_deleted``, which reports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.connectors.sql import timestamps
from datasync_pipeline.connectors.sql.batching import batched
from datasync_pipeline.connectors.sql.database_errors import translate_connection_errors
from datasync_pipeline.connectors.sql.schema import AppTable
from datasync_pipeline.errors import DatasyncError


class SqlReader:
    """The read side of the SQL connector for one table."""

    def __init__(self, engine: sa.Engine, app_table: AppTable) -> None:
        self._engine = engine
        self._app = app_table
        self._dialect = engine.dialect

    def read_all(self) -> pd.DataFrame:
        """Every live row, ordered by key."""
        statement = self._select().order_by(self._app.key)
        with translate_connection_errors(self._engine, f"reading table {self._app.name!r}"):
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
        return self._frame(rows)

    def iter_all(self, chunk_size: int = 50_000) -> Iterator[pd.DataFrame]:
        """Every live row, ordered by key, in frames of at most ``chunk_size`` rows.

        ``yield_per`` streams from a server-side cursor where the driver has one (Postgres), so
        memory stays bounded by one chunk however big the table is.
        """
        statement = self._select().order_by(self._app.key)
        with translate_connection_errors(self._engine, f"reading table {self._app.name!r}"):
            with self._engine.connect() as connection:
                result = connection.execution_options(yield_per=chunk_size).execute(statement)
                for partition in result.partitions():
                    yield self._frame(partition)

    def read_changed_since(self, watermark: datetime | None) -> pd.DataFrame:
        """Live rows with ``updated_at >= watermark`` (all rows when ``watermark`` is None).

        Inclusive on purpose: rows stamped in the same instant as the watermark but committed after
        the previous read must not be lost; the caller drops the ones it has already seen.
        Ordered by (updated_at, key).
        """
        updated_at = self._require_updated_at()
        statement = self._select()
        if watermark is not None:
            statement = statement.where(timestamps.at_or_after(updated_at, watermark, self._dialect))
        statement = statement.order_by(timestamps.order_expression(updated_at, self._dialect), self._app.key)
        with translate_connection_errors(self._engine, f"reading changes from table {self._app.name!r}"):
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
        frame = self._frame(rows)
        if watermark is not None:
            # Exact comparison (the SQLite filter is deliberately a little wider).
            frame = frame[frame[updated_at.name] >= timestamps.watermark_timestamp(watermark)]
        return frame.sort_values(updated_at.name, kind="stable").reset_index(drop=True)

    def read_deleted(self, known_keys: Iterable[str], batch_size: int) -> list[str]:
        """Those of ``known_keys`` whose row is gone or soft-deleted, in the order given.

        Checked ``batch_size`` keys per query: the cost grows with the number of linked records, and
        no query is issued per key.
        """
        deleted: list[str] = []
        key = self._app.key
        with translate_connection_errors(self._engine, f"looking for deleted rows in {self._app.name!r}"):
            with self._engine.connect() as connection:
                for batch in batched(dict.fromkeys(str(k) for k in known_keys), batch_size):
                    coerced = self._coerce_keys(batch)
                    live: set[str] = set()
                    if coerced:
                        statement = sa.select(key).where(key.in_(coerced), self._app.live_condition())
                        live = {str(value) for value in connection.execute(statement).scalars()}
                    deleted.extend(k for k in batch if k not in live)
        return deleted

    def read_soft_deleted_since(self, watermark: datetime) -> list[str]:
        """Keys of rows soft-deleted (flag set) with ``updated_at >= watermark``: deletions among the changes.

        Empty without a soft-delete column; hard deletes leave no row to find this way (see ``read_deleted``).
        """
        return list(self.read_soft_deleted_stamps_since(watermark))

    def read_soft_deleted_stamps_since(self, watermark: datetime) -> dict[str, pd.Timestamp]:
        """``read_soft_deleted_since`` with each row's ``updated_at``: a run that read a deletion moves its
        watermark past it, so the change probe stops reporting it."""
        column = self._app.soft_delete
        updated_at = self._app.updated_at
        if column is None or updated_at is None:
            return {}
        statement = (
            sa.select(self._app.key, timestamps.select_expression(updated_at, self._dialect))
            .where(sa.not_(self._app.live_condition()), timestamps.at_or_after(updated_at, watermark, self._dialect))
        )
        with translate_connection_errors(self._engine, f"looking for deleted rows in {self._app.name!r}"):
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
        if not rows:
            return {}
        stamps = timestamps.parse_utc(pd.Series([row[1] for row in rows], dtype=object))
        cutoff = timestamps.watermark_timestamp(watermark)
        return {str(row[0]): stamp for row, stamp in zip(rows, stamps) if stamp >= cutoff}

    def read_keys(self, keys: Iterable[str], batch_size: int) -> pd.DataFrame:
        """The live rows with these keys (the app side of changed pairs), in batches of ``batch_size``."""
        frames = []
        with translate_connection_errors(self._engine, f"reading rows of {self._app.name!r}"):
            with self._engine.connect() as connection:
                for batch in batched(dict.fromkeys(str(k) for k in keys), batch_size):
                    coerced = self._coerce_keys(batch)
                    if coerced:
                        frames.append(self._frame(connection.execute(self._select().where(self._app.key.in_(coerced))).all()))
        return pd.concat(frames, ignore_index=True) if frames else self._frame([])

    def read_matching(self, column: str, values: Iterable[str], batch_size: int) -> pd.DataFrame:
        """Live rows whose ``column`` equals one of ``values`` ignoring case and surrounding space.

        How new records of the other side find their match (an email, a domain) without reading the
        whole table: the work grows with the number of new records.
        """
        if not self._app.has_column(column):
            raise DatasyncError(f"table {self._app.name!r} has no column {column!r}")
        normalized = sa.func.lower(sa.func.trim(self._app.table.c[column]))
        frames = []
        with translate_connection_errors(self._engine, f"looking up rows of {self._app.name!r}"):
            with self._engine.connect() as connection:
                for batch in batched(dict.fromkeys(str(v).strip().lower() for v in values), batch_size):
                    frames.append(self._frame(connection.execute(self._select().where(normalized.in_(batch))).all()))
        return pd.concat(frames, ignore_index=True) if frames else self._frame([])

    def max_updated_at(self) -> datetime | None:
        """The latest ``updated_at`` in the table (soft-deleted rows included), as aware UTC."""
        updated_at = self._require_updated_at()
        if self._dialect.name == "sqlite":
            statement = sa.select(timestamps.select_expression(updated_at, self._dialect)).where(
                timestamps.near_maximum(updated_at, self._dialect)
            )
        else:
            statement = sa.select(sa.func.max(updated_at))
        with translate_connection_errors(self._engine, f"reading table {self._app.name!r}"):
            with self._engine.connect() as connection:
                values = [value for value in connection.execute(statement).scalars() if value is not None]
        if not values:
            return None
        return timestamps.parse_utc(pd.Series(values, dtype=object)).max().to_pydatetime()

    def _select(self) -> sa.Select:
        updated_at = self._app.updated_at
        columns = [
            timestamps.select_expression(column, self._dialect) if column is updated_at else self._raw_on_sqlite(column)
            for column in self._app.read_columns()
        ]
        return sa.select(*columns).where(self._app.live_condition())

    def _raw_on_sqlite(self, column: sa.Column) -> sa.ColumnElement:
        """SQLite stores any value in any column: read typed columns as they are stored, so one row
        holding text in a NUMERIC or DATE column is a bad record for validation, not a failed read."""
        if self._dialect.name == "sqlite" and isinstance(column.type, (sa.Numeric, sa.Date, sa.DateTime, sa.Time)) \
                and column is not self._app.key:
            return sa.type_coerce(column, sa.String).label(column.name)
        return column

    def _frame(self, rows: Sequence[sa.Row]) -> pd.DataFrame:
        names = list(self._app.spec.read_columns)
        frame = pd.DataFrame([tuple(row) for row in rows], columns=names, dtype=object)
        frame = frame.where(frame.notna(), None)
        frame[self._app.key.name] = frame[self._app.key.name].map(str)
        for column in self._app.read_columns():
            if isinstance(column.type, sa.types._Binary) and column is not self._app.key:
                frame[column.name] = frame[column.name].map(lambda value: None if value is None else bytes(value).hex())
        external_id = self._app.external_id
        if external_id is not None:
            frame[external_id.name] = frame[external_id.name].map(lambda value: None if value is None else str(value))
        updated_at = self._app.updated_at
        if updated_at is not None:
            frame[updated_at.name] = timestamps.parse_utc(frame[updated_at.name])
        return frame

    def _coerce_keys(self, keys: Iterable[str]) -> list[object]:
        coerced = []
        for key in keys:
            try:
                coerced.append(self._app.coerce_key(key))
            except ValueError:
                continue  # cannot be a key of this table, so the row is certainly gone
        return coerced

    def _require_updated_at(self) -> sa.Column:
        if self._app.updated_at is None:
            raise DatasyncError(
                f"table {self._app.name!r} has no updated_at column configured: incremental reads need one"
            )
        return self._app.updated_at
