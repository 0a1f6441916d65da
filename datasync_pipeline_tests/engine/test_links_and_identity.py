"""Links are evidence, identity is the rule: origin ids, external ids and stored links against the records' identity.

Also the first sync of pairs already linked (merged three ways against their last synced values), products
matched by SKU else name, and the external ids the app load fills for matched rows.
"""

from __future__ import annotations

import pandas as pd

from datasync_pipeline.config.model import Direction, Side, SyncSpec
from datasync_pipeline.engine.match import NO_UNIQUE_IDENTITY, match_records
from datasync_pipeline.engine.plan import plan_first_sync, updates_by_record
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.objects.catalogue import Identity
from datasync_pipeline.sync.mappings import resolve_mappings

CONTACTS = SyncSpec(name="contacts", object="contacts", app="crm", table={"name": "customers"})
MAPPINGS = resolve_mappings(CONTACTS)
FIELDS = [m.hubspot for m in MAPPINGS]
PRODUCTS = SyncSpec(name="products", object="products", app="crm", table={"name": "products"})
PRODUCT_MAPPINGS = resolve_mappings(PRODUCTS)


def frame(rows: list[dict], fields: list[str] = FIELDS, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    columns = ["record_id", *fields, *extra]
    return pd.DataFrame(rows).reindex(columns=columns).astype(object).where(lambda f: f.notna(), None)


def plan(hubspot: pd.DataFrame, app: pd.DataFrame, *, default_app=Side.HUBSPOT, mappings=MAPPINGS, identity=Identity.EMAIL, **options):
    matched = match_records(hubspot, app, identity, **options)
    return matched, plan_first_sync(matched, hubspot, app, mappings, direction=Direction.TWO_WAY, default_app=default_app)


def failed_of(matched) -> list[list[str]]:
    return matched.failed[["side", "record_id", "category"]].values.tolist()


def test_staging_origin_ids_never_rewrite_production_rows_with_the_same_ids():
    # HubSpot was synced with a staging database (its contacts carry datasync_id "contacts:<staging id>");
    # the production database has other people under the same ids.
    staging = frame([{"record_id": str(100 + i), "email": f"staging{i}@example.com", "firstname": "Stage"} for i in range(1, 201)],
                    extra=("_origin_app_id",)).assign(_origin_app_id=[str(i) for i in range(1, 201)])
    production = frame([{"record_id": str(i), "email": f"person{i}@example.org", "firstname": "Prod"} for i in range(1, 201)],
                       extra=("_origin_hubspot_id",))
    matched, merge = plan(staging, production, default_app=Side.HUBSPOT)
    assert matched.pairs.empty and merge.app_updates.empty and merge.hubspot_updates.empty
    assert matched.counts["contradicted_links"] == 200
    # Creating a production row in HubSpot would upsert onto the staging contact holding its datasync_id.
    assert merge.hubspot_creates.empty
    assert set(matched.failed["record_id"]) == {str(i) for i in range(1, 201)}
    assert set(matched.failed["category"]) == {ErrorCategory.LINK_CONTRADICTS_IDENTITY}
    assert matched.failed["detail"].iloc[0].startswith("HubSpot record 101 carries this record's datasync_id")
    assert len(merge.app_creates) == 200  # the staging contacts are HubSpot contacts unknown to this app


def test_a_record_behind_a_contradicted_origin_id_is_matched_by_its_identity():
    hubspot = frame([{"record_id": "1", "email": "ann@example.com"}], extra=("_origin_app_id",)).assign(_origin_app_id=["10"])
    app = frame([{"record_id": "10", "email": "bob@example.com"}, {"record_id": "11", "email": "ANN@example.com"}],
                extra=("_origin_hubspot_id",))
    matched, merge = plan(hubspot, app)
    assert matched.pairs[["hubspot_id", "app_id", "matched_by"]].values.tolist() == [["1", "11", "identity"]]
    assert failed_of(matched) == [["app", "10", "link_contradicts_identity"]]
    assert merge.hubspot_creates.empty and merge.app_creates.empty


def test_an_external_id_that_contradicts_identity_is_not_trusted():
    hubspot = frame([{"record_id": "1", "email": "ann@example.com", "firstname": "Ann"}])
    app = frame([{"record_id": "10", "email": "bob@example.com", "firstname": "Bob"}], extra=("_origin_hubspot_id",)).assign(_origin_hubspot_id=["1"])
    matched, merge = plan(hubspot, app)
    assert matched.pairs.empty and merge.app_updates.empty
    # Creating Ann in the app would land on Bob's row (the insert is idempotent on the external id).
    assert failed_of(matched) == [["hubspot", "1", "link_contradicts_identity"]]
    assert merge.app_creates.empty and merge.hubspot_creates["ref"].tolist() == ["10"]


def test_a_stored_link_that_contradicts_identity_is_replaced_by_identity_matches():
    hubspot = frame([{"record_id": "1", "email": "ann@example.com"}, {"record_id": "2", "email": "bob@example.com"}])
    app = frame([{"record_id": "10", "email": "bob@example.com"}, {"record_id": "11", "email": "ann@example.com"}])
    known = pd.DataFrame({"hubspot_id": ["1"], "app_id": ["10"]})
    matched, merge = plan(hubspot, app, known_pairs=known)
    assert sorted(matched.pairs[["hubspot_id", "app_id"]].values.tolist()) == [["1", "11"], ["2", "10"]]
    assert set(matched.pairs["matched_by"]) == {"identity"} and matched.failed.empty
    assert merge.app_updates.empty and merge.hubspot_updates.empty


def test_a_stored_link_whose_email_changed_on_one_side_since_the_last_sync_is_kept_and_the_change_flows():
    hubspot = frame([{"record_id": "1", "email": "ann@example.com", "firstname": "Ann"}])
    app = frame([{"record_id": "10", "email": "ann.new@example.com", "firstname": "Ann"}])
    last = {"email": "ann@example.com", "firstname": "Ann"}
    known = pd.DataFrame({"hubspot_id": ["1"], "app_id": ["10"], "hubspot_values": [last], "app_values": [dict(last)]})
    matched, merge = plan(hubspot, app, known_pairs=known, default_app=Side.HUBSPOT)
    assert matched.pairs[["hubspot_id", "app_id", "matched_by"]].values.tolist() == [["1", "10", "state"]]
    assert updates_by_record(merge.hubspot_updates) == {"1": {"email": "ann.new@example.com"}}
    assert matched.contradicted["explained"].tolist() == [True] and matched.counts["contradicted_links"] == 0
    assert merge.app_updates.empty and merge.conflicts.empty and merge.hubspot_creates.empty and merge.app_creates.empty


def test_first_sync_of_linked_pairs_merges_three_ways_against_the_last_synced_values():
    hubspot = frame([{"record_id": "1", "email": "a@x.com", "firstname": "Ann", "city": "Bonn"},
                     {"record_id": "2", "email": "b@x.com", "firstname": "Ben", "city": "Graz"}])
    app = frame([{"record_id": "10", "email": "a@x.com", "firstname": "Anna", "city": "Bonn"},
                 {"record_id": "11", "email": "b@x.com", "firstname": "Benno", "city": "Wien"}])
    known = pd.DataFrame({"hubspot_id": ["1", "2"], "app_id": ["10", "11"],
                          "hubspot_values": [{"email": "a@x.com", "firstname": "Ann", "city": "Bonn"}, {"email": "b@x.com", "firstname": "Ben", "city": "Linz"}],
                          "app_values": [{"email": "a@x.com", "firstname": "Ann", "city": "Bonn"}, {"email": "b@x.com", "firstname": "Ben", "city": "Linz"}]})
    _, merge = plan(hubspot, app, known_pairs=known, default_app=Side.HUBSPOT)
    # Ann's first name changed in the app only: it flows to HubSpot although HubSpot is the default app.
    # Ben's city changed on both sides: a conflict, the default app wins. His first name changed in the app only.
    assert updates_by_record(merge.hubspot_updates) == {"1": {"firstname": "Anna"}, "2": {"firstname": "Benno"}}
    assert updates_by_record(merge.app_updates) == {"11": {"city": "Graz"}}
    assert merge.conflicts[["hubspot_id", "field", "winner"]].values.tolist() == [["2", "city", "hubspot"]]


def test_a_linked_record_whose_email_became_invalid_stays_linked_and_fails():
    hubspot = frame([{"record_id": "1", "email": "ann@example.com", "firstname": "Ann"}])
    app = frame([{"record_id": "10", "email": "ann@@example", "firstname": "Anna"}])
    known = pd.DataFrame({"hubspot_id": ["1"], "app_id": ["10"]})
    matched, merge = plan(hubspot, app, known_pairs=known)
    assert merge.app_creates.empty and merge.hubspot_creates.empty  # no second row for Ann
    assert merge.pairs.empty and merge.app_updates.empty and merge.hubspot_updates.empty
    assert failed_of(matched) == [["app", "10", "invalid_email"]]
    assert "linked to HubSpot record 1" in matched.failed["detail"].iloc[0]
    assert not (matched.excluded["reason"] == NO_UNIQUE_IDENTITY).any()  # failed, not also excluded


def test_products_two_skus_decide_alone_and_a_name_matches_only_a_record_without_sku():
    fields = [m.hubspot for m in PRODUCT_MAPPINGS]
    hubspot = frame([{"record_id": "1", "name": "Bolt", "hs_sku": "B-1"}, {"record_id": "2", "name": "Nut", "hs_sku": "N-1"}], fields)
    app = frame([{"record_id": "10", "name": "Bolt", "hs_sku": "B-2"}, {"record_id": "11", "name": "Nut", "hs_sku": None},
                 {"record_id": "12", "name": "Bolt", "hs_sku": "B-3"}], fields)
    matched, merge = plan(hubspot, app, mappings=PRODUCT_MAPPINGS, identity=Identity.SKU_OR_NAME)
    assert matched.pairs[["hubspot_id", "app_id"]].values.tolist() == [["2", "11"]]
    assert matched.excluded.empty  # two Bolts with different SKUs are two products, not duplicates
    assert sorted(merge.app_creates["ref"]) == ["1"] and sorted(merge.hubspot_creates["ref"]) == ["10", "12"]
    assert updates_by_record(merge.app_updates) == {"11": {"hs_sku": "N-1"}}  # the SKU of 10 is never overwritten


def test_the_plan_lists_matched_app_rows_whose_external_id_is_missing_or_another():
    hubspot = frame([{"record_id": "1", "email": "a@x.com"}, {"record_id": "2", "email": "b@x.com"}, {"record_id": "3", "email": "c@x.com"}])
    app = frame([{"record_id": "10", "email": "a@x.com"}, {"record_id": "11", "email": "b@x.com"}, {"record_id": "12", "email": "c@x.com"}],
                extra=("_origin_hubspot_id",)).assign(_origin_hubspot_id=[None, "2", "99"])
    _, merge = plan(hubspot, app)
    assert merge.app_external_ids.values.tolist() == [["10", "1"], ["12", "3"]]
