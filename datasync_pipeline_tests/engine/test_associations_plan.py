"""The association planner (rules 2, 3 and 8), on plain frames: translation, direction, default app, failures."""

from __future__ import annotations

import pandas as pd

from datasync_pipeline.vocabulary import Direction, Side
from datasync_pipeline.engine.associations import hubspot_targets, plan_associations
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.objects.catalogue import ASSOCIATIONS

CONTACT_COMPANY = ASSOCIATIONS[("contacts", "companies")]
DEAL_CONTACT = ASSOCIATIONS[("deals", "contacts")]
# Contacts h1..h4 <-> app rows a1..a4; companies: HubSpot 100 <-> app 10, HubSpot 200 <-> app 20.
PAIRS = pd.DataFrame({"hubspot_id": ["h1", "h2", "h3", "h4"], "app_id": ["a1", "a2", "a3", "a4"]})
COMPANY_PAIRS = pd.DataFrame({"hubspot_id": ["100", "200"], "app_id": ["10", "20"]})


def plan(app_keys: dict, hubspot: dict, *, direction=Direction.TWO_WAY, default_app=Side.HUBSPOT, kind=CONTACT_COMPANY, partner=COMPANY_PAIRS):
    return plan_associations(PAIRS, partner, app_keys, hubspot, kind=kind, direction=direction, default_app=default_app, partner_name="companies")


def creates(result) -> list[tuple]:
    return [tuple(row) for row in result.hubspot_creates.itertuples(index=False)]


def app_updates(result) -> dict[str, str]:
    return dict(zip(result.app_updates["app_id"], result.app_updates["value"], strict=True))


def test_rule8_empty_side_is_filled_in_the_other_sides_terms():
    result = plan({"a1": "10", "a2": None}, {"h1": [], "h2": ["200"]})
    assert creates(result) == [("h1", "100", 1)]  # the app's company 10 is HubSpot's 100, linked as primary (type 1)
    assert app_updates(result) == {"a2": "20"}  # HubSpot's company 200 is the app's 20
    assert result.failures.empty and result.conflicts.empty and result.hubspot_removals.empty


def test_rule8_the_same_association_on_both_sides_writes_nothing():
    result = plan({"a1": "10", "a2": 20.0}, {"h1": ["100"], "h2": ["200"]})  # a float key read from a column with NULLs
    assert result.hubspot_creates.empty and result.app_updates.empty
    assert result.counts["unchanged"] == 4


def test_rule3_default_app_wins_a_differing_association():
    hubspot_wins = plan({"a1": "10"}, {"h1": ["200"]}, default_app=Side.HUBSPOT)
    assert app_updates(hubspot_wins) == {"a1": "20"} and hubspot_wins.hubspot_creates.empty
    app_wins = plan({"a1": "10"}, {"h1": ["200"]}, default_app=Side.APP)
    # A new primary replaces HubSpot's old one: nothing to remove first.
    assert creates(app_wins) == [("h1", "100", 1)] and app_wins.app_updates.empty and app_wins.hubspot_removals.empty
    for result in (hubspot_wins, app_wins):
        assert result.conflicts[["hubspot_id", "app_id", "hubspot_value", "app_value"]].values.tolist() == [["h1", "a1", "200", "10"]]


def test_rule2_direction_decides_which_side_is_written():
    app_keys, hubspot = {"a1": "10", "a2": None}, {"h1": [], "h2": ["200"]}
    to_hubspot = plan(app_keys, hubspot, direction=Direction.APP_TO_HUBSPOT)
    assert creates(to_hubspot) == [("h1", "100", 1)] and to_hubspot.app_updates.empty
    to_app = plan(app_keys, hubspot, direction=Direction.HUBSPOT_TO_APP)
    assert to_app.hubspot_creates.empty and app_updates(to_app) == {"a2": "20"}
    # Conflict resolution never changes the direction: the app wins, but HubSpot may not be written.
    differing = plan({"a1": "10"}, {"h1": ["200"]}, direction=Direction.HUBSPOT_TO_APP, default_app=Side.APP)
    assert differing.hubspot_creates.empty and differing.app_updates.empty and len(differing.conflicts) == 1


def test_rule8_a_record_the_partner_did_not_link_fails_alone():
    result = plan({"a1": "99", "a2": "10", "a3": None}, {"h1": [], "h2": [], "h3": ["300"]})
    failures = result.failures.set_index(["side", "record_id"])
    assert set(failures.index) == {("app", "a1"), ("hubspot", "h3")}
    assert set(failures["category"]) == {ErrorCategory.ASSOCIATION_FAILED.value}
    assert failures.loc[("app", "a1"), "message"].startswith("associated company 99 (app key) of this record is not synced")
    assert creates(result) == [("h2", "100", 1)]  # the rest go on
    assert result.counts["failed"] == 2


def test_rule8_an_untranslatable_side_that_loses_needs_no_translation():
    # HubSpot's company 300 is not synced, but the app is the default app and its company is.
    result = plan({"a1": "10"}, {"h1": ["300"]}, default_app=Side.APP)
    assert creates(result) == [("h1", "100", 1)] and result.failures.empty


def test_rule8_hubspot_primary_company_is_picked_by_type_id():
    links = {
        "h1": [
            {"toObjectId": "200", "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}]},
            {"toObjectId": "100", "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
                                                       {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}]},
        ],
        "h2": [{"toObjectId": "200", "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}]}],
    }
    assert hubspot_targets(links, CONTACT_COMPANY) == {"h1": ["100"], "h2": []}
    # Kinds without a primary count every associated record, lowest id first.
    assert hubspot_targets(links, DEAL_CONTACT) == {"h1": ["100", "200"], "h2": ["200"]}


def test_rule8_several_hubspot_contacts_of_a_deal_agree_with_any_one_of_them():
    contact_pairs = pd.DataFrame({"hubspot_id": ["7", "8"], "app_id": ["70", "80"]})
    result = plan({"a1": "80", "a2": None}, {"h1": ["7", "8"], "h2": ["8", "7"]}, kind=DEAL_CONTACT, partner=contact_pairs)
    assert result.hubspot_creates.empty  # the app's contact is among HubSpot's: equal, nothing removed
    assert app_updates(result) == {"a2": "70"}  # several in HubSpot, one app column: the lowest HubSpot id
    result = plan({"a1": "70"}, {"h1": []}, kind=DEAL_CONTACT, partner=contact_pairs)
    assert creates(result) == [("h1", "7", 3)]  # deal -> contact, type 3
