"""The Dagster resource of a `kind: hubspot` connection: one client (HTTP pool, rate limiter) per run.

A real account by private app token or OAuth app install (its secrets as ``dg.EnvVar``), or the bundled sandbox
running in-process. The same account can be a sync's HubSpot side (``client``) and another sync's app side (``side``,
a second portal). The change sensor asks for ``probe_client``: the same account with a short timeout and no long
retries (``probe_client.py``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
from pydantic import PrivateAttr

from datasync_pipeline.config.secrets import resource_value
from datasync_pipeline.connectors.hubspot.client import HubSpotClient
from datasync_pipeline.connectors.hubspot.config import HubSpotConnection
from datasync_pipeline.connectors.hubspot.journal import JournalClient
from datasync_pipeline.connectors.hubspot.oauth import ClientCredentials, OAuthCredentials
from datasync_pipeline.connectors.hubspot.probe_client import PROBE_MAX_ATTEMPTS, PROBE_MAX_WAIT_SECONDS, PROBE_TIMEOUT_SECONDS, ImpatientClock

EMBEDDED_SANDBOX_URL = "http://sandbox.embedded"
# The embedded sandbox's own OAuth app, which reads its webhooks journal (`journal: true` on a sandbox connection).
SANDBOX_JOURNAL_APP = ("datasync-sandbox-app", "datasync-sandbox-app-secret")


def embedded_sandbox_url(sandbox_path: str) -> str:
    """The base URL of an embedded sandbox portal: one host per state file. An account's rate window is keyed by its
    base URL and token (``rate_limit.budget_key``), and every embedded portal answers to the same token, so the host
    is what keeps two portals (a portal-to-portal sync) on a budget each, as two HubSpot accounts are."""
    digest = hashlib.sha256(str(Path(sandbox_path).resolve()).encode()).hexdigest()[:12]
    return EMBEDDED_SANDBOX_URL.replace("://", f"://portal-{digest}.")


class HubSpotResource(dg.ConfigurableResource):
    """A HubSpot account, or the bundled sandbox running in-process when `sandbox_path` is set."""

    base_url: str = "https://api.hubapi.com"
    token: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_refresh_token: str | None = None
    oauth_token_url: str | None = None
    tier: str = "starter"
    object_path_prefix: str = "/crm/v3/objects"
    max_concurrency: int = 4
    sandbox_path: str | None = None
    sandbox_token: str = "sandbox-token"
    # The change probe's client (``probe_client``): seconds per request, attempts, and the longest wait between them.
    probe_timeout_seconds: float = PROBE_TIMEOUT_SECONDS
    probe_max_attempts: int = PROBE_MAX_ATTEMPTS
    probe_max_wait_seconds: float = PROBE_MAX_WAIT_SECONDS
    # The webhooks journal (``journal.py``): read by the change sensor with the app's client credentials.
    journal: bool = False
    journal_client_id: str | None = None
    journal_client_secret: str | None = None
    journal_token_url: str | None = None

    _client: HubSpotClient | None = PrivateAttr(default=None)
    _probe_client: HubSpotClient | None = PrivateAttr(default=None)
    _journal_client: JournalClient | None = PrivateAttr(default=None)
    _sandbox: Any = PrivateAttr(default=None)
    _sides: dict = PrivateAttr(default_factory=dict)

    @classmethod
    def from_connection(cls, connection: HubSpotConnection) -> HubSpotResource:
        oauth = connection.oauth
        journal_app = connection.journal_app()
        embedded_app = connection.reads_journal and connection.sandbox is not None and journal_app is None
        return cls(
            base_url=connection.base_url,
            token=resource_value(connection.token) if connection.token else None,
            oauth_client_id=resource_value(oauth.client_id) if oauth else None,
            oauth_client_secret=resource_value(oauth.client_secret) if oauth else None,
            oauth_refresh_token=resource_value(oauth.refresh_token) if oauth else None,
            oauth_token_url=oauth.token_url if oauth else None,
            tier=connection.tier.value,
            object_path_prefix=connection.object_path_prefix,
            max_concurrency=connection.max_concurrency,
            sandbox_path=connection.sandbox.path if connection.sandbox else None,
            sandbox_token=connection.sandbox.token if connection.sandbox else "sandbox-token",
            journal=connection.reads_journal,
            journal_client_id=SANDBOX_JOURNAL_APP[0] if embedded_app else resource_value(journal_app.client_id) if journal_app else None,
            journal_client_secret=SANDBOX_JOURNAL_APP[1] if embedded_app else resource_value(journal_app.client_secret) if journal_app else None,
            journal_token_url=journal_app.token_url if journal_app else None,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._client = self.create_client()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._sides.clear()
        for client in (self._client, self._probe_client, self._journal_client):
            if client is not None:
                client.close()
        if self._sandbox is not None:
            self._sandbox.close()

    def create_client(self, **settings: Any) -> HubSpotClient:
        """A client of this account; ``settings`` are more ``HubSpotClient`` arguments (timeout, attempts, clock)."""
        if self.sandbox_path is not None:
            from datasync_pipeline.sandbox import Sandbox, SandboxSettings

            if self._sandbox is None:
                app = {"client_id": self.journal_client_id, "client_secret": self.journal_client_secret} if self.journal else {}
                self._sandbox = Sandbox(SandboxSettings(db_path=self.sandbox_path, token=self.sandbox_token, tier=self.tier, **app))
            # In-process: httpx's WSGI transport runs the sandbox in this thread, so no timeout applies to it.
            return HubSpotClient(
                base_url=embedded_sandbox_url(self.sandbox_path), token=self.sandbox_token, tier=self.tier,
                max_concurrency=self.max_concurrency, object_path_prefix=self.object_path_prefix,
                transport=httpx.WSGITransport(app=self._sandbox.wsgi_app), **settings,
            )
        oauth = self._oauth_credentials()
        if not self.token and oauth is None:
            raise dg.DagsterInvariantViolationError("this HubSpot connection has no token: set the variable its `token` names")
        return HubSpotClient(
            base_url=self.base_url, token=None if oauth else self.token, oauth=oauth, tier=self.tier,
            max_concurrency=self.max_concurrency, object_path_prefix=self.object_path_prefix, **settings,
        )

    def probe_client(self) -> HubSpotClient:
        """The light client of the change sensor's probe: a short timeout, one quick retry, no long waits, so a
        hanging or refusing HubSpot cannot hold a sensor tick near Dagster's 60 s limit (``probe_client.py``)."""
        if self._probe_client is None:
            self._probe_client = self.create_client(
                timeout_seconds=self.probe_timeout_seconds, max_attempts=self.probe_max_attempts,
                clock=ImpatientClock(self.probe_max_wait_seconds),
            )
        return self._probe_client

    def journal_client(self) -> JournalClient | None:
        """The account's webhooks journal, read as the app (client credentials), with the probe's short timeout and
        one quick retry; None when the connection does not use the journal."""
        if not self.journal:
            return None
        if not (self.journal_client_id and self.journal_client_secret):
            raise dg.DagsterInvariantViolationError(
                "this HubSpot connection reads the webhooks journal but its app is incomplete: set the variables its "
                "`journal` (or `oauth`) client_id and client_secret name")
        if self._journal_client is None:
            credentials = ClientCredentials(client_id=self.journal_client_id, client_secret=self.journal_client_secret,
                                            token_url=self.journal_token_url)
            settings: dict[str, Any] = {"timeout_seconds": self.probe_timeout_seconds, "max_attempts": self.probe_max_attempts,
                                        "clock": ImpatientClock(self.probe_max_wait_seconds)}
            if self.sandbox_path is not None:
                self.create_client().close()  # opens the embedded sandbox, with its journal app
                settings.update(base_url=embedded_sandbox_url(self.sandbox_path), transport=httpx.WSGITransport(app=self._sandbox.wsgi_app))
            else:
                settings.update(base_url=self.base_url)
            self._journal_client = JournalClient(credentials=credentials, tier=self.tier, **settings)
        return self._journal_client

    def _oauth_credentials(self) -> OAuthCredentials | None:
        given = [self.oauth_client_id, self.oauth_client_secret, self.oauth_refresh_token]
        if not any(given):
            return None
        if not all(given):
            raise dg.DagsterInvariantViolationError(
                "this HubSpot connection's OAuth app is incomplete: set the variables its `oauth` client_id, "
                "client_secret and refresh_token name"
            )
        return OAuthCredentials(
            client_id=self.oauth_client_id, client_secret=self.oauth_client_secret,
            refresh_token=self.oauth_refresh_token, token_url=self.oauth_token_url,
        )

    @property
    def client(self) -> HubSpotClient:
        if self._client is None:
            self._client = self.create_client()
        return self._client

    def primary_side(self, sync, mappings):
        """This account as the HubSpot side of ``sync``, for writing (the loads, restore): a new ``HubSpotSide`` each time,
        so that its ``written_stamps`` are those of one load."""
        from datasync_pipeline.connectors.hubspot.app_side import HubSpotSide
        from datasync_pipeline.sync.binding import hubspot_binding

        return HubSpotSide.primary(self.client, hubspot_binding(sync, mappings))

    def side(self, sync, mappings):
        """This account as the app side of ``sync`` (portal-to-portal): a ``HubSpotSide`` over the run's client, one
        per sync and run, so that what one step wrote is known to the next (``written_stamps``)."""
        from datasync_pipeline.connectors.hubspot.app_side import HubSpotSide
        from datasync_pipeline.sync.binding import side_binding

        binding = side_binding(sync, mappings)
        key = (sync.name, tuple(binding.fields.items()))
        if key not in self._sides:
            self._sides[key] = HubSpotSide(self.client, binding)
        return self._sides[key]
