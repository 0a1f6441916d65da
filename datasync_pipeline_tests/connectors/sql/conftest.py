"""Fixtures for the SQL connector tests: an app database engine and a ``customers`` table on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from datasync_pipeline.connectors.sql import SqlConnector, SqlTableSpec, create_app_table


@pytest.fixture
def app_engine(app_database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(app_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def customers_spec() -> SqlTableSpec:
    return SqlTableSpec(
        table="customers",
        key_column="id",
        columns=["email", "first_name", "last_name"],
        updated_at_column="updated_at",
        soft_delete_column="deleted_at",
        external_id_column="hubspot_id",
    )


@pytest.fixture
def customers(app_engine: sa.Engine, customers_spec: SqlTableSpec) -> Iterator[SqlConnector]:
    """A connector on an empty ``customers`` table (email NOT NULL, like many real apps)."""
    create_app_table(app_engine, customers_spec, required=("email",))
    connector = SqlConnector(app_engine, customers_spec, batch_size=100)
    yield connector
    connector.close()
