"""Keeping a sync's associations (rule 8): read HubSpot's, plan against the app's, write both sides.

Runs after the loads of the sync and of its partner syncs (the syncs of the associated objects), so
every pair either load linked is known. Writes are idempotent: a HubSpot association is created
only where HubSpot lacks it, and an app column is set only where it differs, so a rerun plans nothing.

Failures are kept in the state store with ``recorded_by="associations"``: the loads clear only what
they recorded, so a load rerun does not hide an association that could not be carried over, and
this step clears its own entries once the association is in sync.

Each association is planned against what both sides held after the last sync (the base, in
``state/association_bases.py``), so a change on one side flows to the other instead of being taken
for a disagreement; the bases are kept once the writes are made (not for records whose write
failed, so the change stays pending), conflicts are logged with the field conflicts, and the
``updated_at`` the app writes leave go to the echo ledger (``state/echoes.py``).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from datasync_pipeline.config.model import AssociationSpec, SyncSpec
from datasync_pipeline.engine.associations import AssociationPlan, hubspot_targets, plan_associations
from datasync_pipeline.engine.frames import association_column
from datasync_pipeline.errors import RecordError
from datasync_pipeline.objects.catalogue import AssociationKind
from datasync_pipeline.state import StateStore, echoes, journal
from datasync_pipeline.state.association_bases import read_bases, save_bases
from datasync_pipeline.sync.own_writes import app_lister, settle_past_own_writes
from datasync_pipeline.sync.step import ApiCalls, Step
from datasync_pipeline.vocabulary import Recorder, Side

RECORDED_BY = Recorder.ASSOCIATIONS
CONFLICT_FIELD = "association:{}"  # the conflict log's field name of an association, e.g. association:companies


@dataclass(frozen=True)
class AssociationTarget:
    """One association a sync keeps: the app column, HubSpot's association kind, the partner sync's name."""

    spec: AssociationSpec
    kind: AssociationKind
    partner: str


@dataclass
class AssociationOutcome:
    """What the associations step did, counted per associated object and in all."""

    dry_run: bool = False
    pairs: int = 0
    created_in_hubspot: int = 0
    updated_in_app: int = 0
    unchanged: int = 0
    conflicts: int = 0
    failed: Counter = field(default_factory=Counter)  # by error category
    by_object: dict[str, Counter] = field(default_factory=dict)
    rows: dict[tuple[str, str], tuple[str, list[str]]] = field(default_factory=dict)  # (side, id) -> category, messages

    def fail(self, associated_object: str, side: str, record_id: str, category: str, message: str) -> None:
        self.failed[category] += 1
        self.count(associated_object, "failed")
        key = (side, str(record_id))
        if key in self.rows:
            self.rows[key][1].append(message)  # one record, several associations: one state row, every reason
        else:
            self.rows[key] = (category, [message])

    def count(self, associated_object: str, name: str, n: int = 1) -> None:
        self.by_object.setdefault(associated_object, Counter())[name] += n

    def outcomes_frame(self) -> pd.DataFrame:
        rows = [(side, record_id, "failed", category, "; ".join(messages)) for (side, record_id), (category, messages) in self.rows.items()]
        return pd.DataFrame(rows, columns=["side", "record_id", "status", "category", "message"])

    def metadata(self) -> dict[str, Any]:
        counts: dict[str, Any] = {
            "dagster/row_count": self.created_in_hubspot + self.updated_in_app,
            "datasync/dry_run": self.dry_run,
            "datasync/pairs": self.pairs,
            "datasync/associations_created_in_hubspot": self.created_in_hubspot,
            "datasync/associations_updated_in_app": self.updated_in_app,
            "datasync/associations_unchanged": self.unchanged,
            "datasync/conflicts": self.conflicts,
            "datasync/failed": sum(self.failed.values()),
        }
        counts.update({f"datasync/failed/{category}": n for category, n in sorted(self.failed.items())})
        return counts


def associations_step(step: Step, targets: list[AssociationTarget], app: pd.DataFrame) -> dict[str, Any]:
    """``<sync>/associations``: the associations planned and written on both sides, and the step's metadata.

    A first sync plans every pair. An incremental run plans the pairs whose app row changed, and the pairs of the
    HubSpot records the webhooks journal named (their association changed, or they were merged; ``state/journal.py``),
    their app rows read by key. A reconciling run re-reads every association (HubSpot does not date association
    changes), unless the journal vouches for every change since the last full read.
    """
    calls = ApiCalls(step.client)
    if not step.dry_run:
        step.before_writing()
    side = step.app()
    journaled = step.journal_targets()
    every = not step.incremental or step.rereads_every_association(journaled)
    targeted = [] if every else list(dict.fromkeys([*journaled.associations, *journaled.records]))
    outcome = load_associations(step.client, side, step.store, step.sync, targets, app, dry_run=step.dry_run,
                                changed_only=not every, hubspot_ids=targeted, run_id=step.run_id, log=step.log)
    if not step.dry_run:  # the records it set are its own writes too: past them when nothing else changed
        settle_past_own_writes(step.store, step.sync.name, Side.APP, app_lister(side), run_id=step.run_id)
        journal.settle(step.store.engine, step.sync.name, [journal.ASSOCIATION, journal.FULL], recorded_before=step.started)
    by_object = {name: dict(counts) for name, counts in outcome.by_object.items()}
    return {**outcome.metadata(), "datasync/associations_by_object": by_object, "datasync/associations_read_in_full": every,
            "datasync/journal_targets": len(targeted), **calls.metadata()}


def plan_sync_associations(
    client: Any, store: StateStore, sync: SyncSpec, targets: list[AssociationTarget], app: pd.DataFrame, *, changed_only: bool = False,
    hubspot_ids: list[str] | None = None, connector: Any = None,
) -> tuple[pd.DataFrame, list[tuple[AssociationTarget, AssociationPlan]]]:
    """This sync's pairs and one plan per association, from the state store, HubSpot and the app frame.

    A full read of the app (first sync) holds every row, so a linked row missing from it was created
    by this run, without association. An incremental read holds only changed rows: the others' keys
    are unknown, so only the pairs of changed rows are planned (``changed_only``); a row created in the
    app by this run comes back as changed in the next run and gets its association then. ``hubspot_ids``
    (with ``changed_only``): pairs to plan too, whose association changed in HubSpot; their app rows are read by
    key from ``connector`` (the app's ``AppConnector``) where the changed rows do not hold them.
    """
    pairs = store.known_pairs(sync.name, status="synced")  # a pair deleted on one side stops syncing (rule 10)
    if changed_only:
        named = pairs["hubspot_id"].astype(str).isin([str(i) for i in hubspot_ids or []])
        changed = pairs["app_id"].astype(str).isin(app["record_id"].astype(str))
        missing = pairs.loc[named & ~changed, "app_id"].astype(str).tolist()
        if missing and connector is not None:
            app = pd.concat([app, connector.read_by_ids(missing)], ignore_index=True) if len(app) else connector.read_by_ids(missing)
        pairs = pairs[pairs["app_id"].astype(str).isin(app["record_id"].astype(str))].reset_index(drop=True)
    hubspot_ids = pairs["hubspot_id"].astype(str).tolist()
    app_by_id = app.set_index(app["record_id"].astype(str))
    plans = []
    for target in targets:
        links = client.read_associations(sync.object, target.kind.to_object, hubspot_ids) if hubspot_ids else {}
        column = association_column(target.spec.object)
        app_keys = app_by_id[column] if column in app_by_id else pd.Series(dtype=object)
        plan = plan_associations(
            pairs, store.known_pairs(target.partner), app_keys, hubspot_targets(links, target.kind),
            kind=target.kind, direction=sync.direction, default_app=sync.default_app, partner_name=target.partner,
            base=read_bases(store.engine, sync.name, target.spec.object, hubspot_ids),
        )
        plans.append((target, plan))
    return pairs, plans


def load_associations(
    client: Any,
    connector: Any,
    store: StateStore,
    sync: SyncSpec,
    targets: list[AssociationTarget],
    app: pd.DataFrame,
    *,
    dry_run: bool,
    run_id: str | None,
    log: logging.Logger | Any,
    changed_only: bool = False,
    hubspot_ids: list[str] | None = None,
) -> AssociationOutcome:
    pairs, plans = plan_sync_associations(client, store, sync, targets, app, changed_only=changed_only, hubspot_ids=hubspot_ids,
                                          connector=connector)
    outcome = AssociationOutcome(dry_run=dry_run, pairs=len(pairs))
    for target, plan in plans:
        name = target.spec.object
        outcome.conflicts += plan.counts["conflicts"]
        outcome.unchanged += plan.counts["unchanged"]
        outcome.count(name, "conflicts", plan.counts["conflicts"])
        for side, record_id, category, message in plan.failures.itertuples(index=False):
            outcome.fail(name, side, record_id, category, message)
    if dry_run:
        for target, plan in plans:
            outcome.created_in_hubspot += len(plan.hubspot_creates)
            outcome.updated_in_app += len(plan.app_updates)
            outcome.count(target.spec.object, "created_in_hubspot", len(plan.hubspot_creates))
            outcome.count(target.spec.object, "updated_in_app", len(plan.app_updates))
        return outcome

    for target, plan in plans:
        _write_hubspot(client, sync, target, plan, outcome, log)
    stamps = _write_app(connector, sync, plans, outcome, log)
    echoes.record_writes(store, sync.name, echoes.APP, stamps)
    _keep_bases(store, sync, plans, failed=set(outcome.rows), hubspot_ids=pairs["hubspot_id"].astype(str))
    store.record_conflicts(sync.name, _conflict_log(plans), run_id=run_id)

    store.clear_outcomes(sync.name, "hubspot", pairs["hubspot_id"].astype(str), recorded_by=RECORDED_BY)
    store.clear_outcomes(sync.name, "app", pairs["app_id"].astype(str), recorded_by=RECORDED_BY)
    store.record_outcomes(sync.name, outcome.outcomes_frame(), recorded_by=RECORDED_BY, run_id=run_id)
    return outcome


def _write_hubspot(client: Any, sync: SyncSpec, target: AssociationTarget, plan: AssociationPlan,
                   outcome: AssociationOutcome, log: logging.Logger | Any) -> None:
    name = target.spec.object
    if len(plan.hubspot_removals):
        client.archive_associations(sync.object, name, list(plan.hubspot_removals[["from_id", "to_id"]].itertuples(index=False, name=None)))
    if plan.hubspot_creates.empty:
        return
    log.info(f"associating {len(plan.hubspot_creates):,} HubSpot {sync.object} with their {name}")
    inputs = [
        {"ref": str(from_id), "from_id": str(from_id), "to_id": str(to_id), "type_id": int(type_id), "category": "HUBSPOT_DEFINED"}
        for from_id, to_id, type_id in plan.hubspot_creates[["from_id", "to_id", "type_id"]].itertuples(index=False)
    ]
    result = client.create_associations(sync.object, name, inputs)
    for ref, error in result.failed.items():
        outcome.fail(name, "hubspot", ref, str(error.category), f"associating its {name}: {error.message}")
    outcome.created_in_hubspot += len(result.results)
    outcome.count(name, "created_in_hubspot", len(result.results))


def _keep_bases(store: StateStore, sync: SyncSpec, plans: list[tuple[AssociationTarget, AssociationPlan]],
                *, failed: set[tuple[str, str]], hubspot_ids: pd.Series) -> None:
    """What both sides hold now becomes the base of the next run, except where a write failed."""
    for target, plan in plans:
        synced = plan.synced
        done = ~(synced["hubspot_id"].map(lambda h: ("hubspot", str(h)) in failed) | synced["app_id"].map(lambda a: ("app", str(a)) in failed))
        previous = read_bases(store.engine, sync.name, target.spec.object, hubspot_ids)
        save_bases(store.engine, sync.name, target.spec.object, synced[done.astype(bool)], previous)


def _conflict_log(plans: list[tuple[AssociationTarget, AssociationPlan]]) -> pd.DataFrame:
    """Association conflicts in the shape of the field conflict log (``state/progress.py``)."""
    frames = [plan.conflicts.assign(field=CONFLICT_FIELD.format(target.spec.object)) for target, plan in plans if len(plan.conflicts)]
    columns = ["hubspot_id", "app_id", "field", "hubspot_value", "app_value", "winner"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _write_app(connector: Any, sync: SyncSpec, plans: list[tuple[AssociationTarget, AssociationPlan]],
               outcome: AssociationOutcome, log: logging.Logger | Any) -> dict[str, Any]:
    """One write per app record, setting every association that changes; returns the records' new modification times."""
    keys_by_record: dict[str, dict[str, str | None]] = {}
    for target, plan in plans:
        for app_id, value in plan.app_updates[["app_id", "value"]].itertuples(index=False):
            keys_by_record.setdefault(str(app_id), {})[target.spec.object] = value
    if not keys_by_record:
        return {}
    log.info(f"setting the associations of {len(keys_by_record):,} records of {connector.describe()}")
    result = connector.set_associations(keys_by_record)
    for app_id, by_object in keys_by_record.items():
        if app_id in result.written:
            outcome.updated_in_app += len(by_object)
            for name in by_object:
                outcome.count(name, "updated_in_app")
        elif app_id in result.failed:
            error: RecordError = result.failed[app_id]
            for name in by_object:
                outcome.fail(name, "app", app_id, str(error.category), f"setting its {name}: {error.message}")
    return dict(result.stamped)
