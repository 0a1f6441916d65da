"""The settings object: every DATASYNC_* variable parsed in one place, wrong values refused together, the README true."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from datasync_pipeline.settings import Settings, SettingsError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_defaults_when_nothing_is_set():
    settings = Settings.from_environment({})
    assert settings.sensor_interval_seconds == 600
    assert settings.reconcile_seconds == 3600
    assert settings.hubspot_overlap == timedelta(seconds=60)
    assert settings.app_overlap == timedelta(seconds=30)
    assert settings.failed_share_error == 0.05
    assert settings.rate_limit_dir is None


def test_values_are_parsed_to_their_types():
    settings = Settings.from_environment({
        "DATASYNC_SENSOR_INTERVAL_SECONDS": "30", "DATASYNC_HUBSPOT_OVERLAP_SECONDS": "1.5", "DATASYNC_RETRY_BACKOFF_SECONDS": "0",
        "DATASYNC_FAILED_SHARE_ERROR": "0.5", "DATASYNC_RATE_LIMIT_DIR": "/tmp/budgets", "DATASYNC_APP_OVERLAP_SECONDS": " ",
    })
    assert settings.sensor_interval_seconds == 30
    assert settings.hubspot_overlap == timedelta(seconds=1.5)
    assert settings.retry_backoff_seconds == 0
    assert settings.failed_share_error == 0.5
    assert settings.rate_limit_dir == Path("/tmp/budgets")
    assert settings.app_overlap == timedelta(seconds=30)  # blank: the default


def test_every_wrong_value_is_refused_at_once_with_its_variable():
    with pytest.raises(SettingsError) as refused:
        Settings.from_environment({"DATASYNC_SENSOR_INTERVAL_SECONDS": "0", "DATASYNC_FAILED_SHARE_ERROR": "5%",
                                   "DATASYNC_APP_OVERLAP_SECONDS": "-1", "DATASYNC_RETRY_MAX_ATTEMPTS": "many"})
    message = str(refused.value)
    for variable, got in (("DATASYNC_SENSOR_INTERVAL_SECONDS", "'0'"), ("DATASYNC_FAILED_SHARE_ERROR", "'5%'"),
                          ("DATASYNC_APP_OVERLAP_SECONDS", "'-1'"), ("DATASYNC_RETRY_MAX_ATTEMPTS", "'many'")):
        assert variable in message and got in message


def test_the_readme_lists_every_setting():
    readme = README.read_text()
    for variable, _default, meaning in Settings.reference():
        assert f"| `{variable}` |" in readme and meaning in readme, variable
