"""One load function for either side (``sync/load.py``), here writing the sync's own HubSpot side through
``HubSpotSide.primary`` against the sandbox: idempotent creates on ``datasync_id``, links, outcomes, values as
HubSpot takes them."""

from __future__ import annotations

import logging

import httpx
import pandas as pd
import pytest

from datasync_pipeline.config.model import AppTable, SyncSpec
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.connectors.hubspot.app_side import HubSpotSide
from datasync_pipeline.engine.plan import CONFLICT_COLUMNS, MergePlan
from datasync_pipeline.state import StateStore
from datasync_pipeline.sync.binding import hubspot_binding
from datasync_pipeline.sync.load import load
from datasync_pipeline.sync.mappings import resolve_mappings
from datasync_pipeline.vocabulary import Side

SYNC = SyncSpec(name="people", object="contacts", app="erp", table=AppTable(name="customers"))
MAPPINGS = resolve_mappings(SYNC)
LOG = logging.getLogger("test")


@pytest.fixture
def client(sandbox):
    with HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited",
                       transport=httpx.WSGITransport(app=sandbox.wsgi_app)) as opened:
        yield opened


@pytest.fixture
def store(tmp_path):
    return StateStore(f"sqlite:///{tmp_path}/state.sqlite")


def plan_of(*, creates=(), updates=(), pairs=()) -> MergePlan:
    empty_updates = pd.DataFrame(columns=["record_id", "other_id", "field", "value"], dtype=object)
    return MergePlan(
        pairs=pd.DataFrame(list(pairs), columns=["hubspot_id", "app_id", "matched_by"], dtype=object),
        hubspot_creates=pd.DataFrame(list(creates), dtype=object) if creates else pd.DataFrame(columns=["ref"], dtype=object),
        app_creates=pd.DataFrame(columns=["ref"], dtype=object),
        hubspot_updates=pd.DataFrame(list(updates), columns=["record_id", "other_id", "field", "value"], dtype=object) if updates else empty_updates,
        app_updates=empty_updates,
        conflicts=pd.DataFrame(columns=CONFLICT_COLUMNS, dtype=object),
        excluded=pd.DataFrame(columns=["side", "record_id", "reason", "detail"], dtype=object),
    )


def load_hubspot(client, store, plan: MergePlan, *, dry_run: bool = False):
    writer = HubSpotSide.primary(client, hubspot_binding(SYNC, MAPPINGS))
    return load(Side.HUBSPOT, writer, store, SYNC, MAPPINGS, plan, dry_run=dry_run, run_id="run-1", log=LOG)


def test_a_create_is_linked_and_a_rerun_of_it_creates_nothing_twice(client, store):
    plan = plan_of(creates=[{"ref": "7", "email": "ada@example.com", "firstname": "Ada", "lastname": None}])
    first = load_hubspot(client, store, plan)
    again = load_hubspot(client, store, plan)  # a rerun after a crash before the checkpoint
    assert (first.created, again.created) == (1, 1)
    pairs = store.known_pairs(SYNC.name)
    assert len(pairs) == 1 and pairs.iloc[0]["app_id"] == "7"
    [record] = client.list_records("contacts", properties=["email", "firstname", "datasync_id"])
    assert record["id"] == pairs.iloc[0]["hubspot_id"]
    assert record["properties"]["datasync_id"] == "people:7" and record["properties"]["firstname"] == "Ada"


def test_a_failed_create_is_the_source_records_failure_and_the_rest_go_on(client, store):
    plan = plan_of(creates=[{"ref": "1", "email": "good@example.com"}, {"ref": "2", "email": "not an email"}])
    outcome = load_hubspot(client, store, plan)
    assert outcome.created == 1
    failed = {(side, record_id) for side, record_id, status, *_ in outcome.rows if status == "failed"}
    assert failed == {("app", "2")}  # recorded against the app row it comes from
    assert store.known_pairs(SYNC.name)["app_id"].tolist() == ["1"]


def test_an_update_clears_a_missing_value_instead_of_writing_nan(client, store):
    created = load_hubspot(client, store, plan_of(creates=[{"ref": "1", "email": "a@example.com", "firstname": "Ada"}]))
    assert created.created == 1
    hubspot_id = store.known_pairs(SYNC.name).iloc[0]["hubspot_id"]
    plan = plan_of(updates=[{"record_id": hubspot_id, "other_id": "1", "field": "firstname", "value": float("nan")}],
                   pairs=[(hubspot_id, "1", "state")])
    plan.pairs = plan.pairs.assign(hubspot_values=[{}], app_values=[{}])
    outcome = load_hubspot(client, store, plan)
    assert outcome.updated == 1
    [record] = client.list_records("contacts", properties=["firstname"])
    assert record["properties"]["firstname"] in (None, "")


def test_a_dry_run_counts_and_writes_nothing(client, store):
    outcome = load_hubspot(client, store, plan_of(creates=[{"ref": "1", "email": "a@example.com"}]), dry_run=True)
    assert outcome.created == 1
    assert list(client.list_records("contacts", properties=["email"])) == [] and store.known_pairs(SYNC.name).empty
