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
from datasync_pipeline.defs.launch import RunReport, run_first_sync

console = Console()
ConfigOption = typer.Option(None, "--config", "-c", help="datasync.yaml (default: $DATASYNC_CONFIG, ./datasync.yaml, or the embedded demo)")


def first_sync(config_path: Path | None = ConfigOption, dry_run: bool = typer.Option(False, "--dry-run", help="plan and report; write nothing")) -> None:
    """Run the first sync of every enabled sync: compare both sides in full, match, merge, write."""
    try:
        config = load_config(config_path)
    except ConfigError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    started = time.perf_counter()
    report = run_first_sync(config, dry_run=dry_run)
    print_report(report, seconds=time.perf_counter() - started)
    if not report.success:
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
    console.print(f"seeded {counts.hubspot:,} HubSpot contacts and {counts.app:,} app customers ({counts.shared:,} people on both sides) in {home}")
    started = time.perf_counter()
    report = run_first_sync(config)
    print_report(report, seconds=time.perf_counter() - started)
    console.print(f"\nOpen it in the Dagster UI: [bold]make ui[/bold], then http://127.0.0.1:3000/runs/{report.run_id}")
    if not report.success:
        raise typer.Exit(1)


def print_report(report: RunReport, *, seconds: float) -> None:
    table = Table(title=f"first sync, run {report.run_id[:8]} ({'succeeded' if report.success else 'FAILED'}) in {seconds:.1f} s")
    for column in ("sync", "HubSpot records", "app records", "matched", "created in HubSpot", "created in app",
                   "updated in HubSpot", "updated in app", "conflicts", "failed", "excluded", "API calls"):
        table.add_column(column, justify="right")
    for sync in report.syncs:
        hubspot_load, app_load = "hubspot_load", "app_load"
        table.add_row(
            sync.name,
            f"{sync.value('hubspot_records', 'dagster/row_count'):,}",
            f"{sync.value('app_records', 'dagster/row_count'):,}",
            f"{sync.value('matched', 'datasync/matched'):,}",
            f"{sync.value(hubspot_load, 'datasync/created'):,}",
            f"{sync.value(app_load, 'datasync/created'):,}",
            f"{sync.value(hubspot_load, 'datasync/updated'):,}",
            f"{sync.value(app_load, 'datasync/updated'):,}",
            f"{sync.value(hubspot_load, 'datasync/conflicts'):,}",
            f"{sync.value(hubspot_load, 'datasync/failed') + sync.value(app_load, 'datasync/failed'):,}",
            f"{sync.value(hubspot_load, 'datasync/excluded') + sync.value(app_load, 'datasync/excluded'):,}",
            f"{sync.value('hubspot_records', 'datasync/api_calls') + sync.value(hubspot_load, 'datasync/api_calls'):,}",
        )
    console.print(table)
    for sync in report.syncs:
        reasons = {k.split("/", 2)[2]: v for step in ("hubspot_load", "app_load") for k, v in sync.metadata.get(step, {}).items()
                   if k.startswith(("datasync/failed/", "datasync/excluded/"))}
        if reasons:
            console.print(f"{sync.name}: " + ", ".join(f"{reason} {count:,}" for reason, count in sorted(reasons.items())))
        calls = {**sync.value("hubspot_records", "datasync/api_calls_by_endpoint", {})}
        for endpoint, count in sync.value("hubspot_load", "datasync/api_calls_by_endpoint", {}).items():
            calls[endpoint] = calls.get(endpoint, 0) + count
        if calls:
            console.print(f"{sync.name} API calls: " + ", ".join(f"{endpoint} {count}" for endpoint, count in sorted(calls.items())))
