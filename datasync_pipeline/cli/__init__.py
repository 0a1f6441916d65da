"""The ``datasync`` command: one typer app, with a sub-app per area."""

from __future__ import annotations

import typer

from datasync_pipeline.cli.sandbox import sandbox_app

app = typer.Typer(help="datasync: keep HubSpot and your other apps in sync.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


def main() -> None:
    app()
