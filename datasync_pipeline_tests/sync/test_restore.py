"""Rule 10: records deleted on one side are restored from their last synced values, previewed first."""

from __future__ import annotations

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from datasync_pipeline.defs.launch import run_first_sync, run_incremental, run_restore
from datasync_pipeline.state import StateStore
from datasync_pipeline_tests.defs.scenario import contacts_scenario


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def deleted(tmp_path, instance):
    """Ann deleted in HubSpot, Ben deleted in the app, after both were synced."""
    scenario = contacts_scenario(tmp_path)
    scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann", "city": "Berlin"}, {"email": "ben@example.com", "firstname": "Ben"}])
    scenario.seed_app([{"email": "ann@example.com", "first_name": "Ann", "last_name": "Alder"}, {"email": "ben@example.com", "first_name": "Ben", "phone": "+43 1"}])
    assert run_first_sync(scenario.config, instance=instance).success
    ann = next(i for i, p in scenario.hubspot_contacts().items() if p["email"] == "ann@example.com")
    httpx.Client(transport=httpx.WSGITransport(app=scenario.sandbox.wsgi_app), base_url="http://sandbox").delete(
        f"/crm/v3/objects/contacts/{ann}", headers={"Authorization": "Bearer sandbox-token"}).raise_for_status()
    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM customers WHERE email = 'ben@example.com'"))
    engine.dispose()
    run = run_incremental(scenario.config, ["contacts"], instance=instance, reason="reconcile").syncs[0]
    assert run.value("checkpoint", "datasync/deleted_in_hubspot") == 1 and run.value("checkpoint", "datasync/deleted_in_app") == 1
    return scenario, ann


def test_rule10_the_preview_lists_what_restore_then_recreates_in_hubspot(deleted, instance):
    scenario, old_ann = deleted
    preview = run_restore(scenario.config, "contacts", "hubspot", preview=True, instance=instance)
    assert preview.success and preview.metadata["datasync/to_restore"] == 1
    assert preview.records["hubspot_id"].tolist() == [old_ann]
    assert len(scenario.hubspot_contacts()) == 1  # the preview wrote nothing

    done = run_restore(scenario.config, "contacts", "hubspot", preview=False, instance=instance)
    assert done.success and done.metadata["datasync/restored"] == 1
    restored = {p["email"]: (i, p) for i, p in scenario.hubspot_contacts().items()}
    new_id, ann = restored["ann@example.com"]
    assert new_id != old_ann and done.records["new_id"].tolist() == [new_id]
    assert ann["firstname"] == "Ann" and ann["city"] == "Berlin" and ann["lastname"] == "Alder"  # its last synced values
    # The app row's external-id column follows its pair to the new record (what tells the row is still the one linked).
    assert {row["email"]: row["hubspot_id"] for row in scenario.customers()}["ann@example.com"] == new_id
    store = StateStore(scenario.config.state.url)
    assert store.outcome_counts("contacts") == {"failed/deleted_in_app": 1}  # ann no longer failing; ben still is
    assert instance.get_run_by_id(done.run_id).tags["datasync/mode"] == "restore"

    # The restored record stays in sync: a change in the app reaches it.
    engine = sa.create_engine(f"sqlite:///{scenario.home}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET city = 'Linz', updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE email = 'ann@example.com'"))
    engine.dispose()
    assert run_incremental(scenario.config, ["contacts"], instance=instance).success
    assert scenario.hubspot_contacts()[new_id]["city"] == "Linz"
    # A second restore has nothing left to do.
    assert run_restore(scenario.config, "contacts", "hubspot", preview=True, instance=instance).records.empty


def test_rule10_a_row_deleted_in_the_app_is_inserted_again_and_relinked(deleted, instance):
    scenario, _ = deleted
    preview = run_restore(scenario.config, "contacts", "app", preview=True, instance=instance)
    assert preview.records["values"].tolist()[0]["phone"] == "+43 1"
    done = run_restore(scenario.config, "contacts", "app", preview=False, instance=instance)
    assert done.success and done.metadata["datasync/restored"] == 1
    ben = {c["email"]: c for c in scenario.customers()}["ben@example.com"]
    assert ben["first_name"] == "Ben" and ben["phone"] == "+43 1" and ben["hubspot_id"] is not None
    pairs = StateStore(scenario.config.state.url).known_pairs("contacts", status="synced")
    assert str(ben["id"]) in set(pairs["app_id"])


def test_rule10_a_row_soft_deleted_in_the_app_is_undeleted_not_inserted_again(tmp_path, instance):
    scenario = contacts_scenario(tmp_path, soft_delete=True)
    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.sqlite")
    scenario.seed_hubspot([{"email": "ben@example.com", "firstname": "Ben"}])
    scenario.seed_app([{"email": "ben@example.com", "first_name": "Ben", "phone": "+43 1"}])
    assert run_first_sync(scenario.config, instance=instance).success
    [ben] = scenario.customers()
    now = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE customers SET deleted_at = {now}, updated_at = {now} WHERE id = :id"), {"id": ben["id"]})
    run = run_incremental(scenario.config, ["contacts"], instance=instance).syncs[0]
    assert run.value("checkpoint", "datasync/deleted_in_app") == 1

    done = run_restore(scenario.config, "contacts", "app", preview=False, instance=instance)
    assert done.success and done.metadata["datasync/restored"] == 1
    [restored] = scenario.customers()  # the same row, not a second one beside it
    assert restored["id"] == ben["id"] and restored["deleted_at"] is None and restored["phone"] == "+43 1"
    store = StateStore(scenario.config.state.url)
    assert store.known_pairs("contacts", status="synced")["app_id"].tolist() == [str(ben["id"])]
    assert store.outcome_counts("contacts") == {}
    engine.dispose()
