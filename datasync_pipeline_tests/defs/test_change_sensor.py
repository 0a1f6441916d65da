"""The change sensor, evaluated with `dg.build_sensor_context` against the sandbox (served on loopback, so its
own request counts are the witness of every HubSpot call) and a SQLite app.

Watermarks are set directly with `StateStore.advance_watermarks`: these tests are about deciding, not syncing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from datasync_pipeline.config import DatasyncConfig
from datasync_pipeline.defs.jobs import FIRST_SYNC_JOB, INCREMENTAL_SYNC_JOB, MODE_TAG, SYNC_TAG, run_config, sync_asset_keys
from datasync_pipeline.defs.resources import HubSpotResource, SqlAppResource, StateStoreResource  # re-exported from the connectors
from datasync_pipeline.defs.sensors import SENSOR_NAME, build_change_sensor
from datasync_pipeline.sandbox import ServedSandbox, serve_in_thread
from datasync_pipeline.state import StateStore
from datasync_pipeline_tests.defs.scenario import ContactsScenario, contacts_scenario
from datasync_pipeline_tests.sync.changes import BEFORE, WATERMARK, write_customer

SECOND_CONTACTS_SYNC = """
  - name: leads
    object: contacts
    app: app
    table: {name: customers}
"""
DISABLED_DEALS_SYNC = """
  - name: deals
    object: deals
    app: app
    table: {name: deals}
    enabled: false
"""


@dataclass
class World:
    scenario: ContactsScenario
    served: ServedSandbox
    store: StateStore
    instance: dg.DagsterInstance

    @property
    def config(self) -> DatasyncConfig:
        return self.scenario.config

    def resources(self) -> dict[str, dg.ConfigurableResource]:
        home = self.scenario.home
        return {
            "connection_hubspot": HubSpotResource(base_url=self.served.url, token=self.served.token, tier="unlimited"),
            "connection_app": SqlAppResource(url=f"sqlite:///{home}/app.sqlite"),
            "state_store": StateStoreResource(url=f"sqlite:///{home}/state.sqlite"),
        }

    def hubspot_requests(self) -> dict[str, int]:
        return self.scenario.sandbox.request_counts_snapshot()

    def evaluate(self, cursor: str | None = None):
        """One tick: (what the sensor returned, its new cursor as JSON, the HubSpot requests it sent)."""
        before = sum(self.hubspot_requests().values())
        sensor = build_change_sensor(self.config)
        with dg.build_sensor_context(instance=self.instance, resources=self.resources(), cursor=cursor) as context:
            result = sensor(context)
            new_cursor = json.loads(context.cursor) if context.cursor else None
        return result, new_cursor, sum(self.hubspot_requests().values()) - before


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[[str], World]]:
    """Build the world for a scenario with extra syncs; everything is stopped after the test."""
    with ExitStack() as stack:

        def make(extra: str = "") -> World:
            scenario = contacts_scenario(tmp_path, extra=extra)
            stack.callback(scenario.sandbox.close)
            served = stack.enter_context(serve_in_thread(scenario.sandbox))
            instance = stack.enter_context(dg.DagsterInstance.ephemeral())
            return World(scenario, served, StateStore(f"sqlite:///{tmp_path}/state.sqlite"), instance)

        yield make


@pytest.fixture
def world(make_world: Callable[[str], World]) -> World:
    return make_world("")


@pytest.fixture
def synced(world: World) -> World:
    """As after a first sync that read both sides up to WATERMARK."""
    world.scenario.sandbox.seed("contacts", [{"email": "old@example.com"}], updated_at=BEFORE)
    write_customer(world.scenario.home, "old@example.com", BEFORE)
    world.store.advance_watermarks("contacts", {"hubspot": WATERMARK, "app": WATERMARK})
    return world


def run_requests(result) -> list[dg.RunRequest]:
    assert isinstance(result, list), f"expected run requests, got {result!r}"
    return result


def skip_text(result) -> str:
    assert isinstance(result, dg.SkipReason), f"expected a SkipReason, got {result!r}"
    return result.skip_message


def test_an_idle_tick_skips_with_a_readable_reason_and_one_hubspot_call(synced: World):
    result, cursor, calls = synced.evaluate()

    assert skip_text(result) == (
        "contacts: no change in HubSpot since 2026-01-10 12:00:00 UTC or in the app since 2026-01-10 12:00:00 UTC"
    )
    assert calls == 1
    assert synced.hubspot_requests() == {"POST /crm/v3/objects/{objectType}/search": 1}
    assert cursor["syncs"]["contacts"]["status"] == "no_change" and cursor["hubspot_calls"] == 1


def test_syncs_sharing_a_hubspot_connection_and_object_share_one_search(make_world):
    world = make_world(SECOND_CONTACTS_SYNC)
    world.scenario.sandbox.seed("contacts", [{"email": "new@example.com"}], updated_at=WATERMARK + timedelta(minutes=5))
    world.store.advance_watermarks("contacts", {"hubspot": WATERMARK, "app": WATERMARK})
    world.store.advance_watermarks("leads", {"hubspot": WATERMARK + timedelta(minutes=10), "app": WATERMARK})

    result, cursor, calls = world.evaluate()

    assert calls == 1
    assert [request.tags[SYNC_TAG] for request in run_requests(result)] == ["contacts"]
    assert cursor["syncs"]["leads"]["status"] == "no_change"
    assert cursor["syncs"]["contacts"]["hubspot"]["newest"] == (WATERMARK + timedelta(minutes=5)).isoformat(timespec="microseconds")


def test_a_change_in_hubspot_requests_one_incremental_run_and_the_same_change_keeps_its_run_key(synced: World):
    synced.scenario.sandbox.seed("contacts", [{"email": "new@example.com"}], updated_at=WATERMARK + timedelta(minutes=5))

    result, cursor, calls = synced.evaluate()

    [request] = run_requests(result)
    assert request.job_name == INCREMENTAL_SYNC_JOB
    assert request.tags == {SYNC_TAG: "contacts", MODE_TAG: "incremental", "datasync/reason": "change"}
    assert request.asset_selection == sync_asset_keys("contacts")
    assert request.run_config == run_config(mode="incremental")
    assert request.run_key.startswith("contacts:incremental:")
    assert calls == 1
    assert cursor["syncs"]["contacts"]["hubspot"]["count"] == 1
    assert cursor["syncs"]["contacts"]["run_key"] == request.run_key
    assert "1 record changed in HubSpot since 2026-01-10 12:00:00 UTC (newest 2026-01-10 12:05:00 UTC)" in cursor["syncs"]["contacts"]["message"]

    again, _, _ = synced.evaluate(cursor=json.dumps(cursor))
    assert [r.run_key for r in run_requests(again)] == [request.run_key]

    synced.scenario.sandbox.seed("contacts", [{"email": "newer@example.com"}], updated_at=WATERMARK + timedelta(minutes=7))
    later, _, _ = synced.evaluate()
    assert run_requests(later)[0].run_key != request.run_key


def test_a_change_once_synced_is_no_longer_a_change(synced: World):
    synced.scenario.sandbox.seed("contacts", [{"email": "new@example.com"}], updated_at=WATERMARK + timedelta(minutes=5))
    synced.store.advance_watermarks("contacts", {"hubspot": WATERMARK + timedelta(minutes=5)})

    result, _, _ = synced.evaluate()

    assert skip_text(result).startswith("contacts: no change in HubSpot since 2026-01-10 12:05:00 UTC")


def test_a_change_in_the_app_requests_an_incremental_run(synced: World):
    write_customer(synced.scenario.home, "changed@example.com", WATERMARK + timedelta(minutes=1))

    result, cursor, _ = synced.evaluate()

    [request] = run_requests(result)
    assert request.tags == {SYNC_TAG: "contacts", MODE_TAG: "incremental", "datasync/reason": "change"}
    assert cursor["syncs"]["contacts"]["app"]["count"] == 1
    assert cursor["syncs"]["contacts"]["hubspot"]["changed"] is False
    assert cursor["syncs"]["contacts"]["message"] == (
        "contacts: no change in HubSpot since 2026-01-10 12:00:00 UTC; "
        "1 record changed in the app since 2026-01-10 12:00:00 UTC (newest 2026-01-10 12:01:00 UTC)"
    )


def test_a_sync_switched_off_in_either_place_is_left_alone(make_world):
    world = make_world(DISABLED_DEALS_SYNC)
    world.store.advance_watermarks("contacts", {"hubspot": WATERMARK, "app": WATERMARK})
    world.scenario.sandbox.seed("contacts", [{"email": "new@example.com"}], updated_at=WATERMARK + timedelta(minutes=5))
    world.store.set_enabled("contacts", False)

    result, cursor, calls = world.evaluate()

    assert skip_text(result).splitlines() == [
        "contacts: disabled with `datasync sync disable contacts` (`datasync sync enable contacts` resumes it)",
        "deals: disabled in datasync.yaml (`enabled: false`)",
    ]
    assert calls == 0
    assert {name: memo["status"] for name, memo in cursor["syncs"].items()} == {"contacts": "disabled", "deals": "disabled"}

    world.store.set_enabled("contacts", True)
    resumed, _, _ = world.evaluate()
    assert [r.tags[SYNC_TAG] for r in run_requests(resumed)] == ["contacts"]


@dg.op
def placeholder_step() -> None:
    pass


def job_named(name: str) -> dg.JobDefinition:
    @dg.job(name=name)
    def placeholder() -> None:
        placeholder_step()

    return placeholder


def test_a_sync_with_a_run_in_progress_waits_for_it(synced: World):
    synced.scenario.sandbox.seed("contacts", [{"email": "new@example.com"}], updated_at=WATERMARK + timedelta(minutes=5))
    run = synced.instance.create_run_for_job(
        job_named(INCREMENTAL_SYNC_JOB), status=dg.DagsterRunStatus.STARTED, tags={SYNC_TAG: "contacts"}
    )

    result, cursor, calls = synced.evaluate()

    assert skip_text(result) == f"contacts: run {run.run_id[:8]} still started; waiting for it to finish"
    assert calls == 0
    assert cursor["syncs"]["contacts"]["status"] == "run_in_progress"


def test_a_run_killed_while_holding_the_lease_is_marked_failed_and_the_change_proceeds(synced: World):
    """A SIGKILLed run stays STARTED in Dagster; once its lease expires, the sensor names it and moves on."""
    from datasync_pipeline.state.leases import Lease, leases

    synced.scenario.sandbox.seed("contacts", [{"email": "new@example.com"}], updated_at=WATERMARK + timedelta(minutes=5))
    run = synced.instance.create_run_for_job(
        job_named(INCREMENTAL_SYNC_JOB), status=dg.DagsterRunStatus.STARTED, tags={SYNC_TAG: "contacts"}
    )
    Lease.acquire(synced.store.engine, ["contacts"], run.run_id)
    assert "waiting for it" in skip_text(synced.evaluate()[0])  # alive: the sync waits
    with synced.store.engine.begin() as connection:  # no heartbeat since: the process is gone
        connection.execute(leases.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    [request] = run_requests(synced.evaluate()[0])

    assert request.tags[SYNC_TAG] == "contacts"
    assert synced.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


def test_an_unreachable_hubspot_fails_the_tick_naming_the_cause(synced: World):
    sensor = build_change_sensor(synced.config)
    resources = {**synced.resources(), "connection_hubspot": HubSpotResource(base_url="http://127.0.0.1:9", token="t", tier="unlimited")}
    with dg.build_sensor_context(instance=synced.instance, resources=resources) as context:
        with pytest.raises(Exception, match="could not check HubSpot for changes"):
            sensor(context)


def test_a_first_sync_in_progress_covering_the_sync_holds_it_back(synced: World):
    run = synced.instance.create_run_for_job(
        job_named(FIRST_SYNC_JOB), status=dg.DagsterRunStatus.STARTING, tags={SYNC_TAG: "companies,contacts"}
    )

    result, _, _ = synced.evaluate()

    assert skip_text(result) == f"contacts: first sync {run.run_id[:8]} still starting; waiting for it to finish"


def test_a_failed_run_gets_a_new_run_key_so_its_change_is_retried(synced: World):
    synced.scenario.sandbox.seed("contacts", [{"email": "new@example.com"}], updated_at=WATERMARK + timedelta(minutes=5))
    [first] = run_requests(synced.evaluate()[0])
    synced.instance.create_run_for_job(
        job_named(INCREMENTAL_SYNC_JOB), status=dg.DagsterRunStatus.FAILURE, tags=first.tags
    )

    [retry] = run_requests(synced.evaluate()[0])

    assert retry.run_key != first.run_key


def test_a_sync_never_first_synced_is_told_to_run_the_first_sync(world: World):
    world.scenario.sandbox.seed("contacts", [{"email": "new@example.com"}], updated_at=WATERMARK)
    write_customer(world.scenario.home, "changed@example.com", WATERMARK)

    result, cursor, calls = world.evaluate()

    assert skip_text(result) == "contacts: HubSpot and the app never read: run the first sync first (`datasync first-sync`)"
    assert calls == 0
    assert cursor["syncs"]["contacts"]["status"] == "needs_first_sync"


def test_the_sensor_is_on_by_default_ticks_every_ten_minutes_and_names_its_resources(world: World, monkeypatch):
    monkeypatch.delenv("DATASYNC_SENSOR_INTERVAL_SECONDS", raising=False)
    sensor = build_change_sensor(world.config)
    assert sensor.name == SENSOR_NAME
    assert sensor.minimum_interval_seconds == 600
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.required_resource_keys == {"connection_hubspot", "connection_app", "state_store"}

    monkeypatch.setenv("DATASYNC_SENSOR_INTERVAL_SECONDS", "120")
    assert build_change_sensor(world.config).minimum_interval_seconds == 120


def test_the_code_location_carries_the_sensor_targeting_the_incremental_job(world: World):
    from datasync_pipeline.definitions import build_definitions

    defs = build_definitions(world.config)
    dg.Definitions.validate_loadable(defs)

    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert sensor.job_name == INCREMENTAL_SYNC_JOB


def test_failed_writes_due_for_a_retry_launch_a_run_without_any_change(synced: World, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("DATASYNC_RETRY_BACKOFF_SECONDS", "0")
    synced.store.record_outcomes("contacts", pd.DataFrame([{"side": "app", "record_id": "1", "status": "failed",
                                                             "category": "server_error_after_retries", "message": "503"}]),
                                 recorded_by="hubspot")
    result, cursor, calls = synced.evaluate()
    [request] = run_requests(result)
    assert ":retry-" in request.run_key and request.tags[SYNC_TAG] == "contacts" and request.tags["datasync/reason"] == "retry"
    assert calls == 1


# The light probe client: a hanging or failing HubSpot costs the tick seconds, never Dagster's 60 s limit.

APP_ONLY_SYNC = """
  - name: leads
    object: contacts
    app: app
    table: {name: customers}
    direction: app_to_hubspot
"""
COMPANIES_SYNC = """
  - name: companies
    object: companies
    app: app
    table: {name: customers}
    direction: hubspot_to_app
"""
SEARCH = "POST /crm/v3/objects/{objectType}/search"
HANG_SECONDS = 30.0  # far beyond the probe's 2 s timeout below, and far beyond a test's patience
PROBE_TIMEOUT = 2.0


def impatient_resources(world: World) -> dict[str, dg.ConfigurableResource]:
    hubspot = HubSpotResource(base_url=world.served.url, token=world.served.token, tier="unlimited", probe_timeout_seconds=PROBE_TIMEOUT)
    return {**world.resources(), "connection_hubspot": hubspot}


def hang_hubspot_searches(world: World) -> None:
    from datasync_pipeline.sandbox.faults import Fault

    world.scenario.sandbox.faults.add(Fault("timeout", times=10, path_contains="/search", delay_seconds=HANG_SECONDS))


def timed_tick(world: World):
    """(what the tick returned or raised, its cursor, its seconds)."""
    import time

    sensor = build_change_sensor(world.config)
    with dg.build_sensor_context(instance=world.instance, resources=impatient_resources(world)) as context:
        started = time.monotonic()
        try:
            outcome = sensor(context)
        except Exception as error:  # noqa: BLE001 - the outage is what the test looks at
            outcome = error
        seconds = time.monotonic() - started
        return outcome, json.loads(context.cursor) if context.cursor else None, seconds


def test_a_hanging_hubspot_fails_the_tick_within_its_bound_and_names_the_outage(synced: World):
    from datasync_pipeline.defs.sensors import SyncProbeFailed

    hang_hubspot_searches(synced)

    outcome, cursor, seconds = timed_tick(synced)

    # Two attempts of 2 s and one short backoff, not two 30 s answers: a generous bound, not a benchmark.
    assert seconds < HANG_SECONDS / 2
    assert isinstance(outcome, SyncProbeFailed)
    assert "contacts: could not check HubSpot for changes: HubSpot did not answer" in str(outcome)
    assert "timed out" in str(outcome) and "checked again next tick" in str(outcome)
    assert cursor["syncs"]["contacts"]["status"] == "probe_failed"
    assert synced.hubspot_requests()[SEARCH] == 2  # the request and one quick retry


def test_a_hanging_hubspot_is_asked_once_per_tick_and_the_other_syncs_are_still_probed(make_world):
    world = make_world(APP_ONLY_SYNC + COMPANIES_SYNC)
    for name in ("contacts", "leads", "companies"):
        world.store.advance_watermarks(name, {"hubspot": WATERMARK, "app": WATERMARK})
    write_customer(world.scenario.home, "new@example.com", WATERMARK + timedelta(minutes=5))  # an app change
    hang_hubspot_searches(world)

    outcome, cursor, seconds = timed_tick(world)

    assert seconds < HANG_SECONDS / 2
    # The app-to-HubSpot sync watches only the app: its change launches a run although HubSpot is down.
    assert [request.tags[SYNC_TAG] for request in run_requests(outcome)] == ["leads"]
    for name in ("contacts", "companies"):  # companies' search is not sent: the connection did not answer contacts'
        assert cursor["syncs"][name]["status"] == "probe_failed"
        assert "HubSpot did not answer" in cursor["syncs"][name]["message"], cursor["syncs"][name]["message"]
    assert world.hubspot_requests()[SEARCH] == 2


@pytest.mark.parametrize("status", [503, 429])
def test_a_failing_hubspot_is_named_after_one_quick_retry(synced: World, status: int):
    from datasync_pipeline.sandbox.faults import Fault

    # A 429 asking for a minute's wait: the probe does not wait, it says so.
    synced.scenario.sandbox.faults.add(Fault(status, times=10, path_contains="/search", retry_after=60 if status == 429 else None))

    outcome, cursor, seconds = timed_tick(synced)

    assert seconds < HANG_SECONDS / 2
    message = cursor["syncs"]["contacts"]["message"]
    assert cursor["syncs"]["contacts"]["status"] == "probe_failed" and "HubSpot did not answer" in message
    if status == 429:
        assert "asks to wait 60 s" in message and synced.hubspot_requests()[SEARCH] == 1
    else:
        assert synced.hubspot_requests()[SEARCH] == 2


def test_the_probe_client_is_light_and_the_run_client_patient(world: World):
    resource = HubSpotResource(base_url=world.served.url, token=world.served.token, tier="unlimited")
    probe, run = resource.probe_client(), resource.client
    try:
        assert probe is resource.probe_client() and probe is not run
        assert probe._transport.max_attempts == 2 and run._transport.max_attempts == 6
        assert probe._transport._http.timeout.read == 10.0 and run._transport._http.timeout.read == 30.0
    finally:
        probe.close()
        run.close()
