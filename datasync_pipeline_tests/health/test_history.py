"""Health over time, read from the Dagster run history of real runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from datasync_pipeline.health.history import sync_history
from datasync_pipeline_tests.health.troubled_sync import troubled_sync_history


@pytest.fixture(scope="module")
def troubled(tmp_path_factory):
    with troubled_sync_history(tmp_path_factory.mktemp("troubled")) as (sync, instance):
        yield sync, instance


def test_last_run_and_last_success_are_read_from_the_run_history(troubled):
    sync, instance = troubled
    history = sync_history(instance, "contacts")

    assert history.last_run.run_id == sync.broken.run_id and history.last_run.status == "FAILURE"
    assert history.last_run.mode == "incremental"
    assert history.last_success.run_id == sync.incremental.run_id and history.last_success.status == "SUCCESS"


def test_runs_records_synced_and_failures_per_day_ignore_dry_runs(troubled):
    sync, instance = troubled
    history = sync_history(instance, "contacts", days=3)
    today = datetime.now(UTC).date()

    assert [day.day for day in history.days] == [today - timedelta(days=2), today - timedelta(days=1), today]
    assert [(d.runs, d.records_synced) for d in history.days[:2]] == [(0, 0), (0, 0)]
    latest = history.days[-1]
    # too early (failed), first sync, incremental, broken (failed); the dry run counts for nothing.
    assert (latest.runs, latest.failed_runs) == (4, 2)
    # The first sync created dan in the app and eve in HubSpot; the dry run would have counted them again.
    assert latest.records_synced == 2
    assert latest.records_failed == 1  # ann's update refused by the app


def test_a_sync_without_runs_has_no_last_run(troubled):
    _, instance = troubled
    history = sync_history(instance, "companies", days=1)
    assert history.last_run is None and history.last_success is None
    assert history.days[0].runs == 0
