"""Ongoing sync as deployed: Dagster storage on Postgres, `dagster-daemon` running the change sensor.

A change made in the app after the first sync appears in HubSpot through a run the daemon launched,
and that run is in the run history. The waits poll for the outcome with a deadline; none stands in
for synchronisation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from datasync_pipeline.config import load_config
from datasync_pipeline.defs.launch import run_first_sync
from datasync_pipeline_tests.defs.scenario import CONFIG, contacts_scenario

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
DEADLINE_SECONDS = 180

DAGSTER_YAML = """
storage:
  postgres:
    postgres_url: "{url}"
run_queue:
  max_concurrent_runs: 2
telemetry:
  enabled: false
"""


@pytest.fixture
def dagster_database(postgres_server_url):
    name = f"dagster_e2e_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(postgres_server_url).set(database=name, drivername="postgresql")
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def wait_for(condition, what: str):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"gave up after {DEADLINE_SECONDS} s waiting for {what}")


def test_the_daemon_launches_an_incremental_run_that_syncs_an_app_change(tmp_path: Path, dagster_database, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML.format(url=dagster_database))
    scenario = contacts_scenario(tmp_path)
    config_file = tmp_path / "datasync.yaml"
    config_file.write_text(CONFIG.format(home=tmp_path, extra=""))
    scenario.seed_hubspot([{"email": "ann@example.com", "firstname": "Ann"}])
    scenario.seed_app([{"email": "ann@example.com", "first_name": "Ann"}])
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DATASYNC_CONFIG", str(config_file))
    monkeypatch.setenv("DATASYNC_SENSOR_INTERVAL_SECONDS", "2")

    instance = dg.DagsterInstance.get()
    assert run_first_sync(load_config(), instance=instance, log_level="WARNING").success

    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET city = 'Lyon', updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now')"))
    engine.dispose()

    workspace = tmp_path / "workspace.yaml"
    workspace.write_text("load_from:\n  - python_module:\n      module_name: datasync_pipeline.definitions\n      attribute: defs\n")
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(workspace)],
                              env={**os.environ}, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=(tmp_path / "daemon.log").open("w"))
    try:
        def incremental_success():
            records = instance.get_run_records(dg.RunsFilter(tags={"datasync/mode": "incremental"}, statuses=[dg.DagsterRunStatus.SUCCESS]))
            return records

        records = wait_for(incremental_success, "a successful incremental run launched by the daemon")
        [contact] = scenario.hubspot_contacts().values()
        assert contact["city"] == "Lyon"
        run = records[0].dagster_run
        assert run.tags["datasync/sync"] == "contacts" and run.tags.get("dagster/sensor_name") == "datasync_changes"
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
