"""``datasync sync ...``: list the syncs, prepare, disable, re-enable and delete one (rules 1 and 11).

A sync runs only when both switches say on: ``enabled`` in ``datasync.yaml`` and the state store's switch,
which these commands flip without editing the file. Disabling moves nothing and loses nothing: the
watermarks stay where the last run left them, so re-enabling resumes from there. Deleting forgets
everything datasync keeps about the sync (links, watermarks, outcomes, conflicts) and drops its change log where it
has one; records in HubSpot and in the app are never touched. Preparing creates what a sync needs in the app before it
runs: the change log of a table that says ``changes: trigger`` (``connectors/sql/change_log.py``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from datasync_pipeline.cli.common import ConfigOption, load_or_exit, open_store_or_exit
from datasync_pipeline.config import DatasyncConfig, SyncSpec
from datasync_pipeline.config.loader import config_path as resolve_config_path
from datasync_pipeline.config.secrets import MissingVariable, resolve
from datasync_pipeline.connectors.sql.config import SqlConnection
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.health.object_view import sync_health
from datasync_pipeline.state import StateStore
from datasync_pipeline.state.leases import holder
from datasync_pipeline.sync.probe import APP, HUBSPOT, format_time, iso_time
from datasync_pipeline.vocabulary import ChangeCapture

sync_app = typer.Typer(help="List the syncs; disable, re-enable or delete one.", no_args_is_help=True)
NameArgument = typer.Argument(..., help="the sync's name in datasync.yaml")
STATE_LABELS = {
    "datasync_pairs": "linked pairs",
    "datasync_record_status": "failed and excluded records",
    "datasync_watermarks": "watermarks",
    "datasync_sync_controls": "on/off switch",
    "datasync_conflicts": "conflict log entries",
}


@sync_app.command("list")
def list_syncs(
    config_path: Path | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Every sync of the configuration: what it syncs, whether it is on, how far it has read, how its records stand."""
    config = load_or_exit(config_path)
    store = open_store_or_exit(config)
    rows = [_describe(config, sync, store) for sync in config.syncs]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="syncs", title_justify="left")
    for column in ("name", "object", "app table", "direction", "enabled (config / switch)", "watermarks", "pairs", "failed", "excluded"):
        table.add_column(column, justify="right" if column in ("pairs", "failed", "excluded") else "left")
    for row in rows:
        marks = row["watermarks"]
        table.add_row(
            row["name"],
            row["object"],
            row["app_table"],
            row["direction"],
            f"{_on_off(row['enabled_in_config'])} / {_on_off(row['switched_on'])}",
            "\n".join(f"{label}: {_display(marks[side])}" for side, label in ((HUBSPOT, "HubSpot"), (APP, "app"))),
            f"{row['pairs']:,}",
            f"{row['failed']:,}",
            f"{row['excluded']:,}",
        )
    Console().print(table)


@sync_app.command("prepare")
def prepare(
    name: str = NameArgument,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a line"),
    config_path: Path | None = ConfigOption,
) -> None:
    """Create what the sync needs in the app before it runs: the change log and its trigger for `changes: trigger`
    (PostgreSQL). Safe to run again."""
    from datasync_pipeline.connectors.sql import change_log

    config = load_or_exit(config_path)
    sync = _sync(config, name)
    if sync.table is None or sync.table.changes != ChangeCapture.TRIGGER:
        _say(as_json, {"sync": sync.name, "status": "nothing_to_prepare"},
             f"{sync.name}: nothing to prepare: its app side finds changes by time (set `changes: trigger` in its table "
             "for a change log, PostgreSQL only)")
        return
    engine = _app_engine_or_exit(config, sync)
    try:
        prepared = change_log.prepare(engine, sync_name=sync.name, table=sync.table.name, schema=sync.table.schema_name,
                                      key=sync.table.key)
    except DatasyncError as error:
        _fail(as_json, sync.name, str(error))
    finally:
        engine.dispose()
    status = "created" if prepared.created else "already_prepared"
    done = "created" if prepared.created else "already in place (re-created the same)"
    _say(as_json, {"sync": sync.name, "status": status, "change_log": prepared.log},
         f"{sync.name}: change log {prepared.log} and its trigger on table {sync.table.name!r} {done}: "
         "changes are read from it from the next run on")


@sync_app.command("disable")
def disable(name: str = NameArgument, config_path: Path | None = ConfigOption) -> None:
    """Stop a sync: nothing moves until it is enabled again; its watermarks are kept."""
    config = load_or_exit(config_path)
    sync = _sync(config, name)
    open_store_or_exit(config).set_enabled(sync.name, False)
    typer.echo(f"{sync.name} disabled: nothing moves until `datasync sync enable {sync.name}`; changes made meanwhile are kept for then.")


@sync_app.command("enable")
def enable(name: str = NameArgument, config_path: Path | None = ConfigOption) -> None:
    """Switch a sync back on; it resumes from its watermarks."""
    config = load_or_exit(config_path)
    sync = _sync(config, name)
    store = open_store_or_exit(config)
    store.set_enabled(sync.name, True)
    marks = store.watermarks(sync.name)
    typer.echo(f"{sync.name} enabled: resumes from the watermark: changes made while disabled are synced by the next run.")
    for side, label in ((HUBSPOT, "HubSpot"), (APP, "app")):
        typer.echo(f"  {label} read up to: {format_time(marks[side]) if side in marks else 'never (the first sync has not run yet)'}")
    if not sync.enabled:
        typer.echo(f"Note: datasync.yaml still says `enabled: false` for {sync.name}; set it to true as well, or nothing runs.")


@sync_app.command("delete")
def delete(
    name: str = NameArgument,
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
    config_path: Path | None = ConfigOption,
) -> None:
    """Forget everything datasync keeps about a sync (links, watermarks, outcomes); records themselves are not touched."""
    config = load_or_exit(config_path)
    sync = _sync(config, name)
    store = open_store_or_exit(config)
    running = holder(store.engine, sync.name)
    if running is not None and running.alive():
        # Deleting under a running sync would let it write links and watermarks back for a sync that is gone.
        typer.echo(f"sync {sync.name} is being run by run {running.run_id} (lease until {running.expires_at:%H:%M:%S} UTC): "
                   f"cancel that run in the Dagster UI or wait for it, then delete again", err=True)
        raise typer.Exit(1)
    if not yes:
        typer.confirm(
            f"Delete sync {sync.name}? datasync forgets its {store.pair_count(sync.name):,} linked pairs, its watermarks and "
            "its record outcomes; records in HubSpot and in the app stay as they are.",
            abort=True,
        )
    dropped = _drop_change_log(config, sync)
    removed = store.forget_sync(sync.name)
    typer.echo(f"{sync.name} deleted from the state store:")
    for table_name, count in removed.items():
        typer.echo(f"  {STATE_LABELS.get(table_name, table_name)}: {count:,} removed")
    if dropped is not None:
        typer.echo(f"  change log {dropped.log} with its trigger and function: {'dropped' if dropped.existed else 'not there'}")
    where = resolve_config_path(config_path) or "the configuration"
    typer.echo(f"Now remove the sync named {sync.name} from {where}; until then a first sync would start it afresh.")


@sync_app.command("run")
def run_now(
    name: str = NameArgument,
    reconcile: bool = typer.Option(False, "--reconcile", help="also check every link for deletions and re-read every association (with the webhooks journal: when it owes one)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="plan and report; write nothing anywhere"),
    config_path: Path | None = ConfigOption,
) -> None:
    """Run one incremental sync now, as the change sensor's runs do (same job, tags and history)."""
    from datasync_pipeline.defs.launch import run_incremental

    config = load_or_exit(config_path)
    sync = _sync(config, name)
    report = run_incremental(config, [sync.name], dry_run=dry_run, reason="reconcile" if reconcile else "change", log_level="CRITICAL")
    [summary] = report.syncs
    written = {step: (summary.value(step, "datasync/created"), summary.value(step, "datasync/updated")) for step in ("hubspot_load", "app_load")}
    state = "succeeded" if report.success else "FAILED"
    typer.echo(f"{'dry run of ' if dry_run else ''}incremental run {report.run_id[:8]} of {sync.name} {state}: "
               f"HubSpot {written['hubspot_load'][0]:,} created, {written['hubspot_load'][1]:,} updated; "
               f"app {written['app_load'][0]:,} created, {written['app_load'][1]:,} updated")
    if not report.success:
        typer.echo(f"the run failed: {report.failure or 'see its failed step'} (run {report.run_id} in the Dagster UI)", err=True)
        raise typer.Exit(1)


def _drop_change_log(config: DatasyncConfig, sync: SyncSpec):
    """Drop the sync's change log in the app (where it says ``changes: trigger``) before its state goes: a delete that
    cannot reach the app stops here, with the state kept, rather than leave a trigger logging for a forgotten sync."""
    from datasync_pipeline.connectors.sql import change_log

    if sync.table is None or sync.table.changes != ChangeCapture.TRIGGER:
        return None
    engine = _app_engine_or_exit(config, sync)
    try:
        return change_log.drop(engine, sync_name=sync.name, table=sync.table.name, schema=sync.table.schema_name)
    except DatasyncError as error:
        _fail(False, sync.name, f"{error} (nothing was deleted)")
    finally:
        engine.dispose()


def _app_engine_or_exit(config: DatasyncConfig, sync: SyncSpec):
    import sqlalchemy as sa

    connection = config.connections.get(sync.app)
    if not isinstance(connection, SqlConnection):
        typer.echo(f"{sync.name}: `changes: trigger` needs a SQL app; {sync.app!r} is not one", err=True)
        raise typer.Exit(2)
    try:
        return sa.create_engine(resolve(connection.url, where=f"connections.{sync.app}.url"))
    except MissingVariable as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    except (sa.exc.ArgumentError, ModuleNotFoundError) as error:
        typer.echo(f"{sync.name}: cannot open the app database of connection {sync.app!r}: {error}", err=True)
        raise typer.Exit(2) from None


def _say(as_json: bool, payload: dict[str, Any], line: str) -> None:
    typer.echo(json.dumps(payload) if as_json else line)


def _fail(as_json: bool, sync_name: str, message: str):
    line = message.splitlines()[0] if message else "failed"
    if as_json:
        typer.echo(json.dumps({"sync": sync_name, "status": "refused", "error": line}))
    else:
        typer.echo(line, err=True)
    raise typer.Exit(1)


def _describe(config: DatasyncConfig, sync: SyncSpec, store: StateStore) -> dict[str, Any]:
    marks = store.watermarks(sync.name)
    counts = sync_health(store.engine, sync)  # the one definition of the counts, shared with `health` and `records`
    failed, excluded = dict(sorted(counts.failed.items())), dict(sorted(counts.excluded.items()))
    switched_on = store.is_enabled(sync.name)
    if sync.table is not None:
        table = f"{sync.table.schema_name}.{sync.table.name}" if sync.table.schema_name else sync.table.name
    else:
        table = sync.object  # an app without tables (another HubSpot portal) keeps the object by name
    return {
        "name": sync.name,
        "object": sync.object,
        "hubspot_connection": config.hubspot_connection_name(sync),
        "app_connection": sync.app,
        "app_table": f"{sync.app}.{table}",
        "direction": sync.direction.value,
        "enabled_in_config": sync.enabled,
        "switched_on": switched_on,
        "enabled": sync.enabled and switched_on,
        "watermarks": {side: iso_time(marks.get(side)) for side in (HUBSPOT, APP)},
        "pairs": store.pair_count(sync.name),
        "failed": counts.failed_records,
        "excluded": counts.excluded_records,
        "deleted_in_hubspot": counts.deleted_in_hubspot,
        "deleted_in_app": counts.deleted_in_app,
        "failed_by_category": failed,
        "excluded_by_reason": excluded,
    }


def _sync(config: DatasyncConfig, name: str) -> SyncSpec:
    for sync in config.syncs:
        if sync.name == name:
            return sync
    known = ", ".join(sync.name for sync in config.syncs) or "none"
    typer.echo(f"No sync named {name!r} in the configuration; known syncs: {known}", err=True)
    raise typer.Exit(2)


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def _display(value: str | None) -> str:
    return format_time(datetime.fromisoformat(value)) if value else "never"
