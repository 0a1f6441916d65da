"""``datasync health``: the object view of every sync (rule 12), and with ``--history`` its health over time.

A table per sync: synced, failed by error category, excluded by reason, deleted on each side; below it
the troubleshooting steps of every failing category present. ``--json`` prints the same for scripts.
``--history`` reads Dagster's run history (``$DAGSTER_HOME``): last run, last success, and per day the
runs, failed runs, records synced and records failed. The exit code is 1 when a sync is failing or
stale (``health/verdict.py``), and each sync's ``reasons`` say why.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from datasync_pipeline.cli.common import ConfigOption, load_or_exit, open_state_or_exit
from datasync_pipeline.config import DatasyncConfig
from datasync_pipeline.health.catalogue import guide_for
from datasync_pipeline.health.history import RunSummary, SyncHistory, last_success, sync_history
from datasync_pipeline.health.object_view import SyncHealth, object_view
from datasync_pipeline.health.verdict import Verdict, default_stale_after, judge
from datasync_pipeline.state import progress
from datasync_pipeline.sync.probe import format_time

STALE_HELP = (
    "minutes without a successful run after which a sync counts as stale (exit 1); default: "
    "2 x $DATASYNC_SENSOR_INTERVAL_SECONDS + $DATASYNC_RECONCILE_SECONDS (80 minutes with the defaults); 0: do not check"
)


def health(
    config_path: Path | None = ConfigOption,
    sync_names: list[str] | None = typer.Option(None, "--sync", "-s", help="only this sync (repeatable)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
    history: bool = typer.Option(False, "--history", help="also show health over time from the Dagster run history"),
    days: int = typer.Option(14, "--days", min=1, help="with --history: how many days back, today included"),
    stale_after: int | None = typer.Option(None, "--stale-after", min=0, help=STALE_HELP),
) -> None:
    """Sync health per sync: synced, failed (by category, with what to do), excluded (by reason), deleted on one side.

    Exits 1 when a sync is failing (failed records, or pairs deleted on one side) or stale (no successful
    run within --stale-after minutes); the last lines (or each sync's "reasons" in --json) say why.
    """
    config = load_or_exit(config_path)
    names = known_names_or_exit(config, sync_names)
    window = _stale_window_or_exit(stale_after)
    engine = open_state_or_exit(config)
    views = object_view(config, engine, names)
    instance, history_problem = _instance(needed=history or window is not None)
    histories = [sync_history(instance, view.sync, days=days) for view in views] if history and instance else []
    verdicts = _verdicts(config, engine, views, histories, instance, window, history_problem)
    if as_json:
        rows = [{**view.as_dict(), **verdict.as_dict()} for view, verdict in zip(views, verdicts)]
        for row, past in zip(rows, histories):
            row["history"] = past.as_dict()
        typer.echo(json.dumps(rows, indent=2))
    else:
        console = Console()
        for view in views:
            console.print(_object_table(view))
            _print_steps(console, view)
        for past in histories:
            console.print(f"{past.sync}: last run {_describe(past.last_run)}", soft_wrap=True, markup=False)
            console.print(f"{past.sync}: last success {_describe(past.last_success)}", soft_wrap=True, markup=False)
            console.print(_history_table(past))
        for verdict in verdicts:
            _print_verdict(console, verdict)
    if not all(verdict.healthy for verdict in verdicts):
        raise typer.Exit(1)


def _verdicts(config: DatasyncConfig, engine, views: list[SyncHealth], histories: list[SyncHistory], instance,
              window: timedelta | None, history_problem: str | None) -> list[Verdict]:
    successes = {past.sync: past.last_success for past in histories}
    now = datetime.now(UTC)
    verdicts = []
    for view in views:
        if view.sync not in successes and instance is not None and window is not None:
            successes[view.sync] = last_success(instance, view.sync)
        run = successes.get(view.sync)
        enabled = next(sync.enabled for sync in config.syncs if sync.name == view.sync) and progress.is_enabled(engine, view.sync)
        verdicts.append(judge(view, enabled=enabled, last_success=run.created_at if run else None, stale_after=window, now=now,
                              history_problem=history_problem))
    return verdicts


def _stale_window_or_exit(minutes: int | None) -> timedelta | None:
    if minutes is not None:
        return timedelta(minutes=minutes) if minutes else None
    try:
        return default_stale_after()
    except ValueError as error:
        typer.echo(f"{error}; or pass --stale-after MINUTES", err=True)
        raise typer.Exit(2) from None


def _instance(*, needed: bool):
    """The Dagster instance of ``$DAGSTER_HOME`` and None, or None and why it cannot be read."""
    if not needed:
        return None, None
    from datasync_pipeline.defs.launch import DEFAULT_DAGSTER_HOME, dagster_instance

    if not os.environ.get("DAGSTER_HOME") and not Path(DEFAULT_DAGSTER_HOME).is_dir():  # never create one just to look
        return None, f"$DAGSTER_HOME is not set and ./{DEFAULT_DAGSTER_HOME} does not exist: set DAGSTER_HOME, or pass --stale-after 0"
    try:
        return dagster_instance(), None
    except Exception as error:  # any storage problem: health still reports the records, and says it cannot judge freshness
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, f"the Dagster run history ($DAGSTER_HOME) cannot be read: {reason}"


def _print_verdict(console: Console, verdict: Verdict) -> None:
    if verdict.healthy:
        last = f"last successful run {format_time(verdict.last_success_at)}" if verdict.last_success_at else "freshness not checked"
        console.print(f"{verdict.sync}: healthy ({last if verdict.enabled else 'disabled'})", soft_wrap=True, markup=False)
    for reason in verdict.reasons:
        console.print(f"{verdict.sync}: {reason.code}: {reason.message}", soft_wrap=True, markup=False)


def _object_table(view: SyncHealth) -> Table:
    table = Table(title=f"{view.sync} ({view.object}): {view.total:,} records", title_justify="left")
    table.add_column("status")
    table.add_column("records", justify="right")
    table.add_row("synced", f"{view.synced:,}")
    table.add_row("failed", f"{view.failed_records:,}")
    for category, count in sorted(view.failed.items(), key=lambda item: -item[1]):
        table.add_row(f"  {guide_for(category).title} ({category})", f"{count:,}")
    if sum(view.failed.values()) > view.failed_records:
        table.add_row("  (a record failed in several steps is counted under each category)", "")
    table.add_row("excluded", f"{view.excluded_records:,}")
    for reason, count in sorted(view.excluded.items(), key=lambda item: -item[1]):
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("deleted in HubSpot", f"{view.deleted_in_hubspot:,}")
    table.add_row("deleted in the app", f"{view.deleted_in_app:,}")
    late = view.late_arrivals
    if late["passes"]:
        table.add_row(f"late arrivals, last 24 h ({late['passes']:,} trailing passes)", f"{late['hubspot'] + late['app']:,}")
    return table


def _print_steps(console: Console, view: SyncHealth) -> None:
    for category in sorted(view.failing, key=lambda c: -view.failing[c]):
        guide = guide_for(category)
        console.print(f"[bold]{guide.title}[/bold] ({view.failing[category]:,}): {guide.explanation}", soft_wrap=True)
        for step in guide.steps_for(view.sync):
            console.print(f"  - {step}", soft_wrap=True, markup=False)
    if view.records_command:
        console.print(f"The records: {view.records_command}", soft_wrap=True, markup=False)


def _describe(run: RunSummary | None) -> str:
    return f"{format_time(run.created_at)}  {run.status.lower()}  {run.mode or run.job}  {run.run_id}" if run else "never"


def _history_table(past: SyncHistory) -> Table:
    table = Table(title=f"{past.sync}: per day", title_justify="left")
    for column in ("day (UTC)", "runs", "failed runs", "records synced", "records failed"):
        table.add_column(column, justify="left" if column.startswith("day") else "right")
    for day in past.days:
        table.add_row(day.day.isoformat(), f"{day.runs:,}", f"{day.failed_runs:,}", f"{day.records_synced:,}", f"{day.records_failed:,}")
    return table


def known_names_or_exit(config: DatasyncConfig, names: list[str] | None) -> list[str] | None:
    known = [sync.name for sync in config.syncs]
    unknown = [name for name in names or [] if name not in known]
    if unknown:
        typer.echo(f"No sync named {', '.join(map(repr, unknown))} in the configuration; known syncs: {', '.join(known) or 'none'}", err=True)
        raise typer.Exit(2)
    return names or None
