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


def name_outcomes(store, sync_name: str, fields: list[str], records_by_side: dict[str, pd.DataFrame], *, run_id: str) -> int:
    """Give the failed and excluded records of this run their identity values, read from the records the run read.

    A record that never synced has no pair values: without these, the record view could show only its id,
    not which email was invalid. Returns how many records were named.
    """
    named = 0
    unnamed = store.unnamed_outcomes(sync_name, run_id=run_id)
    for side, records in records_by_side.items():
        wanted = {record_id for record_side, record_id in unnamed if record_side == side}
        columns = [name for name in fields if name in records]
        if not wanted or not columns:
            continue
        found = records[records["record_id"].astype(str).isin(wanted)].drop_duplicates("record_id")
        identities = {
            str(record_id): {name: value for name, value in zip(columns, values) if value is not None and not pd.isna(value)}
            for record_id, *values in found[["record_id", *columns]].itertuples(index=False)
        }
        store.name_outcomes(sync_name, side, identities)
        named += len(identities)
    return named
