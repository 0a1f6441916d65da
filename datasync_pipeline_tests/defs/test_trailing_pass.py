"""Issue 12, item 2: the correctness horizon. A change stamped earlier than the fast read's start (an app
transaction committed long after it stamped ``updated_at``; a HubSpot write searchable late) is missed by the fast
incremental read, and caught, synced and counted by the next trailing pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from datasync_pipeline.defs.launch import run_first_sync, run_incremental
from datasync_pipeline.health.object_view import sync_health
from datasync_pipeline.state import StateStore, trailing
from datasync_pipeline_tests.defs.scenario import contacts_scenario


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def late_commit(home, email: str, first_name: str, *, stamped_ago: timedelta) -> None:
    """A row whose transaction stamped ``updated_at`` long before it committed: it lands behind the watermark."""
    engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
    stamp = (datetime.now(UTC) - stamped_ago).strftime("%Y-%m-%d %H:%M:%S.%f")
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO customers (email, first_name, updated_at) VALUES (:email, :name, :stamp)"),
                           {"email": email, "name": first_name, "stamp": stamp})
    engine.dispose()


def pass_started_long_ago(state_url: str, sync: str, *, by: timedelta) -> None:
    """Time passes for the trailing clock: the last pass moves back, so the next one is due."""
    store = StateStore(state_url)
    table = trailing.trailing_passes
    with store.engine.begin() as connection:
        for pass_id, started_at in connection.execute(sa.select(table.c.id, table.c.started_at).where(table.c.sync == sync)).all():
            connection.execute(sa.update(table).where(table.c.id == pass_id).values(started_at=started_at - by))
    store.engine.dispose()


def test_a_late_commit_is_missed_by_the_fast_read_and_caught_by_the_trailing_pass(tmp_path, instance):
    scenario = contacts_scenario(tmp_path)
    scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann"}])
    scenario.seed_app([{"email": "ann@example.com", "first_name": "Ann"}])
    assert run_first_sync(scenario.config, instance=instance).success
    store = StateStore(scenario.config.state.url)
    assert trailing.last_pass_start(store.engine, "contacts") is not None  # the first sync counts as the first pass

    late_commit(tmp_path, "late@example.com", "Lena", stamped_ago=timedelta(minutes=20))
    fast = run_incremental(scenario.config, ["contacts"], instance=instance)
    assert fast.success
    emails = {contact["email"] for contact in scenario.hubspot_contacts().values()}
    assert "late@example.com" not in emails  # behind the watermark: the fast read cannot see it
    assert trailing.late_arrivals(store.engine, "contacts") == {"passes": 0, "hubspot": 0, "app": 0}

    pass_started_long_ago(scenario.config.state.url, "contacts", by=timedelta(minutes=30))  # a trailing pass is due
    caught = run_incremental(scenario.config, ["contacts"], instance=instance)
    assert caught.success
    by_email = {contact["email"]: contact for contact in scenario.hubspot_contacts().values()}
    assert by_email["late@example.com"]["firstname"] == "Lena"
    assert trailing.late_arrivals(store.engine, "contacts") == {"passes": 1, "hubspot": 0, "app": 1}
    # `datasync health` shows what the passes of the last day caught.
    assert sync_health(store.engine, scenario.config.syncs[0]).as_dict()["late_arrivals_24h"] == {"passes": 1, "hubspot": 0, "app": 1}
    checkpoint = instance.get_latest_materialization_event(dg.AssetKey(["contacts", "checkpoint"])).asset_materialization.metadata
    assert checkpoint["datasync/late_arrivals/app"].value == 1 and checkpoint["datasync/trailing_pass"].value is True

    # The next run is a fast one again (the pass just ran), and finds nothing late.
    again = run_incremental(scenario.config, ["contacts"], instance=instance)
    assert again.success
    assert trailing.late_arrivals(store.engine, "contacts")["passes"] == 1


def test_no_trailing_pass_with_a_window_of_zero(tmp_path, instance, monkeypatch):
    monkeypatch.setenv("DATASYNC_TRAILING_WINDOW_SECONDS", "0")
    scenario = contacts_scenario(tmp_path)
    scenario.seed_app([{"email": "ann@example.com", "first_name": "Ann"}])
    assert run_first_sync(scenario.config, instance=instance).success
    late_commit(tmp_path, "late@example.com", "Lena", stamped_ago=timedelta(minutes=20))
    pass_started_long_ago(scenario.config.state.url, "contacts", by=timedelta(hours=2))
    assert run_incremental(scenario.config, ["contacts"], instance=instance).success
    assert "late@example.com" not in {contact["email"] for contact in scenario.hubspot_contacts().values()}
    assert trailing.late_arrivals(StateStore(scenario.config.state.url).engine, "contacts")["passes"] == 0
