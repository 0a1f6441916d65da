"""Running sync jobs from the command line, stored in the Dagster instance like any run.

The run goes into ``$DAGSTER_HOME`` (``./.dagster_home`` when unset), so ``dagster dev`` with the
same home shows it afterwards, with its lineage, logs and metadata. It is a run of the code location's
job, carrying the code location's label, so it is listed in the job's Runs tab and timeline beside the
runs launched from the UI, with the same tags and run config.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from datasync_pipeline.config import DatasyncConfig
from datasync_pipeline.defs.jobs import DRY_RUN_TAG, FIRST_SYNC_JOB, INCREMENTAL_SYNC_JOB, MODE_TAG, REASON_TAG, SYNC_TAG, first_sync_job_name, run_config

DEFAULT_DAGSTER_HOME = ".dagster_home"
# The code location's name (``workspace.yaml``, ``pyproject.toml``) and Dagster's label tag for it: the UI lists a
# job's runs by this label, so runs made here appear among the location's own.
CODE_LOCATION = "datasync"
REPOSITORY_LABEL_TAG = ".dagster/repository"
REPOSITORY_LABEL = f"__repository__@{CODE_LOCATION}"


@dataclass
class SyncSummary:
    """What one sync's first-sync run did, read back from its materializations."""

    name: str
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # asset step -> metadata values
    plan: Any = None  # the merge plan (a dry run's preview is made from it)

    def value(self, step: str, key: str, default: Any = 0) -> Any:
        return self.metadata.get(step, {}).get(key, default)


@dataclass
class RunReport:
    run_id: str
    success: bool
    syncs: list[SyncSummary]
    dry_run: bool = False
    failure: str | None = None  # what stopped a failed run, in its own words (the first failure's message)


def dagster_instance() -> dg.DagsterInstance:
    """The instance of ``$DAGSTER_HOME``, its storage created once even when several processes start at once.

    Two processes creating Dagster's SQLite storage together can leave it with two schema heads, which
    breaks every later command; an exclusive file lock makes the second wait for the first.
    """
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(Path(DEFAULT_DAGSTER_HOME).resolve())
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".datasync-init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # touches (and so creates) the run storage while the lock is held
        fcntl.flock(lock, fcntl.LOCK_UN)
    return instance


def run_first_sync(
    config: DatasyncConfig, *, dry_run: bool = False, instance: dg.DagsterInstance | None = None, log_level: str = "INFO",
    sync_name: str | None = None,
) -> RunReport:
    """Compare both sides in full and write the merge plan (rule 6): of every enabled sync, or of one."""
    enabled = [sync.name for sync in config.syncs if sync.enabled]
    if sync_name is not None:
        if sync_name not in enabled:
            raise ValueError(f"no enabled sync named {sync_name!r} in the config; enabled: {', '.join(enabled) or 'none'}")
        return run_sync_job(config, first_sync_job_name(sync_name), [sync_name], mode="first", dry_run=dry_run, instance=instance,
                            log_level=log_level)
    return run_sync_job(config, FIRST_SYNC_JOB, enabled, mode="first", dry_run=dry_run, instance=instance, log_level=log_level)


def run_incremental(
    config: DatasyncConfig, sync_names: list[str], *, dry_run: bool = False, instance: dg.DagsterInstance | None = None,
    log_level: str = "INFO", reason: str = "change",
) -> RunReport:
    """Sync what changed since the watermarks, as the sensor's runs do, for these syncs.

    ``reason="reconcile"`` runs as the sensor's hourly reconciling run does: every link is checked for a
    deleted app row and every association is read again.
    """
    return run_sync_job(config, INCREMENTAL_SYNC_JOB, sync_names, mode="incremental", dry_run=dry_run, instance=instance,
                        log_level=log_level, tags={REASON_TAG: reason})


def run_sync_job(
    config: DatasyncConfig, job_name: str, sync_names: list[str], *, mode: str, dry_run: bool,
    instance: dg.DagsterInstance | None, log_level: str, tags: dict[str, str] | None = None,
) -> RunReport:
    from datasync_pipeline.definitions import build_definitions

    instance = instance or dagster_instance()
    definitions = build_definitions(config)
    job = definitions.resolve_job_def(job_name)
    graph = definitions.resolve_asset_graph()
    selection = [key for key in graph.get_all_asset_keys() if graph.get(key).group_name in sync_names]
    result = job.execute_in_process(
        instance=instance,
        run_config={**run_config(mode=mode, dry_run=dry_run), "loggers": {"console": {"config": {"log_level": log_level}}}},
        tags={**run_tags(sync_names, mode=mode, dry_run=dry_run), **(tags or {})},
        asset_selection=selection,
        raise_on_error=False,
    )
    summaries = {name: SyncSummary(name) for name in sync_names}
    for name, summary in summaries.items():
        if result.success or f"{name}__merge_plan" in {event.step_key for event in result.get_step_success_events()}:
            summary.plan = result.output_for_node(f"{name}__merge_plan")
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        sync_name, step = materialization.asset_key.path[0], materialization.asset_key.path[-1]
        if sync_name in summaries:
            summaries[sync_name].metadata[step] = {key: value.value for key, value in materialization.metadata.items()}
    return RunReport(run_id=result.run_id, success=result.success, syncs=list(summaries.values()), dry_run=dry_run,
                     failure=None if result.success else first_failure(result.all_events))


def first_failure(events) -> str | None:
    """The message of a run's first failure (a step's, or its resources' initialisation), without the traceback."""
    for event in events:
        if event.event_type_value not in ("STEP_FAILURE", "RESOURCE_INIT_FAILURE", "RUN_FAILURE"):
            continue
        error = getattr(event.event_specific_data, "error", None)
        while error is not None and error.cause is not None and "Failure" not in error.cls_name:
            error = error.cause
        if error is not None:
            where = f"{event.step_key}: " if event.step_key else ""
            return where + error.message.strip().removeprefix("dagster._core.definitions.events.Failure: ").splitlines()[0]
    return None


def run_tags(sync_names: list[str], *, mode: str, dry_run: bool) -> dict[str, str]:
    """The tags of a run launched here: those the sensor and the UI's runs carry, and the location's label."""
    return {SYNC_TAG: ",".join(sorted(sync_names)), MODE_TAG: mode, DRY_RUN_TAG: str(dry_run).lower(),
            REPOSITORY_LABEL_TAG: REPOSITORY_LABEL}


@dataclass
class RestoreReport:
    run_id: str
    success: bool
    records: Any  # the preview (with `new_id` after a restore)
    metadata: dict[str, Any]


def run_restore(config: DatasyncConfig, sync_name: str, target: str, *, preview: bool, instance: dg.DagsterInstance | None = None) -> RestoreReport:
    """Run the restore job (stored in the instance like any run): a preview, or the restore itself."""
    from datasync_pipeline.definitions import build_definitions
    from datasync_pipeline.defs.restore_job import RESTORE_JOB

    instance = instance or dagster_instance()
    job = build_definitions(config).resolve_job_def(RESTORE_JOB)
    result = job.execute_in_process(
        instance=instance,
        run_config={"ops": {"restore_deleted_records": {"config": {"sync": sync_name, "target": target, "preview": preview}}},
                    "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        tags={SYNC_TAG: sync_name, "datasync/restore_target": target, DRY_RUN_TAG: str(preview).lower(),
              REPOSITORY_LABEL_TAG: REPOSITORY_LABEL},
        raise_on_error=False,
    )
    records = result.output_for_node("restore_deleted_records") if result.success else None
    metadata = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_OUTPUT" and event.step_output_data.metadata:
            metadata = {key: value.value for key, value in event.step_output_data.metadata.items()}
    return RestoreReport(result.run_id, result.success, records, metadata)
