"""The verdict behind `datasync health`'s exit code: failing, stale, or healthy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from datasync_pipeline.health.object_view import SyncHealth
from datasync_pipeline.health.verdict import default_stale_after, judge

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_synced_and_recent_is_healthy():
    verdict = judge(SyncHealth("contacts", "contacts", synced=5), enabled=True, last_success=NOW - HOUR, stale_after=2 * HOUR, now=NOW)

    assert verdict.healthy and verdict.as_dict()["reasons"] == []


def test_no_success_within_the_window_is_stale():
    verdict = judge(SyncHealth("contacts", "contacts", synced=5), enabled=True, last_success=NOW - 3 * HOUR, stale_after=2 * HOUR, now=NOW)

    [reason] = verdict.reasons
    assert reason.code == "stale"
    assert "180 minutes ago (stale after 120)" in reason.message


def test_a_disabled_sync_is_never_stale_but_still_failing():
    view = SyncHealth("contacts", "contacts", deleted_in_app=2)

    verdict = judge(view, enabled=False, last_success=None, stale_after=HOUR, now=NOW)

    assert [reason.code for reason in verdict.reasons] == ["failing"]
    assert verdict.reasons[0].message == "2 records need attention (2 deleted in the app): `datasync records --sync contacts --status deleted_in_app`"


def test_excluded_records_alone_are_not_failing():
    verdict = judge(SyncHealth("contacts", "contacts", excluded={"no unique identity": 3}), enabled=True,
                    last_success=NOW, stale_after=None, now=NOW)

    assert verdict.healthy


def test_the_default_window_is_two_sensor_ticks_and_one_reconcile_interval(monkeypatch):
    monkeypatch.setenv("DATASYNC_SENSOR_INTERVAL_SECONDS", "60")
    monkeypatch.setenv("DATASYNC_RECONCILE_SECONDS", "600")

    assert default_stale_after() == timedelta(seconds=720)
