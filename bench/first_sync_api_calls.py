"""First sync of N contacts a side against the HubSpot sandbox served by its own process, as a real account is.

The sandbox runs as `datasync sandbox serve` (its own process, the tier's rate limit, `--latency-ms` slept
on every request as a network would), and each first sync runs in a process of its own, so the figures are
the sync's alone: its wall time against the rate-limit floor, its peak RSS, and when it had no request in
flight (every HTTP request's start and end are recorded in the sync process).

    .venv/bin/python bench/first_sync_api_calls.py --records 50000 --latency-ms 100
    .venv/bin/python bench/first_sync_api_calls.py --records 10000 --concurrent 2

The floor is the calls divided by the tier's rate (190 per 10 s at professional: 19 a second), search calls
at search's own 5 a second where there are any: no sync on this budget can finish sooner, bar the first
window's burst. `--concurrent 2` runs two first syncs of two different syncs (one app table each) on the same
account in two processes at once, and reports their combined rate against the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from served_sandbox import free_port, start_sandbox  # bench/served_sandbox.py

BENCH_TOKEN = "bench-token"
CONFIG = """
connections:
  hubspot: {{kind: hubspot, token: "${{BENCH_HUBSPOT_TOKEN}}", base_url: "{url}", tier: {tier}, max_concurrency: 4}}
  app: {{kind: sql, url: "sqlite:///{home}/app_{name}.sqlite"}}
state: {{url: "sqlite:///{home}/state_{name}.sqlite"}}
syncs:
  - {{name: {name}, object: contacts, app: app, table: {{name: customers}}}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="contacts on each side (half shared)")
    parser.add_argument("--latency-ms", type=int, default=100, help="delay the sandbox adds to every request")
    parser.add_argument("--tier", default="professional", help="rate tier of the sandbox and the client")
    parser.add_argument("--concurrent", type=int, default=1, help="first syncs of different syncs on one account at once")
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(Path(args.worker[0]), Path(args.worker[1]))
        return

    home = Path(tempfile.mkdtemp(prefix="datasync-bench-"))
    names = [f"contacts_{index + 1}" for index in range(args.concurrent)]
    seed_portal_and_apps(home, args.records, names)
    port = free_port()
    control_token = secrets.token_urlsafe(16)
    load_before = os.getloadavg()
    sandbox = start_sandbox(home, "sandbox", port, args.tier, args.latency_ms, token=BENCH_TOKEN, control_token=control_token)
    try:
        url = f"http://127.0.0.1:{port}"
        workers = []
        for name in names:
            config_path = home / f"{name}.yaml"
            config_path.write_text(CONFIG.format(url=url, tier=args.tier, home=home, name=name))
            result_path = home / f"{name}.json"
            env = {**os.environ, "BENCH_HUBSPOT_TOKEN": BENCH_TOKEN}
            command = [sys.executable, __file__, "--worker", str(config_path), str(result_path)]
            workers.append((name, subprocess.Popen(command, env=env), result_path))
        for _, process, _ in workers:
            process.wait()
        server_counts = httpx.get(f"{url}/_sandbox/stats", headers={"X-Sandbox-Control-Token": control_token}).json()["requestCounts"]
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    load_after = os.getloadavg()

    results = []
    for name, process, result_path in workers:
        if process.returncode != 0 or not result_path.exists():
            raise SystemExit(f"the sync process of {name} failed (exit {process.returncode})")
        results.append(json.loads(result_path.read_text()))
    print(f"first sync, {args.records:,} contacts a side, tier {args.tier}, sandbox latency {args.latency_ms} ms, "
          f"{args.concurrent} sync process{'es' if args.concurrent > 1 else ''} on one account")
    print(f"load average before: {fmt_load(load_before)}")
    for result in results:
        print_sync(result, args.tier, args.records)
    if len(results) > 1:
        print_combined(results, args.tier)
    print(f"sandbox counted {sum(server_counts.values()):,} requests in all")
    print(f"load average after: {fmt_load(load_after)}")


def seed_portal_and_apps(home: Path, records: int, names: list[str]) -> None:
    """The portal's contacts in the sandbox's file, and one app table per sync (addresses apart, so no
    two syncs create the same contact in HubSpot)."""
    import sqlalchemy as sa

    from datasync_pipeline.connectors.sql import SqlTableSpec, create_app_table
    from datasync_pipeline.demo.seed import CUSTOMER_COLUMNS, demo_contacts
    from datasync_pipeline.sandbox import Sandbox, SandboxSettings

    hubspot, app, _ = demo_contacts(records)
    sandbox = Sandbox(SandboxSettings(db_path=str(home / "sandbox.sqlite"), token=BENCH_TOKEN))
    sandbox.seed("contacts", hubspot)
    sandbox.close()
    spec = SqlTableSpec(table="customers", key_column="id", columns=list(CUSTOMER_COLUMNS), updated_at_column="updated_at",
                        external_id_column="hubspot_id")
    for index, name in enumerate(names):
        rows = app if index == 0 else [{**row, "email": f"s{index}.{row['email'].strip()}" if row.get("email") else None} for row in app]
        engine = sa.create_engine(f"sqlite:///{home}/app_{name}.sqlite")
        table = create_app_table(engine, spec, CUSTOMER_COLUMNS)
        with engine.begin() as connection:
            connection.execute(sa.insert(table), rows)
        engine.dispose()


def run_worker(config_path: Path, result_path: Path) -> None:
    """One first sync in this process, every HTTP request's start and end recorded."""
    import dagster as dg

    from datasync_pipeline.config import parse_config
    from datasync_pipeline.defs.launch import run_first_sync

    requests: list[tuple[float, float, int, str]] = []
    lock = threading.Lock()
    send = httpx.Client.send

    def recording_send(client, request, *args, **kwargs):
        started = time.monotonic()
        status = 0
        try:
            response = send(client, request, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            with lock:
                requests.append((started, time.monotonic(), status, f"{request.method} {request.url.path}"))

    httpx.Client.send = recording_send
    config = parse_config(config_path.read_text(), source=str(config_path))
    with dg.instance_for_test() as instance:
        started = time.monotonic()
        report = run_first_sync(config, instance=instance, log_level="WARNING")
        ended = time.monotonic()
    [sync] = report.syncs
    rss_kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    result_path.write_text(json.dumps({
        "name": sync.name if hasattr(sync, "name") else config.syncs[0].name,
        "success": report.success, "failure": report.failure, "started": started, "ended": ended,
        "requests": requests, "peak_rss_mb": rss_kib / 1024,
        "read": sync.value("hubspot_records", "dagster/row_count"),
        "written_hubspot": sync.value("hubspot_load", "datasync/created") + sync.value("hubspot_load", "datasync/updated"),
        "written_app": sync.value("app_load", "datasync/created") + sync.value("app_load", "datasync/updated"),
    }))


def floor_seconds(requests: list, tier: str) -> tuple[float, str]:
    """The shortest time the budget allows for these calls, and how it is made up.

    CRM calls at the tier's rate and search calls at search's own; the two budgets are separate, so the
    floor is the longer of the two.
    """
    from datasync_pipeline.connectors.hubspot.tiers import crm_budget, search_budget

    crm, search = crm_budget(tier), search_budget(tier)
    searches = sum(1 for request in requests if request[3].endswith("/search"))
    crm_rate = crm.requests / crm.window_seconds if crm.requests else float("inf")
    search_rate = search.requests / search.window_seconds if search.requests else float("inf")
    crm_floor, search_floor = (len(requests) - searches) / crm_rate, searches / search_rate
    made_of = f"{len(requests) - searches:,} CRM calls at {crm_rate:g}/s = {crm_floor:.1f} s"
    if searches:
        made_of += f", {searches:,} searches at {search_rate:g}/s = {search_floor:.1f} s"
    return max(crm_floor, search_floor), made_of


def idle_seconds(requests: list, started: float, ended: float) -> tuple[float, float, float]:
    """Seconds with no request in flight: before the first, between requests, after the last."""
    if not requests:
        return ended - started, 0.0, 0.0
    intervals = sorted((start, end) for start, end, _, _ in requests)
    between, reach = 0.0, intervals[0][1]
    for start, end in intervals[1:]:
        if start > reach:
            between += start - reach
        reach = max(reach, end)
    return intervals[0][0] - started, between, ended - reach


def print_sync(result: dict, tier: str, records: int) -> None:
    requests = result["requests"]
    wall = result["ended"] - result["started"]
    floor, made_of = floor_seconds(requests, tier)
    before, between, after = idle_seconds(requests, result["started"], result["ended"])
    refused = sum(1 for request in requests if request[2] == 429)
    print(f"{result['name']}: {'succeeded' if result['success'] else 'FAILED: ' + str(result['failure'])} in {wall:.1f} s")
    print(f"  wall / floor: {wall / floor:.2f}x  (floor {floor:.1f} s: {made_of})" if floor else "  wall / floor: n/a (unlimited tier)")
    print(f"  calls per 100 records: {100 * len(requests) / records:.2f}  ({len(requests):,} calls, {records:,} contacts a side; "
          f"read {result['read']:,}, written to HubSpot {result['written_hubspot']:,}, to the app {result['written_app']:,})")
    print(f"  429s: {refused}")
    print(f"  peak RSS of the sync process: {result['peak_rss_mb']:.0f} MB")
    print(f"  no request in flight: {before + between + after:.1f} s  (before the first {before:.1f} s, "
          f"between requests {between:.1f} s, after the last {after:.1f} s)")
    by_endpoint = Counter(_template(request[3]) for request in requests)
    for endpoint, count in sorted(by_endpoint.items()):
        print(f"    {count:>6,}  {endpoint}")


def _template(endpoint: str) -> str:
    """`GET /crm/v3/objects/contacts/123` -> `GET /crm/v3/objects/contacts/{id}`."""
    return "/".join("{id}" if part.isdigit() else part for part in endpoint.split("/"))


def print_combined(results: list[dict], tier: str) -> None:
    from datasync_pipeline.connectors.hubspot.tiers import crm_budget

    budget = crm_budget(tier)
    sent = sorted(start for result in results for start, _, _, endpoint in result["requests"] if not endpoint.endswith("/search"))
    refused = sum(1 for result in results for request in result["requests"] if request[2] == 429)
    span = sent[-1] - sent[0]
    peak, low = 0, 0
    for high, at in enumerate(sent):
        while sent[low] <= at - budget.window_seconds:
            low += 1
        peak = max(peak, high - low + 1)
    rate, allowed = (len(sent) - 1) / span, budget.requests / budget.window_seconds
    wall = max(result["ended"] for result in results) - min(result["started"] for result in results)
    floor, made_of = floor_seconds([request for result in results for request in result["requests"]], tier)
    print(f"combined wall / floor: {wall / floor:.2f}x  ({wall:.1f} s; floor {floor:.1f} s: {made_of}, one budget for both)")
    print(f"combined: {len(sent):,} CRM calls in {span:.1f} s = {rate:.2f}/s against a budget of {allowed:.2f}/s "
          f"({100 * rate / allowed:.1f}%); at most {peak} sent in any {budget.window_seconds:g} s (budget {budget.requests}); 429s: {refused}")


def fmt_load(load: tuple[float, float, float]) -> str:
    return f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min; {os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
