"""``datasync sandbox ...``: run the HubSpot sandbox as a local HTTP server."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import typer

from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline.sandbox.server import serve_forever
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
    tier: str = typer.Option("starter", help=f"Rate-limit tier to emulate: {', '.join(RATE_LIMIT_TIERS)}."),
    latency_ms: int = typer.Option(0, help="Delay added to every request, to feel like a network."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow listening on a non-loopback interface."),
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
    settings = SandboxSettings(db_path=str(db), token=token, tier=tier, latency_ms=latency_ms)
    sandbox = Sandbox(settings)
    typer.echo(f"HubSpot sandbox serving at http://{host}:{port}")
    typer.echo(f"Token: {token}  (send 'Authorization: Bearer {token}')")
    typer.echo(f"State: {db.resolve()}  tier: {tier}")
    try:
        serve_forever(sandbox, host, port)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.close()
