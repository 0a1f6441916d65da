"""The SQL connector: an app database table as one side of a sync (SQLAlchemy Core, any dialect).

- ``spec``            which table and which columns play which role (key, updated_at, external id, soft delete)
- ``schema``          reflect the table and check every configured name exists
- ``create``          build a conventionally shaped app table (demo, tests)
- ``reader``          full, streamed, incremental and deleted-key reads into pandas
- ``writer``          batched inserts and updates that isolate bad rows
- ``timestamps``      UTC handling of updated_at across dialects
- ``database_errors`` database exceptions to categorised, secret-free errors
- ``connector``       the row-level facade over reader and writer
- ``frames``          rows as engine frames (the sync's field names)
- ``app_side``        ``SqlSide``: the table as a sync's app side (``connectors/base.py``'s ``AppConnector``)
- ``value_types``     column types as the engine's value types (mapping checks)
- ``config``          the `kind: sql` connection of ``datasync.yaml``
- ``resource``        its Dagster resource: one engine per run, one ``SqlSide`` per synced table
"""

from datasync_pipeline.connectors.sql.connector import SqlConnector
from datasync_pipeline.connectors.sql.create import create_app_table
from datasync_pipeline.connectors.sql.results import WriteResult
from datasync_pipeline.connectors.sql.schema import SqlSchemaError
from datasync_pipeline.connectors.sql.spec import SqlTableSpec

__all__ = ["SqlConnector", "SqlSchemaError", "SqlTableSpec", "WriteResult", "create_app_table"]
