"""Rule 3 in ongoing sync: a three-way merge of each side against the values last synced."""

from __future__ import annotations

import pandas as pd

from datasync_pipeline.config.model import Direction, Side, SyncSpec
from datasync_pipeline.engine.plan import updates_by_record
from datasync_pipeline.engine.three_way import merge_three_way, pairs_with_values
from datasync_pipeline.sync.mappings import resolve_mappings

MAPPINGS = [m for m in resolve_mappings(SyncSpec(name="c", object="contacts", app="a", table={"name": "t"})) if m.hubspot in ("email", "firstname", "city")]
FIELDS = [m.hubspot for m in MAPPINGS]
BASE = {"email": "a@x.com", "firstname": "Ann", "city": "Berlin"}


def merge(hubspot: dict | None, app: dict | None, *, direction=Direction.TWO_WAY, default_app=Side.HUBSPOT):
    pairs = pd.DataFrame([{"hubspot_id": "1", "app_id": "10", "hubspot_values": BASE, "app_values": BASE}])
    hubspot_now = pd.DataFrame([{"record_id": "1", **BASE, **hubspot}] if hubspot is not None else [], columns=["record_id", *FIELDS])
    app_now = pd.DataFrame([{"record_id": "10", **BASE, **app}] if app is not None else [], columns=["record_id", *FIELDS])
    to_hubspot, to_app, conflicts = merge_three_way(pairs_with_values(pairs, hubspot_now, app_now, FIELDS), MAPPINGS,
                                                    direction=direction, default_app=default_app)
    return updates_by_record(to_hubspot), updates_by_record(to_app), conflicts


def test_rule3_a_change_on_one_side_flows_to_the_other():
    to_hubspot, to_app, conflicts = merge({"city": "Bonn"}, None)
    assert to_hubspot == {} and to_app == {"10": {"city": "Bonn"}} and conflicts.empty
    to_hubspot, to_app, conflicts = merge(None, {"firstname": "Anna"})
    assert to_hubspot == {"1": {"firstname": "Anna"}} and to_app == {} and conflicts.empty


def test_rule3_a_cleared_value_clears_the_other_side():
    to_hubspot, to_app, _ = merge(None, {"city": None})
    assert to_hubspot == {"1": {"city": None}}


def test_rule3_changed_on_both_sides_the_default_app_wins_and_the_conflict_is_recorded():
    to_hubspot, to_app, conflicts = merge({"city": "Bonn"}, {"city": "Köln"}, default_app=Side.APP)
    assert to_hubspot == {"1": {"city": "Köln"}} and to_app == {}
    assert conflicts[["field", "hubspot_value", "app_value", "winner"]].values.tolist() == [["city", "Bonn", "Köln", "app"]]


def test_rule3_an_empty_default_value_leaves_the_other_side_unchanged():
    to_hubspot, to_app, conflicts = merge({"city": None}, {"city": "Köln"}, default_app=Side.HUBSPOT)
    assert to_hubspot == {} and to_app == {}
    assert len(conflicts) == 1


def test_rule3_same_change_on_both_sides_is_no_conflict_and_no_write():
    to_hubspot, to_app, conflicts = merge({"city": "Bonn"}, {"city": " Bonn "})
    assert to_hubspot == {} and to_app == {} and conflicts.empty


def test_rule2_direction_holds_in_ongoing_sync():
    to_hubspot, to_app, _ = merge({"city": "Bonn"}, {"firstname": "Anna"}, direction=Direction.APP_TO_HUBSPOT)
    assert to_hubspot == {"1": {"firstname": "Anna"}} and to_app == {}
    to_hubspot, to_app, _ = merge({"city": "Bonn"}, {"firstname": "Anna"}, direction=Direction.HUBSPOT_TO_APP)
    assert to_hubspot == {} and to_app == {"10": {"city": "Bonn"}}


def test_an_echo_of_our_own_write_changes_nothing():
    # The run wrote city=Bonn to the app and recorded it as the base of both sides: re-reading it is no change.
    to_hubspot, to_app, conflicts = merge({}, {})
    assert to_hubspot == {} and to_app == {} and conflicts.empty
