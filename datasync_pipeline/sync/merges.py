"""Following HubSpot merges: the link of a record merged into another moves to the survivor, or stops.

HubSpot merges two contacts (companies, deals, tickets) into one: the survivor keeps its id, lists the merged ids
in ``hs_merged_object_ids`` and moves its last-modified time (so a change read sees it); the merged id leaves the
lists and search, and a read by it answers the survivor (``HUBSPOT_API.md``; the sandbox's ``merge.py``). Without
following it, the merged record's pair would keep pointing at an id that no longer exists, and the survivor could
look new. So, before matching, for each survivor read whose merged ids name linked pairs:

- a survivor not linked yet takes over the link of the (first) merged record: the pair now joins the survivor and
  the app record, with the merged record's last synced values as its base, so the merge's values reach the app by
  the three-way rule like any change, and nothing is created twice;
- a survivor already linked (both records had a partner in the app) keeps its own link; the merged record's pair
  stops syncing as deleted in HubSpot ("merged into ..."), its app record stays as it is (rule 10), and health
  names it, so a person can merge the two app records too.

A dry run changes no link: it reports what it would do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from datasync_pipeline.engine.frames import MERGED_IDS, has_value
from datasync_pipeline.state import Link, StateStore

SYNCED = "synced"


@dataclass
class MergesFollowed:
    relinked: dict[str, str] = field(default_factory=dict)  # merged hubspot id -> survivor id (the link moved)
    stopped: dict[str, str] = field(default_factory=dict)  # merged hubspot id -> survivor id (already linked elsewhere)


def merged_into(hubspot: pd.DataFrame) -> dict[str, str]:
    """Merged HubSpot id -> the id of the record it was merged into, from the survivors read."""
    if MERGED_IDS not in hubspot:
        return {}
    merged: dict[str, str] = {}
    for survivor, ids in zip(hubspot["record_id"].astype(str), hubspot[MERGED_IDS]):
        if has_value(ids):
            merged.update({merged_id.strip(): survivor for merged_id in str(ids).split(";") if merged_id.strip() and merged_id.strip() != survivor})
    return merged


def follow_merges(store: StateStore, sync_name: str, hubspot: pd.DataFrame, *, dry_run: bool) -> MergesFollowed:
    """Move or stop the links of records merged into the survivors in ``hubspot`` (see the module docstring)."""
    followed = MergesFollowed()
    merged = merged_into(hubspot)
    if not merged:
        return followed
    pairs = store.last_values(sync_name, hubspot_ids=[*merged, *set(merged.values())])
    linked = set(pairs["hubspot_id"].astype(str))
    moves = []
    for hubspot_id, app_id, status, hubspot_values, app_values in pairs[
            ["hubspot_id", "app_id", "status", "hubspot_values", "app_values"]].itertuples(index=False):
        survivor = merged.get(str(hubspot_id))
        if survivor is None or status != SYNCED:
            continue
        if survivor in linked:
            followed.stopped[str(hubspot_id)] = survivor
            continue
        followed.relinked[str(hubspot_id)] = survivor
        linked.add(survivor)
        moves.append(Link(survivor, str(app_id), hubspot_values=dict(hubspot_values or {}), app_values=dict(app_values or {})))
    if moves and not dry_run:
        store.forget_pairs(sync_name, list(followed.relinked))
        store.link(sync_name, moves)
    return followed
