"""The demo's first sync launched from the Dagster UI against the command line, and the echo runs of the sensor.

Part 1, side by side, alternating (UI, CLI, UI, CLI, ...), each on a fresh ``DATASYNC_HOME`` = ``DAGSTER_HOME``
(a copy of the repository's ``dagster.yaml``, storage created first with ``dagster instance migrate``) seeded
like ``datasync demo`` seeds it (``seed_demo``, ``--records`` contacts a side):

- *UI*: ``dagster-webserver`` and ``dagster-daemon`` run from the repository root (the change sensor stopped
  first, so it launches nothing); job ``first_sync`` is launched through the webserver's GraphQL API as the
  Launchpad does (``launchPipelineExecution``, run config ``{}``); timed from the submit to the run's
  RUN_SUCCESS seen by polling, with the run's own start -> end from the instance and where the rest goes
  (queue, run worker start-up).
- *CLI*: ``.venv/bin/datasync first-sync``, wall time of the process, with the run's own start -> end.

Part 2, on the home of the last UI run: the daemon restarted with ``DATASYNC_SENSOR_INTERVAL_SECONDS``, the
sensor started, left to tick with nobody changing anything: every run it launches is an echo run (it can only
find our own writes). Then one real change in the app (a customer's city) and whether it arrives in HubSpot,
and how many runs follow it (expect 1).

    .venv/bin/python bench/ui_vs_cli.py                          # 3000 contacts a side, 3 runs each way
    .venv/bin/python bench/ui_vs_cli.py --records 1000 --repeat 1
    cd /tmp/old && PYTHONPATH=/tmp/old /work/main/.venv/bin/python /work/main/bench/ui_vs_cli.py --repo /tmp/old --echo-only

``--repo`` runs everything against another checkout (its code on PYTHONPATH, its dagster.yaml and workspace.yaml);
``--echo-only`` skips part 1 and makes the first sync with the command line. The load average (1 min) is
printed beside each figure: on a shared machine the times follow it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SENSOR = "datasync_changes"
GOAL_RATIO = 1.5
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def load() -> float:
    return os.getloadavg()[0]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------------------------------------
# A fresh home, seeded like `datasync demo` (not timed)
# ---------------------------------------------------------------------------------------------

@dataclass
class Home:
    path: Path
    repo: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def run(self, *command: str, extra: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
        completed = subprocess.run(list(command), cwd=self.repo, env={**self.env, **(extra or {})}, capture_output=True, text=True)
        if check and completed.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {completed.returncode}:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
        return completed

    def start(self, name: str, *command: str, extra: dict[str, str] | None = None) -> None:
        log = (self.path / f"{name}.log").open("a")
        self.processes[name] = subprocess.Popen(list(command), cwd=self.repo, env={**self.env, **(extra or {})},
                                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, name: str) -> None:
        """Stop one process this bench started, with the processes it started (its own session)."""
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def instance(self):
        import dagster as dg
        from dagster._core.instance.ref import InstanceRef

        os.environ["DAGSTER_HOME"] = str(self.path)  # dagster.yaml's storage reads it
        return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.path)))


def fresh_home(repo: Path, records: int, label: str) -> Home:
    path = Path(tempfile.mkdtemp(prefix=f"datasync-{label}-"))
    shutil.copy(repo / "dagster.yaml", path / "dagster.yaml")
    env = {key: value for key, value in os.environ.items() if key not in {"DATASYNC_CONFIG", "DATASYNC_SENSOR_INTERVAL_SECONDS"}}
    env.update({"DATASYNC_HOME": str(path), "DAGSTER_HOME": str(path), "PYTHONPATH": str(repo)})
    home = Home(path, repo, env)
    home.run(str(BIN / "dagster"), "instance", "migrate")  # storage first: no alembic race between processes
    os.environ["DATASYNC_HOME"] = str(path)
    os.environ.pop("DATASYNC_CONFIG", None)
    from datasync_pipeline.config import load_config
    from datasync_pipeline.demo.setup import seed_demo

    seed_demo(load_config(None), records_per_side=records)
    return home


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Part 1: the UI path and the CLI path
# ---------------------------------------------------------------------------------------------

def run_events(instance, run_id: str) -> dict[str, float]:
    """The first timestamp of each run-level event (and of the first step) of a run."""
    stamps: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        if entry.dagster_event is None:
            continue
        kind = entry.dagster_event.event_type.name  # (the stored values are the old PIPELINE_* names)
        if kind in {"RUN_ENQUEUED", "RUN_STARTING", "RUN_START", "STEP_START", "RUN_SUCCESS", "RUN_FAILURE"}:
            stamps.setdefault(kind, entry.timestamp)
    return stamps


def start_ui(home: Home) -> tuple[object, int, float]:
    """Webserver and daemon up, the code location loaded and every daemon healthy; returns client, port, seconds."""
    from dagster_graphql import DagsterGraphQLClient
    import requests

    home.run(str(BIN / "dagster"), "sensor", "stop", SENSOR, "-w", "workspace.yaml")
    port = free_port()
    started = time.perf_counter()
    home.start("webserver", str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port))
    home.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml")
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename } } } }
                 instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"""
    deadline = time.monotonic() + 300
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"webserver or daemon not ready after 300 s: see {home.path}/webserver.log, daemon.log")
        try:
            data = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=10).json()["data"]
            locations = data["workspaceOrError"]["locationEntries"]
            loaded = locations and all(entry["locationOrLoadError"]["__typename"] == "RepositoryLocation" for entry in locations)
            daemons = data["instance"]["daemonHealth"]["allDaemonStatuses"]
            if loaded and all(status["healthy"] for status in daemons if status["required"]):
                break
        except (requests.RequestException, KeyError, TypeError, ValueError):
            pass
        time.sleep(0.5)
    return DagsterGraphQLClient("127.0.0.1", port_number=port), port, time.perf_counter() - started


def ui_first_sync(home: Home, location: str) -> dict:
    client, _port, ready_seconds = start_ui(home)
    load_before = load()
    submitted_wall, started = time.time(), time.perf_counter()
    run_id = client.submit_job_execution("first_sync", repository_location_name=location, repository_name="__repository__",
                                         run_config={})
    status = None
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in FINISHED:
            break
        time.sleep(0.25)
    seconds = time.perf_counter() - started
    instance = home.instance()
    record = instance.get_run_record_by_id(run_id)
    stamps = run_events(instance, run_id)
    return {
        "path": "UI", "seconds": seconds, "status": status, "run_id": run_id, "load": max(load_before, load()),
        "ready_seconds": ready_seconds, "run_seconds": (record.end_time or 0) - (record.start_time or 0),
        # submit -> RUN_ENQUEUED -> RUN_STARTING (the daemon took it off the queue and launches a run worker)
        # -> RUN_START (the worker process is up, the code loaded) -> RUN_SUCCESS -> seen by polling
        "to_queue": stamps.get("RUN_ENQUEUED", submitted_wall) - submitted_wall,
        "in_queue": stamps.get("RUN_STARTING", 0) - stamps.get("RUN_ENQUEUED", 0),
        "worker_start": (record.start_time or 0) - stamps.get("RUN_STARTING", 0),
        "seen_after_end": submitted_wall + seconds - (record.end_time or 0),
    }


def cli_first_sync(home: Home) -> dict:
    load_before = load()
    launched_wall, started = time.time(), time.perf_counter()
    completed = home.run(str(BIN / "datasync"), "first-sync", check=False)
    seconds = time.perf_counter() - started
    instance = home.instance()
    [record] = instance.get_run_records(limit=1)
    stamps = run_events(instance, record.dagster_run.run_id)
    status = record.dagster_run.status.value if completed.returncode == 0 else f"{record.dagster_run.status.value} (exit {completed.returncode})"
    if completed.returncode != 0:
        print(completed.stdout[-2000:], completed.stderr[-2000:], file=sys.stderr)
    return {
        "path": "CLI", "seconds": seconds, "status": status, "run_id": record.dagster_run.run_id, "load": max(load_before, load()),
        "run_seconds": (record.end_time or 0) - (record.start_time or 0),
        "worker_start": (record.start_time or 0) - launched_wall,  # Python start-up, imports, config, definitions
        "after_end": launched_wall + seconds - (record.end_time or 0),  # the report, process exit
    }


# ---------------------------------------------------------------------------------------------
# Part 2: echo runs, then one real change
# ---------------------------------------------------------------------------------------------

def sensor_ticks(instance, after: float) -> list:
    for state in instance.all_instigator_state():
        if state.name == SENSOR:
            return [tick for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)]
    return []


def runs_since(instance, after: float) -> list:
    import dagster as dg
    from datetime import UTC, datetime

    return list(instance.get_run_records(dg.RunsFilter(created_after=datetime.fromtimestamp(after, UTC))))


def in_progress(records: list) -> list:
    return [record for record in records if record.dagster_run.status.value not in FINISHED]


def describe_runs(records: list) -> str:
    if not records:
        return "none"
    parts = []
    for record in sorted(records, key=lambda r: r.create_timestamp):
        run = record.dagster_run
        took = f"{record.end_time - record.start_time:.1f} s" if record.end_time and record.start_time else "-"
        parts.append(f"{run.tags.get('datasync/sync', '?')}/{run.tags.get('datasync/reason', run.job_name)} {run.status.value.lower()} {took}")
    return "; ".join(parts)


def wait_quiet(instance, after: float, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while in_progress(runs_since(instance, after)) and time.monotonic() < deadline:
        time.sleep(1)


def echo_runs(home: Home, *, interval: int, watch_seconds: float, min_ticks: int, settle_seconds: float) -> dict:
    import httpx
    import sqlalchemy as sa
    from datasync_pipeline.sandbox import Sandbox, SandboxSettings

    extra = {"DATASYNC_SENSOR_INTERVAL_SECONDS": str(interval)}
    home.stop("webserver")
    home.stop("daemon")
    instance = home.instance()
    wait_quiet(instance, 0, 120)
    home.run(str(BIN / "dagster"), "sensor", "start", SENSOR, "-w", "workspace.yaml", extra=extra, check=False)
    started = time.time()
    home.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml", extra=extra)
    load_before = load()
    deadline = time.monotonic() + max(3 * watch_seconds, watch_seconds + 20 * interval)
    while time.monotonic() < deadline:
        ticks = sensor_ticks(instance, started)
        if time.time() - started >= watch_seconds and len(ticks) >= min_ticks:
            break
        time.sleep(1)
    wait_quiet(instance, started, 180)
    echo = runs_since(instance, started)
    ticks = sensor_ticks(instance, started)
    echo_load = max(load_before, load())
    watched = time.time() - started
    last_skip = next((tick.skip_reason for tick in ticks if tick.skip_reason), None)

    # One real change: a customer linked to a HubSpot contact moves to another city.
    engine = sa.create_engine(f"sqlite:///{home.path}/app.sqlite")
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT id, hubspot_id FROM customers WHERE hubspot_id IS NOT NULL ORDER BY id LIMIT 1")).one()
    city = f"Lyon {int(time.time())}"
    changed = time.time()
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET city = :city, updated_at = CURRENT_TIMESTAMP WHERE id = :id"),
                           {"city": city, "id": row.id})
    engine.dispose()
    sandbox = Sandbox(SandboxSettings(db_path=str(home.path / "sandbox.sqlite"), tier="unlimited"))
    client = httpx.Client(transport=httpx.WSGITransport(app=sandbox.wsgi_app), base_url="http://sandbox",
                          headers={"Authorization": "Bearer sandbox-token"})
    arrived = None
    deadline = time.monotonic() + 60 + 12 * interval
    try:
        while arrived is None and time.monotonic() < deadline:
            answer = client.get(f"/crm/v3/objects/contacts/{row.hubspot_id}", params={"properties": "city"})
            if answer.status_code == 200 and answer.json()["properties"].get("city") == city:
                arrived = time.time() - changed
            else:
                time.sleep(0.5)
        time.sleep(settle_seconds)  # later ticks: does the change's own run echo?
        wait_quiet(instance, changed, 180)
    finally:
        client.close()
        sandbox.close()
    after_change = runs_since(instance, changed)
    ticks_after = sensor_ticks(instance, changed)
    home.stop("daemon")
    return {
        "echo": echo, "ticks": ticks, "watched": watched, "echo_load": echo_load, "last_skip": last_skip,
        "after_change": after_change, "ticks_after": ticks_after, "arrived": arrived, "change_load": load(),
    }


# ---------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000, help="contacts on each side, as `datasync demo --records`")
    parser.add_argument("--repeat", type=int, default=3, help="first syncs per path, alternating UI and CLI")
    parser.add_argument("--interval", type=int, default=5, help="sensor interval during the echo count, seconds")
    parser.add_argument("--watch", type=float, default=60, help="seconds the sensor ticks with nothing changed")
    parser.add_argument("--ticks", type=int, default=10, help="... and at least this many ticks")
    parser.add_argument("--settle", type=float, default=30, help="seconds watched after the real change arrived")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to run (its code, dagster.yaml, workspace.yaml)")
    parser.add_argument("--echo-only", action="store_true", help="skip the UI/CLI timing; first sync from the command line")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    args = parser.parse_args()
    repo = args.repo.resolve()
    sys.path.insert(0, str(repo))

    homes: list[Home] = []
    results: list[dict] = []
    echo_home: Home | None = None
    try:
        if not args.echo_only:
            for index in range(args.repeat):
                for path in ("UI", "CLI"):
                    home = fresh_home(repo, args.records, path.lower())
                    homes.append(home)
                    if path == "UI":
                        result = ui_first_sync(home, "datasync")
                        if index == args.repeat - 1:
                            echo_home = home
                        else:
                            home.stop_all()
                    else:
                        result = cli_first_sync(home)
                    results.append(result)
                    extra = (f"submit {result['to_queue']:.1f} s, queue {result['in_queue']:.1f} s, "
                             f"worker start {result['worker_start']:.1f} s; UI ready {result['ready_seconds']:.1f} s before" if path == "UI" else
                             f"process start {result['worker_start']:.1f} s, after run {result['after_end']:.1f} s")
                    print(f"  {path:<3} #{index + 1}: {result['seconds']:6.1f} s (run {result['run_seconds']:5.1f} s; {extra}) "
                          f"{result['status']}   load {result['load']:.2f}", flush=True)
        else:
            echo_home = fresh_home(repo, args.records, "echo")
            homes.append(echo_home)
            echo_home.run(str(BIN / "dagster"), "sensor", "stop", SENSOR, "-w", "workspace.yaml", check=False)
            result = cli_first_sync(echo_home)
            print(f"  first sync (CLI): {result['seconds']:.1f} s, {result['status']}   load {result['load']:.2f}", flush=True)

        echo = echo_runs(echo_home, interval=args.interval, watch_seconds=args.watch, min_ticks=args.ticks,
                         settle_seconds=args.settle)
    finally:
        for home in homes:
            home.stop_all()
        if not args.keep:
            for home in homes:
                shutil.rmtree(home.path, ignore_errors=True)

    print(f"\ndemo first sync, {args.records:,} contacts a side ({repo}):")
    if results:
        ui = [r for r in results if r["path"] == "UI"]
        cli = [r for r in results if r["path"] == "CLI"]
        ui_s, cli_s = median([r["seconds"] for r in ui]), median([r["seconds"] for r in cli])
        ui_load, cli_load = median([r["load"] for r in ui]), median([r["load"] for r in cli])
        print(f"  UI  submit -> RUN_SUCCESS, median of {len(ui)}  {ui_s:7.1f} s   load {ui_load:.2f}")
        print(f"      of which the run's own start -> end     {median([r['run_seconds'] for r in ui]):7.1f} s")
        print(f"      submit -> RUN_ENQUEUED (webserver)      {median([r['to_queue'] for r in ui]):7.1f} s")
        print(f"      in the queue (-> RUN_STARTING, daemon)  {median([r['in_queue'] for r in ui]):7.1f} s")
        print(f"      run worker start-up (-> RUN_START)      {median([r['worker_start'] for r in ui]):7.1f} s")
        print(f"      RUN_SUCCESS -> seen by polling          {median([r['seen_after_end'] for r in ui]):7.1f} s")
        print(f"      (not counted: webserver + daemon ready  {median([r['ready_seconds'] for r in ui]):7.1f} s)")
        print(f"  CLI datasync first-sync, median of {len(cli)}    {cli_s:7.1f} s   load {cli_load:.2f}")
        print(f"      of which the run's own start -> end     {median([r['run_seconds'] for r in cli]):7.1f} s")
        print(f"      process start -> RUN_START              {median([r['worker_start'] for r in cli]):7.1f} s")
        print(f"      RUN_SUCCESS -> process exit             {median([r['after_end'] for r in cli]):7.1f} s")
        ratio = ui_s / cli_s
        print(f"  UI / CLI {ratio:.2f} (goal <= {GOAL_RATIO}): {'met' if ratio <= GOAL_RATIO else 'NOT met'}   "
              f"load {median([r['load'] for r in results]):.2f}")
    by_status: dict[str, int] = {}
    for tick in echo["ticks"]:
        by_status[tick.status.value] = by_status.get(tick.status.value, 0) + 1
    print(f"\nsensor every {args.interval} s, nothing changed, {echo['watched']:.0f} s, {len(echo['ticks'])} ticks "
          f"({', '.join(f'{n} {s.lower()}' for s, n in sorted(by_status.items()))}):")
    print(f"  echo runs after the first sync   {len(echo['echo']):3d}   load {echo['echo_load']:.2f}   ({describe_runs(echo['echo'])})")
    if echo["last_skip"]:
        print(f"  a skip reason: {echo['last_skip'].splitlines()[0]}")
    arrived = echo["arrived"]
    print(f"one real change in the app (customers.city), then {args.settle:.0f} s more, {len(echo['ticks_after'])} ticks:")
    print(f"  runs after the change            {len(echo['after_change']):3d}   load {echo['change_load']:.2f}   "
          f"(expect 1: {describe_runs(echo['after_change'])})")
    print(f"  change synced to HubSpot         {'yes, after %.1f s' % arrived if arrived is not None else 'NO'}")


if __name__ == "__main__":
    main()
