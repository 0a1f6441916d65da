"""The state store on SQLite and Postgres: links are unique per side, reruns rewrite, outcomes are owned."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.state import Link, StateStore
from datasync_pipeline.state.tables import pairs


def outcomes(rows: list[tuple[str, str, str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["side", "record_id", "status", "category", "message"])


def test_links_are_upserts_and_a_relinked_app_record_drops_its_old_link(app_database_url):
    store = StateStore(app_database_url)
    store.link("contacts", [Link("1", "10", {"email": "a@x.com"}), Link("2", "11")])
    store.link("contacts", [Link("1", "10", None, {"email": "a@x.com"})])  # the other load adds its side
    store.link("contacts", [Link("3", "11")])  # app record 11 now belongs to HubSpot record 3
    store.link("deals", [Link("1", "10")])  # another sync: its own namespace
    assert sorted(store.known_pairs("contacts")[["hubspot_id", "app_id"]].itertuples(index=False, name=None)) == [("1", "10"), ("3", "11")]
    with store.engine.connect() as connection:
        row = connection.execute(sa.select(pairs.c.hubspot_values, pairs.c.app_values).where(pairs.c.hubspot_id == "1", pairs.c.sync == "contacts")).one()
    assert row.hubspot_values == {"email": "a@x.com"} and row.app_values == {"email": "a@x.com"}
    assert store.pair_count("contacts") == 2 and store.pair_count("deals") == 1


def test_outcomes_are_replaced_and_cleared_only_by_the_load_that_recorded_them(app_database_url):
    store = StateStore(app_database_url)
    store.record_outcomes("contacts", outcomes([("app", "10", "failed", "invalid_email", "bad"), ("hubspot", "1", "excluded", "outside filters", None)]), recorded_by="hubspot")
    store.record_outcomes("contacts", outcomes([("app", "10", "failed", "invalid_property_value", "worse")]), recorded_by="hubspot")
    assert store.outcome_counts("contacts") == {"failed/invalid_property_value": 1, "excluded/outside filters": 1}
    store.clear_outcomes("contacts", "app", ["10"], recorded_by="app")  # not the app load's to clear
    assert store.outcome_counts("contacts")["failed/invalid_property_value"] == 1
    store.clear_outcomes("contacts", "app", ["10"], recorded_by="hubspot")
    assert store.outcome_counts("contacts") == {"excluded/outside filters": 1}


def test_many_links_are_written_in_chunks(app_database_url):
    store = StateStore(app_database_url)
    store.link("contacts", [Link(str(i), str(100_000 + i)) for i in range(5_500)])
    assert store.pair_count("contacts") == 5_500


def test_watermarks_only_move_forward_and_controls_and_forget(app_database_url):
    from datetime import UTC, datetime, timedelta

    store = StateStore(app_database_url)
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    store.advance_watermarks("contacts", {"hubspot": t0, "app": t0}, run_id="r1")
    store.advance_watermarks("contacts", {"hubspot": t0 - timedelta(minutes=5), "app": t0 + timedelta(seconds=1)}, run_id="r2")
    assert store.watermarks("contacts") == {"hubspot": t0, "app": t0 + timedelta(seconds=1)}
    assert store.is_enabled("contacts")
    store.set_enabled("contacts", False)
    assert not store.is_enabled("contacts") and store.is_enabled("deals")
    store.link("contacts", [Link("1", "10")])
    store.record_conflicts("contacts", pd.DataFrame([{"hubspot_id": "1", "app_id": "10", "field": "city", "hubspot_value": "Bonn", "app_value": None, "winner": "hubspot"}]))
    assert store.conflicts("contacts")[["field", "hubspot_value", "app_value"]].values.tolist() == [["city", "Bonn", None]]
    removed = store.forget_sync("contacts")
    assert removed["datasync_pairs"] == 1 and removed["datasync_watermarks"] == 2 and removed["datasync_conflicts"] == 1
    assert store.watermarks("contacts") == {} and store.is_enabled("contacts")


def test_deleted_pairs_stop_syncing_until_relinked_and_keep_their_last_values(app_database_url):
    store = StateStore(app_database_url)
    store.link("contacts", [Link("1", "10", {"email": "a@x.com"}, {"email": "a@x.com"}), Link("2", "11")])
    store.mark_deleted("contacts", ["1"], deleted_in="hubspot")
    assert store.known_pairs("contacts", status="synced")["hubspot_id"].tolist() == ["2"]
    [row] = store.last_values("contacts", app_ids=["10"]).to_dict("records")
    assert row["status"] == "deleted_in_hubspot" and row["hubspot_values"] == {"email": "a@x.com"}
    assert store.last_values("contacts", hubspot_ids=["2"])["app_values"].tolist() == [{}]
    store.link("contacts", [Link("7", "10")])  # restored: linked to its new HubSpot record
    assert sorted(store.known_pairs("contacts", status="synced")["hubspot_id"]) == ["2", "7"]
