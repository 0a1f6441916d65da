"""``datasync health``: the object view of every sync (rule 12), and with ``--history`` its health over time.

A table per sync: synced, failed by error category, excluded by reason, deleted on each side; below it
the troubleshooting steps of every failing category present. ``--json`` prints the same for scripts.
``--history`` reads Dagster's run history (``$DAGSTER_HOME``): last run, last success, and per day the
runs, failed runs, records synced and records failed.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from datasync_pipeline.cli.common import ConfigOption, load_or_exit, open_state_or_exit
from datasync_pipeline.config import DatasyncConfig
from datasync_pipeline.health.catalogue import guide_for
from datasync_pipeline.health.history import RunSummary, SyncHistory, sync_history
from datasync_pipeline.health.object_view import SyncHealth, object_view
from datasync_pipeline.ongoing.probe import format_time



def health(
    config_path: Path | None = ConfigOption,
    sync_names: list[str] | None = typer.Option(None, "--sync", "-s", help="only this sync (repeatable)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
    history: bool = typer.Option(False, "--history", help="also show health over time from the Dagster run history"),
    days: int = typer.Option(14, "--days", min=1, help="with --history: how many days back, today included"),
) -> None:
    """Sync health per sync: synced, failed (by category, with what to do), excluded (by reason), deleted on one side."""
    config = load_or_exit(config_path)
    names = known_names_or_exit(config, sync_names)
    views = object_view(config, open_state_or_exit(config), names)
    histories = []
    if history:
        from datasync_pipeline.defs.launch import dagster_instance

        instance = dagster_instance()
        histories = [sync_history(instance, view.sync, days=days) for view in views]
    if as_json:
        rows = [view.as_dict() for view in views]
        for row, past in zip(rows, histories):
            row["history"] = past.as_dict()
        typer.echo(json.dumps(rows, indent=2))
        return
    console = Console()
    for view in views:
        console.print(_object_table(view))
        _print_steps(console, view)
    for past in histories:
        console.print(f"{past.sync}: last run {_describe(past.last_run)}", soft_wrap=True, markup=False)
        console.print(f"{past.sync}: last success {_describe(past.last_success)}", soft_wrap=True, markup=False)
        console.print(_history_table(past))


def _object_table(view: SyncHealth) -> Table:
    table = Table(title=f"{view.sync} ({view.object}): {view.total:,} records", title_justify="left")
    table.add_column("status")
    table.add_column("records", justify="right")
    table.add_row("synced", f"{view.synced:,}")
    table.add_row("failed", f"{sum(view.failed.values()):,}")
    for category, count in sorted(view.failed.items(), key=lambda item: -item[1]):
        table.add_row(f"  {guide_for(category).title} ({category})", f"{count:,}")
    table.add_row("excluded", f"{sum(view.excluded.values()):,}")
    for reason, count in sorted(view.excluded.items(), key=lambda item: -item[1]):
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("deleted in HubSpot", f"{view.deleted_in_hubspot:,}")
    table.add_row("deleted in the app", f"{view.deleted_in_app:,}")
    return table


def _print_steps(console: Console, view: SyncHealth) -> None:
    for category in sorted(view.failing, key=lambda c: -view.failing[c]):
        guide = guide_for(category)
        console.print(f"[bold]{guide.title}[/bold] ({view.failing[category]:,}): {guide.explanation}", soft_wrap=True)
        for step in guide.steps_for(view.sync):
            console.print(f"  - {step}", soft_wrap=True, markup=False)
    if view.failing:
        console.print(f"The records: datasync records --sync {view.sync} --status failed", markup=False)


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
