"""HubSpot API calls per sensor tick for association changes, with and without the webhooks journal.

HubSpot does not date association changes, so without the journal the change sensor cannot see them: the hourly
reconciling run re-reads every association of the sync (one v4 batch read per 1,000 linked records and associated
object). With the journal, every tick reads what changed (about 3 requests when nothing did, 2 more per journal
entry) and the run plans only the records it names; the reconciling run no longer re-reads the associations.

The run is real, on a smaller world (``--links`` contacts, each with a primary company, a tenth as many companies;
a contacts sync keeping the company association and a companies sync), every request counted by the sandbox, served
on loopback (the sensor's and the runs' calls alike). The figures at ``--at`` links (200,000 by default) follow
from the per-call formula, checked against the measured run:

    full association re-read = ceil(links / 1000) batch reads per associated object (v4 batch/read takes 1,000 ids)
    without the journal, per tick on average = probe + (reconcile run + full re-read) / ticks per reconcile
    with the journal,    per tick on average = probe + journal read + reconcile run / ticks per reconcile
                         + per change: 2 journal requests per entry + the targeted run

    .venv/bin/python bench/association_changes.py --links 5000 --changes 10
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from datasync_pipeline.config import parse_config
from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.definitions import build_definitions, build_resources
from datasync_pipeline.defs.jobs import INCREMENTAL_SYNC_JOB
from datasync_pipeline.defs.launch import run_first_sync, run_incremental
from datasync_pipeline.defs.sensors import build_change_sensor
from datasync_pipeline.demo.setup import create_demo_tables
from datasync_pipeline.sandbox import Sandbox, SandboxSettings, serve_in_thread

CONFIG = """
connections:
  hubspot: {{kind: hubspot, base_url: "{url}", token: "${{BENCH_HUBSPOT_TOKEN}}", tier: unlimited{journal}}}
  app: {{kind: sql, url: "sqlite:///{home}/app.sqlite"}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - {{name: companies, object: companies, app: app, table: {{name: companies}}}}
  - name: contacts
    object: contacts
    app: app
    table: {{name: customers}}
    associations: [{{object: companies, app_column: company_id}}]
"""
JOURNAL = ', journal: {client_id: "${BENCH_JOURNAL_ID}", client_secret: "${BENCH_JOURNAL_SECRET}"}'
APP = ("bench-journal-app", "bench-journal-secret")
ASSOCIATION_READ = "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read"
TICK_SECONDS, RECONCILE_SECONDS = 600, 3600


class Counted:
    """The sandbox's request counts, as deltas between marks."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.last = Counter(sandbox.request_counts_snapshot())

    def take(self) -> Counter:
        now = Counter(self.sandbox.request_counts_snapshot())
        delta = now - self.last
        self.last = now
        return delta


def tick(config, instance) -> list[dg.RunRequest]:
    requests, _ = tick_with_journal_calls(config, instance)
    return requests


def tick_with_journal_calls(config, instance) -> tuple[list[dg.RunRequest], int]:
    """One sensor tick: its run requests, and the journal requests it sent as its client counted them (the token
    request and the pre-signed file downloads included, which the sandbox does not count as API routes)."""
    with dg.build_sensor_context(instance=instance, resources=build_resources(config)) as context:
        result = build_change_sensor(config)(context)
        journal = json.loads(context.cursor).get("journal") or {}
    return (result if isinstance(result, list) else []), sum(read["calls"] for read in journal.values())


def execute(config, instance, request: dg.RunRequest) -> None:
    job = build_definitions(config).resolve_job_def(INCREMENTAL_SYNC_JOB)
    outcome = job.execute_in_process(instance=instance, run_config=request.run_config, tags=request.tags,
                                     asset_selection=request.asset_selection, raise_on_error=False)
    assert outcome.success, f"run {request.run_key} failed"


def settle(config, instance) -> None:
    """Tick and run until the sensor has nothing to launch (the first sync's echoes, a journal's first read)."""
    for _ in range(5):
        requests = tick(config, instance)
        if not requests:
            return
        for request in requests:
            execute(config, instance, request)
    raise RuntimeError("the sensor kept launching runs")


def reconcile(config, instance) -> None:
    """The hourly reconciling runs of both syncs, as the sensor launches them."""
    for sync in ("companies", "contacts"):
        report = run_incremental(config, [sync], instance=instance, reason="reconcile", log_level="WARNING")
        assert report.success, report.failure


def show(title: str, counts: Counter) -> str:
    detail = ", ".join(f"{endpoint} {n}" for endpoint, n in sorted(counts.items()))
    return f"  {title}: {sum(counts.values())} calls ({detail or 'none'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=5000, help="linked contacts, each with a primary company (the measured run)")
    parser.add_argument("--changes", type=int, default=10, help="association changes made in HubSpot in one API batch")
    parser.add_argument("--at", type=int, default=200_000, help="links to compute the figures for")
    args = parser.parse_args()
    load_before = os.getloadavg()
    home = Path(tempfile.mkdtemp(prefix="datasync-association-changes-"))
    sandbox = Sandbox(SandboxSettings(db_path=str(home / "sandbox.sqlite"), tier="unlimited", client_id=APP[0], client_secret=APP[1]))
    started = time.perf_counter()
    # The steady state the sensor works in: nothing changed on either side for days (so no trailing pass re-reads them).
    long_ago = datetime.now(UTC) - timedelta(days=2)
    companies = sandbox.seed("companies", [{"name": f"Company {i}", "domain": f"company{i}.example"} for i in range(max(10, args.links // 10))],
                             updated_at=long_ago)
    contacts = sandbox.seed("contacts", [{"email": f"person{i}@example.com", "firstname": f"P{i}"} for i in range(args.links)], updated_at=long_ago)
    for i, contact in enumerate(contacts):  # seeding: not journaled, as if linked long ago
        sandbox.associate("contacts", contact, "companies", companies[i % len(companies)], primary=True)
    os.environ.update(BENCH_HUBSPOT_TOKEN=sandbox.settings.token, BENCH_JOURNAL_ID=APP[0], BENCH_JOURNAL_SECRET=APP[1])

    with serve_in_thread(sandbox) as served, dg.instance_for_test() as instance:
        plain = parse_config(CONFIG.format(url=served.url, home=home, journal=""), source="bench")
        journaled = parse_config(CONFIG.format(url=served.url, home=home, journal=JOURNAL), source="bench")
        create_demo_tables(plain)
        assert run_first_sync(plain, instance=instance).success
        engine = sa.create_engine(f"sqlite:///{home}/app.sqlite")
        with engine.begin() as connection:  # the rows the first sync created, as if created days ago
            for table in ("customers", "companies"):
                connection.execute(sa.text(f"UPDATE {table} SET updated_at = :long_ago"), {"long_ago": long_ago.replace(tzinfo=None)})
        engine.dispose()
        settle(plain, instance)
        print(f"world: {args.links:,} contacts linked with their primary company, {len(companies):,} companies "
              f"({time.perf_counter() - started:.0f} s to seed and first-sync)")
        counted = Counted(sandbox)

        # Without the journal.
        tick(plain, instance)
        idle_plain = counted.take()
        reconcile(plain, instance)
        reconcile_plain = counted.take()
        with HubSpotClient(base_url=served.url, token=sandbox.settings.token, tier="unlimited") as api:
            moved = [{"ref": c, "from_id": c, "to_id": companies[(i + 1) % len(companies)], "type_id": 1}
                     for i, c in enumerate(contacts[: args.changes])]
            api.create_associations("contacts", "companies", moved)
        counted.take()
        missed = not tick(plain, instance)
        counted.take()

        # With the journal: its first read owes a full reconcile (nothing says what happened before), once, done by the
        # next reconciling run.
        settle(journaled, instance)
        reconcile(journaled, instance)
        first_read = counted.take()
        _, idle_journal_calls = tick_with_journal_calls(journaled, instance)
        idle_journal = counted.take()
        with HubSpotClient(base_url=served.url, token=sandbox.settings.token, tier="unlimited") as api:
            back = [{"ref": c, "from_id": c, "to_id": companies[i % len(companies)], "type_id": 1} for i, c in enumerate(contacts[: args.changes])]
            api.create_associations("contacts", "companies", back)
        counted.take()
        requests, change_journal_calls = tick_with_journal_calls(journaled, instance)
        change_tick = counted.take()
        for request in requests:
            execute(journaled, instance, request)
        targeted_run = counted.take()
        assert len(requests) == 1 and not tick(journaled, instance), "one run, then nothing left"
        counted.take()
        reconcile(journaled, instance)
        reconcile_journal = counted.take()

    load_after = os.getloadavg()
    reads = reconcile_plain[ASSOCIATION_READ]
    expected_reads = math.ceil(args.links / 1000)
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)\n")
    print(f"measured at {args.links:,} links:")
    print(show("idle tick, no journal", idle_plain))
    print(show("reconciling runs (both syncs), no journal", reconcile_plain))
    print(f"    association reads: {reads} measured, ceil({args.links:,} / 1000) = {expected_reads} by the formula"
          f" -> {'ok' if reads == expected_reads else 'MISMATCH'}")
    print(f"  {args.changes} association changes in HubSpot, no journal: the next tick {'launched nothing (not seen)' if missed else 'launched a run'}")
    print(show("journal's first read and its full reconcile (once)", first_read))
    print(show("idle tick, journal", idle_journal) + f"; the journal client counted {idle_journal_calls} (its token and files too)")
    print(show(f"tick after {args.changes} association changes (1 journal entry), journal", change_tick)
          + f"; the journal client counted {change_journal_calls}")
    print(show("the targeted run it launched", targeted_run))
    print(show("reconciling runs (both syncs), journal", reconcile_journal))

    ticks_per_reconcile = RECONCILE_SECONDS // TICK_SECONDS
    probe = sum(idle_plain.values())
    journal_read = idle_journal_calls
    reconcile_base = sum(reconcile_plain.values()) - reads
    full_reads_at = math.ceil(args.at / 1000)
    without = probe + (reconcile_base + full_reads_at) / ticks_per_reconcile
    with_journal = probe + journal_read + sum(reconcile_journal.values()) / ticks_per_reconcile
    per_change = (change_journal_calls - idle_journal_calls) + sum(targeted_run.values())
    print(f"\nat {args.at:,} links, a tick every {TICK_SECONDS // 60} min, the reconciling run every {RECONCILE_SECONDS // 60} min:")
    print(f"  without the journal: {without:.1f} calls per tick on average = {probe} (probe) + ({reconcile_base} (reconciling runs) "
          f"+ {full_reads_at} (association re-read)) / {ticks_per_reconcile}; an association change reaches the app within "
          f"{RECONCILE_SECONDS // 60} min (the next reconcile)")
    print(f"  with the journal:    {with_journal:.1f} calls per tick on average = {probe} (probe) + {journal_read} (journal read) + "
          f"{sum(reconcile_journal.values())} (reconciling runs, no re-read) / {ticks_per_reconcile}; plus {per_change} in a tick "
          f"with association changes (2 per journal entry + the targeted run; +1 association read per 1,000 records named); "
          f"a change reaches the app at the next tick ({TICK_SECONDS // 60} min)")


if __name__ == "__main__":
    main()
