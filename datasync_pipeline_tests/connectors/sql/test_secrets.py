"""Error messages and reprs never show the database password; URLs in them are masked."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from datasync_pipeline.connectors.sql import SqlConnector, SqlTableSpec, create_app_table
from datasync_pipeline.errors import DatasyncError

PASSWORD = "s3cret-Pa55"
SPEC = SqlTableSpec(table="customers", key_column="id", columns=["email"])


def test_an_unreachable_postgres_server_is_reported_with_the_password_masked():
    url = f"postgresql+psycopg2://postgres:{PASSWORD}@127.0.0.1:1/app"

    with pytest.raises(DatasyncError) as raised:
        SqlConnector(url, SPEC)

    message = str(raised.value)
    assert "postgresql+psycopg2://postgres:***@127.0.0.1:1/app" in message
    assert PASSWORD not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_an_unopenable_sqlite_file_is_reported_as_unreachable(tmp_path):
    url = f"sqlite:///{tmp_path / 'no-such-dir' / 'app.db'}"

    with pytest.raises(DatasyncError, match="cannot reach the app database at sqlite:///"):
        SqlConnector(url, SPEC)


@pytest.mark.postgres
def test_row_errors_and_the_repr_of_a_password_url_never_show_the_password(postgres_url):
    # Trust authentication accepts any password, so a real server can be given one to leak.
    url = sa.make_url(postgres_url).set(password=PASSWORD)
    engine = sa.create_engine(url)
    create_app_table(engine, SPEC, required=("email",))
    connector = SqlConnector(url.render_as_string(hide_password=False), SPEC)

    result = connector.insert([{"_ref": "r1", "email": None}])
    with pytest.raises(DatasyncError) as schema_error:
        SqlConnector(url.render_as_string(hide_password=False), SqlTableSpec(table="nope", key_column="id"))

    assert PASSWORD not in result.failed["r1"].message
    assert PASSWORD not in str(schema_error.value)
    assert PASSWORD not in repr(connector) and "***" in repr(connector)
    connector.close()
    engine.dispose()
