"""Reading and writing the state store.

Writes are upserts keyed by (sync, record) (outcomes: by (sync, record, step)), so a rerun of the same step rewrites the same rows:
the store never holds a link twice, whatever point a run crashed at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.state import bulk, progress, retries
from datasync_pipeline.state.tables import metadata, pairs, record_status
from datasync_pipeline.state.values import json_safe

WRITE_CHUNK = 2_000


@dataclass(frozen=True)
class Link:
    hubspot_id: str
    app_id: str
    hubspot_values: Mapping[str, Any] | None = None
    app_values: Mapping[str, Any] | None = None


def released_app_id(app_id: str, hubspot_id: str) -> str:
    """What a pair deleted in the app keeps as its app id once the key was given to another row: unique per
    pair (a key may be reused twice), readable in the record view, and no key of any row."""
    return f"{app_id} (deleted; key reused; was linked to {hubspot_id})"


class StateStore:
    def __init__(self, url_or_engine: str | sa.Engine) -> None:
        self.engine = sa.create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        metadata.create_all(self.engine)

    def known_pairs(self, sync: str, *, status: str | None = None) -> pd.DataFrame:
        """Links of a sync (hubspot_id, app_id, status), optionally only those in one status."""
        query = sa.select(pairs.c.hubspot_id, pairs.c.app_id, pairs.c.status).where(pairs.c.sync == sync)
        if status is not None:
            query = query.where(pairs.c.status == status)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return pd.DataFrame(rows, columns=["hubspot_id", "app_id", "status"], dtype=object)

    def pairs_with_values(self, sync: str) -> pd.DataFrame:
        """Every link of a sync (hubspot_id, app_id, status) with the values each side held after the last sync, in
        one query (a first sync needs them all)."""
        query = sa.select(pairs.c.hubspot_id, pairs.c.app_id, pairs.c.status, pairs.c.hubspot_values, pairs.c.app_values).where(
            pairs.c.sync == sync)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        frame = pd.DataFrame(rows, columns=["hubspot_id", "app_id", "status", "hubspot_values", "app_values"], dtype=object)
        for side in ("hubspot_values", "app_values"):
            frame[side] = frame[side].map(lambda values: values or {})
        return frame

    def last_values(self, sync: str, *, hubspot_ids: Iterable[str] = (), app_ids: Iterable[str] = ()) -> pd.DataFrame:
        """The pairs touching these records, with the values each side held after the last sync."""
        wanted_hubspot, wanted_app = [str(i) for i in hubspot_ids], [str(i) for i in app_ids]
        columns = [pairs.c.hubspot_id, pairs.c.app_id, pairs.c.status, pairs.c.hubspot_values, pairs.c.app_values]
        rows: dict[str, tuple] = {}
        with self.engine.connect() as connection:
            for column, ids in ((pairs.c.hubspot_id, wanted_hubspot), (pairs.c.app_id, wanted_app)):
                for start in range(0, len(ids), WRITE_CHUNK):
                    query = sa.select(*columns).where(pairs.c.sync == sync, column.in_(ids[start : start + WRITE_CHUNK]))
                    rows.update({row.hubspot_id: tuple(row) for row in connection.execute(query)})
        frame = pd.DataFrame(list(rows.values()), columns=["hubspot_id", "app_id", "status", "hubspot_values", "app_values"], dtype=object)
        for side in ("hubspot_values", "app_values"):
            frame[side] = frame[side].map(lambda values: values or {})
        return frame

    def forget_pairs(self, sync: str, hubspot_ids: Iterable[str]) -> None:
        """Drop these links (a restored record is re-linked under its new id)."""
        ids = [str(i) for i in hubspot_ids]
        with self.engine.begin() as connection:
            for start in range(0, len(ids), WRITE_CHUNK):
                connection.execute(pairs.delete().where(pairs.c.sync == sync, pairs.c.hubspot_id.in_(ids[start : start + WRITE_CHUNK])))

    def mark_deleted(self, sync: str, hubspot_ids: Iterable[str], *, deleted_in: str) -> int:
        """Rule 10: the pairs of records deleted on one side stop syncing and show as failing."""
        ids = [str(i) for i in hubspot_ids]
        status = f"deleted_in_{deleted_in}"
        with self.engine.begin() as connection:
            for start in range(0, len(ids), WRITE_CHUNK):
                connection.execute(
                    pairs.update()
                    .where(pairs.c.sync == sync, pairs.c.hubspot_id.in_(ids[start : start + WRITE_CHUNK]), pairs.c.status == "synced")
                    .values(status=status)
                )
        return len(ids)

    def release_app_keys(self, sync: str, reused: Mapping[str, str]) -> int:
        """Pairs whose app key was given to another row (hubspot id -> that key): their row is gone, deleted in
        the app (rule 10), and the key is released for the row that holds it now (``released_app_id``)."""
        with self.engine.begin() as connection:
            for hubspot_id, app_id in reused.items():
                connection.execute(pairs.update().where(pairs.c.sync == sync, pairs.c.hubspot_id == str(hubspot_id),
                                                        pairs.c.app_id == str(app_id))
                                   .values(app_id=released_app_id(app_id, hubspot_id), status="deleted_in_app"))
        return len(reused)

    def link(self, sync: str, links: Iterable[Link]) -> int:
        """Record links with the values each side now holds (None: that side's values are not known here).

        A relink of either id replaces the old link; values left None keep what the store had.
        Values are stored in their JSON form (``state.values.json_safe``): any value a connector
        reads (Decimal, dates, timestamps, big integers, bytes, numpy and pandas scalars) is kept
        in a form that compares equal to the same value read fresh.
        """
        now = datetime.now(UTC)
        rows = [
            {"sync": sync, "hubspot_id": str(link.hubspot_id), "app_id": str(link.app_id), "linked_at": now, "synced_at": now,
             "hubspot_values": json_safe(link.hubspot_values), "app_values": json_safe(link.app_values), "status": "synced"}
            for link in links
        ]

        def upsert(statement):
            return statement.on_conflict_do_update(
                index_elements=[pairs.c.sync, pairs.c.hubspot_id],
                set_={
                    "app_id": statement.excluded.app_id,
                    "synced_at": statement.excluded.synced_at,
                    "hubspot_values": sa.func.coalesce(statement.excluded.hubspot_values, pairs.c.hubspot_values),
                    "app_values": sa.func.coalesce(statement.excluded.app_values, pairs.c.app_values),
                    "status": statement.excluded.status,
                },
            )

        with self.engine.begin() as connection:
            for start in range(0, len(rows), WRITE_CHUNK):
                chunk = rows[start : start + WRITE_CHUNK]
                connection.execute(
                    pairs.delete().where(
                        pairs.c.sync == sync,
                        pairs.c.app_id.in_([r["app_id"] for r in chunk]),
                        pairs.c.hubspot_id.not_in([r["hubspot_id"] for r in chunk]),
                    )
                )
            bulk.upsert_rows(connection, pairs, upsert, rows)
        return len(rows)

    def record_outcomes(self, sync: str, outcomes: pd.DataFrame, *, recorded_by: str, run_id: str | None = None) -> None:
        """Keep failed and excluded records (side, record_id, status, category, message) as this step's outcomes.

        An outcome is keyed by (side, record, ``recorded_by``): it replaces this step's older outcome of the record
        and leaves the other steps' alone, so a record can fail its write and its associations at once, each with
        its own category. A record failing again in the same step counts one more attempt, and a transient failure
        gets its next attempt time: the retry schedule is per outcome.
        """
        now = datetime.now(UTC)
        frame = outcomes[["side", "record_id", "status", "category", "message"]]
        previous = self._attempts(sync, frame, recorded_by=recorded_by)
        rows = []
        for side, record_id, status, category, message in frame.itertuples(index=False):
            attempts = previous.get((side, str(record_id)), 0) + 1 if status == "failed" else 1
            rows.append({
                "sync": sync, "side": side, "record_id": str(record_id), "status": status, "category": category,
                "message": message, "run_id": run_id, "recorded_at": now, "recorded_by": str(recorded_by), "attempts": attempts,
                "next_attempt_at": retries.next_attempt(category, attempts, now) if status == "failed" else None,
            })
        columns = ("status", "category", "message", "run_id", "recorded_at", "attempts", "next_attempt_at")

        def upsert(statement):
            return statement.on_conflict_do_update(
                index_elements=[record_status.c.sync, record_status.c.side, record_status.c.record_id, record_status.c.recorded_by],
                set_={c: statement.excluded[c] for c in columns},
            )

        with self.engine.begin() as connection:
            bulk.upsert_rows(connection, record_status, upsert, rows)

    def unnamed_outcomes(self, sync: str, *, run_id: str) -> list[tuple[str, str]]:
        """(side, record id) of the failed and excluded records this run recorded without their identity (once each)."""
        query = sa.select(record_status.c.side, record_status.c.record_id).distinct().where(
            record_status.c.sync == sync, record_status.c.run_id == run_id, record_status.c.identity.is_(None))
        with self.engine.connect() as connection:
            return [(side, record_id) for side, record_id in connection.execute(query)]

    def name_outcomes(self, sync: str, side: str, identities: Mapping[str, Mapping[str, Any]]) -> None:
        """Keep what identifies these failed or excluded records to a person (e.g. their invalid email), on every
        outcome of each: the identity belongs to the record, whichever step recorded the outcome."""
        rows = [{"_sync": sync, "_side": side, "_record_id": str(record_id), "identity": json_safe(dict(identity))}
                for record_id, identity in identities.items()]
        statement = record_status.update().where(
            record_status.c.sync == sa.bindparam("_sync"), record_status.c.side == sa.bindparam("_side"),
            record_status.c.record_id == sa.bindparam("_record_id")).values(identity=sa.bindparam("identity"))
        with self.engine.begin() as connection:
            for start in range(0, len(rows), WRITE_CHUNK):
                connection.execute(statement, rows[start : start + WRITE_CHUNK])

    def _attempts(self, sync: str, frame: pd.DataFrame, *, recorded_by: str) -> dict[tuple[str, str], int]:
        """(side, record id) -> the attempts of this step's failed outcome of the record."""
        found: dict[tuple[str, str], int] = {}
        ids = [str(r) for r in frame["record_id"]]
        with self.engine.connect() as connection:
            for start in range(0, len(ids), WRITE_CHUNK):
                query = sa.select(record_status.c.side, record_status.c.record_id, record_status.c.attempts).where(
                    record_status.c.sync == sync, record_status.c.status == "failed", record_status.c.recorded_by == str(recorded_by),
                    record_status.c.record_id.in_(ids[start : start + WRITE_CHUNK]),
                )
                found.update({(side, record_id): attempts for side, record_id, attempts in connection.execute(query)})
        return found

    def due_retries(self, sync: str, *, recorded_by: str, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(side, record id) of the failed outcomes of one step (``recorded_by``) whose next attempt is due, oldest first.

        Each outcome keeps its own schedule: a record whose write and associations both failed is due for the
        load when the load's outcome is due, whatever the associations' outcome says."""
        query = (
            sa.select(record_status.c.side, record_status.c.record_id)
            .where(record_status.c.sync == sync, record_status.c.recorded_by == recorded_by, record_status.c.status == "failed",
                   record_status.c.next_attempt_at.is_not(None), record_status.c.next_attempt_at <= now)
            .order_by(record_status.c.next_attempt_at)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [(side, record_id) for side, record_id in connection.execute(query)]

    def clear_outcomes(self, sync: str, side: str, record_ids: Iterable[str], *, recorded_by: str) -> None:
        """Forget the failures and exclusions this step recorded for these records; other steps' outcomes stay."""
        ids = [str(r) for r in record_ids]
        with self.engine.begin() as connection:
            for start in range(0, len(ids), WRITE_CHUNK):
                connection.execute(
                    record_status.delete().where(
                        record_status.c.sync == sync, record_status.c.side == side, record_status.c.recorded_by == recorded_by,
                        record_status.c.record_id.in_(ids[start : start + WRITE_CHUNK]),
                    )
                )

    def failed_records(self, sync: str, *, run_id: str) -> set[tuple[str, str]]:
        """(side, record id) of the records with an outcome that failed in this run (a record once, however many)."""
        query = sa.select(record_status.c.side, record_status.c.record_id).distinct().where(
            record_status.c.sync == sync, record_status.c.run_id == run_id, record_status.c.status == "failed"
        )
        with self.engine.connect() as connection:
            return {(side, record_id) for side, record_id in connection.execute(query)}

    def outcome_counts(self, sync: str) -> dict[str, int]:
        """Outcomes (not records) per "status/category": a record failed by two steps counts under each."""
        query = (
            sa.select(record_status.c.status, record_status.c.category, sa.func.count())
            .where(record_status.c.sync == sync)
            .group_by(record_status.c.status, record_status.c.category)
        )
        with self.engine.connect() as connection:
            return {f"{status}/{category}": count for status, category, count in connection.execute(query)}

    def watermarks(self, sync: str) -> dict[str, datetime]:
        """How far each side ("hubspot", "app") has been read, in UTC."""
        return progress.read_watermarks(self.engine, sync)

    def advance_watermarks(self, sync: str, marks: Mapping[str, datetime], *, run_id: str | None = None) -> None:
        progress.save_watermarks(self.engine, sync, marks, run_id=run_id)

    def is_enabled(self, sync: str) -> bool:
        return progress.is_enabled(self.engine, sync)

    def set_enabled(self, sync: str, enabled: bool) -> None:
        progress.set_enabled(self.engine, sync, enabled)

    def record_conflicts(self, sync: str, frame: pd.DataFrame, *, run_id: str | None = None) -> int:
        return progress.record_conflicts(self.engine, sync, frame, run_id=run_id)

    def conflicts(self, sync: str | None = None) -> pd.DataFrame:
        return progress.read_conflicts(self.engine, sync)

    def forget_sync(self, sync: str) -> dict[str, int]:
        """Delete everything the store keeps about a sync (rule 11: deleting a sync); counts per table."""
        removed = {}
        with self.engine.begin() as connection:
            for table in metadata.sorted_tables:
                if "sync" in table.c:
                    removed[table.name] = connection.execute(sa.delete(table).where(table.c.sync == sync)).rowcount
        return removed

    def pair_count(self, sync: str) -> int:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(pairs).where(pairs.c.sync == sync)).scalar_one()
