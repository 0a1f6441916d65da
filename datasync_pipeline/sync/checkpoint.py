"""The checkpoint step, after both loads committed: deletions marked (rule 10), invalid rows recorded, the pairs'
values committed, the watermarks advanced, freshness measured.

Pair values are committed once both loads have committed, never by one load alone: if one side's write is lost to
a crash, the pair keeps its old base and the next run sees the change again. Pairs with a failed write keep their
old base too, so a retry finds the change still pending. The watermarks advance last, so a failed run is redone
from the old marks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.engine import frames
from datasync_pipeline.engine.incremental import MatchedRecords
from datasync_pipeline.engine.plan import MergePlan, updates_by_record
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.health.records import identity_fields
from datasync_pipeline.state import Link, StateStore, journal, pending, trailing
from datasync_pipeline.sync.binding import app_label
from datasync_pipeline.sync.extract import LATE
from datasync_pipeline.sync.outcome import name_outcomes
from datasync_pipeline.sync.own_writes import FIRST_SYNC_VERIFY_LIMIT, VERIFY_LIMIT, app_lister, hubspot_lister, settle_past_own_writes
from datasync_pipeline.sync.step import Step
from datasync_pipeline.vocabulary import Recorder, Side


def checkpoint(step: Step, hubspot: pd.DataFrame, app: pd.DataFrame, matched: MatchedRecords, plan: MergePlan) -> tuple[dict[str, Any], int]:
    """``<sync>/checkpoint``: the step's metadata, and how many records this run left failing (a dry run: none)."""
    metadata: dict[str, Any] = {"datasync/dry_run": step.dry_run, **freshness_metadata(plan, hubspot, app),
                                **{f"datasync/failed/{category}": int(count) for category, count in matched.invalid["category"].value_counts().items()}}
    if step.dry_run:
        return metadata, 0
    step.before_writing()
    store, sync, run_id = step.store, step.sync, step.run_id
    record_deletions(store, sync, matched, run_id=run_id)
    record_validation(store, sync, matched, run_id=run_id)
    failed = store.failed_records(sync.name, run_id=run_id)
    committed = commit_pair_values(store, sync.name, plan, failed=failed)
    overlaps = {side: step.overlap(side) for side in Side}
    marks = next_watermarks(step.started, {Side.HUBSPOT: hubspot, Side.APP: app}, overlaps,
                            newest_app_deletion=matched.deletions.newest_app_deletion)
    store.advance_watermarks(sync.name, marks, run_id=run_id)
    journal.settle(store.engine, sync.name, [journal.RECORD], recorded_before=step.started)  # the merges and deletions it named
    metadata.update(record_trailing_pass(step, hubspot, app, plan))
    step.app().changes_synced()  # a change log the app keeps is consumed only now that its changes are written
    # Past this run's own writes when nothing else changed: no run follows that finds only them.
    # (HubSpot's listing is searches at 5 a second: a first sync's bulk is left to the run that follows.)
    settle_past_own_writes(store, sync.name, Side.HUBSPOT, hubspot_lister(step.client, sync.object), run_id=run_id,
                           verify_limit=VERIFY_LIMIT if step.incremental else FIRST_SYNC_VERIFY_LIMIT)
    settle_past_own_writes(store, sync.name, Side.APP, app_lister(step.app()), run_id=run_id)
    current = store.watermarks(sync.name)
    name_outcomes(store, sync.name, identity_fields(sync), {"hubspot": hubspot, "app": app}, run_id=run_id)
    failed_in_run = len(store.failed_records(sync.name, run_id=run_id))
    metadata.update({
        "datasync/failed_in_run": failed_in_run,
        "datasync/pairs_committed": committed,
        "datasync/deleted_in_hubspot": len(matched.deletions.in_hubspot),
        "datasync/deleted_in_app": len(matched.deletions.in_app),
        **{f"datasync/watermark/{side}": mark.isoformat() for side, mark in current.items()},
    })
    return metadata, failed_in_run


def commit_pair_values(store: StateStore, sync_name: str, plan: MergePlan, *, failed: set[tuple[str, str]]) -> int:
    """Write both sides' values after this run for every pair of the plan without a failed write."""
    hubspot_updates = updates_by_record(plan.hubspot_updates)
    app_updates = updates_by_record(plan.app_updates)
    links = []
    for hubspot_id, app_id, hubspot_values, app_values in plan.pairs[["hubspot_id", "app_id", "hubspot_values", "app_values"]].itertuples(index=False):
        if ("hubspot", hubspot_id) in failed or ("app", app_id) in failed:
            continue
        links.append(Link(hubspot_id, app_id,
                          hubspot_values={**hubspot_values, **hubspot_updates.get(hubspot_id, {})},
                          app_values={**app_values, **app_updates.get(app_id, {})}))
    committed = store.link(sync_name, links)
    # Their values are the base now: what an earlier run left pending for them is settled.
    pending.clear_pending(store, sync_name, hubspot_ids=[link.hubspot_id for link in links], app_ids=[link.app_id for link in links])
    return committed


def record_trailing_pass(step: Step, hubspot: pd.DataFrame, app: pd.DataFrame, plan: MergePlan) -> dict[str, Any]:
    """A first sync, or an incremental run whose reads were a trailing pass, is recorded as a pass
    (``state/trailing.py``); a trailing pass with its late arrivals: the records only it read that were still a
    change (they have a write on the other side in the plan)."""
    if not step.incremental:
        trailing.record_pass(step.store.engine, step.sync.name, kind=trailing.FIRST_SYNC, started_at=step.started, read_from=None,
                             run_id=step.run_id)
        return {}
    read_from = step.trailing_from()
    if read_from is None:
        return {}
    written_from_hubspot = set(plan.app_updates["other_id"].astype(str)) | set(plan.app_creates["ref"].astype(str))
    written_from_app = set(plan.hubspot_updates["other_id"].astype(str)) | set(plan.hubspot_creates["ref"].astype(str))
    late = {side: len(_late_ids(frame) & written) for side, frame, written in
            ((Side.HUBSPOT, hubspot, written_from_hubspot), (Side.APP, app, written_from_app))}
    trailing.record_pass(step.store.engine, step.sync.name, kind=trailing.TRAILING, started_at=step.started, read_from=read_from,
                         late_hubspot=late[Side.HUBSPOT], late_app=late[Side.APP], run_id=step.run_id)
    if any(late.values()):
        step.log.warning(f"trailing pass: {late[Side.HUBSPOT]} HubSpot and {late[Side.APP]} app changes arrived late "
                         "(missed by the fast reads); synced now")
    return {"datasync/trailing_pass": True, "datasync/trailing_read_from": read_from.isoformat(),
            "datasync/late_arrivals/hubspot": late[Side.HUBSPOT], "datasync/late_arrivals/app": late[Side.APP]}


def _late_ids(frame: pd.DataFrame) -> set[str]:
    if LATE not in frame:
        return set()
    return set(frame.loc[frame[LATE].fillna(False).astype(bool), "record_id"].astype(str))


def record_deletions(store: StateStore, sync: SyncSpec, matched: MatchedRecords, *, run_id: str) -> None:
    """Rule 10: a record deleted on one side is not deleted on the other; its pair shows as failing."""
    deletions = matched.deletions
    rows = []
    for hubspot_ids, deleted_in, category in ((deletions.in_hubspot, Side.HUBSPOT, ErrorCategory.DELETED_IN_HUBSPOT),
                                              (deletions.in_app, Side.APP, ErrorCategory.DELETED_IN_APP)):
        if not hubspot_ids:
            continue
        store.mark_deleted(sync.name, hubspot_ids, deleted_in=deleted_in.value)
        survivor_side = deleted_in.other
        where = "HubSpot" if deleted_in is Side.HUBSPOT else f"the app ({app_label(sync)})"
        pairs = store.last_values(sync.name, hubspot_ids=hubspot_ids)
        for hubspot_id, survivor in pairs[["hubspot_id", survivor_side.id_column]].itertuples(index=False):
            merged_into = deletions.merged.get(str(hubspot_id)) if deleted_in is Side.HUBSPOT else None
            message = (f"its linked HubSpot record {hubspot_id} was merged into {merged_into}, which is linked to another app "
                       "record: merge the two app records too" if merged_into else f"its linked record was deleted in {where}")
            rows.append((survivor_side.value, survivor, "failed", str(category), message))
    if rows:
        store.record_outcomes(sync.name, pd.DataFrame(rows, columns=["side", "record_id", "status", "category", "message"]),
                              recorded_by=Recorder.CHECKPOINT, run_id=run_id)


def record_validation(store: StateStore, sync: SyncSpec, matched: MatchedRecords, *, run_id: str) -> None:
    """Invalid rows are failed records (their category names the problem); rows valid again are cleared."""
    for side in Side:
        store.clear_outcomes(sync.name, side.value, getattr(matched, side.value)["record_id"], recorded_by=Recorder.VALIDATION)
    if len(matched.invalid):
        store.record_outcomes(sync.name, matched.invalid.assign(status="failed").rename(columns={"detail": "message"}),
                              recorded_by=Recorder.VALIDATION, run_id=run_id)


def next_watermarks(started: datetime, read: dict[Side, pd.DataFrame], overlaps: dict[Side, timedelta], *,
                    newest_app_deletion: datetime | None = None) -> dict[str, datetime]:
    """Where the next run reads from: everything changed before this run started, less the read overlap, was read.

    Not only the newest change read: after a bulk change sharing one timestamp, that alone would make every
    later run read the whole bulk again through the overlap. Soft-deleted app rows are read apart from the
    changes; the newest of them counts as read too, or the change probe would report it again forever.
    """
    marks = {}
    for side, frame in read.items():
        stamps = frame[frames.MODIFIED_AT].dropna() if frames.MODIFIED_AT in frame else pd.Series(dtype="datetime64[ns, UTC]")
        newest_read = stamps.max().to_pydatetime() if len(stamps) else None
        # Like a change read, but only if stamped before the run started: the changes read after that were
        # not all read yet when the deletions were (a later run counts them).
        deleted = newest_app_deletion if side is Side.APP and newest_app_deletion and newest_app_deletion <= started else None
        marks[side.value] = max(filter(None, [newest_read, deleted, started - overlaps[side]]))
    return marks


def freshness_metadata(plan: MergePlan, hubspot: pd.DataFrame, app: pd.DataFrame) -> dict[str, float]:
    """Lag from a change on the source to now (its write is committed), p50 and p95 in seconds."""
    now = pd.Timestamp.now(tz="UTC")
    lags = []
    for frame, written in ((hubspot, set(plan.app_updates["other_id"]) | set(plan.app_creates["ref"])),
                           (app, set(plan.hubspot_updates["other_id"]) | set(plan.hubspot_creates["ref"]))):
        if frames.MODIFIED_AT in frame and written:
            changed = frame.loc[frame["record_id"].isin(written), frames.MODIFIED_AT].dropna()
            lags.extend((now - changed).dt.total_seconds().tolist())
    if not lags:
        return {}
    series = pd.Series(lags)
    return {"datasync/freshness_p50_seconds": round(float(series.quantile(0.5)), 3),
            "datasync/freshness_p95_seconds": round(float(series.quantile(0.95)), 3),
            "datasync/records_with_freshness": len(lags)}
