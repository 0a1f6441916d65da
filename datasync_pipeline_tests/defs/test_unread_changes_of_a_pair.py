"""Issue 12: a run that merges a pair reads both of its records as they are now, not only as the change reads saw them.

A change read sees a HubSpot write once search indexes it, and an app commit only if it is stamped after the read's
start. A pair one of whose records changed is merged in that run: the other record, not read (or read as search still
shows it), was taken to hold its last synced values, and a write to it could overwrite a change nobody had read yet.
Found by the change-capture sequences (``invariants/test_change_capture_sequences.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from datasync_pipeline.defs.launch import run_first_sync, run_incremental
from datasync_pipeline_tests.defs.scenario import contacts_scenario


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def synced_ann(tmp_path, instance, **values):
    scenario = contacts_scenario(tmp_path)
    [ann] = scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann", **values}])
    assert run_first_sync(scenario.config, instance=instance).success
    return scenario, ann


def test_a_hubspot_edit_search_does_not_show_yet_is_not_overwritten_by_an_app_edit(tmp_path, instance):
    scenario, ann = synced_ann(tmp_path, instance, city="Bonn")
    sandbox = scenario.sandbox
    with sandbox.store.transaction() as connection:
        sandbox.search_index.hold(connection, [int(ann)])  # the index lags this write
    with httpx.Client(transport=httpx.WSGITransport(app=sandbox.wsgi_app), base_url="http://sandbox",
                      headers={"Authorization": "Bearer sandbox-token"}) as http:
        http.patch(f"/crm/v3/objects/contacts/{ann}", json={"properties": {"city": "Köln"}}).raise_for_status()
    scenario.update_customer("ann@example.com", city="Linz")  # the same field, in the app

    assert run_incremental(scenario.config, ["contacts"], instance=instance).success
    # Both changed: HubSpot, the default app, wins; its value was not lost to the app's.
    assert scenario.hubspot_contacts()[ann]["city"] == "Köln"
    assert scenario.customers()[0]["city"] == "Köln"


def test_a_late_app_commit_is_not_overwritten_by_a_value_cleared_in_hubspot(tmp_path, instance):
    scenario, ann = synced_ann(tmp_path, instance, lastname="Berg")
    stamp = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y-%m-%d %H:%M:%S.%f")  # stamped long before it committed
    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET last_name = 'Novak', updated_at = :stamp"), {"stamp": stamp})
    engine.dispose()
    with httpx.Client(transport=httpx.WSGITransport(app=scenario.sandbox.wsgi_app), base_url="http://sandbox",
                      headers={"Authorization": "Bearer sandbox-token"}) as http:
        http.patch(f"/crm/v3/objects/contacts/{ann}", json={"properties": {"lastname": ""}}).raise_for_status()

    assert run_incremental(scenario.config, ["contacts"], instance=instance).success
    # Both changed, and the default app has no value: the app keeps its own (rule 3), not HubSpot's blank.
    assert scenario.customers()[0]["last_name"] == "Novak"
