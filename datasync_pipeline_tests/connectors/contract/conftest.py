"""The connector contract's params: every app the suite runs against, as the ``app`` fixture.

``test_contract.py`` never names an app. It asks ``app`` (one ``AppUnderTest`` of ``apps.py`` per connector and
backend) for a connector on a contacts binding, and for what a test must do on the app itself, never through the
connector under test: seed records at a chosen modification time, make a user's edit, delete a record, add a
company to point at.

How a new connector joins the suite:

1. write an adapter with the members of ``AppUnderTest`` in ``apps.py`` (``SqlApp`` and ``HubSpotApp`` are the
   examples);
2. add a fixture here that builds it and closes it afterwards (it may use ``tmp_path``, ``postgres_url``,
   ``served_sandbox``, ...);
3. add ``"<param id>": "<fixture name>"`` to ``APPS`` (and its marks to ``_MARKS`` when it needs a server, like
   ``postgres``).

The connector is done when every test passes for its param. Tests about deleted records the app keeps (soft
deletes, archives) skip, saying so, for an app that keeps none, and the one about an app that keeps none skips
for the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datasync_pipeline.connectors.base import AppConnector
from datasync_pipeline_tests.connectors.contract.apps import AppUnderTest, HubSpotApp, SqlApp, contacts_binding

# --- the params ---------------------------------------------------------------------------------------------

@pytest.fixture
def sql_sqlite_app(tmp_path: Path) -> Iterator[SqlApp]:
    app = SqlApp("sql-sqlite", f"sqlite:///{tmp_path / 'app.db'}", soft_delete="deleted_at")
    yield app
    app.close()


@pytest.fixture
def sql_sqlite_hard_deletes_app(tmp_path: Path) -> Iterator[SqlApp]:
    app = SqlApp("sql-sqlite-hard-deletes", f"sqlite:///{tmp_path / 'app.db'}", soft_delete=None)
    yield app
    app.close()


@pytest.fixture
def sql_postgres_app(postgres_url: str) -> Iterator[SqlApp]:
    app = SqlApp("sql-postgres", postgres_url, soft_delete="deleted_at")
    yield app
    app.close()


@pytest.fixture
def sql_postgres_trigger_app(postgres_url: str) -> Iterator[SqlApp]:
    app = SqlApp("sql-postgres-trigger", postgres_url, soft_delete="deleted_at", changes="trigger")
    yield app
    app.close()


@pytest.fixture
def hubspot_sandbox_app(served_sandbox) -> Iterator[HubSpotApp]:
    app = HubSpotApp(served_sandbox.url, served_sandbox.token, served_sandbox.control_token)
    yield app
    app.close()


APPS = {
    "sql-sqlite": "sql_sqlite_app",
    "sql-sqlite-hard-deletes": "sql_sqlite_hard_deletes_app",
    "sql-postgres": "sql_postgres_app",
    "sql-postgres-trigger": "sql_postgres_trigger_app",
    "hubspot-sandbox": "hubspot_sandbox_app",
}
_MARKS = {"sql-postgres": [pytest.mark.postgres], "sql-postgres-trigger": [pytest.mark.postgres]}


@pytest.fixture(params=[pytest.param(name, marks=_MARKS.get(name, []), id=name) for name in APPS])
def app(request: pytest.FixtureRequest) -> AppUnderTest:
    """Each app in turn."""
    return request.getfixturevalue(APPS[request.param])


@pytest.fixture
def contacts(app: AppUnderTest) -> AppConnector:
    """The connector under test on the contacts binding."""
    return app.connector(contacts_binding(app))
