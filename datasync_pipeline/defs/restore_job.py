"""The restore job (rule 10), launchable from the Dagster UI's launchpad or `datasync restore`.

Config: the sync, the target app where records were deleted, and `preview` (default true: list what
would be restored, write nothing). Runs are tagged with the sync and mode "restore", so the run
history shows every restore beside the syncs.
"""

import dagster as dg
import pandas as pd

from datasync_pipeline.config.model import DatasyncConfig
from datasync_pipeline.defs.jobs import MODE_TAG
from datasync_pipeline.defs.resources import STATE_STORE_KEY, connection_resource_key
from datasync_pipeline.state.leases import Lease, SyncBusy
from datasync_pipeline.sync.mappings import resolve_mappings
from datasync_pipeline.sync.restore import preview_restore, restore_deleted

RESTORE_JOB = "restore_deleted"
PREVIEW_ROWS_SHOWN = 50


class RestoreConfig(dg.Config):
    sync: str
    target: str  # "hubspot" or "app": where the records were deleted and will be recreated
    preview: bool = True


def build_restore_job(datasync_config: DatasyncConfig) -> dg.JobDefinition:
    keys = {STATE_STORE_KEY} | {connection_resource_key(name) for name in datasync_config.connections}
    syncs = {sync.name: sync for sync in datasync_config.syncs}

    @dg.op(required_resource_keys=keys, description="Preview, or recreate, the records of a sync deleted in the target app.")
    def restore_deleted_records(context: dg.OpExecutionContext, config: RestoreConfig) -> dg.Output[pd.DataFrame]:
        if config.sync not in syncs:
            raise dg.Failure(f"no sync named {config.sync!r}; known: {', '.join(sorted(syncs))}")
        sync = syncs[config.sync]
        store = getattr(context.resources, STATE_STORE_KEY).store()
        preview = preview_restore(store, sync, config.target)
        metadata = {"datasync/to_restore": len(preview), "datasync/preview": config.preview,
                    "records": dg.MetadataValue.md(_markdown(preview))}
        if config.preview or preview.empty:
            context.log.info(f"{len(preview):,} {sync.object} deleted in {config.target} would be restored")
            return dg.Output(preview, metadata=metadata)
        # A restore writes like a run of the sync: it holds the sync's lease, so no run of it writes meanwhile.
        try:
            lease = Lease.acquire(store.engine, [sync.name], context.run.run_id)
        except SyncBusy as busy:
            raise dg.Failure(str(busy), allow_retries=False) from None
        try:
            result = _restore(context, datasync_config, sync, config.target, store)
        finally:
            lease.release()
        metadata.update({"datasync/restored": len(result.restored), "datasync/failed": len(result.failed)})
        for old, error in result.failed.items():
            context.log.warning(f"{sync.object} {old} was not restored: {error.message}")
        context.log.info(f"restored {len(result.restored):,} {sync.object} in {config.target}; {len(result.failed):,} failed")
        restored = preview.assign(new_id=preview[f"{config.target}_id"].map(result.restored))
        return dg.Output(restored, metadata=metadata)

    @dg.job(name=RESTORE_JOB, tags={MODE_TAG: "restore"},
            description="Restore records deleted on one side of a sync (rule 10): preview first, then restore all.")
    def restore_job():
        restore_deleted_records()

    return restore_job


def _restore(context: dg.OpExecutionContext, datasync_config: DatasyncConfig, sync, target: str, store):
    """Recreate (HubSpot) or undelete (app) the deleted records of one sync."""
    mappings = resolve_mappings(sync)
    app = getattr(context.resources, connection_resource_key(sync.app)).side(sync, mappings)
    # Restoring into HubSpot, the app records of the recreated ones keep their new HubSpot ids (the SQL external-id column).
    hubspot = getattr(context.resources, connection_resource_key(datasync_config.hubspot_connection_name(sync))).primary_side(sync, mappings) \
        if target == "hubspot" else None
    return restore_deleted(store, sync, mappings, target, hubspot=hubspot, app=app)


def _markdown(preview: pd.DataFrame) -> str:
    if preview.empty:
        return "Nothing was deleted on this side."
    shown = preview.head(PREVIEW_ROWS_SHOWN)
    lines = ["| HubSpot id | app id | values |", "| --- | --- | --- |"]
    for hubspot_id, app_id, values in shown[["hubspot_id", "app_id", "values"]].itertuples(index=False):
        text = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))[:200].replace("|", "/")
        lines.append(f"| {hubspot_id} | {app_id} | {text} |")
    if len(preview) > PREVIEW_ROWS_SHOWN:
        lines.append(f"\n… and {len(preview) - PREVIEW_ROWS_SHOWN:,} more")
    return "\n".join(lines)
