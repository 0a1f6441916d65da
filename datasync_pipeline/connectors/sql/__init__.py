"""The SQL connector: an app database table as one side of a sync (SQLAlchemy Core, any dialect).

- ``spec``            which table and which columns play which role (key, updated_at, external id, soft delete)
- ``schema``          reflect the table and check every configured name exists
- ``create``          build a conventionally shaped app table (demo, tests)
- ``reader``          full, streamed, incremental and deleted-key reads into pandas
- ``writer``          batched inserts and updates that isolate bad rows
- ``timestamps``      UTC handling of updated_at across dialects
- ``database_errors`` database exceptions to categorised, secret-free errors
- ``connector``       the facade the Dagster assets use
"""

from datasync_pipeline.connectors.sql.connector import SqlConnector
from datasync_pipeline.connectors.sql.create import create_app_table
from datasync_pipeline.connectors.sql.results import WriteResult
from datasync_pipeline.connectors.sql.schema import SqlSchemaError
from datasync_pipeline.connectors.sql.spec import SqlTableSpec

__all__ = ["SqlConnector", "SqlSchemaError", "SqlTableSpec", "WriteResult", "create_app_table"]
