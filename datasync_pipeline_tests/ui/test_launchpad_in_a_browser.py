"""The Dagster UI is a product surface: what a user clicks there is as safe as the command line.

A real browser (Playwright driving Debian's ``chromium``) against the real webserver and daemon, on the
demo: the Launchpad's one switch makes a dry run that leaves the sandbox, the app database and the state
store byte for byte as they were; a real run from the same Launchpad names its failed record in the
asset check's table.

Needs ``/usr/bin/chromium`` (``make test`` installs Debian's package where it can) and the Python
``playwright`` package (no browser download). Skipped loudly without them, failing instead when
``DATASYNC_REQUIRE_BROWSER=1`` (set by ``.ci/run``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REFUSED_EMAIL = "refused@example.com"
WAIT_SECONDS = 120


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = [what for what, ok in (("the playwright package", sync_playwright is not None), (CHROMIUM, Path(CHROMIUM).exists())) if not ok]
    if missing:
        message = f"browser test needs {' and '.join(missing)} (`make test` installs Debian's chromium where it can)"
        if os.environ.get("DATASYNC_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; DATASYNC_REQUIRE_BROWSER=1 forbids skipping it")
        pytest.skip("SKIPPED LOUDLY: " + message)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _until(what: str, ready, seconds: float = WAIT_SECONDS):
    """Poll ``ready()`` until it returns something truthy; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"gave up waiting for {what} after {seconds:.0f} s")


@dataclass
class Served:
    url: str
    env: dict[str, str]
    home: Path
    dagster_home: Path

    def instance(self) -> dg.DagsterInstance:
        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        return dg.DagsterInstance.get()

    def fingerprint(self) -> dict[str, str]:
        return {name: hashlib.sha256((self.home / name).read_bytes()).hexdigest()
                for name in ("sandbox.sqlite", "app.sqlite", "state.sqlite")}


def _graphql(url: str, query: bytes) -> str | None:
    request = urllib.request.Request(f"{url}/graphql", data=query, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def _location_loaded(url: str) -> bool:
    body = _graphql(url, b'{"query": "{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError { __typename } } } } }"}')
    if body is None:
        return False
    if "PythonError" in body:
        pytest.fail(f"the code location failed to load: {body}")
    return "RepositoryLocation" in body


@pytest.fixture
def served_demo(tmp_path: Path, monkeypatch) -> Iterator[Served]:
    """The demo after `make demo` (first sync done), its sensor stopped, under a real webserver and daemon."""
    home, dagster_home = tmp_path / "datasync", tmp_path / "dagster_home"
    home.mkdir()
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {**os.environ, "DATASYNC_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
    env.pop("DATASYNC_CONFIG", None)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    run = lambda *args: subprocess.run([str(BIN / args[0]), *args[1:]], cwd=REPO, env=env, check=True, capture_output=True, text=True)  # noqa: E731
    run("datasync", "demo", "--records", "40")
    # The sensor would sync the edits below on its own; this test launches every run itself.
    run("dagster", "sensor", "stop", "datasync_changes", "-w", "workspace.yaml")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = [
        subprocess.Popen([str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                         cwd=REPO, env=env, stdout=open(logs / "webserver.log", "w"), stderr=subprocess.STDOUT),
        subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                         cwd=REPO, env=env, stdout=open(logs / "daemon.log", "w"), stderr=subprocess.STDOUT),
    ]
    try:
        _until("the webserver's code location", lambda: _location_loaded(url))
        # Dagster greets a new instance with a newsletter dialog over every page; mark it seen, as its Skip does.
        _graphql(url, b'{"query": "mutation { setNuxSeen }"}')
        yield Served(url, env, home, dagster_home)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _edit_both_sides(served: Served) -> None:
    """An app edit to sync, and a HubSpot contact the app refuses to store (a failed record to name)."""
    engine = sa.create_engine(f"sqlite:///{served.home}/app.sqlite")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET city = 'Graz', updated_at = CURRENT_TIMESTAMP "
                                   "WHERE id = (SELECT min(id) FROM customers WHERE hubspot_id IS NOT NULL)"))
        connection.execute(sa.text(f"CREATE TRIGGER refuse BEFORE INSERT ON customers WHEN NEW.email = '{REFUSED_EMAIL}' "
                                   "BEGIN SELECT RAISE(ABORT, 'the ERP refuses this customer'); END"))
    engine.dispose()
    from datasync_pipeline.sandbox import Sandbox, SandboxSettings

    sandbox = Sandbox(SandboxSettings(db_path=str(served.home / "sandbox.sqlite"), tier="starter"))
    sandbox.seed("contacts", [{"email": REFUSED_EMAIL, "firstname": "Refused"}])
    sandbox.close()


def _launch_from_the_launchpad(page, served: Served, job: str, *, dry_run: bool) -> str:
    """Open the job's Launchpad, flip the one switch if asked, launch; returns the new run's id."""
    page.goto(f"{served.url}/locations/datasync/jobs/{job}/playground")
    editor = page.locator(".CodeMirror")
    editor.wait_for()
    # The one switch. It opens at its default (false), or as this browser last launched the job.
    wanted, other = ("true", "false") if dry_run else ("false", "true")
    if f"dry_run: {other}" in editor.inner_text():
        editor.get_by_text(other, exact=True).dblclick()
        page.keyboard.type(wanted)
    assert f"dry_run: {wanted}" in editor.inner_text()
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url("**/runs/**", timeout=WAIT_SECONDS * 1000)
    return page.url.rstrip("/").split("/runs/")[-1].split("?")[0]


def _finished(served: Served, run_id: str) -> dg.DagsterRun:
    instance = served.instance()
    return _until(f"run {run_id} to finish", lambda: (run := instance.get_run_by_id(run_id)) and run.is_finished and run)


def test_a_dry_run_from_the_launchpad_writes_nothing_and_a_real_run_names_its_failed_record(served_demo: Served):
    sync_playwright = _browser_or_skip()
    _edit_both_sides(served_demo)
    before = served_demo.fingerprint()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})

        dry = _finished(served_demo, _launch_from_the_launchpad(page, served_demo, "first_sync_contacts", dry_run=True))
        assert dry.status == dg.DagsterRunStatus.SUCCESS
        assert dry.tags["datasync/dry_run"] == "true" and dry.tags["datasync/sync"] == "contacts"
        assert served_demo.fingerprint() == before  # the sandbox, the app and the state store: byte for byte

        real = _finished(served_demo, _launch_from_the_launchpad(page, served_demo, "first_sync_contacts", dry_run=False))
        assert real.status == dg.DagsterRunStatus.SUCCESS
        assert real.tags["datasync/dry_run"] == "false" and real.tags.get("datasync/failed_records/contacts") == "1"
        assert served_demo.fingerprint() != before

        # The run's event log: the check failed, and its table names the refused record and why.
        page.goto(f"{served_demo.url}/runs/{real.run_id}")
        page.get_by_text("ASSET_CHECK_EVALUATION").first.wait_for()
        page.get_by_text("failed for materialization").first.wait_for()
        page.locator("tr", has_text="datasync/failed_records").get_by_text("[Show Markdown]").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("database_error").wait_for()
        assert "the ERP refuses this customer" in dialog.inner_text()
        browser.close()
