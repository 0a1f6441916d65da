"""Jobs and the run config that picks a sync's mode.

Every step of a sync's chain takes a ``SyncStepConfig``: ``mode`` ("first": compare both sides in full;
"incremental": only what changed since the watermarks) and ``dry_run`` (plan and report, write
nothing). The first-sync job runs every enabled sync in full; the sensor launches the
incremental job for one sync at a time, selecting that sync's assets.
"""

from __future__ import annotations

import dagster as dg

FIRST_SYNC_JOB = "first_sync"
INCREMENTAL_SYNC_JOB = "incremental_sync"
MODE_TAG = "datasync/mode"
SYNC_TAG = "datasync/sync"
DRY_RUN_TAG = "datasync/dry_run"
REASON_TAG = "datasync/reason"  # why an incremental run was launched: change, retry, reconcile
CHAIN_STEPS = ("hubspot_records", "app_records", "matched", "merge_plan", "hubspot_load", "app_load", "checkpoint")


class SyncStepConfig(dg.Config):
    """Run-time switches shared by every step of a sync's chain."""

    mode: str = "first"  # "first" | "incremental"
    dry_run: bool = False


def first_sync_job(sync_names: list[str]) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        FIRST_SYNC_JOB,
        selection=dg.AssetSelection.groups(*sync_names),
        tags={MODE_TAG: "first"},
        description="Compare both sides of every enabled sync in full, match, plan and write (rule 6). "
        "Set `dry_run: true` in a load step's config for a preview that writes nothing.",
    )


def incremental_sync_job(sync_names: list[str]) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        INCREMENTAL_SYNC_JOB,
        selection=dg.AssetSelection.groups(*sync_names),
        tags={MODE_TAG: "incremental"},
        # A few changes move through small steps: one process spares a Python start-up per step, which
        # would otherwise be most of the change-to-synced lag (rule 9).
        executor_def=dg.in_process_executor,
        description="Sync what changed on either side since the last run (launched by the change sensor, one sync per run).",
    )


def step_run_config(sync_names: list[str], *, mode: str = "first", dry_run: bool = False, steps: tuple[str, ...] = CHAIN_STEPS) -> dict:
    """Run config setting the mode and dry-run switch of every step of these syncs."""
    return {"ops": {f"{name}__{step}": {"config": {"mode": mode, "dry_run": dry_run}} for name in sync_names for step in steps}}


def sync_asset_keys(sync_name: str, steps: tuple[str, ...] = CHAIN_STEPS) -> list[dg.AssetKey]:
    return [dg.AssetKey([sync_name, step]) for step in steps]
