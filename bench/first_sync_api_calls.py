"""First sync of N contacts a side against the HubSpot sandbox served over loopback HTTP.

Prints the HubSpot API calls of the run per 100 records read and per 100 records written to
HubSpot (goal: <= 1.02), by endpoint, and the wall time at the chosen rate tier. The sandbox
enforces the tier's rate limit, so the time shows what HubSpot's budget allows, not our code.

    .venv/bin/python bench/first_sync_api_calls.py --records 50000 --tier professional
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from datasync_pipeline.config import parse_config
from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table
from datasync_pipeline.defs.launch import run_first_sync
from datasync_pipeline.demo.seed import CUSTOMER_COLUMNS, demo_contacts
from datasync_pipeline.sandbox import Sandbox, SandboxSettings, serve_in_thread

CONFIG = """
connections:
  hubspot: {{kind: hubspot, token: "${{BENCH_HUBSPOT_TOKEN}}", base_url: "{url}", tier: {tier}, max_concurrency: 4}}
  app: {{kind: sql, url: "sqlite:///{home}/app.sqlite"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - {{name: contacts, object: contacts, app: app, table: {{name: customers}}}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="contacts on each side (half shared)")
    parser.add_argument("--tier", default="professional", help="rate tier of the sandbox and the client")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="datasync-bench-"))
    hubspot, app, counts = demo_contacts(args.records)
    sandbox = Sandbox(SandboxSettings(db_path=str(home / "sandbox.sqlite"), tier=args.tier, token="bench-token"))
    sandbox.seed("contacts", hubspot)
    engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
    spec = SqlTableSpec(table="customers", key_column="id", columns=list(CUSTOMER_COLUMNS), updated_at_column="updated_at", external_id_column="hubspot_id")
    table = create_app_table(engine, spec, CUSTOMER_COLUMNS)
    with engine.begin() as connection:
        connection.execute(sa.insert(table), app)
    engine.dispose()

    os.environ["BENCH_HUBSPOT_TOKEN"] = "bench-token"
    with serve_in_thread(sandbox, host="127.0.0.1", port=0) as served, dg.instance_for_test() as instance:
        config = parse_config(CONFIG.format(url=served.url, tier=args.tier, home=home), source="bench")
        started = time.perf_counter()
        report = run_first_sync(config, instance=instance, log_level="WARNING")
        seconds = time.perf_counter() - started
    [sync] = report.syncs
    read_calls = sync.value("hubspot_records", "datasync/api_calls")
    write_calls = sync.value("hubspot_load", "datasync/api_calls")
    read = sync.value("hubspot_records", "dagster/row_count")
    written_hubspot = sync.value("hubspot_load", "datasync/created") + sync.value("hubspot_load", "datasync/updated")
    written_app = sync.value("app_load", "datasync/created") + sync.value("app_load", "datasync/updated")
    print(f"first sync of {counts.hubspot:,} HubSpot / {counts.app:,} app contacts, tier {args.tier}: "
          f"{'succeeded' if report.success else 'FAILED'} in {seconds:.1f} s")
    print(f"  read from HubSpot     {read:>8,} records  {read_calls:>6,} calls  {100 * read_calls / max(read, 1):.3f} calls per 100 read")
    print(f"  written to HubSpot    {written_hubspot:>8,} records  {write_calls:>6,} calls  {100 * write_calls / max(written_hubspot, 1):.3f} calls per 100 written")
    print(f"  written to the app    {written_app:>8,} records  {0:>6,} calls  (SQL; no HubSpot calls)")
    for step in ("hubspot_records", "hubspot_load"):
        for endpoint, count in sorted(sync.value(step, "datasync/api_calls_by_endpoint", {}).items()):
            print(f"    {count:>6,}  {endpoint}")


if __name__ == "__main__":
    main()
