"""`datasync run` and `datasync demo`: run the first sync and print what it did."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from datasync_pipeline.config import ConfigError, load_config
from datasync_pipeline.defs.launch import RunReport, SyncSummary, run_first_sync
from datasync_pipeline.engine.preview import PREVIEW_COLUMNS, plan_preview
from datasync_pipeline.health.export import export_format, export_records

console = Console()
ConfigOption = typer.Option(None, "--config", "-c", help="datasync.yaml (default: $DATASYNC_CONFIG, ./datasync.yaml, or the embedded demo)")


def first_sync(
    config_path: Path | None = ConfigOption,
    sync_name: str | None = typer.Option(None, "--sync", help="only this sync (default: every enabled sync, in one run)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="plan and report; write nothing anywhere"),
    output: Path | None = typer.Option(None, "--output", help="write the plan (every create, update and conflict) to FILE.csv, .xlsx or .parquet"),
    debug: bool = typer.Option(False, "--debug", help="show Dagster's log of every step, tracebacks included"),
) -> None:
    """Run the first sync: compare both sides in full, match, merge, write (`--dry-run`: only plan and report)."""
    try:
        config = load_config(config_path)
        if output is not None:
            export_format(output)
        started = time.perf_counter()
        report = run_first_sync(config, dry_run=dry_run, sync_name=sync_name, log_level="DEBUG" if debug else "CRITICAL")
    except (ConfigError, ValueError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    print_report(report, seconds=time.perf_counter() - started)
    if output is not None:
        plans = [plan_preview(sync.plan, sync.name) for sync in report.syncs if sync.plan is not None]
        written = export_records(plans, output, PREVIEW_COLUMNS) if plans else 0
        console.print(f"{'planned' if dry_run else 'written'}: {written:,} rows in {output}")
    if not report.success:
        console.print(f"[red]the run failed: {report.failure or 'see its failed step'}[/red]")
        console.print(f"its steps and logs: the Dagster UI, run {report.run_id} (`--debug` prints them here)")
        raise typer.Exit(1)


def demo(
    records: int = typer.Option(3000, help="contacts on each side (half of them shared)"),
    home: Path = typer.Option(Path(".datasync"), envvar="DATASYNC_HOME", help="where the sandbox, app and state databases go"),
    keep: bool = typer.Option(False, help="keep earlier demo data instead of starting afresh"),
) -> None:
    """Seed the sandbox and a SQLite app with overlapping contacts, then run the first sync on them."""
    from datasync_pipeline.demo.setup import seed_demo

    if home.exists() and not keep:
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DATASYNC_HOME"] = str(home.resolve())
    config = load_config(None) if not os.environ.get("DATASYNC_CONFIG") else load_config()
    counts = seed_demo(config, records_per_side=records)
    console.print(f"seeded {counts.hubspot:,} HubSpot contacts and {counts.app:,} app customers ({counts.shared:,} people on both sides), "
                  f"with companies and deals, in {home}")
    for portal, objects in counts.portals.items():
        seeded = ", ".join(f"{each.app:,} {name} ({each.shared:,} of them in the first portal too)" for name, each in objects.items())
        console.print(f"seeded the second portal {portal!r}: {seeded}")
    started = time.perf_counter()
    report = run_first_sync(config, log_level="WARNING")
    print_report(report, seconds=time.perf_counter() - started)
    console.print(f"\nOpen it in the Dagster UI: [bold]make ui[/bold], then http://127.0.0.1:3000/runs/{report.run_id}")
    if not report.success:
        console.print(f"[red]the run failed: {report.failure or 'see its failed step'}[/red]")
        raise typer.Exit(1)


SUMMARY_ROWS = [
    ("HubSpot records read", "hubspot_records", "dagster/row_count"),
    ("app records read", "app_records", "dagster/row_count"),
    ("matched pairs", "matched", "datasync/matched"),
    ("created in HubSpot", "hubspot_load", "datasync/created"),
    ("created in the app", "app_load", "datasync/created"),
    ("updated in HubSpot", "hubspot_load", "datasync/updated"),
    ("updated in the app", "app_load", "datasync/updated"),
    ("conflicts (default app won)", "merge_plan", "datasync/conflicts"),
    ("associations created in HubSpot", "associations", "datasync/associations_created_in_hubspot"),
    ("associations set in the app", "associations", "datasync/associations_updated_in_app"),
]


def print_report(report: RunReport, *, seconds: float) -> None:
    """One column per sync, one row per count; failures and exclusions by category below."""
    state = "succeeded" if report.success else "FAILED"
    kind = "dry run of the first sync" if report.dry_run else "first sync"
    title = f"{kind} {report.run_id[:8]}: {state} in {seconds:.1f} s"
    if not any(sync.metadata for sync in report.syncs):
        console.print(title)  # stopped before any step finished: nothing to count
        return
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for sync in report.syncs:
        table.add_column(sync.name, justify="right")
    for label, step, key in SUMMARY_ROWS:
        table.add_row(label, *(f"{sync.value(step, key):,}" for sync in report.syncs))
    for kind in ("failed", "excluded"):
        reasons = sorted({reason for sync in report.syncs for reason in _by_reason(sync, kind)})
        table.add_row(kind, *(f"{sum(_by_reason(sync, kind).values()):,}" for sync in report.syncs))
        for reason in reasons:
            table.add_row(f"  {reason}", *(f"{_by_reason(sync, kind).get(reason, 0):,}" for sync in report.syncs))
    table.add_row("HubSpot API calls", *(f"{sum(_api_calls(sync).values()):,}" for sync in report.syncs))
    console.print(table)
    for sync in report.syncs:
        calls = _api_calls(sync)
        if calls:
            console.print(f"{sync.name}, API calls by endpoint:")
            for endpoint, count in sorted(calls.items()):
                console.print(f"  {count:>6,}  {endpoint}")


def _by_reason(sync: SyncSummary, kind: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in ("hubspot_load", "app_load", "associations"):
        for key, value in sync.metadata.get(step, {}).items():
            if key.startswith(f"datasync/{kind}/"):
                reason = key.removeprefix(f"datasync/{kind}/")
                counts[reason] = counts.get(reason, 0) + value
    return counts


def _api_calls(sync: SyncSummary) -> dict[str, int]:
    calls: dict[str, int] = {}
    for step in ("hubspot_records", "matched", "hubspot_load", "associations"):
        for endpoint, count in sync.value(step, "datasync/api_calls_by_endpoint", {}).items():
            calls[endpoint] = calls.get(endpoint, 0) + count
    return calls
