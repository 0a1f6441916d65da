"""The access token of a HubSpot OAuth app install: obtained with the refresh token, kept, renewed before it expires.

HubSpot's OAuth guides ("Working with OAuth", "Manage tokens") describe what an app holds after a user installs
it: a long-lived refresh token, and short-lived access tokens (``expires_in``: 1,800 s) obtained by posting
``grant_type=refresh_token`` with the refresh token, ``client_id`` and ``client_secret`` form-encoded to the token
endpoint (``/oauth/v1/token``, or ``/oauth/v3/token`` with the same body). A request with an expired token is
answered 401 ``EXPIRED_AUTHENTICATION``. So the session:

- asks for an access token on first use and keeps it with its expiry on the transport's clock;
- renews it `RENEW_BEFORE_SECONDS` before it expires, so a request is not sent with a token about to lapse;
- renews it when the server says it expired anyway (a clock ahead of ours, a revoked install): the transport
  then sends the request once more, and only once;
- takes a new refresh token when the answer carries one (rotation), and never logs a secret.

A refused refresh is one `TokenRefreshError` naming the cause (HubSpot's category) and the fix; a server or
network failure while refreshing is transient, and retried like any request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from datasync_pipeline.connectors.hubspot.errors import AuthenticationError, TransientRequestError
from datasync_pipeline.errors import ErrorCategory, RecordError

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_PATH = "/oauth/v1/token"
RENEW_BEFORE_SECONDS = 60.0

_FIX_BY_CATEGORY = {
    "BAD_CLIENT_ID": "check that client_id and client_secret are the OAuth app's (app settings, Auth tab)",
    "BAD_REFRESH_TOKEN": "the refresh token is unknown or was revoked (app uninstalled?): install the app again "
    "and store the refresh token it gives",
    "BAD_GRANT_TYPE": "check that token_url is HubSpot's OAuth token endpoint",
}


@dataclass(frozen=True)
class OAuthCredentials:
    """What an OAuth app install gives: the app's client id and secret, and the install's refresh token.

    ``token_url`` is the token endpoint; None means ``<base_url>/oauth/v1/token``.
    """

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_url: str | None = None

    def account_key(self) -> str:
        """Who this install is, for the shared rate-limit window: the app and a hash of the refresh token.

        One refresh token is one install in one account, so two connections with the same install share a
        budget and two installs do not, whatever access token each holds at the moment.
        """
        digest = hashlib.sha256(self.refresh_token.encode()).hexdigest()
        return f"oauth:{self.client_id}:{digest}"


    def token_form(self, refresh_token: str) -> dict[str, str]:
        """The body of the token request: the refresh grant with the install's current refresh token."""
        return {"grant_type": "refresh_token", "client_id": self.client_id, "client_secret": self.client_secret,
                "refresh_token": refresh_token}

    def secrets(self) -> list[str]:
        return [self.client_secret, self.refresh_token]


JOURNAL_SCOPES = ("developer.webhooks_journal.read", "developer.webhooks_journal.subscriptions.read",
                  "developer.webhooks_journal.subscriptions.write")
CLIENT_CREDENTIALS_TOKEN_PATH = "/oauth/v3/token"


@dataclass(frozen=True)
class ClientCredentials:
    """The app itself, not an install: ``grant_type=client_credentials`` with the app's client id and secret.

    HubSpot's webhooks journal (2026-03) answers only such a token, carrying the journal scopes ("include the
    corresponding scopes when generating your client credentials token"); it has no refresh token, so the session
    asks for a new one with the same grant when it nears expiry. ``token_url`` None means ``<base_url>/oauth/v3/token``
    (the v1 endpoint knows no client-credentials grant).
    """

    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = JOURNAL_SCOPES
    token_url: str | None = None
    refresh_token: str = field(default="", repr=False)  # none: the grant needs no install

    def account_key(self) -> str:
        return f"app:{self.client_id}"

    def token_form(self, refresh_token: str) -> dict[str, str]:
        return {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret,
                "scope": " ".join(self.scopes)}

    def secrets(self) -> list[str]:
        return [self.client_secret]


class TokenRefreshError(AuthenticationError):
    """HubSpot would not give an access token for this install; the message says why and what to change."""

    category = ErrorCategory.AUTHENTICATION


class OAuthSession:
    """The current access token of one install, renewed as it nears expiry; thread-safe.

    `post_form(url, form)` sends the token request (the transport's HTTP client, so tests script it);
    `now()` is the transport's clock.
    """

    def __init__(
        self,
        credentials: OAuthCredentials | ClientCredentials,
        *,
        token_url: str,
        post_form: Callable[[str, dict[str, str]], httpx.Response],
        now: Callable[[], float],
    ) -> None:
        self.credentials = credentials
        self.token_url = token_url
        self._post_form = post_form
        self._now = now
        self._lock = threading.Lock()
        self._refresh_token = credentials.refresh_token
        self._access_token: str | None = None
        self._expires_at = float("-inf")
        self.refresh_count = 0

    def access_token(self) -> str:
        """A token good for at least `RENEW_BEFORE_SECONDS` more, renewed first if needed."""
        with self._lock:
            if self._access_token is None or self._now() >= self._expires_at - RENEW_BEFORE_SECONDS:
                self._renew()
            assert self._access_token is not None
            return self._access_token

    def expired(self, token: str) -> str:
        """The server says `token` expired: renew it unless another thread already did; returns the new token."""
        with self._lock:
            if self._access_token == token:
                self._renew()
            assert self._access_token is not None
            return self._access_token

    def secrets(self) -> list[str]:
        """Every secret this session holds, for scrubbing messages built from responses."""
        values = [*self.credentials.secrets(), self._refresh_token]
        if self._access_token:
            values.append(self._access_token)
        return values

    def _renew(self) -> None:
        form = self.credentials.token_form(self._refresh_token)
        asked_at = self._now()
        try:
            response = self._post_form(self.token_url, form)
        except httpx.TransportError as error:
            raise TransientRequestError(
                RecordError(ErrorCategory.SERVER_ERROR, f"the OAuth token endpoint {self.token_url} failed ({type(error).__name__})"),
                status=None,
            ) from None
        body = _json_object(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientRequestError(
                RecordError(ErrorCategory.SERVER_ERROR, f"the OAuth token endpoint answered HTTP {response.status_code}"),
                status=response.status_code,
            )
        access_token, expires_in = body.get("access_token"), body.get("expires_in")
        if response.status_code >= 300 or not isinstance(access_token, str) or not isinstance(expires_in, int | float):
            raise TokenRefreshError(self._refusal(response.status_code, body))
        self._access_token = access_token
        self._expires_at = asked_at + float(expires_in)
        if isinstance(body.get("refresh_token"), str) and body["refresh_token"]:
            self._refresh_token = body["refresh_token"]
        self.refresh_count += 1
        logger.info("Obtained a HubSpot OAuth access token for app %s (valid %d s)", self.credentials.client_id, int(expires_in))

    def _refusal(self, status: int, body: dict[str, Any]) -> str:
        category = str(body.get("category") or body.get("status") or "").upper()
        message = _scrub(str(body.get("message") or ""), self.secrets())[:300]
        fix = _FIX_BY_CATEGORY.get(category, "check client_id, client_secret, refresh_token and token_url")
        if status < 300:
            cause = "the answer has no access_token and expires_in"
        else:
            cause = f"HTTP {status}" + (f" {category}" if category else "") + (f": {message}" if message else "")
        return f"HubSpot refused to refresh the OAuth access token at {self.token_url} ({cause}): {fix}"


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
