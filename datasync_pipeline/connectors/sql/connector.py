"""The SQL connector: one app table, read and written through SQLAlchemy Core.

The facade the Dagster assets call. It owns the engine when given a URL (and disposes it on
``close``), checks the configured table and columns once on construction, and hands reads to
``SqlReader`` and writes to ``SqlWriter``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.connectors.sql.database_errors import masked_url, translate_connection_errors
from datasync_pipeline.connectors.sql.reader import SqlReader
from datasync_pipeline.connectors.sql.results import WriteResult
from datasync_pipeline.connectors.sql.schema import AppTable, reflect_app_table
from datasync_pipeline.connectors.sql.spec import SqlTableSpec
from datasync_pipeline.connectors.sql.writer import SqlWriter


class SqlConnector:
    """Reads and writes the rows of one synced object's table in an app database.

    ``url_or_engine`` is any SQLAlchemy URL (Postgres, MySQL, SQLite) or a ready engine. Raises
    ``DatasyncError`` (``SqlSchemaError`` for a missing table or column) when the table cannot be used.
    ``writing_sync``: the sync whose change-log trigger should not log these writes (``change_log.py``).
    """

    def __init__(self, url_or_engine: str | sa.URL | sa.Engine, spec: SqlTableSpec, batch_size: int = 1000, *,
                 writing_sync: str | None = None) -> None:
        self._owns_engine = not isinstance(url_or_engine, sa.Engine)
        self.engine = sa.create_engine(url_or_engine) if self._owns_engine else url_or_engine
        self.spec = spec
        try:
            with translate_connection_errors(self.engine, f"checking table {spec.qualified_name!r}"):
                self.app_table: AppTable = reflect_app_table(self.engine, spec)
        except BaseException:
            self.close()
            raise
        self._reader = SqlReader(self.engine, self.app_table)
        self._writer = SqlWriter(self.engine, self.app_table, batch_size, writing_sync=writing_sync)
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"SqlConnector({masked_url(self.engine)}, table={self.spec.qualified_name!r})"

    def __enter__(self) -> SqlConnector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool (only when the connector created the engine)."""
        if self._owns_engine:
            self.engine.dispose()

    def read_all(self) -> pd.DataFrame:
        """Every live (not soft-deleted) row, ordered by key; see ``SqlReader`` for the frame's shape."""
        return self._reader.read_all()

    def iter_all(self, chunk_size: int = 50_000) -> Iterator[pd.DataFrame]:
        """``read_all`` in frames of at most ``chunk_size`` rows, streamed for big tables."""
        return self._reader.iter_all(chunk_size)

    def read_changed_since(self, watermark: datetime | None) -> pd.DataFrame:
        """Live rows with ``updated_at >= watermark`` (inclusive), ordered by (updated_at, key)."""
        return self._reader.read_changed_since(watermark)

    def read_deleted(self, known_keys: Iterable[str]) -> list[str]:
        """Those of ``known_keys`` whose row was hard- or soft-deleted, checked in batches."""
        return self._reader.read_deleted(known_keys, self.batch_size)

    def max_updated_at(self) -> datetime | None:
        """The latest ``updated_at`` in the table as aware UTC, or None when it is empty."""
        return self._reader.max_updated_at()

    def read_soft_deleted_since(self, watermark: datetime) -> list[str]:
        """Keys of rows soft-deleted since the watermark (cheap: among the changes)."""
        return self._reader.read_soft_deleted_since(watermark)

    def read_soft_deleted_stamps_since(self, watermark: datetime) -> dict[str, Any]:
        """Keys of rows soft-deleted since the watermark, with the ``updated_at`` of each."""
        return self._reader.read_soft_deleted_stamps_since(watermark)

    def read_keys(self, keys: Iterable[str]) -> pd.DataFrame:
        """The live rows with these keys (e.g. the app side of changed pairs)."""
        return self._reader.read_keys(keys, self.batch_size)

    def read_matching(self, column: str, values: Iterable[str]) -> pd.DataFrame:
        """Live rows whose ``column`` equals one of ``values``, ignoring case and surrounding space."""
        return self._reader.read_matching(column, values, self.batch_size)

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> WriteResult:
        """Create rows (each with ``_ref``); idempotent on the external id; bad rows fail alone."""
        return self._writer.insert(rows)

    def update(self, rows: Iterable[Mapping[str, Any]]) -> WriteResult:
        """Change rows (key column + changed columns); bumps updated_at; bad rows fail alone."""
        return self._writer.update(rows)

    def undelete(self, keys: Iterable[str]) -> WriteResult:
        """Clear the soft-delete mark of these rows where they are soft-deleted (a restore keeps the row and its key)."""
        return self._writer.undelete(keys)

    def written_stamps(self) -> dict[str, datetime]:
        """App key -> the ``updated_at`` this connector's last write of the row left on it (empty without updated_at)."""
        return dict(self._writer.stamps)

