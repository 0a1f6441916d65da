"""HubSpot's OAuth 2.0 as an app meets it: codes, expiring access tokens, refresh tokens, scopes, introspection.

Modelled on HubSpot's OAuth guides ("Working with OAuth", "OAuth quickstart", "Manage tokens"):
- ``POST /oauth/v1/token`` (form-encoded) with ``grant_type=authorization_code`` (``code``, ``redirect_uri``)
  or ``grant_type=refresh_token`` (``refresh_token``), each with ``client_id`` and ``client_secret``, answers
  ``{token_type: "bearer", access_token, refresh_token, expires_in, hub_id, scopes}``; a bad client is 400
  ``BAD_CLIENT_ID``, an unknown or used code ``BAD_AUTH_CODE``, an unknown refresh token ``BAD_REFRESH_TOKEN``;
- access tokens expire (1,800 s at HubSpot; ``SandboxSettings.access_token_lifetime_seconds`` here): a request
  with an expired one is 401 ``EXPIRED_AUTHENTICATION``;
- a token carries the scopes granted at install; a request needing another is 403 ``MISSING_SCOPES`` listing
  the required scopes in ``errors[0].context.requiredGranularScopes``;
- ``GET /oauth/v1/access-tokens/{token}`` describes a live token (``hub_id, scopes, expires_in, app_id, ...``),
  404 otherwise.
Codes and tokens live in the sandbox's SQLite state, so a restart keeps installs signed in. The browser consent step is the one part a server cannot play: ``Sandbox.oauth.authorize(scopes)`` (or
``POST /_sandbox/oauth/authorize``) hands out the code HubSpot's redirect would. The sandbox's own static
token keeps working beside OAuth tokens (private apps and service keys do not expire) and opens everything.
Time is the sandbox clock (``Sandbox.clock``), which tests move forward instead of sleeping.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.clock import Clock
from datasync_pipeline.sandbox.errors import HubSpotError, json_response, not_found
from datasync_pipeline.sandbox.oauth import SANDBOX_HUB_ID, SANDBOX_USER_ID, is_known_client

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox

ALL_SCOPES = (
    "oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.companies.read",
    "crm.objects.companies.write", "crm.objects.deals.read", "crm.objects.deals.write", "tickets", "e-commerce",
    "crm.objects.invoices.read", "crm.objects.owners.read", "crm.schemas.contacts.read", "crm.schemas.contacts.write",
    "crm.schemas.companies.read", "crm.schemas.companies.write", "crm.schemas.deals.read", "crm.schemas.deals.write",
)
JOURNAL_READ = "developer.webhooks_journal.read"
JOURNAL_SCOPES = (JOURNAL_READ, "developer.webhooks_journal.subscriptions.read", "developer.webhooks_journal.subscriptions.write")
APP_ID = 424242
CODES, REFRESH_TOKENS, ACCESS_TOKENS = "oauth_codes", "oauth_refresh_tokens", "oauth_access_tokens"


@dataclass
class AccessToken:
    token: str
    scopes: tuple[str, ...]
    expires_at: float


class OAuthTokens:
    """Codes, refresh tokens and access tokens handed out by this portal, kept in the sandbox's SQLite state.

    A restart of the sandbox keeps every install signed in, as a HubSpot deploy does: the app's refresh token
    and its current access token (until it expires) go on working. Access tokens past their expiry are
    forgotten when the next one is issued, so the state does not grow with every refresh.
    """

    def __init__(self, clock: Clock, lifetime_seconds: float, record_store: store.Store) -> None:
        self.clock = clock
        self.lifetime_seconds = lifetime_seconds
        self._store = record_store

    def authorize(self, scopes: list[str] | tuple[str, ...] = ALL_SCOPES) -> str:
        """The code HubSpot's consent page would redirect with, for these scopes."""
        code = secrets.token_urlsafe(18)
        with self._store.transaction() as connection:
            store.put_reference(connection, CODES, code, {"scopes": list(scopes)})
        return code

    def exchange_code(self, code: str) -> dict[str, Any]:
        """A code is good once: exchanging it consumes it and creates the install's refresh token."""
        refresh = secrets.token_urlsafe(24)
        with self._store.transaction() as connection:
            granted = store.get_reference(connection, CODES, code) if code else None
            if granted is None:
                raise HubSpotError(400, "BAD_AUTH_CODE", "missing or unknown auth code")
            store.delete_reference(connection, CODES, code)
            store.put_reference(connection, REFRESH_TOKENS, refresh, granted)
        return self._issue(refresh, tuple(granted["scopes"]))

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        with self._store.reading() as connection:
            granted = store.get_reference(connection, REFRESH_TOKENS, refresh_token) if refresh_token else None
        if granted is None:
            raise HubSpotError(400, "BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        return self._issue(refresh_token, tuple(granted["scopes"]))

    def for_the_app(self, scopes: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """A ``client_credentials`` token: it authenticates as the app, not an install, so it has no refresh token
        and no CRM data: HubSpot offers this grant for the webhooks journal API. It carries the ``oauth`` scope and
        the journal scopes asked for ("include the corresponding scopes when generating your client credentials
        token", "Webhooks journal and management APIs (2026-03)"); any other scope is refused."""
        unknown = [scope for scope in scopes if scope not in JOURNAL_SCOPES and scope != "oauth"]
        if unknown:
            raise HubSpotError(400, "BAD_SCOPE", f"Scopes not available to a client credentials token: {', '.join(unknown)}")
        granted = self._issue("", ("oauth", *dict.fromkeys(scope for scope in scopes if scope != "oauth")))
        del granted["refresh_token"]
        return granted

    def _issue(self, refresh_token: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        now = self.clock.now()
        access = AccessToken("sandbox-oauth-" + secrets.token_urlsafe(24), scopes, now + self.lifetime_seconds)
        with self._store.transaction() as connection:
            for token, body in store.load_reference(connection, ACCESS_TOKENS).items():
                if body["expiresAt"] <= now:
                    store.delete_reference(connection, ACCESS_TOKENS, token)
            store.put_reference(connection, ACCESS_TOKENS, access.token, {"scopes": list(scopes), "expiresAt": access.expires_at})
        return {"token_type": "bearer", "access_token": access.token, "refresh_token": refresh_token,
                "expires_in": int(self.lifetime_seconds), "hub_id": SANDBOX_HUB_ID, "scopes": list(scopes)}

    def find(self, token: str) -> AccessToken | None:
        with self._store.reading() as connection:
            body = store.get_reference(connection, ACCESS_TOKENS, token)
        return AccessToken(token, tuple(body["scopes"]), body["expiresAt"]) if body is not None else None

    def is_expired(self, access: AccessToken) -> bool:
        return self.clock.now() >= access.expires_at


def required_scope(method: str, template: str, object_type: str | None) -> str | None:
    """The scope a CRM route needs, by the object type it touches (HubSpot's per-endpoint scope lists)."""
    write = method in {"POST", "PATCH", "PUT", "DELETE"} and not template.endswith(("/search", "/batch/read"))
    if template.startswith("/webhooks-journal/subscriptions"):
        return f"developer.webhooks_journal.subscriptions.{'write' if write else 'read'}"
    if template.startswith("/webhooks-journal/"):
        return JOURNAL_READ
    if template.startswith("/crm/v3/owners"):
        return "crm.objects.owners.read"
    if object_type is None:
        return None
    if "/properties/" in template or template.startswith("/crm/properties/"):
        if object_type in {"contacts", "companies", "deals"}:
            return f"crm.schemas.{object_type}.{'write' if write else 'read'}"
        return None
    if object_type in {"contacts", "companies", "deals"}:
        return f"crm.objects.{object_type}.{'write' if write else 'read'}"
    if object_type == "tickets":
        return "tickets"
    if object_type in {"products", "line_items"}:
        return "e-commerce"
    if object_type == "invoices":
        return "crm.objects.invoices.read"
    if object_type in {"notes", "calls", "emails", "meetings", "tasks"}:
        return f"crm.objects.contacts.{'write' if write else 'read'}"
    return None


def token_endpoint(sandbox: Sandbox, request: Request) -> Response:
    """``POST /oauth/v1/token``: authorization_code and refresh_token grants, client credentials checked."""
    form = request.form
    grant = form.get("grant_type")
    if grant not in {"authorization_code", "refresh_token"}:
        raise HubSpotError(400, "BAD_GRANT_TYPE", "grant_type must be authorization_code or refresh_token")
    if not is_known_client(sandbox.settings, form.get("client_id", ""), form.get("client_secret", "")):
        raise HubSpotError(400, "BAD_CLIENT_ID", "missing or unknown client id, or a client secret that does not belong to it")
    if grant == "authorization_code":
        if not form.get("redirect_uri"):
            raise HubSpotError(400, "BAD_REDIRECT_URI", "missing redirect_uri")
        return json_response(sandbox.oauth.exchange_code(form.get("code", "")))
    return json_response(sandbox.oauth.refresh(form.get("refresh_token", "")))


def introspect(sandbox: Sandbox, request: Request, token: str) -> Response:
    """``GET /oauth/v1/access-tokens/{token}``: what a live access token may do, and for how long."""
    access = sandbox.oauth.find(token)
    if access is None or sandbox.oauth.is_expired(access):
        raise not_found("The access token is expired or does not exist.")
    return json_response({
        "token": access.token, "user": "sandbox-user@sandbox.example", "hub_domain": "sandbox.hubspot.example",
        "scopes": list(access.scopes), "hub_id": SANDBOX_HUB_ID, "app_id": APP_ID,
        "expires_in": int(access.expires_at - sandbox.oauth.clock.now()), "user_id": SANDBOX_USER_ID, "token_type": "access",
    })
