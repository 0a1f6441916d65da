"""`datasync restore`: bring back records deleted on one side of a sync (rule 10)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from datasync_pipeline.config import ConfigError, load_config
from datasync_pipeline.defs.launch import run_restore

console = Console()


def restore(
    sync: str = typer.Option(..., "--sync", help="the sync whose deleted records to restore"),
    target: str = typer.Option(..., "--target", help="where the records were deleted: hubspot or app"),
    preview: bool = typer.Option(False, "--preview", help="list what would be restored; write nothing"),
    yes: bool = typer.Option(False, "--yes", help="restore without asking"),
    config_path: Path | None = typer.Option(None, "--config", "-c", help="datasync.yaml"),
) -> None:
    """Preview, then recreate every record of SYNC deleted in TARGET, re-linked to its surviving record."""
    if target not in ("hubspot", "app"):
        console.print(f"[red]--target must be hubspot or app, not {target!r}[/red]")
        raise typer.Exit(2)
    try:
        config = load_config(config_path)
    except ConfigError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    names = [s.name for s in config.syncs]
    if sync not in names:
        console.print(f"[red]no sync named {sync!r}; known: {', '.join(names)}[/red]")
        raise typer.Exit(2)
    listed = run_restore(config, sync, target, preview=True)
    if not listed.success:
        console.print(f"[red]the preview failed: see run {listed.run_id} in the Dagster UI[/red]")
        raise typer.Exit(1)
    _print_preview(listed.records, sync, target)
    if preview or listed.records.empty:
        return
    if not yes and not typer.confirm(f"Restore all {len(listed.records):,} records in {target}?"):
        raise typer.Exit(1)
    done = run_restore(config, sync, target, preview=False)
    restored, failed = done.metadata.get("datasync/restored", 0), done.metadata.get("datasync/failed", 0)
    console.print(f"restored {restored:,} records in {target}; {failed:,} failed (run {done.run_id})")
    if not done.success or failed:
        raise typer.Exit(1)


def _print_preview(records, sync: str, target: str) -> None:
    table = Table(title=f"{sync}: {len(records):,} records deleted in {target} would be restored", title_justify="left")
    for column in ("HubSpot id", "app id", "last synced values"):
        table.add_column(column)
    for hubspot_id, app_id, values in records[["hubspot_id", "app_id", "values"]].head(50).itertuples(index=False):
        table.add_row(str(hubspot_id), str(app_id), ", ".join(f"{k}={v}" for k, v in sorted(values.items())))
    console.print(table)
