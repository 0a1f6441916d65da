"""The change probe on its own (no Dagster): the sandbox through the real client, a SQLite app, the state store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from datasync_pipeline.config import SyncSpec
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.sync.probe import ChangeProbe, epoch_ms
from datasync_pipeline.connectors.sql.resource import SqlAppResource
from datasync_pipeline.sync.mappings import resolve_mappings
from datasync_pipeline.state import StateStore
from datasync_pipeline_tests.defs.scenario import ContactsScenario, contacts_scenario
from datasync_pipeline_tests.sync.changes import WATERMARK, write_customer

ONE_WAY_SYNC = """
  - name: contacts_out
    object: contacts
    app: app
    table: {name: customers}
    direction: hubspot_to_app
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[ContactsScenario]:
    scenario = contacts_scenario(tmp_path, extra=ONE_WAY_SYNC)
    yield scenario
    scenario.sandbox.close()


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(f"sqlite:///{tmp_path}/state.sqlite")


def client_for(scenario: ContactsScenario, token: str = "sandbox-token") -> HubSpotClient:
    return HubSpotClient(base_url="http://sandbox", token=token, tier="unlimited", transport=httpx.WSGITransport(app=scenario.sandbox.wsgi_app))


def make_probe(scenario: ContactsScenario, store: StateStore, client: HubSpotClient) -> ChangeProbe:
    app = SqlAppResource(url=f"sqlite:///{scenario.home}/app.sqlite")

    def app_connector(sync: SyncSpec):
        return app.side(sync, resolve_mappings(sync))

    return ChangeProbe(scenario.config, store, hubspot_client=lambda connection: client, app_connector=app_connector)


def sync_named(scenario: ContactsScenario, name: str) -> SyncSpec:
    return next(sync for sync in scenario.config.syncs if sync.name == name)


def test_hubspot_changes_count_from_just_after_the_watermark_in_one_request(scenario, store):
    scenario.sandbox.seed("contacts", [{"email": "at@example.com"}], updated_at=WATERMARK)
    scenario.sandbox.seed("contacts", [{"email": "a@example.com"}, {"email": "b@example.com"}], updated_at=WATERMARK + timedelta(milliseconds=1))
    scenario.sandbox.seed("contacts", [{"email": "c@example.com"}], updated_at=WATERMARK + timedelta(seconds=3))
    store.advance_watermarks("contacts", {"hubspot": WATERMARK, "app": WATERMARK})
    client = client_for(scenario)
    probe = make_probe(scenario, store, client)

    result = probe.probe([sync_named(scenario, "contacts")])["contacts"]

    assert result.changed and result.hubspot.changed and not result.app.changed
    assert result.hubspot.count == 3  # the record stamped exactly at the watermark was read already
    assert result.hubspot.newest == WATERMARK + timedelta(seconds=3)
    assert probe.hubspot_calls == 1 and sum(client.call_counts.values()) == 1
    assert result.message == (
        "contacts: 3 records changed in HubSpot since 2026-01-10 12:00:00 UTC (newest 2026-01-10 12:00:03 UTC); "
        "no change in the app since 2026-01-10 12:00:00 UTC"
    )


def test_app_changes_are_compared_exactly_whatever_shape_sqlite_keeps_the_time_in(scenario, store):
    write_customer(scenario.home, "at@example.com", "2026-01-10T12:00:00Z")
    write_customer(scenario.home, "before@example.com", "2026-01-10 11:59:59.999")
    store.advance_watermarks("contacts", {"hubspot": WATERMARK, "app": WATERMARK})
    probe = make_probe(scenario, store, client_for(scenario))

    assert not probe.probe([sync_named(scenario, "contacts")])["contacts"].app.changed

    write_customer(scenario.home, "after@example.com", "2026-01-10 12:00:00.001")
    result = probe.probe([sync_named(scenario, "contacts")])["contacts"]
    assert result.app.changed and result.app.count == 1
    assert epoch_ms(result.app.newest) == epoch_ms(WATERMARK) + 1


def test_a_one_way_sync_watches_only_the_side_it_reads_from(scenario, store):
    write_customer(scenario.home, "changed@example.com", WATERMARK + timedelta(minutes=1))
    store.advance_watermarks("contacts_out", {"hubspot": WATERMARK})  # the app side is never read
    probe = make_probe(scenario, store, client_for(scenario))

    result = probe.probe([sync_named(scenario, "contacts_out")])["contacts_out"]

    assert not result.needs_first_sync and not result.changed and not result.app.watched
    assert result.message == (
        "contacts_out: no change in HubSpot since 2026-01-10 12:00:00 UTC (hubspot_to_app: changes in the app are not synced)"
    )


def test_syncs_sharing_an_account_and_object_are_judged_by_their_own_watermarks_from_one_search(scenario, store):
    scenario.sandbox.seed("contacts", [{"email": "a@example.com"}], updated_at=WATERMARK + timedelta(minutes=5))
    store.advance_watermarks("contacts", {"hubspot": WATERMARK, "app": WATERMARK})
    store.advance_watermarks("contacts_out", {"hubspot": WATERMARK + timedelta(minutes=5)})
    probe = make_probe(scenario, store, client_for(scenario))

    results = probe.probe(scenario.config.syncs)

    assert results["contacts"].changed and results["contacts"].hubspot.count == 1
    assert not results["contacts_out"].changed
    assert probe.hubspot_calls == 1


def test_a_sync_with_a_side_never_read_needs_its_first_sync_and_costs_no_request(scenario, store):
    scenario.sandbox.seed("contacts", [{"email": "a@example.com"}], updated_at=WATERMARK + timedelta(minutes=5))
    store.advance_watermarks("contacts", {"hubspot": WATERMARK})
    probe = make_probe(scenario, store, client_for(scenario))

    result = probe.probe([sync_named(scenario, "contacts")])["contacts"]

    assert result.needs_first_sync and not result.changed
    assert result.message == "contacts: the app never read: run the first sync first (`datasync first-sync`)"
    assert probe.hubspot_calls == 0


def test_an_unreachable_account_is_reported_not_raised_and_the_app_is_still_checked(scenario, store):
    write_customer(scenario.home, "changed@example.com", WATERMARK + timedelta(minutes=1))
    store.advance_watermarks("contacts", {"hubspot": WATERMARK, "app": WATERMARK})
    probe = make_probe(scenario, store, client_for(scenario, token="wrong-token"))

    result = probe.probe([sync_named(scenario, "contacts")])["contacts"]

    assert result.failed and not result.changed and result.app.count == 1
    assert result.message.startswith("contacts: could not check HubSpot for changes: HubSpot refused the access token (401")
    assert "wrong-token" not in result.message
