"""Portal-to-portal sync: two HubSpot sandboxes, each served by its own process, as two real accounts are.

Seeds N contacts in each portal (half of them the same people, emails differently cased), then, in a process of
its own, runs the portal-to-portal first sync, lets `--idle-seconds` pass (as between the sensor's runs: past the change
reads' overlap, 60 s for HubSpot, else the incremental run would read the first sync's own writes again), edits 1%
of the contacts on each side (through each portal's API, not counted), and runs one incremental sync. Prints the wall time of each run, the HubSpot API calls of each run
on EACH account (per 100 records, by endpoint, as the sync process sent them: retries included), the 429 answers
per account, and the load average before and after.

    .venv/bin/python bench/portal_to_portal.py --records 10000 --latency-ms 100
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

TOKENS = {"hubspot": "bench-token-a", "portal_b": "bench-token-b"}
CONFIG = """
connections:
  hubspot: {{kind: hubspot, token: "${{BENCH_TOKEN_A}}", base_url: "{url_a}", tier: {tier}, max_concurrency: 4}}
  portal_b: {{kind: hubspot, token: "${{BENCH_TOKEN_B}}", base_url: "{url_b}", tier: {tier}, max_concurrency: 4}}
state: {{url: "sqlite:///{home}/state.sqlite"}}
syncs:
  - {{name: b_contacts, object: contacts, hubspot: hubspot, app: portal_b}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="contacts in each portal (half shared)")
    parser.add_argument("--latency-ms", type=int, default=100, help="delay each sandbox adds to every request")
    parser.add_argument("--tier", default="professional", help="rate tier of both sandboxes and clients")
    parser.add_argument("--edits", type=float, default=1.0, help="percent of each portal's contacts edited before the incremental run")
    parser.add_argument("--idle-seconds", type=float, default=65, help="time between the first sync and the edits")
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(Path(args.worker[0]), Path(args.worker[1]), args.records, args.edits, args.idle_seconds)
        return

    home = Path(tempfile.mkdtemp(prefix="datasync-p2p-bench-"))
    seed_portals(home, args.records)
    load_before = os.getloadavg()
    servers, urls = {}, {}
    try:
        for name in TOKENS:
            port, control = free_port(), secrets.token_urlsafe(16)
            servers[name] = (start_sandbox(home, name, port, args.tier, args.latency_ms, token=TOKENS[name], control_token=control), control)
            urls[name] = f"http://127.0.0.1:{port}"
        config_path, result_path = home / "datasync.yaml", home / "result.json"
        config_path.write_text(CONFIG.format(url_a=urls["hubspot"], url_b=urls["portal_b"], tier=args.tier, home=home))
        env = {**os.environ, "BENCH_TOKEN_A": TOKENS["hubspot"], "BENCH_TOKEN_B": TOKENS["portal_b"],
               "BENCH_URL_A": urls["hubspot"], "BENCH_URL_B": urls["portal_b"]}
        command = [sys.executable, __file__, "--records", str(args.records), "--edits", str(args.edits), "--idle-seconds", str(args.idle_seconds),
                   "--worker", str(config_path), str(result_path)]
        worker = subprocess.run(command, env=env, check=False)
        served = {name: httpx.get(f"{urls[name]}/_sandbox/stats", headers={"X-Sandbox-Control-Token": control}).json()["requestCounts"]
                  for name, (_, control) in servers.items()}
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
    load_after = os.getloadavg()
    if worker.returncode != 0 or not result_path.exists():
        raise SystemExit(f"the sync process failed (exit {worker.returncode})")
    result = json.loads(result_path.read_text())
    hosts = {urls[name].removeprefix("http://"): name for name in urls}

    print(f"portal-to-portal contacts sync, {args.records:,} contacts a portal (half shared), tier {args.tier}, "
          f"sandbox latency {args.latency_ms} ms, each sandbox its own process, {args.idle_seconds:g} s between the runs")
    print(f"load average before: {fmt_load(load_before)}")
    for run in result["runs"]:
        status = "ok" if run["success"] else f"FAILED ({run['failure']})"
        print(f"\n{run['name']}: {status} in {run['seconds']:.1f} s; {run['summary']}")
        by_account: dict[str, Counter] = {name: Counter() for name in TOKENS}
        throttled: Counter = Counter()
        for host, endpoint, status_code in run["requests"]:
            account = hosts.get(host)
            if account is None:
                continue
            by_account[account][endpoint] += 1
            throttled[account] += status_code == 429
        per = run["per_records"]
        for account, calls in by_account.items():
            total = sum(calls.values())
            print(f"  {account:<8} {total:>6,} calls  {100 * total / per:.3f} per 100 {run['per_what']}  429s: {throttled[account]}")
            for endpoint, count in sorted(calls.items()):
                print(f"    {count:>6,}  {100 * count / per:7.3f}  {endpoint}")
    print("\nsandboxes counted (server side, edits included): " + "; ".join(f"{name} {sum(c.values()):,}" for name, c in served.items()))
    print(f"load average after: {fmt_load(load_after)}")


def seed_portals(home: Path, records: int) -> None:
    """Portal A holds the demo's HubSpot contacts; portal B the demo's app customers as HubSpot contacts (half of
    them the same people: emails upper-cased in a fifth of them, some first names differing)."""
    from datasync_pipeline.demo.seed import demo_contacts
    from datasync_pipeline.sandbox import Sandbox, SandboxSettings

    portal_a, customers, _ = demo_contacts(records)
    renamed = {"email": "email", "first_name": "firstname", "last_name": "lastname", "phone": "phone", "city": "city",
               "country": "country", "company_name": "company"}
    portal_b = [{renamed[column]: (value.strip() if isinstance(value, str) else value) for column, value in row.items() if column in renamed}
                for row in customers]
    for name, contacts in (("hubspot", portal_a), ("portal_b", portal_b)):
        sandbox = Sandbox(SandboxSettings(db_path=str(home / f"{name}.sqlite"), token=TOKENS[name]))
        sandbox.seed("contacts", contacts)
        sandbox.close()


ID_IN_PATH = re.compile(r"/\d+(?=/|$)")


def run_worker(config_path: Path, result_path: Path, records: int, edits_percent: float, idle_seconds: float) -> None:
    """The first sync, the edits (not recorded), then the incremental run, every HTTP request of each run recorded."""
    import dagster as dg

    from datasync_pipeline.config import parse_config
    from datasync_pipeline.defs.launch import run_first_sync, run_incremental

    recording: list[tuple[str, str, int]] | None = None
    lock = threading.Lock()
    send = httpx.Client.send

    def recording_send(client, request, *args, **kwargs):
        status = 0
        try:
            response = send(client, request, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            if recording is not None:
                with lock:
                    recording.append((f"{request.url.host}:{request.url.port}", f"{request.method} {ID_IN_PATH.sub('/{id}', request.url.path)}", status))

    httpx.Client.send = recording_send
    config = parse_config(config_path.read_text(), source=str(config_path))
    runs = []
    with dg.instance_for_test() as instance:
        recording = []
        started = time.perf_counter()
        first = run_first_sync(config, instance=instance, log_level="WARNING")
        runs.append(run_result("first sync", first, time.perf_counter() - started, recording, records, "records a portal"))
        recording = None
        time.sleep(idle_seconds)  # time passing between runs, as the sensor's interval gives it (a model, not a wait for something)
        edited = edit_both_portals(max(1, int(records * edits_percent / 100)))
        recording = []
        started = time.perf_counter()
        incremental = run_incremental(config, ["b_contacts"], instance=instance, log_level="WARNING")
        runs.append(run_result(f"incremental run after {edited} edits in each portal", incremental, time.perf_counter() - started,
                               recording, edited, "edited records a portal"))
    result_path.write_text(json.dumps({"runs": runs}))


def run_result(name: str, report, seconds: float, requests: list, per_records: int, per_what: str) -> dict:
    [sync] = report.syncs
    summary = ", ".join(f"{label} {sync.value(step, key):,}" for label, step, key in (
        ("matched", "matched", "datasync/matched"), ("created in A", "hubspot_load", "datasync/created"),
        ("updated in A", "hubspot_load", "datasync/updated"), ("created in B", "app_load", "datasync/created"),
        ("updated in B", "app_load", "datasync/updated"),
        ("failed", "checkpoint", "datasync/failed_in_run")))
    return {"name": name, "success": report.success, "failure": report.failure, "seconds": seconds, "summary": summary,
            "requests": list(requests), "per_records": per_records, "per_what": per_what}


def edit_both_portals(count: int) -> int:
    """Change the city of ``count`` linked contacts in each portal (different people on each side), through its API."""
    edited = 0
    for account, url_variable, token_variable, city in (("hubspot", "BENCH_URL_A", "BENCH_TOKEN_A", "Bonn"),
                                                        ("portal_b", "BENCH_URL_B", "BENCH_TOKEN_B", "Graz")):
        with httpx.Client(base_url=os.environ[url_variable], headers={"Authorization": f"Bearer {os.environ[token_variable]}"},
                          timeout=60) as client:
            ids, after = [], None
            while len(ids) < 2 * count:
                page = client.get("/crm/v3/objects/contacts", params={"limit": 100, "properties": "email", **({"after": after} if after else {})})
                page.raise_for_status()
                body = page.json()
                ids.extend(record["id"] for record in body["results"] if "@" in (record["properties"].get("email") or ""))
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
            chosen = ids[:count]  # each portal's first records: its own people in A, shared ones in B (never the same person)
            for start in range(0, len(chosen), 100):
                batch = [{"id": record_id, "properties": {"city": city}} for record_id in chosen[start : start + 100]]
                while (answer := client.post("/crm/v3/objects/contacts/batch/update", json={"inputs": batch})).status_code == 429:
                    time.sleep(1)  # the edits share the account's budget with nothing else: the window frees within seconds
                answer.raise_for_status()
            edited = len(chosen)
    return edited


def fmt_load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{value:.2f}" for value in load)


if __name__ == "__main__":
    main()
