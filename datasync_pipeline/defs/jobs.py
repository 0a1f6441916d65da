"""Jobs: the first sync compares both sides in full and writes the merge plan."""

from __future__ import annotations

import dagster as dg

FIRST_SYNC_JOB = "first_sync"
MODE_TAG = "datasync/mode"
SYNC_TAG = "datasync/sync"


def first_sync_job(sync_names: list[str]) -> dg.UnresolvedAssetJobDefinition:
    selection = dg.AssetSelection.groups(*sync_names) if sync_names else dg.AssetSelection.all()
    return dg.define_asset_job(
        FIRST_SYNC_JOB,
        selection=selection,
        tags={MODE_TAG: "first"},
        description="Compare both sides of every enabled sync in full, match, plan and write (rule 6). "
        "Launch with `ops: {<sync>__hubspot_load: {config: {dry_run: true}}, ...}` for a preview that writes nothing.",
    )


def dry_run_config(sync_names: list[str]) -> dict:
    """Run config that turns every load of these syncs into a preview."""
    ops = {}
    for name in sync_names:
        for load in ("hubspot_load", "app_load"):
            ops[f"{name}__{load}"] = {"config": {"dry_run": True}}
    return {"ops": ops}
