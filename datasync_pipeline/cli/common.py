"""What every `datasync` command needs: the config file option, and opening config and state with clear errors."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
import typer

from datasync_pipeline.config import ConfigError, DatasyncConfig, load_config
from datasync_pipeline.config.secrets import MissingVariable, resolve
from datasync_pipeline.state import StateStore

ConfigOption = typer.Option(None, "--config", "-c", help="datasync.yaml (default: $DATASYNC_CONFIG, ./datasync.yaml, or the embedded demo)")


def load_or_exit(config_path: Path | None) -> DatasyncConfig:
    """The configuration, or exit 2 with every problem listed."""
    try:
        return load_config(config_path)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


def open_store_or_exit(config: DatasyncConfig) -> StateStore:
    """The state store; a problem names the setting, never the URL (it may hold a password)."""
    try:
        return StateStore(resolve(config.state.url, where="state.url"))
    except MissingVariable as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    except sa.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or type(error).__name__).splitlines()[0]
        typer.echo(f"cannot open the state store that `state.url` names: {reason}", err=True)
        raise typer.Exit(1) from None


def open_state_or_exit(config: DatasyncConfig) -> sa.Engine:
    """The state store's engine, for the views that query its tables directly."""
    return open_store_or_exit(config).engine
