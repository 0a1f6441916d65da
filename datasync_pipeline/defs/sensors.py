"""The change sensor: after the first sync, launch an incremental run for each sync where either side changed.

Rule 9 says a change is synced within 10 minutes, so the sensor ticks every 600 s by default
(``DATASYNC_SENSOR_INTERVAL_SECONDS``). Each tick, per sync of ``datasync.yaml``:

* disabled (``enabled: false`` in the file, or ``datasync sync disable``): nothing moves (rule 11);
* a run of the sync still queued or in progress: wait for it (one run per sync at a time);
* otherwise probe both sides (``sync/probe.py``: one HubSpot search per connection and object type, over the
  connection's light ``probe_client``, one SQL query per app table) and request an incremental run when
  something changed. A side that cannot be checked (HubSpot hanging, refusing, down) is named with its
  cause; the other syncs are probed and launched as usual, and a tick with nothing to launch fails, red.

A HubSpot connection with ``journal:`` on is also read through its webhooks journal, once per tick, before the
probes (``sync/journal_feed.py``): association changes, merges and deletions there, which the probe cannot see, are
kept as the sync's targets in the state store (with the journal offset, in one transaction), and a sync whose
records were named gets an incremental run that plans exactly those records (``datasync/journal`` tag). The targets
stay until a run that carried them succeeds (its steps settle them), so a failed run loses nothing: the next tick
launches another. A stretch the journal cannot vouch for (first read, expired offset, failed read) is left to the
next reconciling run, which then re-reads every association. Without the journal, such changes wait for that run.

A run's ``run_key`` is derived from the sync and the change it carries (watermarks and newest change per
side), so the same pending change never launches twice; a failed run adds its id to the key, so the
change is retried on the next tick instead of waiting for another change. The cursor keeps the last probe
result per sync, as JSON, for the UI.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from datasync_pipeline.config import DatasyncConfig, SyncSpec
from datasync_pipeline.defs.assets.associations import association_targets
from datasync_pipeline.defs.jobs import DRY_RUN_TAG, FIRST_SYNC_JOB, INCREMENTAL_SYNC_JOB, MODE_TAG, REASON_TAG, SYNC_TAG, run_config, sync_asset_keys
from datasync_pipeline.defs.resources import STATE_STORE_KEY, connection_resource_key
from datasync_pipeline.settings import Settings
from datasync_pipeline.state import StateStore, trailing
from datasync_pipeline.state import journal as journal_state
from datasync_pipeline.state.leases import holder
from datasync_pipeline.sync.journal_feed import JournalFeed
from datasync_pipeline.sync.mappings import resolve_mappings
from datasync_pipeline.sync.probe import APP, HUBSPOT, ChangeProbe, ProbeResult, watched_sides
from datasync_pipeline.vocabulary import JOURNAL_TAG, Recorder

SENSOR_NAME = "datasync_changes"
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
UNFINISHED_BUSINESS = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def required_resource_keys(config: DatasyncConfig) -> set[str]:
    """The state store and the connections of the sides the enabled syncs watch."""
    keys = {STATE_STORE_KEY}
    for sync in config.syncs:
        if not sync.enabled:
            continue
        hubspot = config.hubspot_connection_name(sync)
        if HUBSPOT in watched_sides(sync) or getattr(config.connections[hubspot], "reads_journal", False):
            keys.add(connection_resource_key(hubspot))
        if APP in watched_sides(sync):
            keys.add(connection_resource_key(sync.app))
    return keys


def build_change_sensor(config: DatasyncConfig, settings: Settings | None = None) -> dg.SensorDefinition:
    """``settings``: the interval, the reconcile pace and the lease length (``settings.py``), read once."""
    settings = settings or Settings.from_environment()

    @dg.sensor(
        name=SENSOR_NAME,
        job_name=INCREMENTAL_SYNC_JOB,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys=required_resource_keys(config),
        description="Launches an incremental run of a sync when HubSpot or its app changed since the last run (rule 9). "
        "The skip reason says, per sync, why nothing was launched.",
    )
    def datasync_changes(context: dg.SensorEvaluationContext, **_resources: Any):
        # `**_resources`: invoked directly (tests), Dagster also passes the required resources as keywords;
        # the daemon does not. Either way they are read from `context.resources`, initialised.
        store = getattr(context.resources, STATE_STORE_KEY).store()
        try:
            return _evaluate(context, config, store, settings)
        finally:
            store.engine.dispose()

    return datasync_changes


def _evaluate(context: dg.SensorEvaluationContext, config: DatasyncConfig, store: StateStore, settings: Settings):
    """One tick: per sync, a reason to wait, a reason nothing is due, or an incremental run request."""
    lines: dict[str, str] = {}
    memo: dict[str, dict[str, Any]] = {}
    to_probe: list[SyncSpec] = []
    for sync in config.syncs:
        waiting = _reason_to_wait(context.instance, store, sync, store.is_enabled(sync.name) if sync.enabled else False, settings)
        if waiting is not None and waiting[0] == "stuck_run_failed":
            lines[sync.name] = waiting[1]  # said, then probed like any other sync
            waiting = None
        if waiting is None:
            to_probe.append(sync)
        else:
            status, lines[sync.name] = waiting
            memo[sync.name] = {"status": status, "message": lines[sync.name]}

    probe = ChangeProbe(
        config,
        store,
        # The light client: a hanging HubSpot costs the tick seconds, not Dagster's 60 s evaluation limit.
        hubspot_client=lambda connection: getattr(context.resources, connection_resource_key(connection)).probe_client(),
        app_connector=lambda sync: getattr(context.resources, connection_resource_key(sync.app)).side(sync, resolve_mappings(sync)),
    )
    requests = []
    associated = {sync.name: {target.kind.to_object for target in association_targets(config, sync)} for sync in config.syncs}
    with_associations = {name for name, objects in associated.items() if objects}
    # The journal first, for every sync (those waiting for a run too): what it says is kept until a run does it.
    feed = JournalFeed(config, store, associated=associated,
                       journal_client=lambda connection: getattr(context.resources, connection_resource_key(connection)).journal_client())
    journal_reads = feed.read_all()
    journaled = {sync.name for syncs in feed.connections(config.syncs).values() for sync in syncs}
    for name, result in probe.probe(to_probe).items():
        memo[name] = result.to_json()
        lines[name] = result.message
        ready = not (result.needs_first_sync or result.failed)
        targets = journal_state.pending(store.engine, name) if name in journaled and ready else journal_state.Pending()
        due = None if result.changed or targets.named or not ready else _due_without_change(context.instance, store, name, settings)
        if result.changed or due or targets.named:
            retry_of = _failed_last_run(context.instance, name)
            request = incremental_run_request(result, retry_of=retry_of, due=due, with_associations=name in with_associations,
                                              journal=targets, after_run=_last_run(context.instance, name) if targets.named else None)
            requests.append(request)
            memo[name]["run_key"] = request.run_key
            lines[name] += f"; {due[1]}" if due else ""
            lines[name] += f"; the webhooks journal named {targets.describe()}" if targets.named else ""
            lines[name] += f": launching an incremental run ({request.run_key})"

    context.update_cursor(json.dumps({"syncs": memo, "hubspot_calls": probe.hubspot_calls,
                                      "journal": {read.connection: {"entries": read.entries, "targets": read.targets, "calls": read.calls,
                                                                    "error": read.error, "message": read.message} for read in journal_reads}}, sort_keys=True))
    ordered = [lines[sync.name] for sync in config.syncs if sync.name in lines] + [read.message for read in journal_reads]
    failing = [memo[name]["message"] for name in memo if memo[name].get("status") == "probe_failed"]
    if requests:
        for line in ordered:
            (context.log.error if line in failing else context.log.info)(line)
        return requests
    if failing:
        # An outage must not look like a quiet hour: the tick fails, red in the UI, naming the cause.
        raise SyncProbeFailed("\n".join(ordered))
    return dg.SkipReason("\n".join(ordered) if ordered else "no syncs are configured in datasync.yaml")


class SyncProbeFailed(Exception):
    """A side of a sync could not be checked for changes (HubSpot or the app unreachable, refused, ...)."""


def incremental_run_request(
    result: ProbeResult, *, retry_of: str | None = None, due: tuple[str, str] | None = None, with_associations: bool = False,
    journal: journal_state.Pending | None = None, after_run: str | None = None,
) -> dg.RunRequest:
    """The incremental run of one sync, keyed by the change it carries (and the failed run it retries).

    Tagged with why it runs (``datasync/reason``: change, retry or reconcile); a reconciling run also
    re-reads every association of the sync, since HubSpot does not date association changes (unless the
    journal vouches for them). Targets the webhooks journal named (``journal``) are tagged ``datasync/journal``
    and key the run by the newest of them and the sync's latest run (``after_run``): targets a finished run left
    unsettled get a new run, never the same key twice.
    """
    keys = sync_asset_keys(result.sync) + ([dg.AssetKey([result.sync, "associations"])] if with_associations else [])
    tags = {SYNC_TAG: result.sync, MODE_TAG: "incremental", REASON_TAG: due[0].split("-")[0] if due else "change"}
    run_key = change_run_key(result, retry_of=retry_of) + (f":{due[0]}" if due else "")
    if journal:
        tags[JOURNAL_TAG] = journal.describe()
    if journal and journal.named:
        run_key += f":journal-{journal.through}" + (f"-after-{after_run[:8]}" if after_run else "")
    return dg.RunRequest(run_key=run_key, job_name=INCREMENTAL_SYNC_JOB, asset_selection=keys, run_config=run_config(mode="incremental"), tags=tags)


def change_run_key(result: ProbeResult, *, retry_of: str | None = None) -> str:
    """``<sync>:incremental:<digest>`` of the watermarks and newest change per side (plus a failed run's id)."""
    identity = {"sync": result.sync, "changes": result.change_marker(), "retry_of": retry_of}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return f"{result.sync}:incremental:{digest}"


def _reason_to_wait(instance: dg.DagsterInstance, store: StateStore, sync: SyncSpec, switched_on: bool,
                    settings: Settings) -> tuple[str, str] | None:
    """(status, reason) when the sync must not be probed this tick, else None.

    A run that Dagster still shows as started but whose lease expired long ago is dead (its process was
    killed): it can no longer write (the lease's fencing token), so it is marked failed, named, and the
    sync proceeds (status ``stuck_run_failed``) instead of waiting for it forever.
    """
    name = sync.name
    if not sync.enabled:
        return "disabled", f"{name}: disabled in datasync.yaml (`enabled: false`)"
    if not switched_on:
        return "disabled", f"{name}: disabled with `datasync sync disable {name}` (`datasync sync enable {name}` resumes it)"
    lease = holder(store.engine, name)
    now = datetime.now(UTC)
    running = _run_in_progress(instance, name)
    if running is not None:
        run = running.dagster_run
        kind = "first sync" if run.job_name.startswith(FIRST_SYNC_JOB) else "run"
        started = running.start_time or running.create_timestamp.timestamp()
        took_lease = lease is not None and lease.run_id == run.run_id
        # Dead: its lease expired, or it never took one in a whole lease time (killed while starting).
        dead = (took_lease and not lease.alive(now)) or (not took_lease and now.timestamp() - started > settings.lease_seconds)
        if run.status == dg.DagsterRunStatus.STARTED and dead:
            minutes = (now.timestamp() - started) / 60
            message = (f"{kind} {run.run_id[:8]} of {name} was started {minutes:.0f} min ago and its lease expired "
                       f"(no heartbeat for over {settings.lease_seconds} s): its process is gone")
            instance.report_run_failed(run, message=message)
            return "stuck_run_failed", f"{name}: {message}; marked it failed"
        state = run.status.value.lower().replace("_", " ")
        return "run_in_progress", f"{name}: {kind} {run.run_id[:8]} still {state}; waiting for it to finish"
    if lease is not None and lease.alive(now):
        return "run_in_progress", (f"{name}: run {lease.run_id[:8]} holds the sync's lease until {lease.expires_at:%H:%M:%S} UTC "
                                   "(launched outside this Dagster instance?); waiting for it")
    return None


def _run_in_progress(instance: dg.DagsterInstance, name: str) -> dg.RunRecord | None:
    """The sync's writing run in progress: a run tagged with it (alone, or among the syncs of a first sync).

    Dry runs write nothing and take no lease: nothing waits for them.
    """
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS)):
        tags = record.dagster_run.tags
        if name in tags.get(SYNC_TAG, "").split(",") and tags.get(DRY_RUN_TAG) != "true":
            return record
    return None


def _due_without_change(instance: dg.DagsterInstance, store: StateStore, name: str, settings: Settings) -> tuple[str, str] | None:
    """(key suffix, reason) when a sync should run although neither side shows a change."""
    now = datetime.now(UTC)
    for recorded_by in (Recorder.HUBSPOT_LOAD, Recorder.APP_LOAD):  # each load's outcomes have their own schedule
        if store.due_retries(name, recorded_by=recorded_by, now=now, limit=1):
            return f"retry-{int(now.timestamp()) // 60}", "failed writes are due for a retry"
    records = instance.get_run_records(dg.RunsFilter(tags={SYNC_TAG: name}, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1)
    last = records[0].end_time if records and records[0].end_time else None
    # Some changes leave no newer timestamp to probe for: a record deleted on either side, an association changed
    # in HubSpot (it does not touch last-modified), a failed write waiting for its retry. The reconciling run picks
    # them up at this pace at the latest.
    interval = settings.reconcile_seconds
    # The clock starts with the sync's first successful run recorded in this instance.
    if last is not None and now.timestamp() - last >= interval:
        bucket = int(now.timestamp()) // interval
        return f"reconcile-{bucket}", f"no run for {interval // 60} min: reconciling deletions, associations and retries"
    # A trailing pass re-reads a window behind the watermarks for changes that surfaced late (state/trailing.py);
    # its clock starts with the sync's first pass (a first sync counts as one).
    every = settings.trailing_every_seconds
    last_pass = trailing.last_pass_start(store.engine, name)
    if settings.trailing_window.total_seconds() > 0 and last_pass is not None and (now - last_pass).total_seconds() >= every:
        window = int(settings.trailing_window.total_seconds()) // 60
        return f"trailing-{int(now.timestamp()) // every}", f"a trailing pass is due: re-reading {window} min behind the watermarks for late changes"
    return None


def _last_run(instance: dg.DagsterInstance, name: str) -> str | None:
    """The id of this sync's latest run, whatever its status."""
    records = instance.get_run_records(dg.RunsFilter(tags={SYNC_TAG: name}), limit=1)
    return records[0].dagster_run.run_id if records else None


def _failed_last_run(instance: dg.DagsterInstance, name: str) -> str | None:
    """The id of this sync's latest run when it failed or was canceled: its change is still pending."""
    records = instance.get_run_records(dg.RunsFilter(tags={SYNC_TAG: name}), limit=1)
    if records and records[0].dagster_run.status in UNFINISHED_BUSINESS:
        return records[0].dagster_run.run_id
    return None
