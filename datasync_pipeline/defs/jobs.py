"""Jobs, and the one run-level configuration every sync run takes.

A run's switches are the ``datasync_run`` resource (``SyncRunResource``): ``mode`` ("first": compare both
sides in full; "incremental": only what changed since the watermarks) and ``dry_run`` (plan and report,
write nothing anywhere). Each job opens in the Launchpad with them filled in, so a dry run is one switch:

    resources:
      datasync_run:
        config: {mode: first, dry_run: true}

Jobs: ``first_sync`` runs every enabled sync's first sync in one run; ``first_sync_<sync>`` one sync's;
``incremental_sync`` is what the change sensor launches, one sync per run. Every run is tagged with its
syncs (``datasync/sync``), mode and dry-run flag however it was launched (the resource tags runs that a
launcher did not), and Dagster's run queue holds a second run of a sync while one is in progress
(``tag_concurrency_limits`` in ``dagster.yaml``).
"""

from __future__ import annotations

import dagster as dg

from datasync_pipeline.defs.resources import SYNC_RUN_KEY
from datasync_pipeline.vocabulary import DRY_RUN_TAG, MODE_TAG, REASON_TAG, SYNC_TAG

__all__ = ["DRY_RUN_TAG", "MODE_TAG", "REASON_TAG", "SYNC_TAG"]

FIRST_SYNC_JOB = "first_sync"
INCREMENTAL_SYNC_JOB = "incremental_sync"
CHAIN_STEPS = ("hubspot_records", "app_records", "matched", "merge_plan", "hubspot_load", "app_load", "checkpoint")


def first_sync_job_name(sync_name: str) -> str:
    return f"{FIRST_SYNC_JOB}_{sync_name}"


def run_config(*, mode: str = "first", dry_run: bool = False) -> dict:
    """The run config of a sync run: the ``datasync_run`` resource's two switches."""
    return {"resources": {SYNC_RUN_KEY: {"config": {"mode": mode, "dry_run": dry_run}}}}


def first_sync_job(sync_names: list[str]) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        FIRST_SYNC_JOB,
        selection=dg.AssetSelection.groups(*sync_names),
        tags={MODE_TAG: "first", SYNC_TAG: ",".join(sorted(sync_names))},
        config=run_config(mode="first"),
        description="Compare both sides of every enabled sync in full, match, plan and write (rule 6). "
        "For a preview that writes nothing, set `dry_run: true` under `resources.datasync_run.config`.",
    )


def first_sync_job_of(sync_name: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        first_sync_job_name(sync_name),
        selection=dg.AssetSelection.groups(sync_name),
        tags={MODE_TAG: "first", SYNC_TAG: sync_name},
        config=run_config(mode="first"),
        description=f"The first sync of {sync_name} alone: compare both sides in full, match, plan and write (rule 6). "
        "For a preview that writes nothing, set `dry_run: true` under `resources.datasync_run.config`.",
    )


def incremental_sync_job(sync_names: list[str]) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        INCREMENTAL_SYNC_JOB,
        selection=dg.AssetSelection.groups(*sync_names),
        tags={MODE_TAG: "incremental", SYNC_TAG: ",".join(sorted(sync_names))},
        config=run_config(mode="incremental"),
        description="Sync what changed on either side since the last run (launched by the change sensor, one sync per run).",
    )


def sync_asset_keys(sync_name: str, steps: tuple[str, ...] = CHAIN_STEPS) -> list[dg.AssetKey]:
    return [dg.AssetKey([sync_name, step]) for step in steps]
