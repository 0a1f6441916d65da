"""Matching and planning for ongoing (incremental) sync, on the records that changed.

Changed records that belong to a linked pair are merged three ways against the pair's last synced
values; changed records without a pair are new (or were excluded before) and go through the
first-sync matching against the candidates looked up on the other side, so a new record is matched
before anything is created. Pairs whose record was deleted on one side stop syncing (rule 10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from datasync_pipeline.engine.match import MatchResult
from datasync_pipeline.engine.plan import MergePlan, external_ids_to_fill, plan_first_sync
from datasync_pipeline.engine.three_way import merge_three_way, pairs_with_values
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.vocabulary import Direction, Side

PAIR_VALUE_COLUMNS = ["hubspot_id", "app_id", "hubspot_values", "app_values"]


@dataclass
class Deletions:
    """Pairs whose record is gone on one side (hubspot ids), found in this run or known before."""

    in_hubspot: list[str] = field(default_factory=list)
    in_app: list[str] = field(default_factory=list)
    known: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["hubspot_id", "app_id", "status"]))
    newest_app_deletion: datetime | None = None  # the newest ``updated_at`` among the soft-deleted rows read
    # Pairs whose app key now names another row (hubspot id -> key): released for that row (engine/reused_keys.py).
    reused_app_keys: dict[str, str] = field(default_factory=dict)
    # Pairs whose HubSpot record was merged into another that is linked already (hubspot id -> the survivor's id).
    merged: dict[str, str] = field(default_factory=dict)


@dataclass
class MatchedRecords:
    """What the matched step hands to the merge plan, in either mode."""

    mode: str
    new: MatchResult  # records without a pair, matched among themselves and their looked-up candidates
    hubspot: pd.DataFrame  # the HubSpot records the plan works on (record_id + fields)
    app: pd.DataFrame  # the app records the plan works on
    changed_pairs: pd.DataFrame  # incremental: linked pairs with a change, and their last synced values
    deletions: Deletions
    invalid: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["side", "record_id", "category", "detail"]))

    @property
    def counts(self) -> dict[str, int]:
        return {**self.new.counts, "changed_pairs": len(self.changed_pairs), "invalid": len(self.invalid),
                "deleted_in_hubspot": len(self.deletions.in_hubspot), "deleted_in_app": len(self.deletions.in_app)}


def plan_matched(matched: MatchedRecords, mappings: list[ResolvedMapping], *, direction: Direction, default_app: Side) -> MergePlan:
    """The complete plan of a run, in either mode: what each load writes, the pairs with the values each side holds
    before the loads (what the checkpoint commits as the next base), and the app keys to release first."""
    if matched.mode == "incremental":
        plan = plan_incremental(matched, mappings, direction=direction, default_app=default_app)
    else:
        plan = plan_first_sync(matched.new, matched.hubspot, matched.app, mappings, direction=direction, default_app=default_app)
    plan.released_app_keys = dict(matched.deletions.reused_app_keys)
    fields = [m.hubspot for m in mappings]
    base = matched.changed_pairs.set_index("hubspot_id") if len(matched.changed_pairs) else None
    plan.pairs = plan.pairs.reset_index(drop=True)
    for side in Side:
        base_values = plan.pairs["hubspot_id"].map(base[f"{side}_values"]) if base is not None else None
        plan.pairs[f"{side}_values"] = side_values(plan.pairs, getattr(matched, side.value), side.id_column, fields, base_values)
    return plan


def plan_incremental(
    matched: MatchedRecords, mappings: list[ResolvedMapping], *, direction: Direction, default_app: Side
) -> MergePlan:
    """The first-sync plan of the new records, plus the three-way merge of the changed pairs."""
    fields = [m.hubspot for m in mappings]
    plan = plan_first_sync(matched.new, matched.hubspot, matched.app, mappings, direction=direction, default_app=default_app)
    if matched.changed_pairs.empty:
        return plan
    laid_out = pairs_with_values(matched.changed_pairs, matched.hubspot, matched.app, fields)
    to_hubspot, to_app, conflicts = merge_three_way(laid_out, mappings, direction=direction, default_app=default_app)
    changed = matched.changed_pairs[["hubspot_id", "app_id"]].assign(matched_by="state")
    plan.pairs = pd.concat([plan.pairs, changed], ignore_index=True)
    # A changed row whose external-id column does not hold its pair's HubSpot id (a link moved by a merge) gets it.
    plan.app_external_ids = _concat(plan.app_external_ids, external_ids_to_fill(changed, matched.app))
    plan.hubspot_updates = _concat(plan.hubspot_updates, to_hubspot)
    plan.app_updates = _concat(plan.app_updates, to_app)
    plan.conflicts = _concat(plan.conflicts, conflicts)
    plan.counts.update({
        "matched": len(plan.pairs),
        "hubspot_updates": plan.hubspot_updates["record_id"].nunique(),
        "app_updates": plan.app_updates["record_id"].nunique(),
        "conflicts": len(plan.conflicts),
    })
    return plan


def _concat(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    if second.empty:
        return first
    if first.empty:
        return second.reset_index(drop=True)
    return pd.concat([first, second], ignore_index=True)


def side_values(pairs: pd.DataFrame, frame: pd.DataFrame, id_column: str, fields: list[str], base: pd.Series | None = None) -> list[dict]:
    """Per pair, the values one side holds before the load: from its frame, else its last synced values."""
    current = frame.drop_duplicates("record_id").set_index("record_id")[fields]
    values = []
    for index, record_id in zip(pairs.index, pairs[id_column]):
        if record_id in current.index:
            row = current.loc[record_id]
            values.append({k: v for k, v in row.items() if v is not None and not pd.isna(v)})
        elif base is not None and isinstance(base.get(index), dict):
            values.append(dict(base[index]))
        else:
            values.append({})
    return values
