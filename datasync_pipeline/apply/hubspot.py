"""Writing a merge plan's HubSpot side: upserts for creates, batch updates, links, outcomes.

Creates are upserts on the custom unique property ``datasync_id`` (``<sync>:<app id>``): a rerun
after a crash finds the record it created before instead of creating it twice, and the next
compare links it back to its app record through that same property.
"""

from __future__ import annotations

import logging
from typing import Any


from datasync_pipeline.apply.outcome import LoadOutcome
from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.engine.frames import ORIGIN_PROPERTY, origin_value, properties_of
from datasync_pipeline.engine.plan import MergePlan, updates_by_record
from datasync_pipeline.objects.catalogue import OBJECT_TYPES, ResolvedMapping
from datasync_pipeline.state import Link, StateStore
from datasync_pipeline.state import echoes, pending


def load_hubspot(
    client: Any,
    store: StateStore,
    sync: SyncSpec,
    mappings: list[ResolvedMapping],
    plan: MergePlan,
    *,
    dry_run: bool,
    run_id: str | None,
    log: logging.Logger | Any,
) -> LoadOutcome:
    outcome = LoadOutcome(target="hubspot", dry_run=dry_run, conflicts=len(plan.conflicts))
    outcome.exclude(plan.excluded[plan.excluded["side"] == "app"])
    updates = updates_by_record(plan.hubspot_updates)
    outcome.unchanged = len(plan.pairs) - len(updates)
    if dry_run:
        outcome.created, outcome.updated = len(plan.hubspot_creates), len(updates)
        return outcome
    # Before any link below: a key another app row holds now is released for it (its old pair: deleted in the app).
    store.release_app_keys(sync.name, plan.released_app_keys)
    # Keeps the last-modified time HubSpot answers each write below with, for the echo ledger.
    client = echoes.StampedWrites(client, OBJECT_TYPES[sync.object].last_modified_property)

    links: list[Link] = []
    creates = plan.hubspot_creates.to_dict("records")
    if creates:
        client.ensure_unique_property(sync.object, ORIGIN_PROPERTY, "datasync record id")
        inputs = []
        for row in creates:
            origin = origin_value(sync.name, row["ref"])
            inputs.append({"ref": row["ref"], "id": origin, "properties": {**properties_of(row, mappings), ORIGIN_PROPERTY: origin}})
        # What these creates will hold, before they are made: a run dying partway is not taken for a user's edits.
        pending.record_pending(store, sync.name, "hubspot", pending.CREATE,
                               {row["ref"]: properties_of(row, mappings) for row in creates}, run_id=run_id)
        log.info(f"creating {len(inputs):,} HubSpot {sync.object}")
        result = client.batch_upsert(sync.object, inputs, id_property=ORIGIN_PROPERTY)
        for row in creates:
            ref = row["ref"]
            if ref in result.results:
                values = properties_of(row, mappings)
                links.append(Link(str(result.results[ref]["id"]), ref, hubspot_values=values, app_values=values))
            elif ref in result.failed:
                outcome.fail("app", ref, result.failed[ref])
        outcome.created = len(result.results)

    if updates:
        pending.record_pending(store, sync.name, "hubspot", pending.UPDATE, updates, run_id=run_id)
        log.info(f"updating {len(updates):,} HubSpot {sync.object}")
        inputs = [{"ref": record_id, "id": record_id, "properties": {k: "" if v is None else str(v) for k, v in props.items()}}
                  for record_id, props in updates.items()]
        result = client.batch_update(sync.object, inputs)
        for record_id, error in result.failed.items():
            outcome.fail("hubspot", record_id, error)
        outcome.updated = len(result.results)

    failed_pairs = {record_id for side, record_id, status, *_ in outcome.rows if side == "hubspot" and status == "failed"}
    # The last-modified time our writes left: the change probe does not take them for changes (state/echoes.py).
    echoes.record_writes(store, sync.name, echoes.HUBSPOT, client.stamps)
    # Links of created records now; pairs that already existed get their new values at the checkpoint,
    # once both loads have committed.
    store.link(sync.name, links)
    pending.clear_pending(store, sync.name, hubspot_ids=[link.hubspot_id for link in links], app_ids=[link.app_id for link in links])
    # What this load recorded before and now wrote (or found nothing to write for) is no longer failing.
    store.clear_outcomes(sync.name, "app", [link.app_id for link in links], recorded_by=outcome.target)
    store.clear_outcomes(sync.name, "hubspot", [h for h in plan.pairs["hubspot_id"] if h not in failed_pairs], recorded_by=outcome.target)
    store.record_outcomes(sync.name, outcome.outcomes_frame(), recorded_by=outcome.target, run_id=run_id)
    return outcome
