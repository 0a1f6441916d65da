"""Incremental sync at scale: N linked contacts, a few changed on each side, one incremental run.

Seeds the same N contacts in the HubSpot sandbox and a SQLite app, links them with a first sync,
changes `--changes` records (half on each side), then times one incremental run and counts its
HubSpot API calls (goal: <= 10 calls and <= 5 s for 100 changes among 200,000 linked contacts).
Also counts the calls of an idle change-probe (the sensor's tick) when the probe is available.

    .venv/bin/python bench/incremental_sync.py --records 200000 --changes 100
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import sqlalchemy as sa

from datasync_pipeline.config import parse_config
from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table
from datasync_pipeline.defs.launch import run_first_sync, run_incremental
from datasync_pipeline.demo.seed import CUSTOMER_COLUMNS
from datasync_pipeline.sandbox import Sandbox, SandboxSettings

CONFIG = """
connections:
  hubspot: {{kind: hubspot, sandbox: {{path: "{home}/sandbox.sqlite"}}, tier: {tier}}}
  app: {{kind: sql, url: "sqlite:///{home}/app.sqlite"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - {{name: contacts, object: contacts, app: app, table: {{name: customers}}}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--tier", default="enterprise")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="datasync-incremental-"))
    people = [{"email": f"person{i}@example.com", "firstname": f"P{i}", "lastname": "Smith"} for i in range(args.records)]
    sandbox = Sandbox(SandboxSettings(db_path=str(home / "sandbox.sqlite"), tier=args.tier))
    # The linked records were last changed an hour ago: the steady state the sensor's runs work in.
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    ids = sandbox.seed("contacts", people, updated_at=an_hour_ago)
    engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
    spec = SqlTableSpec(table="customers", key_column="id", columns=list(CUSTOMER_COLUMNS), updated_at_column="updated_at", external_id_column="hubspot_id")
    table = create_app_table(engine, spec, CUSTOMER_COLUMNS)
    with engine.begin() as connection:
        connection.execute(sa.insert(table), [{"email": p["email"], "first_name": p["firstname"], "last_name": p["lastname"],
                                               "updated_at": an_hour_ago} for p in people])
    config = parse_config(CONFIG.format(home=home, tier=args.tier), source="bench")

    with dg.instance_for_test() as instance:
        started = time.perf_counter()
        first = run_first_sync(config, instance=instance, log_level="WARNING")
        print(f"first sync linking {args.records:,} contacts: {'ok' if first.success else 'FAILED'} in {time.perf_counter() - started:.1f} s")

        half = args.changes // 2
        client = httpx.Client(transport=httpx.WSGITransport(app=sandbox.wsgi_app), base_url="http://sandbox",
                              headers={"Authorization": "Bearer sandbox-token"})
        for start in range(0, half, 100):
            chunk = ids[start : min(half, start + 100)]
            client.post("/crm/v3/objects/contacts/batch/update",
                        json={"inputs": [{"id": i, "properties": {"city": "Bonn"}} for i in chunk]}).raise_for_status()
        with engine.begin() as connection:
            connection.execute(table.update().where(table.c.id > args.records - half).values(
                city="Graz", updated_at=sa.func.strftime("%Y-%m-%d %H:%M:%f000", "now")))
        engine.dispose()

        started = time.perf_counter()
        report = run_incremental(config, ["contacts"], instance=instance, log_level="WARNING")
        seconds = time.perf_counter() - started
        [sync] = report.syncs
        calls = {}
        for step in ("hubspot_records", "matched", "hubspot_load"):
            for endpoint, count in sync.value(step, "datasync/api_calls_by_endpoint", {}).items():
                calls[endpoint] = calls.get(endpoint, 0) + count
        print(f"incremental run, {args.changes} changes among {args.records:,} linked: {'ok' if report.success else 'FAILED'} "
              f"in {seconds:.2f} s, {sum(calls.values())} HubSpot API calls")
        print(f"  written: {sync.value('hubspot_load', 'datasync/updated')} HubSpot updates, {sync.value('app_load', 'datasync/updated')} app updates")
        for endpoint, count in sorted(calls.items()):
            print(f"    {count:>4}  {endpoint}")
        for key in ("datasync/freshness_p50_seconds", "datasync/freshness_p95_seconds"):
            print(f"  {key}: {sync.value('checkpoint', key, None)}")


if __name__ == "__main__":
    os.environ.setdefault("DATASYNC_SENSOR_INTERVAL_SECONDS", "30")
    main()
