"""Issue 12, item 3: a merge in HubSpot moves the merged record's link to the survivor (or stops it where the
survivor has a partner already); never a duplicate on the app side. Real runs on the embedded sandbox."""

from __future__ import annotations

import dagster as dg
import httpx
import pytest

from datasync_pipeline.defs.launch import run_first_sync, run_incremental
from datasync_pipeline.state import StateStore
from datasync_pipeline_tests.defs.scenario import contacts_scenario


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def merge(scenario, *, survivor: str, merged: str) -> None:
    with httpx.Client(transport=httpx.WSGITransport(app=scenario.sandbox.wsgi_app), base_url="http://sandbox",
                      headers={"Authorization": "Bearer sandbox-token"}) as http:
        answer = http.post("/crm/v3/objects/contacts/merge", json={"primaryObjectId": survivor, "objectIdToMerge": merged})
    assert answer.status_code == 200, answer.text


def links(scenario) -> dict[str, tuple[str, str]]:
    pairs = StateStore(scenario.config.state.url).known_pairs("contacts")
    return {hubspot_id: (app_id, status) for hubspot_id, app_id, status in pairs[["hubspot_id", "app_id", "status"]].itertuples(index=False)}


def test_the_link_of_a_merged_record_moves_to_an_unlinked_survivor_and_its_values_flow(tmp_path, instance):
    scenario = contacts_scenario(tmp_path)
    [old] = scenario.seed_hubspot([{"email": "ann@old.example", "firstname": "Ann", "city": "Bonn"}])
    scenario.seed_app([{"email": "ann@old.example", "first_name": "Ann", "city": "Bonn"}])
    assert run_first_sync(scenario.config, instance=instance).success
    [row] = scenario.customers()
    # Created in HubSpot since (not linked yet), then the old record is merged into it: the survivor's values win.
    [new] = scenario.seed_hubspot([{"email": "ann@new.example", "firstname": "Ann", "city": "Köln"}])
    merge(scenario, survivor=new, merged=old)

    report = run_incremental(scenario.config, ["contacts"], instance=instance)
    assert report.success
    assert links(scenario) == {new: (str(row["id"]), "synced")}
    customers = scenario.customers()
    assert len(customers) == 1  # no second row for the survivor
    assert (customers[0]["email"], customers[0]["city"], customers[0]["hubspot_id"]) == ("ann@new.example", "Köln", new)


def test_a_merge_of_two_linked_records_stops_the_merged_ones_link_and_names_it(tmp_path, instance):
    scenario = contacts_scenario(tmp_path)
    first, second = scenario.seed_hubspot([{"email": "bo@a.example", "firstname": "Bo"}, {"email": "bo@b.example", "firstname": "Bo"}])
    scenario.seed_app([{"email": "bo@a.example", "first_name": "Bo"}, {"email": "bo@b.example", "first_name": "Bo"}])
    assert run_first_sync(scenario.config, instance=instance).success
    rows = {row["email"]: str(row["id"]) for row in scenario.customers()}
    merge(scenario, survivor=first, merged=second)

    assert run_incremental(scenario.config, ["contacts"], instance=instance).success
    assert links(scenario) == {first: (rows["bo@a.example"], "synced"), second: (rows["bo@b.example"], "deleted_in_hubspot")}
    assert len(scenario.customers()) == 2  # the app keeps both rows (rule 10); nothing was created
    store = StateStore(scenario.config.state.url)
    assert store.outcome_counts("contacts") == {"failed/deleted_in_hubspot": 1}
    # An edit of the merged record's app row is not written anywhere: its pair has stopped.
    scenario.update_customer("bo@b.example", first_name="Robert")
    assert run_incremental(scenario.config, ["contacts"], instance=instance).success
    assert {contact["firstname"] for contact in scenario.hubspot_contacts().values()} == {"Bo"}
