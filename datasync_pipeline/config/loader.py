"""Loading ``datasync.yaml``: find it, parse it, validate it, and explain what is wrong.

A refused file is reported as ``datasync.yaml:14 syncs[2].mappings[0].hubspot: <cause>`` for every
problem at once, with the line the YAML parser saw, so a user fixes the file in one pass.
Values are never echoed in errors: they may be secrets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from datasync_pipeline.config.checks import Problem, find_problems
from datasync_pipeline.config.model import DatasyncConfig
from datasync_pipeline.config.secrets import MissingVariable, interpolate_embedded
from datasync_pipeline.errors import DatasyncError

CONFIG_ENV_VAR = "DATASYNC_CONFIG"
EMBEDDED_DEFAULT = "embedded default (datasync_pipeline/demo/datasync.yaml)"


@dataclass(frozen=True)
class LocatedProblem:
    """One problem at its place: ``where`` is ``file:line`` (or the file), ``path`` e.g. ``syncs[0].table.name``."""

    where: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.where} {self.path}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"where": self.where, "path": self.path, "message": self.message}


class ConfigError(DatasyncError):
    """The configuration file is refused; the message lists every problem with its place (``problems``)."""

    def __init__(self, message: str, problems: list[LocatedProblem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [LocatedProblem("", "(top level)", message)]

    @classmethod
    def of_file(cls, source: str, cause: str) -> ConfigError:
        """A refusal of the file as a whole (missing, not YAML, empty)."""
        return cls(f"{source}: {cause}", [LocatedProblem(source, "(top level)", cause)])


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The file to load: ``--config``, else ``$DATASYNC_CONFIG``, else ``./datasync.yaml`` if present."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV_VAR):
        return Path(os.environ[CONFIG_ENV_VAR])
    local = Path("datasync.yaml")
    return local if local.exists() else None


def load_config(path: str | os.PathLike[str] | None = None) -> DatasyncConfig:
    """Load and validate the configuration; with no file anywhere, the embedded demo default."""
    text, source = config_text(path)
    return parse_config(text, source=source)


def config_text(path: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """The text of the configuration ``load_config`` would load, and its source for messages."""
    resolved = config_path(path)
    if resolved is None:
        return resources.files("datasync_pipeline.demo").joinpath("datasync.yaml").read_text(), EMBEDDED_DEFAULT
    if not resolved.exists():
        raise ConfigError.of_file(str(resolved), "no such configuration file")
    return resolved.read_text(), str(resolved)


def locate(problems: list[Problem], path: str | os.PathLike[str] | None = None) -> list[LocatedProblem]:
    """Problems found after loading (``config.checks.live_problems``) at their line of the configuration."""
    text, source = config_text(path)
    return _located(problems, source=source, lines=_lines_by_path(yaml.compose(text)))


def parse_config(text: str, *, source: str) -> DatasyncConfig:
    try:
        document = yaml.compose(text)
    except yaml.YAMLError as error:
        raise ConfigError.of_file(source, f"not valid YAML: {error}") from None
    if document is None:
        raise ConfigError.of_file(source, "the file is empty")
    lines = _lines_by_path(document)
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise ConfigError.of_file(source, "the top level must be a mapping with connections, state and syncs")
    missing: list[Problem] = []
    raw = _interpolate(raw, path=(), missing=missing)
    if missing:
        raise _describe(missing, source=source, lines=lines)
    try:
        config = DatasyncConfig.model_validate(raw)
    except ValidationError as error:
        problems = [(_without_union_tag(tuple(e["loc"])), e["msg"].removeprefix("Value error, ")) for e in error.errors()]
        raise _describe(problems, source=source, lines=lines) from None
    problems = find_problems(config)
    if problems:
        raise _describe(problems, source=source, lines=lines)
    return config


def _interpolate(value: Any, *, path: tuple[Any, ...], missing: list[Problem]) -> Any:
    if isinstance(value, dict):
        return {key: _interpolate(item, path=path + (key,), missing=missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, path=path + (index,), missing=missing) for index, item in enumerate(value)]
    if isinstance(value, str):
        try:
            return interpolate_embedded(value)
        except MissingVariable as error:
            missing.append((path, str(error)))
    return value


def _describe(problems: list[Problem], *, source: str, lines: dict[tuple[Any, ...], int]) -> ConfigError:
    located = _located(problems, source=source, lines=lines)
    count = len(located)
    header = f"{source}: {count} problem{'s' if count > 1 else ''} in the configuration"
    return ConfigError("\n".join([header, *(f"  {problem}" for problem in located)]), located)


def _located(problems: list[Problem], *, source: str, lines: dict[tuple[Any, ...], int]) -> list[LocatedProblem]:
    located = []
    for path, message in problems:
        line = _nearest_line(path, lines)
        located.append(LocatedProblem(f"{source}:{line}" if line else source, format_path(path) or "(top level)", message))
    return located


def _without_union_tag(path: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts the connection's kind ("hubspot", "sql") after its name in the location.
    if len(path) >= 3 and path[0] == "connections" and path[2] in ("hubspot", "sql"):
        return path[:2] + path[3:]
    return path


def format_path(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _lines_by_path(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = path + (key_node.value,)
            lines.update(_lines_by_path(value_node, child))
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_lines_by_path(item, path + (index,)))
    return lines


def _nearest_line(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
