"""Writing a merge plan's app side through its connector: idempotent creates, updates, links.

Where the app keeps the linked HubSpot id on its records (the SQL external-id column), every linked record
keeps it, not only the records the sync creates: matched records that hold none or another id get it with
their updates.
"""

from __future__ import annotations

import logging
from typing import Any


from datasync_pipeline.apply.outcome import LoadOutcome
from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.engine.plan import MergePlan, updates_by_record
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.state import Link, StateStore
from datasync_pipeline.state import echoes, pending


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
    external_ids = _external_ids_to_write(connector, sync, plan, store, dry_run=dry_run)
    to_update = list(dict.fromkeys([*updates, *external_ids]))
    # Filling the external-id column is bookkeeping, not a synced change: counted apart from the updates.
    outcome.unchanged = len(plan.pairs) - len(updates)
    if dry_run:
        outcome.created, outcome.updated, outcome.external_ids_written = len(plan.app_creates), len(updates), len(external_ids)
        return outcome

    links: list[Link] = []
    creates = plan.app_creates.to_dict("records")
    if creates:
        log.info(f"creating {len(creates):,} records in {connector.describe()}")
        records = [{"_ref": row["ref"], **{m.hubspot: row.get(m.hubspot) for m in mappings}} for row in creates]
        # What these rows will hold, before they are inserted: a run dying partway is not taken for a user's edits.
        pending.record_pending(store, sync.name, "app", pending.CREATE, {row["ref"]: _created_values(row, mappings) for row in creates},
                               run_id=run_id)
        result = connector.create(records)
        for row in creates:
            ref = row["ref"]
            if ref in result.written:
                values = _created_values(row, mappings)
                links.append(Link(ref, str(result.written[ref]), hubspot_values=values, app_values=values))
            elif ref in result.failed:
                outcome.fail("hubspot", ref, result.failed[ref])
        outcome.created = len(result.written)

    if to_update:
        log.info(f"updating {len(to_update):,} records of {connector.describe()}")
        pending.record_pending(store, sync.name, "app", pending.UPDATE, updates, run_id=run_id)
        result = connector.update(updates, origins=external_ids)
        for record_id, error in result.failed.items():
            outcome.fail("app", str(record_id), error)
        outcome.updated = sum(1 for record_id in result.written if str(record_id) in updates)
        outcome.external_ids_written = sum(1 for record_id in result.written if str(record_id) in external_ids)

    failed_rows = {record_id for side, record_id, status, *_ in outcome.rows if side == "app" and status == "failed"}
    # The updated_at our writes left: the change probe does not take them for changes (state/echoes.py).
    echoes.record_writes(store, sync.name, echoes.APP, connector.written_stamps())
    # Links of created records now; pairs that already existed get their new values at the checkpoint.
    store.link(sync.name, links)
    pending.clear_pending(store, sync.name, hubspot_ids=[link.hubspot_id for link in links], app_ids=[link.app_id for link in links])
    # What this load recorded before and now wrote (or found nothing to write for) is no longer failing.
    store.clear_outcomes(sync.name, "hubspot", [link.hubspot_id for link in links], recorded_by=outcome.target)
    store.clear_outcomes(sync.name, "app", [a for a in plan.pairs["app_id"] if a not in failed_rows], recorded_by=outcome.target)
    store.record_outcomes(sync.name, outcome.outcomes_frame(), recorded_by=outcome.target, run_id=run_id)
    return outcome


def _created_values(row: dict[str, Any], mappings: list[ResolvedMapping]) -> dict[str, Any]:
    """The mapped values an app row is created with (both sides hold them once it exists)."""
    return {m.hubspot: row[m.hubspot] for m in mappings if row.get(m.hubspot) is not None}


def _external_ids_to_write(connector: Any, sync: SyncSpec, plan: MergePlan, store: StateStore, *, dry_run: bool) -> dict[str, str]:
    """Per app record that does not keep its linked HubSpot id yet (the SQL external-id column), that id.

    Matched rows whose column is empty or different (from the plan), and rows this run has just created in
    HubSpot: the HubSpot load runs first (``<sync>/app_load`` depends on it) and linked them.
    """
    if not connector.keeps_origins:
        return {}
    fill = getattr(plan, "app_external_ids", None)
    wanted = {} if fill is None or fill.empty else {
        str(app_id): str(hubspot_id) for app_id, hubspot_id in fill[["record_id", "hubspot_id"]].itertuples(index=False)}
    if not dry_run and len(plan.hubspot_creates):
        created = store.last_values(sync.name, app_ids=plan.hubspot_creates["ref"])
        wanted.update({str(app_id): str(hubspot_id) for hubspot_id, app_id in created[["hubspot_id", "app_id"]].itertuples(index=False)})
    return wanted
