"""``datasync sandbox ...``: run the HubSpot sandbox as a local HTTP server."""

from __future__ import annotations

import errno
import ipaddress
import os
import secrets
import socket
from pathlib import Path

import typer

from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline.sandbox.server import listen, serve_forever
from datasync_pipeline.sandbox.settings import RATE_LIMIT_TIERS

sandbox_app = typer.Typer(help="An emulated HubSpot CRM API for local development and tests.", no_args_is_help=True)

DEFAULT_DB_PATH = Path(".datasync") / "sandbox.sqlite"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@sandbox_app.command()
def serve(
    port: int = typer.Option(8765, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on; loopback only unless --allow-remote."),
    db: Path = typer.Option(DEFAULT_DB_PATH, help="SQLite file holding the sandbox's records (created if missing)."),
    token: str = typer.Option(
        None, help="Bearer token clients must send. Default: $DATASYNC_SANDBOX_TOKEN, else 'sandbox-token'."
    ),
    control_token: str = typer.Option(
        None, help="Token of the /_sandbox/ control routes (header X-Sandbox-Control-Token). "
        "Default: $DATASYNC_SANDBOX_CONTROL_TOKEN, else a random one, printed at start.",
    ),
    client_id: str = typer.Option(
        None, help="OAuth client id allowed at /oauth/v1/token and /oauth/v3/token. Default: $DATASYNC_SANDBOX_CLIENT_ID; "
        "none: every refresh is refused.",
    ),
    client_secret: str = typer.Option(
        None, help="That client's secret. Default: $DATASYNC_SANDBOX_CLIENT_SECRET (prefer the variable: "
        "arguments show in the process list).",
    ),
    tier: str = typer.Option("starter", help=f"Rate-limit tier to emulate: {', '.join(RATE_LIMIT_TIERS)}."),
    latency_ms: int = typer.Option(0, help="Delay added to every request, to feel like a network."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow listening on a non-loopback interface."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error instead of one line."),
) -> None:
    """Serve the sandbox until interrupted; point HubSpot clients at the printed URL and token."""
    if not is_loopback(host) and not allow_remote:
        typer.echo(
            f"Refusing to listen on {host}: the sandbox has one shared token and no TLS. "
            "Use a loopback address, or pass --allow-remote if you mean it.",
            err=True,
        )
        raise typer.Exit(code=2)
    if tier not in RATE_LIMIT_TIERS:
        typer.echo(f"Unknown tier {tier!r}; choose one of: {', '.join(RATE_LIMIT_TIERS)}", err=True)
        raise typer.Exit(code=2)
    token = token or os.environ.get("DATASYNC_SANDBOX_TOKEN") or "sandbox-token"
    credentials = {
        "control_token": control_token or os.environ.get("DATASYNC_SANDBOX_CONTROL_TOKEN") or secrets.token_urlsafe(24),
        "client_id": client_id or os.environ.get("DATASYNC_SANDBOX_CLIENT_ID") or None,
        "client_secret": client_secret or os.environ.get("DATASYNC_SANDBOX_CLIENT_SECRET") or None,
    }
    try:
        settings = SandboxSettings(db_path=str(db), token=token, tier=tier, latency_ms=latency_ms, **credentials)
    except ValueError as error:
        typer.echo(f"{error}: check --token, --control-token, --client-id and --client-secret", err=True)
        raise typer.Exit(code=2) from None
    try:
        listener = listen(host, port)  # before anything is announced or opened: a busy port is refused first
    except OSError as error:
        if debug:
            raise
        typer.echo(listen_problem(host, port, error), err=True)
        raise typer.Exit(code=1) from None
    sandbox = Sandbox(settings)
    typer.echo(f"HubSpot sandbox serving at http://{host}:{port}")
    typer.echo(f"Token: {token}  (send 'Authorization: Bearer {token}')")
    typer.echo(f"Control token: {settings.control_token}  (send 'X-Sandbox-Control-Token: ...' to /_sandbox/*)")
    if settings.client_id:
        typer.echo(f"OAuth client: {settings.client_id}  (codes from POST /_sandbox/oauth/authorize, tokens at /oauth/v1/token or /oauth/v3/token)")
    typer.echo(f"State: {db.resolve()}  tier: {tier}")
    try:
        serve_forever(sandbox, listener)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.close()


def listen_problem(host: str, port: int, error: OSError) -> str:
    """One line naming why ``host:port`` cannot be listened on, and what to do."""
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use (another sandbox or program): stop it, or pick a free port with --port N"
    if error.errno == errno.EACCES:
        return f"not allowed to listen on port {port} on {host} (ports below 1024 need root): pick another with --port N"
    if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
        return f"cannot listen on {host}: it is not an address of this machine; use --host 127.0.0.1"
    return f"cannot listen on {host}:{port}: {error.strerror or error}; pick another with --port N, or see --debug"
