"""`${VAR}` references: how the config file names secrets without holding them.

A value that is exactly ``${VAR}`` stays a reference until a run needs it (Dagster gets it as
``dg.EnvVar``, so it never shows in run config). A reference inside a longer value
(``sqlite:///${DATASYNC_HOME:-.datasync}/app.sqlite``) is substituted when the file loads, with
``:-default`` when the variable is unset; use that only for values that are not secret.
"""

from __future__ import annotations

import os
import re

from datasync_pipeline.errors import DatasyncError

WHOLE_REFERENCE = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}$")
EMBEDDED_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def env_var_name(value: str) -> str | None:
    """The variable a whole-value reference names, or None for a literal."""
    match = WHOLE_REFERENCE.match(value)
    return match.group("name") if match else None


class MissingVariable(DatasyncError):
    """A reference names a variable that is not set and has no default."""


def resolve(value: str, *, where: str = "") -> str:
    """The value with references replaced from the environment; names the variable, never its value."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise MissingVariable(f"{where}: environment variable {name} is not set" if where else f"environment variable {name} is not set")

    return EMBEDDED_REFERENCE.sub(substitute, value)


def interpolate_embedded(value: str) -> str:
    """Substitute references inside longer values at load time; whole-value references stay as they are."""
    if env_var_name(value) is not None:
        return value
    return resolve(value)


def resource_value(value: str):
    """For a Dagster resource: a whole ``${VAR}`` becomes ``dg.EnvVar`` (read only when a run starts); a literal stays."""
    import dagster as dg  # only the code location builds resources; reading a config does not import Dagster

    name = env_var_name(value)
    return dg.EnvVar(name) if name else value
