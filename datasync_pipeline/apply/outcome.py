"""What a load did, counted the way sync health reports it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from datasync_pipeline.errors import RecordError

OUTCOME_COLUMNS = ["side", "record_id", "status", "category", "message"]


@dataclass
class LoadOutcome:
    target: str  # "hubspot" or "app"
    dry_run: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    external_ids_written: int = 0  # app rows whose external-id column got their linked HubSpot id
    failed: Counter = field(default_factory=Counter)  # by error category
    excluded: Counter = field(default_factory=Counter)  # by reason
    rows: list[tuple[str, str, str, str, str | None]] = field(default_factory=list)

    def fail(self, side: str, record_id: str, error: RecordError) -> None:
        self.failed[str(error.category)] += 1
        self.rows.append((side, str(record_id), "failed", str(error.category), error.message))

    def exclude(self, excluded: pd.DataFrame) -> None:
        for side, record_id, reason, detail in excluded[["side", "record_id", "reason", "detail"]].itertuples(index=False):
            self.excluded[reason] += 1
            self.rows.append((side, str(record_id), "excluded", reason, detail))

    def outcomes_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=OUTCOME_COLUMNS)

    def metadata(self) -> dict[str, int | bool]:
        written = self.created + self.updated
        counts: dict[str, int | bool] = {
            "dagster/row_count": written,
            "datasync/dry_run": self.dry_run,
            "datasync/created": self.created,
            "datasync/updated": self.updated,
            "datasync/unchanged": self.unchanged,
            "datasync/conflicts": self.conflicts,
            "datasync/external_ids_written": self.external_ids_written,
            "datasync/failed": sum(self.failed.values()),
            "datasync/excluded": sum(self.excluded.values()),
        }
        counts.update({f"datasync/failed/{category}": n for category, n in sorted(self.failed.items())})
        counts.update({f"datasync/excluded/{reason}": n for reason, n in sorted(self.excluded.items())})
        return counts
