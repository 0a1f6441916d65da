"""A first sync refuses a state store that does not belong to the records it sees, before anything is written."""

from __future__ import annotations

import pandas as pd
import pytest

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.sync.mappings import resolve_mappings
from datasync_pipeline.sync.match import match_everything
from datasync_pipeline.state import Link, StateStore

SYNC = SyncSpec(name="contacts", object="contacts", app="crm", table={"name": "customers"})
MAPPINGS = resolve_mappings(SYNC)
FIELDS = [m.hubspot for m in MAPPINGS]


def frame(rows: list[dict], origin: str) -> pd.DataFrame:
    return pd.DataFrame(rows).reindex(columns=["record_id", *FIELDS, origin]).astype(object).where(lambda f: f.notna(), None)


@pytest.fixture
def store(tmp_path):
    return StateStore(f"sqlite:///{tmp_path}/state.sqlite")


def people(prefix: str, ids: range, origin: str) -> pd.DataFrame:
    return frame([{"record_id": str(i), "email": f"{prefix}{i}@example.com"} for i in ids], origin)


def test_links_between_other_people_refuse_the_run(store):
    # The store links HubSpot 101-105 with app 1-5, but those are other people here.
    store.link("contacts", [Link(str(100 + i), str(i), {"email": f"staging{i}@example.com"}, {"email": f"staging{i}@example.com"}) for i in range(1, 6)])
    hubspot = people("h", range(101, 106), "_origin_app_id")
    app = people("p", range(1, 6), "_origin_hubspot_id")
    with pytest.raises(DatasyncError, match="state store does not belong to these records"):
        match_everything(SYNC, MAPPINGS, hubspot, app, store=store)


def test_links_to_records_missing_on_both_sides_refuse_the_run(store):
    store.link("contacts", [Link(str(900 + i), str(800 + i)) for i in range(5)])
    hubspot = people("a", range(101, 106), "_origin_app_id")
    app = people("a", range(101, 106), "_origin_hubspot_id")
    with pytest.raises(DatasyncError, match="5 point at records that exist on neither side"):
        match_everything(SYNC, MAPPINGS, hubspot, app, store=store)


def test_one_stale_link_among_good_ones_is_handled_alone(store):
    good = [Link(str(100 + i), str(i), {"email": f"a{i}@example.com"}, {"email": f"a{i}@example.com"}) for i in range(1, 5)]
    store.link("contacts", [*good, Link("105", "5")])
    hubspot = people("a", range(101, 106), "_origin_app_id").assign(email=[f"a{i}@example.com" for i in range(1, 6)])
    app = people("a", range(1, 6), "_origin_hubspot_id").assign(email=[*(f"a{i}@example.com" for i in range(1, 5)), "someone@example.com"])
    matched = match_everything(SYNC, MAPPINGS, hubspot, app, store=store)
    assert sorted(matched.new.pairs["app_id"]) == ["1", "2", "3", "4"]
    assert matched.new.base["app_id"].tolist() == ["1", "2", "3", "4"]  # merged three ways against their values
    assert matched.new.counts["contradicted_links"] == 1
    assert matched.new.hubspot_only["record_id"].tolist() == ["105"] and matched.new.app_only["record_id"].tolist() == ["5"]
