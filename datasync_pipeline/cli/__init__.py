"""The ``datasync`` command: one typer app, with a sub-app per area."""

from __future__ import annotations

import typer

from datasync_pipeline.cli.check import check
from datasync_pipeline.cli.conflicts import conflicts
from datasync_pipeline.cli.health import health
from datasync_pipeline.cli.records import records
from datasync_pipeline.cli.restore import restore
from datasync_pipeline.cli.run import demo, first_sync
from datasync_pipeline.cli.sandbox import sandbox_app
from datasync_pipeline.cli.syncs import sync_app

app = typer.Typer(help="datasync: keep HubSpot and your other apps in sync.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(sync_app, name="sync")
app.command("first-sync")(first_sync)
app.command("demo")(demo)
app.command("health")(health)
app.command("records")(records)
app.command("restore")(restore)
app.command("conflicts")(conflicts)
app.command("check")(check)


def main() -> None:
    app()
