"""Sync health over time, read from Dagster's run history through its public APIs.

Per sync: the last run (id, status, mode, time), the last successful one, and per day (UTC) the runs,
the failed runs, the records synced (created + updated by both loads) and the records failed, from
the materializations of ``<sync>/hubspot_load`` and ``<sync>/app_load``. Dry runs plan without writing:
they count as neither runs nor records here. History goes back as far as Dagster keeps runs (see the
retention notes in the README).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from datasync_pipeline.defs.jobs import DRY_RUN_TAG, FIRST_SYNC_JOB, MODE_TAG, SYNC_TAG

LOADS = ("hubspot_load", "app_load")
PAGE = 500


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    mode: str | None
    job: str
    created_at: datetime
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": self.created_at.isoformat()}


@dataclass
class DayHealth:
    day: date
    runs: int = 0
    failed_runs: int = 0
    records_synced: int = 0
    records_failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day.isoformat()}


@dataclass
class SyncHistory:
    sync: str
    last_run: RunSummary | None = None
    last_success: RunSummary | None = None
    days: list[DayHealth] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sync": self.sync,
            "last_run": self.last_run.as_dict() if self.last_run else None,
            "last_success": self.last_success.as_dict() if self.last_success else None,
            "days": [day.as_dict() for day in self.days],
        }


def sync_history(instance: dg.DagsterInstance, sync: str, *, days: int = 14, now: datetime | None = None) -> SyncHistory:
    """The sync's last run, last success, and the ``days`` most recent UTC days, today included, oldest first."""
    now = now or datetime.now(UTC)
    first_day = now.date() - timedelta(days=days - 1)
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    by_day = {first_day + timedelta(days=n): DayHealth(first_day + timedelta(days=n)) for n in range(days)}
    history = SyncHistory(sync, days=list(by_day.values()))

    for run in _runs(instance, sync):
        if history.last_run is None:
            history.last_run = run
        if history.last_success is None and run.status == dg.DagsterRunStatus.SUCCESS.value and not run.dry_run:
            history.last_success = run
        if run.created_at < since:
            if history.last_success is not None:
                break
            continue
        if run.dry_run or run.created_at.date() not in by_day:
            continue
        day = by_day[run.created_at.date()]
        day.runs += 1
        day.failed_runs += run.status == dg.DagsterRunStatus.FAILURE.value

    for step in LOADS:
        for record in _materializations(instance, dg.AssetKey([sync, step]), after=since):
            metadata = {key: value.value for key, value in record.asset_materialization.metadata.items()}
            when = datetime.fromtimestamp(record.timestamp, UTC).date()
            if metadata.get("datasync/dry_run") or when not in by_day:
                continue
            by_day[when].records_synced += int(metadata.get("datasync/created", 0)) + int(metadata.get("datasync/updated", 0))
            by_day[when].records_failed += int(metadata.get("datasync/failed", 0))
    return history


def last_success(instance: dg.DagsterInstance, sync: str) -> RunSummary | None:
    """The sync's newest successful run that wrote (dry runs do not count), or None."""
    return next((run for run in _runs(instance, sync) if run.status == dg.DagsterRunStatus.SUCCESS.value and not run.dry_run), None)


def _runs(instance: dg.DagsterInstance, sync: str) -> Iterator[RunSummary]:
    """The sync's runs, newest first: those tagged with its name, and first syncs it shared with other syncs.

    A first sync of several syncs carries their names comma-separated in one tag, which a tag filter
    cannot match on one name; those runs are read by job name and picked by their tag.
    """
    streams = [
        _run_pages(instance, dg.RunsFilter(tags={SYNC_TAG: sync})),
        (run for run in _run_pages(instance, dg.RunsFilter(job_name=FIRST_SYNC_JOB))
         if "," in run.dagster_run.tags.get(SYNC_TAG, "") and sync in run.dagster_run.tags[SYNC_TAG].split(",")),
    ]
    heads = [next(stream, None) for stream in streams]
    while any(head is not None for head in heads):
        # Merge the two newest-first streams by creation time.
        index = max((i for i, head in enumerate(heads) if head is not None), key=lambda i: heads[i].create_timestamp)
        record = heads[index]
        heads[index] = next(streams[index], None)
        tags = record.dagster_run.tags
        yield RunSummary(
            run_id=record.dagster_run.run_id,
            status=record.dagster_run.status.value,
            mode=tags.get(MODE_TAG),
            job=record.dagster_run.job_name,
            created_at=record.create_timestamp.astimezone(UTC),
            dry_run=tags.get(DRY_RUN_TAG) == "true",
        )


def _run_pages(instance: dg.DagsterInstance, filters: dg.RunsFilter) -> Iterator[Any]:
    cursor = None
    while True:
        page = instance.get_run_records(filters, limit=PAGE, cursor=cursor)
        yield from page
        if len(page) < PAGE:
            return
        cursor = page[-1].dagster_run.run_id


def _materializations(instance: dg.DagsterInstance, key: dg.AssetKey, *, after: datetime) -> Iterator[dg.EventLogRecord]:
    cursor = None
    while True:
        result = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_timestamp=after.timestamp()), limit=PAGE, cursor=cursor)
        yield from result.records
        if not result.has_more:
            return
        cursor = result.cursor
