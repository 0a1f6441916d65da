"""``datasync conflicts``: the conflict log of ongoing sync (rule 3): which field differed, both values, who won."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from datasync_pipeline.cli.common import ConfigOption, load_or_exit, open_state_or_exit
from datasync_pipeline.health.export import export_format, export_records
from datasync_pipeline.state import progress

COLUMNS = ["sync", "hubspot_id", "app_id", "field", "hubspot_value", "app_value", "winner", "run_id", "recorded_at"]


def conflicts(
    config_path: Path | None = ConfigOption,
    sync_name: str | None = typer.Option(None, "--sync", "-s", help="only this sync"),
    output: Path | None = typer.Option(None, "--output", "-O", help="export to this file: .csv, .xlsx or .parquet"),
    limit: int = typer.Option(50, "--limit", min=1, help="rows to print without --output"),
) -> None:
    """List, or export, every field where both sides disagreed and which value won."""
    config = load_or_exit(config_path)
    if sync_name is not None and sync_name not in {s.name for s in config.syncs}:
        typer.echo(f"no sync named {sync_name!r}; known: {', '.join(s.name for s in config.syncs)}", err=True)
        raise typer.Exit(2)
    if output is not None:
        try:
            export_format(output)
        except ValueError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from None
    engine = open_state_or_exit(config)
    logged = progress.read_conflicts(engine, sync_name)[COLUMNS]
    if output is not None:
        written = export_records([logged], output, COLUMNS)
        typer.echo(f"exported {written:,} conflicts to {output}")
        return
    table = Table(title=f"{len(logged):,} conflicts" + (f" in {sync_name}" if sync_name else ""), title_justify="left")
    for column in COLUMNS[:7] + ["recorded_at"]:
        table.add_column(column)
    for row in logged.tail(limit).itertuples(index=False):
        values = row._asdict()
        table.add_row(*(str(values[c]) if values[c] is not None else "" for c in COLUMNS[:7] + ["recorded_at"]))
    Console().print(table)
