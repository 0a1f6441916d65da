"""Issue 12, item 4, end to end: a contacts sync between the embedded sandbox and a PostgreSQL app whose table says
``changes: trigger``; ordinary incremental runs (not the reconciling one) through the real job.

The late commit of the issue: ``BEGIN; UPDATE customers SET city = 'LateCommitCity', updated_at = <the transaction's
start, long before the overlap>``, a run while it is open, then ``COMMIT``: the change syncs on the next run. The open
transaction is held on a connection of the test's own, not waited for.
"""

from __future__ import annotations

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from datasync_pipeline.config import parse_config
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.connectors.sql import SqlTableSpec, change_log, create_app_table
from datasync_pipeline.defs.launch import run_first_sync, run_incremental
from datasync_pipeline.demo.seed import CUSTOMER_COLUMNS
from datasync_pipeline.sandbox import Sandbox, SandboxSettings

pytestmark = pytest.mark.postgres

CONFIG = """
connections:
  hubspot: {{kind: hubspot, sandbox: {{path: "{home}/sandbox.sqlite"}}, tier: unlimited}}
  app: {{kind: sql, url: "{url}"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - {{name: contacts, object: contacts, app: app, table: {{name: customers, changes: trigger}}}}
"""


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def synced(tmp_path, postgres_url, instance):
    """Two linked contacts after a first sync, the change log prepared."""
    engine = sa.create_engine(postgres_url)
    spec = SqlTableSpec(table="customers", key_column="id", columns=list(CUSTOMER_COLUMNS), external_id_column="hubspot_id")
    customers = create_app_table(engine, spec, CUSTOMER_COLUMNS)
    change_log.prepare(engine, sync_name="contacts", table="customers", schema=None, key="id")
    sandbox = Sandbox(SandboxSettings(db_path=str(tmp_path / "sandbox.sqlite"), tier="unlimited"))
    sandbox.seed("contacts", [{"email": "ann@example.com", "firstname": "Ann", "city": "Berlin"},
                              {"email": "ben@example.com", "firstname": "Ben"}])
    with engine.begin() as connection:
        connection.execute(sa.insert(customers), [{"email": "ann@example.com", "first_name": "Ann", "city": "Berlin"},
                                                  {"email": "ben@example.com", "first_name": "Ben", "city": None}])
    config = parse_config(CONFIG.format(home=tmp_path, url=postgres_url), source="test")
    assert run_first_sync(config, instance=instance).success
    yield config, sandbox, engine
    engine.dispose()


def hubspot_contacts(sandbox: Sandbox) -> dict[str, dict]:
    with HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                       transport=httpx.WSGITransport(app=sandbox.wsgi_app)) as client:
        return {p["email"]: p for p in (r["properties"] for r in client.list_records("contacts", properties=["email", "city"]))}


def test_a_change_committed_after_a_run_and_older_than_the_overlap_syncs_on_the_next_run(synced, instance):
    config, sandbox, engine = synced
    late = engine.connect()
    transaction = late.begin()
    try:
        late.execute(sa.text("UPDATE customers SET city = 'LateCommitCity', updated_at = now() - interval '2 hours' "
                             "WHERE email = 'ann@example.com'"))
        assert run_incremental(config, ["contacts"], instance=instance).success  # while it is open
        assert hubspot_contacts(sandbox)["ann@example.com"]["city"] == "Berlin"
        transaction.commit()
    finally:
        late.close()

    assert run_incremental(config, ["contacts"], instance=instance).success
    assert hubspot_contacts(sandbox)["ann@example.com"]["city"] == "LateCommitCity"


def test_a_hard_delete_is_found_by_an_ordinary_incremental_run(synced, instance):
    config, sandbox, engine = synced
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM customers WHERE email = 'ben@example.com'"))

    run = run_incremental(config, ["contacts"], instance=instance).syncs[0]  # reason "change", not "reconcile"

    assert run.value("checkpoint", "datasync/deleted_in_app") == 1
    assert "ben@example.com" in hubspot_contacts(sandbox)  # rule 10: not deleted on the other side
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM datasync_changes_contacts")).scalar() == 0  # consumed
