"""The object view of sync health (rule 12): per sync, how many records are synced, failed, excluded, deleted.

Counted in the state store from the same rows the record view lists, so "3 failed" here is three rows
there. Failed records come by error category and excluded ones by reason, each with its guide from
the catalogue.

One definition of the counts, for every view (``health``, ``sync list``, ``records --status``, the asset check):
``failed`` are the records with a failed outcome (a write, the associations, ...), each counted once however
many steps failed it; by category, a record is counted under each of its categories, so the categories may
add up to more than the failed records (``failed_records`` is the count of records); a pair deleted on one side counts as
``deleted_in_hubspot`` / ``deleted_in_app`` only, never also as failed (though its surviving record
carries a failed outcome); ``failing`` is both together: what needs a person, and what
``records_command`` lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from datasync_pipeline.config.model import DatasyncConfig, SyncSpec
from datasync_pipeline.health.catalogue import guide_for
from datasync_pipeline.health.rows import (
    DELETED_IN_APP,
    DELETED_IN_HUBSPOT,
    EXCLUDED,
    FAILED,
    SYNCED,
    category_counts,
    paired_rows,
    status_counts,
    unpaired_rows,
)
from datasync_pipeline.state import trailing

LATE_ARRIVALS_OVER = timedelta(days=1)

@dataclass
class SyncHealth:
    sync: str
    object: str
    synced: int = 0
    deleted_in_hubspot: int = 0
    deleted_in_app: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # records by error category (a record under each of its own)
    excluded: dict[str, int] = field(default_factory=dict)  # records by reason
    # Records failed and excluded, each once; None: the sums of the dicts above (a record has one category each).
    failed_count: int | None = None
    excluded_count: int | None = None
    # Changes the trailing passes of the last day caught after the fast reads missed them (``state/trailing.py``).
    late_arrivals: dict[str, int] = field(default_factory=lambda: {"passes": 0, "hubspot": 0, "app": 0})

    @property
    def failed_records(self) -> int:
        return sum(self.failed.values()) if self.failed_count is None else self.failed_count

    @property
    def excluded_records(self) -> int:
        return sum(self.excluded.values()) if self.excluded_count is None else self.excluded_count

    @property
    def failing(self) -> dict[str, int]:
        """Everything that needs a person: failed records by category, and the pairs deleted on one side."""
        deleted = {DELETED_IN_HUBSPOT: self.deleted_in_hubspot, DELETED_IN_APP: self.deleted_in_app}
        return {**self.failed, **{category: count for category, count in deleted.items() if count}}

    @property
    def failing_records(self) -> int:
        """How many records need a person: failed ones (each once) and pairs deleted on one side."""
        return self.failed_records + self.deleted_in_hubspot + self.deleted_in_app

    @property
    def failing_statuses(self) -> list[str]:
        """The record-view statuses of the failing records present, e.g. ``["failed", "deleted_in_hubspot"]``."""
        counts = ((FAILED, self.failed_records), (DELETED_IN_HUBSPOT, self.deleted_in_hubspot), (DELETED_IN_APP, self.deleted_in_app))
        return [status for status, count in counts if count]

    @property
    def records_command(self) -> str | None:
        """The ``datasync records`` command listing exactly the failing records, or None when none fail."""
        statuses = self.failing_statuses
        return f"datasync records --sync {self.sync} " + " ".join(f"--status {status}" for status in statuses) if statuses else None

    @property
    def total(self) -> int:
        return self.synced + self.deleted_in_hubspot + self.deleted_in_app + self.failed_records + self.excluded_records

    def as_dict(self) -> dict[str, Any]:
        return {
            "sync": self.sync, "object": self.object, "total": self.total, "synced": self.synced,
            "failed": self.failed_records, "excluded": self.excluded_records,
            "deleted_in_hubspot": self.deleted_in_hubspot, "deleted_in_app": self.deleted_in_app,
            "failing": self.failing_records, "records_command": self.records_command,
            "failed_by_category": dict(sorted(self.failed.items())), "excluded_by_reason": dict(sorted(self.excluded.items())),
            "late_arrivals_24h": dict(self.late_arrivals),
            "troubleshooting": {
                category: {"title": guide.title, "explanation": guide.explanation, "steps": guide.steps_for(self.sync)}
                for category in sorted({**self.failing, **self.excluded})
                for guide in [guide_for(category)]
            },
        }


def sync_health(engine: sa.Engine, sync: SyncSpec) -> SyncHealth:
    health = SyncHealth(sync.name, sync.object, failed_count=0, excluded_count=0)
    with engine.connect() as connection:
        for query in (paired_rows(sync.name, []), unpaired_rows(sync.name, [])):
            for status, _categories, count in connection.execute(status_counts(query)):
                if status == SYNCED:
                    health.synced += count
                elif status == DELETED_IN_HUBSPOT:
                    health.deleted_in_hubspot += count
                elif status == DELETED_IN_APP:
                    health.deleted_in_app += count
                elif status == FAILED:
                    health.failed_count += count
                elif status == EXCLUDED:
                    health.excluded_count += count
        for query in category_counts(sync.name):
            for status, category, count in connection.execute(query):
                by_category = health.failed if status == FAILED else health.excluded
                by_category[category] = by_category.get(category, 0) + count
    health.late_arrivals = trailing.late_arrivals(engine, sync.name, since=datetime.now(UTC) - LATE_ARRIVALS_OVER)
    return health


def object_view(config: DatasyncConfig, engine: sa.Engine, sync_names: list[str] | None = None) -> list[SyncHealth]:
    """The health of the named syncs (all of the configuration's when None), in configuration order."""
    return [sync_health(engine, sync) for sync in config.syncs if not sync_names or sync.name in sync_names]
