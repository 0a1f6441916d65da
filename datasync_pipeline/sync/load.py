"""Writing one side's part of a merge plan through that side's connector: idempotent creates, updates, links.

One function for both sides (``load``): HubSpot's side is a ``HubSpotSide`` over the sync's account whose creates
are upserts on ``datasync_id`` (``<sync>:<app id>``), the app's side is whatever connector the app's kind has
(the SQL external-id column, a second portal's origin property). Either way a rerun after a crash finds the
record it created before instead of creating it twice, and the next compare links it back through that id.

Each load owns the records flowing into its side: their creates and updates, their failures (a failed create
is recorded against the record it comes from), and the exclusions of the records that would have come to it,
so the two loads never write the same state rows. Before it calls the other side, a load records what it is
about to write (``state/pending.py``), so that a run dying partway is not taken for a user's edits.

Where the app keeps the linked HubSpot id on its records (the SQL external-id column), every linked record
keeps it, not only the records the sync creates: matched records that hold none or another id get it with
their updates.

The two loads run side by side (``load_step``): the HubSpot load waits on the account's rate limit, the app's
writes need none of it, so the app load's time hides in the HubSpot load's instead of following it. The one
thing the app load needs from the HubSpot load, the ids of the records it created for app rows, it writes last,
once the HubSpot load has linked them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.connectors.base import REFERENCE, AppConnector
from datasync_pipeline.engine.frames import has_value
from datasync_pipeline.engine.plan import MergePlan, updates_by_record
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.state import Link, StateStore, echoes, pending
from datasync_pipeline.sync.outcome import LoadOutcome
from datasync_pipeline.sync.step import ApiCalls, Step
from datasync_pipeline.vocabulary import Recorder, Side


@dataclass
class LoadsWritten:
    """What the two loads of a step did: the metadata of each load that finished, and the first failure, if any."""

    metadata: dict[Side, dict[str, Any]]
    error: BaseException | None = None


def load_step(step: Step, plan: MergePlan) -> LoadsWritten:
    """``<sync>/hubspot_load`` and ``<sync>/app_load``: both sides' parts of the plan written side by side, and each
    load's metadata.

    The plan's conflicts are logged first: before either side is written, so a crash between the loads and the
    checkpoint cannot lose them (a rerun finds the pair converged and sees no conflict any more). A load that fails
    stops nothing of the other's (each side's writes are idempotent and recorded as pending first); the caller
    reports what finished, then the failure.
    """
    logged = 0
    if not step.dry_run:
        step.before_writing()
        logged = step.store.record_conflicts(step.sync.name, plan.conflicts, run_id=step.run_id)
    calls = ApiCalls(step.client)
    writers = {side: step.writer(side) for side in Side}  # opened here, not in the threads: each side opens once

    def write(side: Side, hubspot_linked: Callable[[], bool] | None = None) -> LoadOutcome:
        return load(side, writers[side], step.store, step.sync, step.mappings, plan, dry_run=step.dry_run, run_id=step.run_id,
                    log=step.log, hubspot_linked=hubspot_linked)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="datasync-load") as pool:
        to_hubspot = pool.submit(write, Side.HUBSPOT)
        to_app = pool.submit(write, Side.APP, lambda: to_hubspot.exception() is None)
        futures = {Side.HUBSPOT: to_hubspot, Side.APP: to_app}
        errors = [future.exception() for future in futures.values()]
    written = LoadsWritten({side: future.result().metadata() for side, future in futures.items() if future.exception() is None},
                           next((error for error in errors if error is not None), None))
    if Side.HUBSPOT in written.metadata:
        written.metadata[Side.HUBSPOT].update({"datasync/conflicts_logged": logged, **calls.metadata()})
    return written


def load(
    side: Side,
    writer: AppConnector,
    store: StateStore,
    sync: SyncSpec,
    mappings: list[ResolvedMapping],
    plan: MergePlan,
    *,
    dry_run: bool,
    run_id: str | None,
    log: logging.Logger | Any,
    hubspot_linked: Callable[[], bool] | None = None,
) -> LoadOutcome:
    """Write the creates and updates the plan has for ``side`` with ``writer``, link what was created, and record
    each record's outcome. A dry run counts what it would write and writes nothing.

    The app load running beside the HubSpot load passes ``hubspot_linked``: it waits for the HubSpot load and says
    whether it succeeded; the app rows it created records for get their HubSpot ids only then, last. Without it the
    HubSpot load has run before.
    """
    source = side.other
    outcome = LoadOutcome(target=side.value, dry_run=dry_run, conflicts=len(plan.conflicts))
    outcome.exclude(plan.excluded[plan.excluded["side"] == source.value])
    updates = updates_by_record(plan.updates_for(side))
    creates = plan.creates_for(side)
    origins = _origins_to_write(side, writer, sync, plan, store, dry_run=dry_run, created_in_hubspot=hubspot_linked is None)
    outcome.unchanged = len(plan.pairs) - len(updates)
    if dry_run:
        outcome.created, outcome.updated, outcome.external_ids_written = len(creates), len(updates), len(origins)
        return outcome
    if side is Side.HUBSPOT:
        # Before any link below: a key another app row holds now is released for it (its old pair: deleted in the app).
        store.release_app_keys(sync.name, plan.released_app_keys)

    links: list[Link] = []
    rows = creates.to_dict("records")
    if rows:
        log.info(f"creating {len(rows):,} records in {writer.describe()}")
        created_values = {row["ref"]: _created_values(row, mappings) for row in rows}
        pending.record_pending(store, sync.name, side.value, pending.CREATE, created_values, run_id=run_id)
        result = writer.create([{REFERENCE: row["ref"], **{m.hubspot: row.get(m.hubspot) for m in mappings}} for row in rows])
        for reference, values in created_values.items():
            if reference in result.written:
                new_id = str(result.written[reference])
                hubspot_id, app_id = (new_id, reference) if side is Side.HUBSPOT else (reference, new_id)
                links.append(Link(hubspot_id, app_id, hubspot_values=values, app_values=values))
            elif reference in result.failed:
                outcome.fail(source.value, reference, result.failed[reference])
        outcome.created = len(result.written)

    to_update = list(dict.fromkeys([*updates, *origins]))
    if to_update:
        log.info(f"updating {len(to_update):,} records of {writer.describe()}")
        pending.record_pending(store, sync.name, side.value, pending.UPDATE, updates, run_id=run_id)
        result = writer.update(updates, origins=origins)
        for record_id, error in result.failed.items():
            outcome.fail(side.value, str(record_id), error)
        outcome.updated = sum(1 for record_id in result.written if str(record_id) in updates)
        # Filling the external-id column is bookkeeping, not a synced change: counted apart from the updates.
        outcome.external_ids_written = sum(1 for record_id in result.written if str(record_id) in origins)
    failed_here = {record_id for failed_side, record_id, status, *_ in outcome.rows if failed_side == side.value and status == "failed"}
    # The modification times our writes left: the change probe does not take them for changes (state/echoes.py).
    echoes.record_writes(store, sync.name, side.value, writer.written_stamps())
    # Links of created records now; pairs that already existed get their new values at the checkpoint, once both
    # loads have committed.
    store.link(sync.name, links)
    pending.clear_pending(store, sync.name, hubspot_ids=[link.hubspot_id for link in links], app_ids=[link.app_id for link in links])
    # What this load recorded before and now wrote (or found nothing to write for) is no longer failing.
    recorder = Recorder.load_of(side)
    created_from = [link.app_id if side is Side.HUBSPOT else link.hubspot_id for link in links]
    store.clear_outcomes(sync.name, source.value, created_from, recorded_by=recorder)
    store.clear_outcomes(sync.name, side.value, [record_id for record_id in plan.pairs[side.id_column] if record_id not in failed_here],
                         recorded_by=recorder)
    store.record_outcomes(sync.name, outcome.outcomes_frame(), recorded_by=recorder, run_id=run_id)
    if hubspot_linked is not None and hubspot_linked():
        _write_created_origins(writer, store, sync, plan, outcome, run_id=run_id)
    return outcome


def _write_created_origins(writer: AppConnector, store: StateStore, sync: SyncSpec, plan: MergePlan, outcome: LoadOutcome, *,
                           run_id: str | None) -> None:
    """Beside the HubSpot load, last: the app rows it created records for get their new HubSpot ids."""
    origins = _origins_to_write(Side.APP, writer, sync, plan, store, dry_run=False, matched=False)
    if not origins:
        return
    result = writer.update({}, origins=origins)
    failed = len(outcome.rows)
    for record_id, error in result.failed.items():
        outcome.fail(Side.APP.value, str(record_id), error)
    outcome.external_ids_written += sum(1 for record_id in result.written if str(record_id) in origins)
    echoes.record_writes(store, sync.name, Side.APP.value, {ref: stamp for ref, stamp in writer.written_stamps().items() if ref in origins})
    if len(outcome.rows) > failed:
        store.record_outcomes(sync.name, outcome.outcomes_frame().iloc[failed:], recorded_by=Recorder.APP_LOAD, run_id=run_id)


def _created_values(row: dict[str, Any], mappings: list[ResolvedMapping]) -> dict[str, Any]:
    """The mapped values a record is created with (both sides hold them once it exists): fields without a value
    (None, NaN, blank text) are left out, as the create leaves them empty."""
    return {m.hubspot: row[m.hubspot] for m in mappings if has_value(row.get(m.hubspot))}


def _origins_to_write(side: Side, writer: AppConnector, sync: SyncSpec, plan: MergePlan, store: StateStore, *,
                      dry_run: bool, matched: bool = True, created_in_hubspot: bool = True) -> dict[str, str]:
    """Per app record that does not keep its linked HubSpot id yet (the SQL external-id column), that id.

    ``matched``: rows whose column is empty or different (from the plan); ``created_in_hubspot``: rows this run
    has just created in HubSpot, once the HubSpot load has linked them (``<sync>/app_load`` depends on it).
    HubSpot's own records keep their origin (``datasync_id``) only where the sync created them.
    """
    if side is Side.HUBSPOT or not writer.keeps_origins:
        return {}
    fill = plan.app_external_ids
    wanted = {} if not matched or fill is None or fill.empty else {
        str(app_id): str(hubspot_id) for app_id, hubspot_id in fill[["record_id", "hubspot_id"]].itertuples(index=False)}
    if created_in_hubspot and not dry_run and len(plan.hubspot_creates):
        created = store.last_values(sync.name, app_ids=plan.hubspot_creates["ref"])
        wanted.update({str(app_id): str(hubspot_id) for hubspot_id, app_id in created[["hubspot_id", "app_id"]].itertuples(index=False)})
    return wanted
