"""The HubSpot sandbox served as a process of its own, as the benchmarks measure against it (a real account is
another machine: its requests, latency and rate limit are not the sync process's)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_sandbox(home: Path, name: str, port: int, tier: str, latency_ms: int, *, token: str,
                  control_token: str) -> subprocess.Popen:
    """``datasync sandbox serve`` on ``port`` with its state in ``home/<name>.sqlite``; returns once it answers."""
    command = [str(Path(sys.executable).parent / "datasync"), "sandbox", "serve", "--port", str(port),
               "--db", str(home / f"{name}.sqlite"), "--tier", tier, "--latency-ms", str(latency_ms)]
    env = {**os.environ, "DATASYNC_SANDBOX_TOKEN": token, "DATASYNC_SANDBOX_CONTROL_TOKEN": control_token}
    with (home / f"{name}.log").open("wb") as log:  # the server's access log, one line a request
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # waiting for another process to listen: nothing to be notified by
        if process.poll() is not None:
            raise SystemExit(f"the {name} sandbox exited at start (exit {process.returncode})")
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/stats", headers={"X-Sandbox-Control-Token": control_token}, timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"the {name} sandbox did not start listening within 60 s")
