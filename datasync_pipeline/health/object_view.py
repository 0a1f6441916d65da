"""The object view of sync health (rule 12): per sync, how many records are synced, failed, excluded, deleted.

Counted in the state store from the same rows the record view lists, so "3 failed" here is three rows
there. Failed records come by error category and excluded ones by reason, each with its guide from
the catalogue.

One definition of the counts, for every view (``health``, ``sync list``, ``records --status``, the asset check):
``failed`` are the records whose last write failed; a pair deleted on one side counts as
``deleted_in_hubspot`` / ``deleted_in_app`` only, never also as failed (though its surviving record
carries a failed outcome); ``failing`` is both together: what needs a person, and what
``records_command`` lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from datasync_pipeline.config.model import DatasyncConfig, SyncSpec
from datasync_pipeline.health.catalogue import guide_for
from datasync_pipeline.health.rows import DELETED_IN_APP, DELETED_IN_HUBSPOT, EXCLUDED, FAILED, SYNCED, paired_rows, status_counts, unpaired_rows


@dataclass
class SyncHealth:
    sync: str
    object: str
    synced: int = 0
    deleted_in_hubspot: int = 0
    deleted_in_app: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # by error category
    excluded: dict[str, int] = field(default_factory=dict)  # by reason

    @property
    def failing(self) -> dict[str, int]:
        """Everything that needs a person: failed records by category, and the pairs deleted on one side."""
        deleted = {DELETED_IN_HUBSPOT: self.deleted_in_hubspot, DELETED_IN_APP: self.deleted_in_app}
        return {**self.failed, **{category: count for category, count in deleted.items() if count}}

    @property
    def failing_statuses(self) -> list[str]:
        """The record-view statuses of the failing records present, e.g. ``["failed", "deleted_in_hubspot"]``."""
        counts = ((FAILED, sum(self.failed.values())), (DELETED_IN_HUBSPOT, self.deleted_in_hubspot), (DELETED_IN_APP, self.deleted_in_app))
        return [status for status, count in counts if count]

    @property
    def records_command(self) -> str | None:
        """The ``datasync records`` command listing exactly the failing records, or None when none fail."""
        statuses = self.failing_statuses
        return f"datasync records --sync {self.sync} " + " ".join(f"--status {status}" for status in statuses) if statuses else None

    @property
    def total(self) -> int:
        return self.synced + self.deleted_in_hubspot + self.deleted_in_app + sum(self.failed.values()) + sum(self.excluded.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "sync": self.sync, "object": self.object, "total": self.total, "synced": self.synced,
            "failed": sum(self.failed.values()), "excluded": sum(self.excluded.values()),
            "deleted_in_hubspot": self.deleted_in_hubspot, "deleted_in_app": self.deleted_in_app,
            "failing": sum(self.failing.values()), "records_command": self.records_command,
            "failed_by_category": dict(sorted(self.failed.items())), "excluded_by_reason": dict(sorted(self.excluded.items())),
            "troubleshooting": {
                category: {"title": guide.title, "explanation": guide.explanation, "steps": guide.steps_for(self.sync)}
                for category in sorted({**self.failing, **self.excluded})
                for guide in [guide_for(category)]
            },
        }


def sync_health(engine: sa.Engine, sync: SyncSpec) -> SyncHealth:
    health = SyncHealth(sync.name, sync.object)
    with engine.connect() as connection:
        for query in (paired_rows(sync.name, []), unpaired_rows(sync.name, [])):
            for status, category, count in connection.execute(status_counts(query)):
                if status == SYNCED:
                    health.synced += count
                elif status == DELETED_IN_HUBSPOT:
                    health.deleted_in_hubspot += count
                elif status == DELETED_IN_APP:
                    health.deleted_in_app += count
                elif status == FAILED:
                    health.failed[category] = health.failed.get(category, 0) + count
                elif status == EXCLUDED:
                    health.excluded[category] = health.excluded.get(category, 0) + count
    return health


def object_view(config: DatasyncConfig, engine: sa.Engine, sync_names: list[str] | None = None) -> list[SyncHealth]:
    """The health of the named syncs (all of the configuration's when None), in configuration order."""
    return [sync_health(engine, sync) for sync in config.syncs if not sync_names or sync.name in sync_names]
