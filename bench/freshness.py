"""Change -> synced lag with the real daemon: `dagster-daemon` runs the change sensor every N seconds.

Seeds a small contacts sync (embedded sandbox + SQLite app), runs the first sync, starts the daemon,
then changes one app row every `--every` seconds and polls HubSpot until each change has arrived.
Prints the lag of each change and p50 / p95 (goal: p95 <= 60 s with a 30 s sensor interval).

    .venv/bin/python bench/freshness.py --interval 30 --changes 8 --every 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.config import load_config
from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table
from datasync_pipeline.defs.launch import run_first_sync
from datasync_pipeline.demo.seed import CUSTOMER_COLUMNS
from datasync_pipeline.sandbox import Sandbox, SandboxSettings

CONFIG = """
connections:
  hubspot: {{kind: hubspot, sandbox: {{path: "{home}/sandbox.sqlite"}}, tier: starter}}
  app: {{kind: sql, url: "sqlite:///{home}/app.sqlite"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - {{name: contacts, object: contacts, app: app, table: {{name: customers}}}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=int, default=30, help="sensor interval, seconds")
    parser.add_argument("--changes", type=int, default=8)
    parser.add_argument("--every", type=float, default=20, help="seconds between changes")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="datasync-freshness-"))
    (home / "dagster_home").mkdir()
    (home / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (home / "datasync.yaml").write_text(CONFIG.format(home=home))
    os.environ.update({"DAGSTER_HOME": str(home / "dagster_home"), "DATASYNC_CONFIG": str(home / "datasync.yaml"),
                       "DATASYNC_SENSOR_INTERVAL_SECONDS": str(args.interval)})
    people = [{"email": f"p{i}@example.com", "firstname": f"P{i}"} for i in range(args.changes)]
    sandbox = Sandbox(SandboxSettings(db_path=str(home / "sandbox.sqlite")))
    sandbox.seed("contacts", people)
    engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
    spec = SqlTableSpec(table="customers", key_column="id", columns=list(CUSTOMER_COLUMNS), updated_at_column="updated_at", external_id_column="hubspot_id")
    table = create_app_table(engine, spec, CUSTOMER_COLUMNS)
    with engine.begin() as connection:
        connection.execute(sa.insert(table), [{"email": p["email"], "first_name": p["firstname"]} for p in people])
    instance = dg.DagsterInstance.get()
    assert run_first_sync(load_config(), instance=instance, log_level="WARNING").success
    (home / "workspace.yaml").write_text("load_from:\n  - python_module:\n      module_name: datasync_pipeline.definitions\n      attribute: defs\n")
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")],
                              cwd=home, stdout=subprocess.DEVNULL, stderr=(home / "daemon.log").open("w"))
    client = httpx.Client(transport=httpx.WSGITransport(app=sandbox.wsgi_app), base_url="http://sandbox",
                          headers={"Authorization": "Bearer sandbox-token"})
    changed_at: dict[str, float] = {}
    arrived_at: dict[str, float] = {}
    try:
        next_change = time.monotonic() + 10
        deadline = time.monotonic() + args.changes * args.every + 8 * args.interval + 120
        while len(arrived_at) < args.changes and time.monotonic() < deadline:
            now = time.monotonic()
            if len(changed_at) < args.changes and now >= next_change:
                email = people[len(changed_at)]["email"]
                with engine.begin() as connection:
                    connection.execute(table.update().where(table.c.email == email).values(
                        city="Lyon", updated_at=sa.func.strftime("%Y-%m-%d %H:%M:%f000", "now")))
                changed_at[email] = now
                next_change = now + args.every
            pending = [e for e in changed_at if e not in arrived_at]
            if pending:
                answer = client.post("/crm/v3/objects/contacts/batch/read", json={
                    "idProperty": "email", "properties": ["city", "email"], "inputs": [{"id": e} for e in pending]}).json()
                for record in answer.get("results", []):
                    if record["properties"].get("city") == "Lyon":
                        arrived_at[record["properties"]["email"]] = time.monotonic()
            time.sleep(0.5)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    lags = pd.Series({email: arrived_at[email] - changed_at[email] for email in arrived_at})
    print(f"sensor interval {args.interval} s, {len(changed_at)} changes, {len(arrived_at)} arrived")
    for email, lag in lags.items():
        print(f"  {email}: {lag:.1f} s")
    if len(lags):
        print(f"change -> synced lag: p50 {lags.quantile(0.5):.1f} s, p95 {lags.quantile(0.95):.1f} s, max {lags.max():.1f} s")
    runs = instance.get_run_records(dg.RunsFilter(tags={"datasync/mode": "incremental"}))
    print(f"incremental runs launched by the daemon: {len(runs)}")


if __name__ == "__main__":
    main()
