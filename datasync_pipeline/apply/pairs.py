"""Committing the values of linked pairs after a run's loads: the base of the next three-way merge.

Done once both loads have committed (the checkpoint step), never by one load alone: if one side's
write is lost to a crash, the pair keeps its old base and the next run sees the change again.
Pairs with a failed write keep their old base too, so a retry finds the change still pending.
"""

from __future__ import annotations

from datasync_pipeline.engine.plan import MergePlan, updates_by_record
from datasync_pipeline.state import Link, StateStore, pending


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
