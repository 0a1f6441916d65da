"""Every setting datasync takes from the environment, in one object, parsed in one place.

``Settings.from_environment()`` reads them all at once and refuses every wrong value together, each named
with its variable and what it must be. Nothing reads the environment at import time: the definitions load
the settings once (``definitions.py``) and hand them to the asset factory and the sensor; plain code that
runs outside the definitions (the state store's retry schedule, the lease, the health views) asks for
``current()``, which parses the environment of the moment the same way.

A leaf module (no datasync import), for every layer to use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """One or more environment variables hold a value datasync cannot use; the message names each."""


def _whole_seconds(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError("must be a whole number of seconds, at least 1")
    return int(raw)


def _seconds(raw: str) -> timedelta:
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError("must be a number of seconds, e.g. 60") from None
    if seconds < 0:
        raise ValueError("must be a number of seconds, 0 or more")
    return timedelta(seconds=seconds)


def _count(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError("must be a whole number, 0 or more")
    return int(raw)


def _share(raw: str) -> float:
    try:
        share = float(raw)
    except ValueError:
        raise ValueError("must be a share between 0 and 1, e.g. 0.05") from None
    if not 0 <= share <= 1:
        raise ValueError("must be a share between 0 and 1, e.g. 0.05")
    return share


def _backoff(raw: str) -> float:
    return _seconds(raw).total_seconds()


def _directory(raw: str) -> Path:
    return Path(raw).expanduser()


def _setting(variable: str, parse: Callable[[str], Any], default: Any, meaning: str) -> Any:
    return field(default=default, metadata={"variable": variable, "parse": parse, "meaning": meaning})


@dataclass(frozen=True)
class Settings:
    """What the environment sets, with the default of each when its variable is unset or empty."""

    sensor_interval_seconds: int = _setting(
        "DATASYNC_SENSOR_INTERVAL_SECONDS", _whole_seconds, 600, "how often the change sensor looks for changes (rule 9: 10 minutes)")
    reconcile_seconds: int = _setting(
        "DATASYNC_RECONCILE_SECONDS", _whole_seconds, 3600, "how often a sync runs even without a detected change, checking every link")
    lease_seconds: int = _setting(
        "DATASYNC_LEASE_SECONDS", _whole_seconds, 300, "how long a run that stopped renewing its lease holds its syncs")
    hubspot_overlap: timedelta = _setting(
        "DATASYNC_HUBSPOT_OVERLAP_SECONDS", _seconds, timedelta(seconds=60), "how far before its watermark a change read of HubSpot starts")
    app_overlap: timedelta = _setting(
        "DATASYNC_APP_OVERLAP_SECONDS", _seconds, timedelta(seconds=30), "how far before its watermark a change read of the app starts")
    trailing_window: timedelta = _setting(
        "DATASYNC_TRAILING_WINDOW_SECONDS", _seconds, timedelta(hours=1),
        "how far behind the watermarks a trailing pass re-reads, for changes that surface late; 0: no trailing passes")
    trailing_every_seconds: int = _setting(
        "DATASYNC_TRAILING_EVERY_SECONDS", _whole_seconds, 900, "how often a trailing pass runs (the sensor launches one when due)")
    failed_share_error: float = _setting(
        "DATASYNC_FAILED_SHARE_ERROR", _share, 0.05, "the share of failed records at which a sync's health check is an error")
    retry_max_attempts: int = _setting(
        "DATASYNC_RETRY_MAX_ATTEMPTS", _count, 5, "how many times a transient write failure is tried")
    retry_records_per_run: int = _setting(
        "DATASYNC_RETRY_RECORDS_PER_RUN", _count, 500, "at most this many failed records retried by one run")
    retry_backoff_seconds: float = _setting(
        "DATASYNC_RETRY_BACKOFF_SECONDS", _backoff, 600.0, "the wait before the first retry (doubling, at most a day)")
    rate_limit_dir: Path | None = _setting(
        "DATASYNC_RATE_LIMIT_DIR", _directory, None, "where processes share each HubSpot account's rate budget (default: the temp dir)")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings ``environ`` (default: this process's environment) holds; every wrong value refused at once."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems = []
        for setting in fields(cls):
            variable = setting.metadata["variable"]
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            try:
                values[setting.name] = setting.metadata["parse"](raw)
            except ValueError as wrong:
                problems.append(f"{variable} {wrong}; got {raw!r}")
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(**values)

    @classmethod
    def reference(cls) -> list[tuple[str, str, str]]:
        """(variable, default, meaning) of every setting: the README's table."""
        return [(s.metadata["variable"], str(s.default), s.metadata["meaning"]) for s in fields(cls)]


def current() -> Settings:
    """The settings of this moment's environment: for plain code that runs outside the definitions."""
    return Settings.from_environment()
