"""Whether a sync is healthy: the exit code of ``datasync health`` and the ``healthy`` / ``reasons`` of its JSON.

A sync is unhealthy when it is

- ``failing``: records failed, or pairs were deleted on one side (``SyncHealth.failing``), or
- ``stale``: no successful run (dry runs do not count) within ``stale_after``. An idle sync still runs:
  the sensor, ticking every ``DATASYNC_SENSOR_INTERVAL_SECONDS`` (600), launches a reconciling run when a
  sync has not run for ``DATASYNC_RECONCILE_SECONDS`` (3600). The default therefore allows one reconcile
  interval and two ticks (80 minutes with the defaults) before it calls a sync stale.

A disabled sync (``enabled: false`` or ``datasync sync disable``) is never stale: nothing is meant to move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from datasync_pipeline.health.object_view import SyncHealth
from datasync_pipeline.sync.probe import format_time, iso_time

FAILING, STALE, HISTORY_UNAVAILABLE = "failing", "stale", "history_unavailable"


@dataclass(frozen=True)
class Reason:
    code: str  # failing | stale | history_unavailable
    message: str


@dataclass(frozen=True)
class Verdict:
    sync: str
    enabled: bool
    last_success_at: datetime | None
    stale_after: timedelta | None  # None: staleness not checked
    reasons: tuple[Reason, ...] = ()

    @property
    def healthy(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "enabled": self.enabled,
            "last_success_at": iso_time(self.last_success_at),
            "stale_after_minutes": None if self.stale_after is None else round(self.stale_after.total_seconds() / 60),
            "reasons": [{"code": reason.code, "message": reason.message} for reason in self.reasons],
        }


def default_stale_after() -> timedelta:
    """Two sensor ticks and one reconcile interval, from the same settings the sensor reads."""
    from datasync_pipeline.settings import current

    settings = current()

    return timedelta(seconds=2 * settings.sensor_interval_seconds + settings.reconcile_seconds)


def judge(
    health: SyncHealth, *, enabled: bool, last_success: datetime | None, stale_after: timedelta | None, now: datetime,
    history_problem: str | None = None,
) -> Verdict:
    """The verdict on one sync; ``stale_after`` None skips the staleness check (and needs no run history)."""
    reasons = []
    if health.failing:
        reasons.append(Reason(FAILING, _failing_message(health)))
    if enabled and stale_after is not None:
        if history_problem is not None:
            reasons.append(Reason(HISTORY_UNAVAILABLE, f"cannot tell whether it is stale: {history_problem}"))
        elif last_success is None:
            reasons.append(Reason(STALE, "no successful run in the Dagster run history: run the first sync (`datasync first-sync`)"))
        elif now - last_success > stale_after:
            reasons.append(Reason(STALE, (
                f"last successful run {format_time(last_success)}, {_minutes(now - last_success)} minutes ago "
                f"(stale after {_minutes(stale_after)}): is dagster-daemon running? see `datasync health --sync {health.sync} --history`"
            )))
    return Verdict(health.sync, enabled, last_success, stale_after, tuple(reasons))


def _failing_message(health: SyncHealth) -> str:
    parts = [(health.failed_records, "failed"), (health.deleted_in_hubspot, "deleted in HubSpot"), (health.deleted_in_app, "deleted in the app")]
    described = ", ".join(f"{count:,} {label}" for count, label in parts if count)
    return f"{health.failing_records:,} records need attention ({described}): `{health.records_command}`"


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
