"""The Dagster resource of a `kind: sql` connection: one engine per run, one ``SqlSide`` per synced table.

The engine is created when the run starts (``setup_for_execution``) and disposed when it ends; each table
is reflected once per run, however many steps of its sync read or write it.
"""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from datasync_pipeline.config.secrets import resource_value
from datasync_pipeline.connectors.sql.app_side import SqlSide
from datasync_pipeline.connectors.sql.config import SqlConnection


class SqlAppResource(dg.ConfigurableResource):
    """A SQL app reached by a SQLAlchemy URL; one connector per synced table."""

    url: str

    _engine: sa.Engine | None = PrivateAttr(default=None)
    _sides: dict = PrivateAttr(default_factory=dict)

    @classmethod
    def from_connection(cls, connection: SqlConnection) -> SqlAppResource:
        return cls(url=resource_value(connection.url))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = sa.create_engine(self.url)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for side in self._sides.values():
            side.close()
        self._sides.clear()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def side(self, sync, mappings) -> SqlSide:
        """The app side of ``sync`` (its ``table:``), opened once per run."""
        from datasync_pipeline.sync.binding import side_binding

        binding = side_binding(sync, mappings)
        key = (sync.name, tuple(binding.fields.items()))
        if key not in self._sides:
            if self._engine is None:  # used outside a run (a test building the resource by hand)
                self._engine = sa.create_engine(self.url)
            self._sides[key] = SqlSide(self._engine, sync.table, binding)
        return self._sides[key]
