"""The association planner against the last synced association (issue 9): the three-way rule of fields."""

from __future__ import annotations

import pandas as pd

from datasync_pipeline.vocabulary import Direction, Side
from datasync_pipeline.engine.associations import BASE_COLUMNS, plan_associations
from datasync_pipeline.objects.catalogue import ASSOCIATIONS

CONTACT_COMPANY = ASSOCIATIONS[("contacts", "companies")]
DEAL_CONTACT = ASSOCIATIONS[("deals", "contacts")]
# Contact h1 <-> app row a1, last synced with company 100 (HubSpot) = 10 (app); companies 200 = 20, 300 = 30.
PAIRS = pd.DataFrame({"hubspot_id": ["h1"], "app_id": ["a1"]})
COMPANY_PAIRS = pd.DataFrame({"hubspot_id": ["100", "200", "300"], "app_id": ["10", "20", "30"]})
BASE = pd.DataFrame([("h1", "a1", "100", "10")], columns=BASE_COLUMNS)


def plan(app_keys: dict, hubspot: dict, *, default_app=Side.HUBSPOT, direction=Direction.TWO_WAY, base=BASE, kind=CONTACT_COMPANY):
    return plan_associations(PAIRS, COMPANY_PAIRS, app_keys, hubspot, kind=kind, direction=direction, default_app=default_app,
                             partner_name="companies", base=base)


def creates(result) -> list[tuple]:
    return [tuple(row) for row in result.hubspot_creates.itertuples(index=False)]


def app_updates(result) -> dict:
    return dict(zip(result.app_updates["app_id"], result.app_updates["value"], strict=True))


def synced(result) -> list[tuple]:
    return [tuple(row) for row in result.synced.itertuples(index=False)]


def test_a_change_in_the_app_only_flows_to_hubspot_whatever_the_default_app():
    for default_app in (Side.HUBSPOT, Side.APP):
        result = plan({"a1": "20"}, {"h1": ["100"]}, default_app=default_app)
        assert creates(result) == [("h1", "200", 1)] and result.app_updates.empty and result.conflicts.empty
        assert synced(result) == [("h1", "a1", "200", "20")]


def test_a_change_in_hubspot_only_flows_to_the_app_whatever_the_default_app():
    for default_app in (Side.HUBSPOT, Side.APP):
        result = plan({"a1": "10"}, {"h1": ["200"]}, default_app=default_app)
        assert app_updates(result) == {"a1": "20"} and result.hubspot_creates.empty and result.conflicts.empty
        assert synced(result) == [("h1", "a1", "200", "20")]


def test_a_change_on_both_sides_is_a_conflict_the_default_app_wins():
    hubspot_wins = plan({"a1": "30"}, {"h1": ["200"]}, default_app=Side.HUBSPOT)
    assert app_updates(hubspot_wins) == {"a1": "20"} and hubspot_wins.hubspot_creates.empty
    app_wins = plan({"a1": "30"}, {"h1": ["200"]}, default_app=Side.APP)
    assert creates(app_wins) == [("h1", "300", 1)] and app_wins.app_updates.empty
    for result in (hubspot_wins, app_wins):
        assert result.conflicts[["hubspot_id", "app_id", "hubspot_value", "app_value"]].values.tolist() == [["h1", "a1", "200", "30"]]


def test_both_sides_changed_to_the_same_company_is_no_conflict():
    result = plan({"a1": "20"}, {"h1": ["200"]})
    assert result.conflicts.empty and result.hubspot_creates.empty and result.app_updates.empty
    assert synced(result) == [("h1", "a1", "200", "20")]


def test_a_cleared_association_clears_the_other_side():
    cleared_in_app = plan({"a1": None}, {"h1": ["100"]})
    assert cleared_in_app.hubspot_removals.values.tolist() == [["h1", "100"]] and cleared_in_app.app_updates.empty
    cleared_in_hubspot = plan({"a1": "10"}, {"h1": []})
    assert app_updates(cleared_in_hubspot) == {"a1": None} and cleared_in_hubspot.hubspot_removals.empty
    assert synced(cleared_in_app) == synced(cleared_in_hubspot) == [("h1", "a1", None, None)]


def test_rule3_a_default_app_that_cleared_its_side_leaves_the_other_unchanged():
    result = plan({"a1": "20"}, {"h1": []}, default_app=Side.HUBSPOT)  # both changed: HubSpot cleared, the app moved
    assert len(result.conflicts) == 1
    assert result.hubspot_creates.empty and result.hubspot_removals.empty and result.app_updates.empty
    assert synced(result) == [("h1", "a1", None, "20")]  # the next run sees no change and writes nothing
    again = plan({"a1": "20"}, {"h1": []}, base=result.synced)
    assert again.conflicts.empty and again.hubspot_creates.empty and again.app_updates.empty


def test_a_side_not_read_holds_its_base():
    # An incremental read holds only changed app rows: a1 not read means a1 unchanged, not cleared.
    result = plan({}, {"h1": ["200"]})
    assert app_updates(result) == {"a1": "20"} and result.hubspot_removals.empty


def test_the_direction_keeps_a_side_as_it_is_and_the_change_is_not_planned_again():
    result = plan({"a1": "20"}, {"h1": ["100"]}, direction=Direction.HUBSPOT_TO_APP)
    assert result.hubspot_creates.empty and result.app_updates.empty
    assert synced(result) == [("h1", "a1", "100", "20")]


def test_without_a_base_the_first_sync_rules_apply():
    result = plan({"a1": "10"}, {"h1": ["200"]}, base=None, default_app=Side.APP)
    assert creates(result) == [("h1", "100", 1)] and len(result.conflicts) == 1


def test_a_failed_write_keeps_no_new_base():
    result = plan({"a1": "99"}, {"h1": ["100"]})  # the app's company 99 is not synced by the companies sync
    assert len(result.failures) == 1 and result.synced.empty


def test_a_kind_with_several_hubspot_records_changes_when_the_synced_one_is_gone():
    contact_pairs = pd.DataFrame({"hubspot_id": ["7", "8", "9"], "app_id": ["70", "80", "90"]})
    base = pd.DataFrame([("h1", "a1", "8", "80")], columns=BASE_COLUMNS)

    def deal_plan(app_keys, hubspot):
        return plan_associations(PAIRS, contact_pairs, app_keys, hubspot, kind=DEAL_CONTACT, direction=Direction.TWO_WAY,
                                 default_app=Side.APP, base=base)

    assert deal_plan({"a1": "80"}, {"h1": ["7", "8"]}).app_updates.empty  # one more in HubSpot: still agrees
    moved = deal_plan({"a1": "80"}, {"h1": ["7", "9"]})  # HubSpot dropped 8: a HubSpot change, the app follows
    assert app_updates(moved) == {"a1": "70"} and moved.conflicts.empty
