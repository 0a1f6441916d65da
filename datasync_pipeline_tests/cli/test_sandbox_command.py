"""`datasync sandbox serve` refuses a busy port in one line, before announcing anything."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from datasync_pipeline.cli import app


def test_a_busy_port_is_one_line_naming_the_port_and_the_fix(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = CliRunner().invoke(app, ["sandbox", "serve", "--port", str(port), "--db", str(tmp_path / "s.sqlite")])

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"port {port} on 127.0.0.1 is already in use (another sandbox or program): stop it, or pick a free port with --port N"
    ]
    assert "serving at" not in result.output and "Token" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "s.sqlite").exists()


def test_debug_shows_the_error_itself(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = CliRunner().invoke(app, ["sandbox", "serve", "--port", str(port), "--db", str(tmp_path / "s.sqlite"), "--debug"])

    assert result.exit_code == 1
    assert isinstance(result.exception, OSError)
