"""The first sync's match and merge plan (rules 2, 3, 5, 6), on plain pandas frames."""

from __future__ import annotations

import pandas as pd
import pytest

from datasync_pipeline.config.model import Direction, Side, SyncSpec
from datasync_pipeline.engine.match import DUPLICATE_IDENTITY, NO_UNIQUE_IDENTITY, match_records
from datasync_pipeline.engine.plan import plan_first_sync, updates_by_record
from datasync_pipeline.objects.catalogue import Identity
from datasync_pipeline.sync.mappings import resolve_mappings

SYNC = SyncSpec(name="contacts", object="contacts", app="crm", table={"name": "customers"})
MAPPINGS = resolve_mappings(SYNC)
FIELDS = [m.hubspot for m in MAPPINGS]


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).reindex(columns=["record_id", *FIELDS]).astype(object).where(lambda f: f.notna(), None)


def plan(hubspot: list[dict], app: list[dict], *, direction=Direction.TWO_WAY, default_app=Side.HUBSPOT, **match_options):
    h, a = frame(hubspot), frame(app)
    matched = match_records(h, a, Identity.EMAIL, **match_options)
    return matched, plan_first_sync(matched, h, a, MAPPINGS, direction=direction, default_app=default_app)


def test_rule6_contacts_match_by_email_ignoring_case_and_surrounding_space():
    matched, merge = plan([{"record_id": "1", "email": "Ann@Example.com"}], [{"record_id": "10", "email": "  ann@example.COM "}])
    assert matched.pairs[["hubspot_id", "app_id"]].values.tolist() == [["1", "10"]]
    assert merge.counts["hubspot_creates"] == 0 and merge.counts["app_creates"] == 0
    # The same address written differently is not a conflict and nothing is rewritten.
    assert merge.conflicts.empty and merge.hubspot_updates.empty and merge.app_updates.empty


def test_rule5_contacts_without_valid_email_are_excluded_with_no_unique_identity():
    matched, merge = plan(
        [{"record_id": "1", "email": None}, {"record_id": "2", "email": "not-an-address"}],
        [{"record_id": "10", "email": "x@"}, {"record_id": "11", "email": "ok@example.com"}],
    )
    excluded = merge.excluded.set_index(["side", "record_id"])
    assert set(excluded.index) == {("hubspot", "1"), ("hubspot", "2"), ("app", "10")}
    assert set(excluded["reason"]) == {NO_UNIQUE_IDENTITY}
    assert excluded.loc[("hubspot", "1"), "detail"] == "no email"
    assert merge.hubspot_creates["ref"].tolist() == ["11"]


def test_rule5_switch_lets_contacts_without_email_sync_unmatched():
    _, merge = plan([{"record_id": "1", "email": None, "firstname": "A"}], [{"record_id": "10", "email": None, "firstname": "A"}],
                    allow_contacts_without_email=True)
    assert merge.excluded.empty
    assert merge.hubspot_creates["ref"].tolist() == ["10"] and merge.app_creates["ref"].tolist() == ["1"]


def test_rule3_default_app_value_wins_a_conflict():
    hubspot = [{"record_id": "1", "email": "a@x.com", "firstname": "Ann"}]
    app = [{"record_id": "10", "email": "a@x.com", "firstname": "Anna"}]
    _, merge = plan(hubspot, app, default_app=Side.HUBSPOT)
    assert updates_by_record(merge.app_updates) == {"10": {"firstname": "Ann"}}
    assert merge.hubspot_updates.empty
    assert merge.conflicts[["field", "hubspot_value", "app_value", "winner"]].values.tolist() == [["firstname", "Ann", "Anna", "hubspot"]]
    _, merge = plan(hubspot, app, default_app=Side.APP)
    assert updates_by_record(merge.hubspot_updates) == {"1": {"firstname": "Anna"}}
    assert merge.app_updates.empty


def test_rule3_two_way_fills_the_empty_side_and_an_empty_default_changes_nothing():
    hubspot = [{"record_id": "1", "email": "a@x.com", "firstname": None, "city": "Berlin"}]
    app = [{"record_id": "10", "email": "a@x.com", "firstname": "Anna", "city": None}]
    _, merge = plan(hubspot, app, default_app=Side.HUBSPOT)
    assert updates_by_record(merge.hubspot_updates) == {"1": {"firstname": "Anna"}}
    assert updates_by_record(merge.app_updates) == {"10": {"city": "Berlin"}}
    assert merge.conflicts.empty


@pytest.mark.parametrize("direction, hubspot_written, app_written", [
    (Direction.APP_TO_HUBSPOT, True, False),
    (Direction.HUBSPOT_TO_APP, False, True),
])
def test_rule2_one_way_sync_writes_only_its_target(direction, hubspot_written, app_written):
    hubspot = [{"record_id": "1", "email": "a@x.com", "firstname": None, "city": "Berlin"}, {"record_id": "2", "email": "h@x.com"}]
    app = [{"record_id": "10", "email": "a@x.com", "firstname": "Anna", "city": None}, {"record_id": "11", "email": "p@x.com"}]
    _, merge = plan(hubspot, app, direction=direction, default_app=Side.HUBSPOT)
    assert (not merge.hubspot_updates.empty) == hubspot_written and (not merge.hubspot_creates.empty) == hubspot_written
    assert (not merge.app_updates.empty) == app_written and (not merge.app_creates.empty) == app_written


def test_rule3_conflict_resolution_never_changes_the_direction():
    # The default app is HubSpot, but the sync only flows app -> HubSpot: the app is never written.
    _, merge = plan([{"record_id": "1", "email": "a@x.com", "firstname": "Ann"}], [{"record_id": "10", "email": "a@x.com", "firstname": "Anna"}],
                    direction=Direction.APP_TO_HUBSPOT, default_app=Side.HUBSPOT)
    assert merge.app_updates.empty and merge.hubspot_updates.empty
    assert len(merge.conflicts) == 1


def test_duplicates_inside_one_side_keep_the_lowest_id_and_report_the_others():
    matched, merge = plan(
        [{"record_id": "7", "email": "a@x.com"}, {"record_id": "3", "email": "A@x.com"}],
        [{"record_id": "10", "email": "a@x.com"}],
    )
    assert matched.pairs[["hubspot_id", "app_id"]].values.tolist() == [["3", "10"]]
    duplicate = merge.excluded[merge.excluded["reason"] == DUPLICATE_IDENTITY]
    assert duplicate[["side", "record_id", "detail"]].values.tolist() == [["hubspot", "7", "same identity as 3"]]
    assert merge.app_creates.empty


def test_origin_ids_link_records_an_earlier_run_created_instead_of_duplicating():
    hubspot = frame([{"record_id": "1", "email": "a@x.com"}]).assign(_origin_app_id=["10"])
    app = frame([{"record_id": "10", "email": " A@x.com"}]).assign(_origin_hubspot_id=[None])
    matched = match_records(hubspot, app, Identity.EMAIL)
    assert matched.pairs[["hubspot_id", "app_id", "matched_by"]].values.tolist() == [["1", "10", "origin"]]
    assert matched.hubspot_only.empty and matched.app_only.empty


def test_numbers_compare_by_value():
    from datasync_pipeline.engine.normalize import comparable
    from datasync_pipeline.objects.catalogue import ValueType

    assert comparable(pd.Series(["100", "100.0", " 1e2 ", None, "12.5"]), ValueType.NUMBER).tolist() == ["100", "100", "100", None, "12.5"]


def test_rule7_records_outside_filters_are_excluded_unless_already_linked():
    from datasync_pipeline.config.model import FilterRule
    from datasync_pipeline.engine.filters import IN_FILTERS, in_filters

    raw_app = pd.DataFrame({"record_id": ["10", "11", "12"], "country": ["DE", "at", None]})
    rules = [FilterRule(field="country", operator="in", value=["de", "AT"])]
    assert in_filters(raw_app, rules).tolist() == [True, True, False]
    rules = [FilterRule(field="country", operator="neq", value="DE")]
    assert in_filters(raw_app, rules).tolist() == [False, True, True]

    hubspot = frame([{"record_id": "1", "email": "a@x.com"}, {"record_id": "2", "email": "b@x.com"}])
    app = frame([{"record_id": "10", "email": "a@x.com"}, {"record_id": "11", "email": "b@x.com"}, {"record_id": "12", "email": "c@x.com"}])
    app[IN_FILTERS] = [False, False, True]
    known = pd.DataFrame({"hubspot_id": ["1"], "app_id": ["10"]})
    matched = match_records(hubspot, app, Identity.EMAIL, known_pairs=known)
    assert sorted(matched.pairs["app_id"]) == ["10"]  # linked: keeps syncing although outside
    outside = matched.excluded[matched.excluded["reason"] == "outside filters"]
    assert outside[["side", "record_id"]].values.tolist() == [["app", "11"]]
    assert matched.app_only["record_id"].tolist() == ["12"]


def test_a_duplicate_stays_excluded_after_its_twin_is_linked():
    # Run 1 linked HubSpot 3 with app 10 and excluded HubSpot 7 (same email); run 2 must not create 7 in the app.
    hubspot = frame([{"record_id": "3", "email": "a@x.com"}, {"record_id": "7", "email": "A@x.com"}])
    app = frame([{"record_id": "10", "email": "a@x.com"}])
    matched = match_records(hubspot, app, Identity.EMAIL, known_pairs=pd.DataFrame({"hubspot_id": ["3"], "app_id": ["10"]}))
    assert matched.hubspot_only.empty
    assert matched.excluded[["side", "record_id", "reason", "detail"]].values.tolist() == [["hubspot", "7", DUPLICATE_IDENTITY, "same identity as 3"]]
