"""Writing a merge plan's app side: idempotent inserts (on the external-id column), updates, links."""

from __future__ import annotations

import logging
from typing import Any


from datasync_pipeline.apply.outcome import LoadOutcome
from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.engine.frames import app_columns, columns_of
from datasync_pipeline.engine.plan import MergePlan, updates_by_record
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.state import Link, StateStore


def load_app(
    connector: Any,
    store: StateStore,
    sync: SyncSpec,
    mappings: list[ResolvedMapping],
    plan: MergePlan,
    *,
    dry_run: bool,
    run_id: str | None,
    log: logging.Logger | Any,
) -> LoadOutcome:
    outcome = LoadOutcome(target="app", dry_run=dry_run, conflicts=len(plan.conflicts))
    outcome.exclude(plan.excluded[plan.excluded["side"] == "hubspot"])
    updates = updates_by_record(plan.app_updates)
    outcome.unchanged = len(plan.pairs) - len(updates)
    if dry_run:
        outcome.created, outcome.updated = len(plan.app_creates), len(updates)
        return outcome

    links: list[Link] = []
    creates = plan.app_creates.to_dict("records")
    if creates:
        log.info(f"inserting {len(creates):,} rows into {sync.table.name}")
        rows = []
        for row in creates:
            columns = columns_of(row, mappings)
            if sync.table.external_id:
                columns[sync.table.external_id] = row["ref"]
            rows.append({"_ref": row["ref"], **columns})
        result = connector.insert(rows)
        for row in creates:
            ref = row["ref"]
            if ref in result.written:
                values = {m.hubspot: row[m.hubspot] for m in mappings if row.get(m.hubspot) is not None}
                links.append(Link(ref, str(result.written[ref]), hubspot_values=values, app_values=values))
            elif ref in result.failed:
                outcome.fail("hubspot", ref, result.failed[ref])
        outcome.created = len(result.written)

    if updates:
        log.info(f"updating {len(updates):,} rows of {sync.table.name}")
        rows = [{sync.table.key: record_id, **app_columns(values, mappings)} for record_id, values in updates.items()]
        result = connector.update(rows)
        for record_id, error in result.failed.items():
            outcome.fail("app", str(record_id), error)
        outcome.updated = len(result.written)

    failed_rows = {record_id for side, record_id, status, *_ in outcome.rows if side == "app" and status == "failed"}
    # Links of created records now; pairs that already existed get their new values at the checkpoint.
    store.link(sync.name, links)
    # What this load recorded before and now wrote (or found nothing to write for) is no longer failing.
    store.clear_outcomes(sync.name, "hubspot", [link.hubspot_id for link in links], recorded_by=outcome.target)
    store.clear_outcomes(sync.name, "app", [a for a in plan.pairs["app_id"] if a not in failed_rows], recorded_by=outcome.target)
    store.record_outcomes(sync.name, outcome.outcomes_frame(), recorded_by=outcome.target, run_id=run_id)
    return outcome
