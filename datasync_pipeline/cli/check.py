"""``datasync check``: is the configuration right, against the real databases and HubSpot accounts?

Loads the file (every shape and reference problem at once), connects to every connection and checks
each sync the way a run would when it starts: the app table and its key, ``updated_at``, external-id,
mapped, association and filter columns exist; HubSpot has the mapped and filtered properties; the
types fit. One line per problem, ``file:line path: cause``, with near matches instead of the schema.
Nothing is written anywhere. Exit 0: no problem; 1: problems (listed); 2: wrong use.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from datasync_pipeline.cli.common import ConfigOption
from datasync_pipeline.config import ConfigError, load_config
from datasync_pipeline.config.checks import live_problems
from datasync_pipeline.config.loader import LocatedProblem, config_text, locate


def check(
    config_path: Path | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help='print {"ok", "config", "problems": [{"where", "path", "message"}]}'),
    debug: bool = typer.Option(False, "--debug", help="show the traceback of an unexpected error instead of one line"),
) -> None:
    """Check the configuration against the app databases and HubSpot without writing anything; exit 1 on problems."""
    try:
        source, problems, checked = _problems(config_path)
    except Exception as error:  # one line for the user; the traceback with --debug
        if debug:
            raise
        typer.echo(f"datasync check failed unexpectedly: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''} "
                   "(rerun with --debug for the traceback)", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps({"ok": not problems, "config": source, "problems": [problem.as_dict() for problem in problems]}, indent=2))
    else:
        for problem in problems:
            typer.echo(str(problem))
        if problems:
            typer.echo(f"{len(problems)} problem{'s' if len(problems) > 1 else ''}; nothing was written.")
        else:
            typer.echo(f"ok: {checked}; nothing was written.")
    if problems:
        raise typer.Exit(1)


def _problems(config_path: Path | None) -> tuple[str | None, list[LocatedProblem], str]:
    """The configuration's source, its problems in file order, and what was checked (for the ok line)."""
    source = None
    try:
        source = config_text(config_path)[1]
        config = load_config(config_path)
    except ConfigError as error:
        return source, error.problems, ""
    problems = locate(live_problems(config), config_path)
    checked = f"{len(config.syncs)} sync{'s' if len(config.syncs) != 1 else ''} against {len(config.connections)} connections"
    return source, problems, checked
