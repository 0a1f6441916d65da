"""Sending one HubSpot request: auth, rate limiting, retries, counting and error classification.

Every operation module goes through `HubSpotTransport.request`, so every HTTP request sent is rate
limited, counted under its endpoint template (the sync-health views report API calls per run), retried
when the failure is transient, and turned into a categorized exception when it is not.

Two ways to authenticate: a private app's token (sent as is, never expires), or an OAuth app install
(`oauth.OAuthSession`: an access token renewed before it expires, and once more when HubSpot answers
401 ``EXPIRED_AUTHENTICATION``, after which the request is sent again, once). Secrets only travel in
request headers and the token request's body, which httpx masks in its repr; they are scrubbed from any
message built from a response.

The limiters run at the account's whole budget and share it with every process on this machine using the
same account (`rate_limit`); every answer's rate-limit headers go back to the limiter that granted it,
and after a 429 the limiter, not a fixed pause, says how long to wait.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

import httpx

from datasync_pipeline.connectors.hubspot.errors import (
    AuthenticationError,
    MissingScopesError,
    RejectedRequestError,
    TransientRequestError,
    is_missing_scopes,
    record_error_from,
    required_scopes,
)
from datasync_pipeline.connectors.hubspot.oauth import CLIENT_CREDENTIALS_TOKEN_PATH, DEFAULT_TOKEN_PATH, ClientCredentials, OAuthCredentials, OAuthSession
from datasync_pipeline.connectors.hubspot.rate_limit import (
    Clock,
    MemoryWindowLog,
    MonotonicClock,
    RollingWindowLimiter,
    SharedWindowLog,
    WindowLog,
    budget_key,
    shared_budget_path,
)
from datasync_pipeline.connectors.hubspot.retry import LOCKED_MIN_WAIT_SECONDS, parse_retry_after, retry_policy
from datasync_pipeline.connectors.hubspot.tiers import RequestBudget, Tier, crm_budget, search_budget
from datasync_pipeline.errors import ErrorCategory, RecordError

logger = logging.getLogger(__name__)

RATE_LIMIT_MARGIN = 1.0  # the share of the account's budget to use; the limiter's guard absorbs jitter


class HubSpotTransport:
    """One `httpx.Client` (thread-safe, shared by the worker threads) plus the limiters and counters."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None = None,
        oauth: OAuthCredentials | ClientCredentials | None = None,
        tier: Tier | str,
        max_concurrency: int,
        timeout_seconds: float,
        max_attempts: int,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        rate_limit_margin: float = RATE_LIMIT_MARGIN,
    ) -> None:
        self.tier = Tier(tier)
        self.max_attempts = max(1, max_attempts)
        self.clock = clock or MonotonicClock()
        if (token is None) == (oauth is None):
            raise ValueError("authenticate with exactly one of a private app token or OAuth app credentials")
        self._token = token
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Accept": "application/json"},
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
            limits=httpx.Limits(max_connections=max(2, max_concurrency * 2), max_keepalive_connections=max(2, max_concurrency)),
            transport=transport,
        )
        self.oauth: OAuthSession | None = None
        if oauth is not None:
            default_path = CLIENT_CREDENTIALS_TOKEN_PATH if isinstance(oauth, ClientCredentials) else DEFAULT_TOKEN_PATH
            token_url = oauth.token_url or base_url.rstrip("/") + default_path
            self.oauth = OAuthSession(oauth, token_url=token_url, post_form=self._post_token_form, now=self.clock.now)
        account = oauth.account_key() if oauth is not None else token
        assert account is not None
        self.crm_limiter = self._limiter(crm_budget(self.tier), "crm", base_url, account, rate_limit_margin)
        self.search_limiter = self._limiter(search_budget(self.tier), "search", base_url, account, rate_limit_margin)
        self.call_counts: Counter[str] = Counter()
        self.retry_counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()

    def request(
        self,
        method: str,
        template: str,
        *,
        path_params: dict[str, str] | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        is_search: bool = False,
    ) -> httpx.Response:
        """Send `method template` (formatted with `path_params`) until it succeeds or cannot.

        Returns the response for any 2xx (207 included). Raises `AuthenticationError`, `MissingScopesError`,
        `RejectedRequestError` for other 4xx, and `TransientRequestError` when retries ran out.
        """
        endpoint = f"{method} {template}"
        path = template.format(**(path_params or {}))
        policy = retry_policy(
            max_attempts=self.max_attempts,
            sleep=self.clock.sleep,
            before_sleep=lambda state: self._log_retry(endpoint, state),
        )
        for attempt in policy:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    with self._counts_lock:
                        self.retry_counts[endpoint] += 1
                return self._send_once(method, path, endpoint, json=json, params=params, is_search=is_search)
        raise AssertionError("unreachable: the retry policy re-raises the last error")

    def download(self, url: str, endpoint: str) -> httpx.Response:
        """GET a pre-signed url (a webhooks journal file): no Authorization header (the signature is the credential,
        and the token must not travel to storage), no CRM budget; counted under ``endpoint``; a timeout or 5xx is
        transient, any other failure is returned for the caller to judge."""
        with self._counts_lock:
            self.call_counts[endpoint] += 1
        try:
            response = self._http.get(url)
        except httpx.TransportError as error:
            raise TransientRequestError(
                RecordError(ErrorCategory.SERVER_ERROR, f"{endpoint} failed ({type(error).__name__})"), status=None) from None
        if response.status_code >= 500:
            raise TransientRequestError(RecordError(ErrorCategory.SERVER_ERROR, f"{endpoint} answered HTTP {response.status_code}"),
                                        status=response.status_code)
        return response

    def close(self) -> None:
        self._http.close()
        for limiter in (self.crm_limiter, self.search_limiter):
            if isinstance(limiter.log, SharedWindowLog):
                limiter.log.close()

    def _limiter(
        self, budget: RequestBudget, endpoint_group: str, base_url: str, account: str, margin: float
    ) -> RollingWindowLimiter:
        """A limiter whose window every process on this machine using this account shares.

        Only on the real clock: other processes cannot share an injected clock's time, so tests keep a
        window of their own. An unlimited budget has no window to share.
        """
        log: WindowLog = MemoryWindowLog()
        if isinstance(self.clock, MonotonicClock) and budget.requests is not None:
            log = SharedWindowLog(shared_budget_path(), budget_key(base_url, account, endpoint_group))
        return RollingWindowLimiter(budget, clock=self.clock, window_log=log, margin=margin)

    def _send_once(
        self, method: str, path: str, endpoint: str, *, json: Any, params: dict[str, Any] | None, is_search: bool
    ) -> httpx.Response:
        limiter = self.search_limiter if is_search else self.crm_limiter
        token = self._access_token()
        response, sent_at = self._send_with(token, limiter, method, path, endpoint, json=json, params=params)
        if response.status_code == 401 and self.oauth is not None and _is_expired_token(response):
            # HubSpot says the token lapsed before our clock did: renew it and send once more, only once.
            token = self.oauth.expired(token)
            response, sent_at = self._send_with(token, limiter, method, path, endpoint, json=json, params=params)
        if response.status_code != 429:  # a 429's headers only say the window is full: `refused` handles it
            limiter.observe(response.headers, sent_at=sent_at)
        if response.status_code < 300:
            return response
        self._raise_for_status(response, endpoint, limiter)
        raise AssertionError("unreachable")

    def _access_token(self) -> str:
        if self.oauth is not None:
            return self.oauth.access_token()
        assert self._token is not None
        return self._token

    def _post_token_form(self, url: str, form: dict[str, str]) -> httpx.Response:
        """The OAuth token request: no bearer header, counted like any request, never rate limited (not a CRM call)."""
        with self._counts_lock:
            self.call_counts[f"POST {httpx.URL(url).path}"] += 1
        return self._http.post(url, data=form)

    def _send_with(
        self, token: str, limiter: RollingWindowLimiter, method: str, path: str, endpoint: str, *,
        json: Any, params: dict[str, Any] | None,
    ) -> tuple[httpx.Response, float]:
        limiter.acquire()
        sent_at = self.clock.now()
        with self._counts_lock:
            self.call_counts[endpoint] += 1
        try:
            response = self._http.request(method, path, json=json, params=params, headers={"Authorization": f"Bearer {token}"})
        except httpx.TimeoutException as error:
            raise TransientRequestError(
                RecordError(ErrorCategory.SERVER_ERROR, f"{endpoint} timed out ({type(error).__name__})"), status=None
            ) from None
        except httpx.TransportError as error:
            raise TransientRequestError(
                RecordError(ErrorCategory.SERVER_ERROR, f"{endpoint} failed to connect ({type(error).__name__})"),
                status=None,
            ) from None
        return response, sent_at

    def _raise_for_status(
        self, response: httpx.Response, endpoint: str, limiter: RollingWindowLimiter
    ) -> None:
        status = response.status_code
        body = self._error_body(response)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 429:
            policy_name = body.get("policyName")
            if policy_name == "DAILY":
                raise RejectedRequestError(
                    RecordError(ErrorCategory.RATE_LIMITED, "HubSpot's daily API limit is spent; the sync resumes tomorrow"),
                    status=status,
                    body=body,
                )
            wait = limiter.refused(retry_after=retry_after)
            raise TransientRequestError(record_error_from(body, status=status), status=status, body=body, wait_seconds=wait)
        if status == 423:
            wait = max(LOCKED_MIN_WAIT_SECONDS, retry_after or 0.0)
            raise TransientRequestError(
                RecordError(ErrorCategory.SERVER_ERROR, body.get("message") or "HubSpot locked the records (423)"),
                status=status,
                body=body,
                wait_seconds=wait,
            )
        if status >= 500:
            raise TransientRequestError(
                record_error_from(body, status=status), status=status, body=body, wait_seconds=retry_after
            )
        if status == 401:
            if self.oauth is not None:
                fix = "check that the OAuth app is still installed in this account and the refresh token is the install's"
            else:
                fix = "check that the private app token is valid and not revoked"
            raise AuthenticationError(
                f"HubSpot refused the access token (401 {body.get('category') or 'INVALID_AUTHENTICATION'}): {fix}"
            )
        if status == 403 and is_missing_scopes(body):
            scopes = required_scopes(body)
            named = ", ".join(scopes) or "the scopes HubSpot names"
            raise MissingScopesError(f"The HubSpot token lacks scopes for {endpoint}: add {named} to the app", scopes)
        raise RejectedRequestError(record_error_from(body, status=status), status=status, body=body)

    def _error_body(self, response: httpx.Response) -> dict[str, Any]:
        """The parsed error body with the token scrubbed from every string, in case a server echoes it."""
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:500] or f"HubSpot answered HTTP {response.status_code}"}
        if not isinstance(body, dict):
            body = {"message": str(body)[:500]}
        for secret in self._secrets():
            body = _scrub(body, secret)
        return body

    def _secrets(self) -> list[str]:
        return self.oauth.secrets() if self.oauth is not None else [self._token or ""]

    def _log_retry(self, endpoint: str, state) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning("Retrying %s in %.1fs after attempt %d: %s", endpoint, wait, state.attempt_number, error)

    def __repr__(self) -> str:
        return f"HubSpotTransport(base_url={str(self._http.base_url)!r}, tier={self.tier.value!r})"


MIN_SCRUBBED_SECRET_LENGTH = 8


def _is_expired_token(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("category") == "EXPIRED_AUTHENTICATION"


def _scrub(value: Any, secret: str) -> Any:
    if len(secret) < MIN_SCRUBBED_SECRET_LENGTH:  # too short to be a real token; scrubbing would mangle text
        return value
    if isinstance(value, str):
        return value.replace(secret, "[redacted]")
    if isinstance(value, dict):
        return {key: _scrub(item, secret) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secret) for item in value]
    return value
