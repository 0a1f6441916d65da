"""``datasync records``: the record view (rule 12): list the records of the syncs, or export them to a file.

Filters: ``--sync``, ``--object``, ``--status`` (each repeatable), ``--since`` / ``--until`` (a date or an ISO
timestamp; times are those of the record's last sync or outcome). ``--columns a,b,c`` picks columns.
``--output FILE`` exports every matching record to CSV, Excel (.xlsx) or Parquet by the file's extension,
with a progress bar; without it the first ``--limit`` records are printed. Exports hold record data only.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from datasync_pipeline.cli.common import ConfigOption, load_or_exit, open_state_or_exit
from datasync_pipeline.health.export import export_format, export_records
from datasync_pipeline.health.records import RecordViewError, choose_columns, count_records, parse_time, read_records, selected_syncs, table_columns
from datasync_pipeline.health.rows import STATUSES, RecordFilter


def records(
    config_path: Path | None = ConfigOption,
    sync_names: list[str] | None = typer.Option(None, "--sync", "-s", help="only this sync (repeatable)"),
    objects: list[str] | None = typer.Option(None, "--object", "-o", help="only syncs of this object type, e.g. contacts (repeatable)"),
    statuses: list[str] | None = typer.Option(None, "--status", help=f"only records in this status (repeatable): {', '.join(STATUSES)}"),
    since: str | None = typer.Option(None, "--since", help="from this date or ISO timestamp (UTC unless it says otherwise)"),
    until: str | None = typer.Option(None, "--until", help="up to this date (the whole day) or ISO timestamp"),
    columns: str | None = typer.Option(None, "--columns", help="comma-separated columns, e.g. status,category,email "
                                       "(default: every column with --json/--output; a narrower set in the table)"),
    output: Path | None = typer.Option(None, "--output", "-O", help="export to this file: .csv, .xlsx or .parquet"),
    limit: int = typer.Option(50, "--limit", min=1, help="rows to print without --output"),
    as_json: bool = typer.Option(False, "--json", help="print the rows as JSON lines instead of a table"),
) -> None:
    """List the records of the syncs with their status, or export them (CSV, Excel, Parquet)."""
    config = load_or_exit(config_path)
    unknown_status = [status for status in statuses or [] if status not in STATUSES]
    try:
        if unknown_status:
            raise RecordViewError(f"unknown status {', '.join(map(repr, unknown_status))}; use one of {', '.join(STATUSES)}")
        syncs = selected_syncs(config, syncs=sync_names, objects=objects)
        chosen = choose_columns(syncs, [c.strip() for c in columns.split(",") if c.strip()] if columns else None)
        if not columns and output is None and not as_json:
            chosen = table_columns(syncs)  # a table fits the terminal; exports and JSON keep every column
        where = RecordFilter(
            statuses=tuple(statuses or ()),
            since=parse_time(since) if since else None,
            until=parse_time(until, end_of_day=True) if until else None,
        )
        if output is not None:
            export_format(output)
    except (RecordViewError, ValueError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    engine = open_state_or_exit(config)
    total = count_records(engine, syncs, where)
    if output is not None:
        _export(engine, syncs, chosen, where, output, total)
    elif as_json:
        for chunk in read_records(engine, syncs, columns=chosen, where=where, limit=limit):
            for line in chunk.to_json(orient="records", lines=True, date_format="iso", date_unit="us").strip().splitlines():
                typer.echo(line)
    else:
        _print(engine, syncs, chosen, where, limit, total)


def _export(engine, syncs, columns: list[str], where: RecordFilter, output: Path, total: int) -> None:
    console = Console(stderr=True)
    with Progress(TextColumn("exporting records"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("export", total=total)
        written = export_records(read_records(engine, syncs, columns=columns, where=where), output, columns,
                                 progress=lambda rows: progress.advance(task, rows))
    typer.echo(f"{written:,} records exported to {output} ({export_format(output)})")


def _print(engine, syncs, columns: list[str], where: RecordFilter, limit: int, total: int) -> None:
    table = Table(title=f"{total:,} records" + (f", the first {limit:,}" if total > limit else ""), title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")  # wrap a long value (an email, an id) instead of hiding its end
    for chunk in read_records(engine, syncs, columns=columns, where=where, limit=limit):
        shown = chunk.astype(object).where(chunk.notna(), None)
        for row in shown.itertuples(index=False, name=None):
            table.add_row(*("" if value is None else str(value) for value in row))
    Console().print(table)
    if total > limit:
        typer.echo(f"{total - limit:,} more: raise --limit, or export them all with --output records.csv (or .xlsx, .parquet)")
