"""DATASYNC_REQUIRE_POSTGRES=1 turns a missing PostgreSQL server into a failure instead of a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import datasync_pipeline_tests

PROJECT_ROOT = Path(datasync_pipeline_tests.__file__).resolve().parent.parent
CLOSED_PORT_URL = "postgresql+psycopg2://postgres@127.0.0.1:1/test"


def _run_a_postgres_test(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """Run one test needing ``postgres_url`` in a separate pytest, with only the Postgres fixtures loaded."""
    test_file = tmp_path / "test_needs_postgres.py"
    test_file.write_text("def test_needs_postgres(postgres_url):\n    assert postgres_url\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("DATASYNC_")}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), **environment}
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
    command += ["-p", "datasync_pipeline_tests.fixtures.postgres", str(tmp_path)]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_missing_server_fails_the_run_when_postgres_is_required(tmp_path):
    completed = _run_a_postgres_test(
        tmp_path, DATASYNC_TEST_POSTGRES_URL=CLOSED_PORT_URL, DATASYNC_REQUIRE_POSTGRES="1"
    )

    assert completed.returncode == 1, completed.stdout
    assert "1 error" in completed.stdout and "skipped" not in completed.stdout
    assert "PostgreSQL is required (DATASYNC_REQUIRE_POSTGRES=1)" in completed.stdout


def test_a_missing_server_skips_loudly_otherwise(tmp_path):
    completed = _run_a_postgres_test(tmp_path, DATASYNC_TEST_POSTGRES_URL=CLOSED_PORT_URL)

    assert completed.returncode == 0, completed.stdout
    assert "1 skipped" in completed.stdout
    assert "POSTGRES TESTS SKIPPED" in completed.stdout and "127.0.0.1:1" in completed.stdout
