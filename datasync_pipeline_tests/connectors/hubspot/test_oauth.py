"""The connector as an OAuth app: it obtains, keeps and renews its access token, and says clearly when it cannot.

Against a scripted server and a fake clock (what is sent, when), then against the sandbox's OAuth (expiry on the
sandbox clock, which tests move instead of sleeping).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import httpx
import pytest

from datasync_pipeline.connectors.hubspot import AuthenticationError, HubSpotClient, OAuthCredentials, TokenRefreshError
from datasync_pipeline.connectors.hubspot.oauth import RENEW_BEFORE_SECONDS
from datasync_pipeline.connectors.hubspot.rate_limit import budget_key
from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline_tests.connectors.hubspot.fakes import FakeClock, json_response

CREDENTIALS = OAuthCredentials(client_id="app-client-id", client_secret="app-secret-0123456789", refresh_token="refresh-0123456789abcdef")
LIST_PATH = "/crm/v3/objects/contacts"
OK = json_response(200, {"results": [{"id": "1", "properties": {}}]})


def granted(access_token: str, expires_in: int = 1800, **extra) -> httpx.Response:
    return json_response(200, {"token_type": "bearer", "access_token": access_token, "refresh_token": CREDENTIALS.refresh_token,
                               "expires_in": expires_in, "hub_id": 1, "scopes": ["oauth"], **extra})


def expired() -> httpx.Response:
    return json_response(401, {"status": "error", "category": "EXPIRED_AUTHENTICATION", "message": "The OAuth token used to make this call expired"})


class TokenServer:
    """Answers the token endpoint from a script of grants and every CRM call with `crm` (or OK)."""

    def __init__(self, *grants: httpx.Response, crm: list[httpx.Response] | None = None) -> None:
        self.grants = list(grants)
        self.crm = list(crm or [])
        self.token_requests: list[httpx.Request] = []
        self.crm_requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/oauth/"):
            self.token_requests.append(request)
            return self.grants.pop(0)
        self.crm_requests.append(request)
        return self.crm.pop(0) if self.crm else OK

    def bearer_tokens(self) -> list[str]:
        return [request.headers["authorization"].removeprefix("Bearer ") for request in self.crm_requests]


def client_for(server: TokenServer, clock: FakeClock, credentials: OAuthCredentials = CREDENTIALS) -> HubSpotClient:
    return HubSpotClient(base_url="https://hubspot.test", oauth=credentials, tier="unlimited",
                         transport=httpx.MockTransport(server), clock=clock, max_attempts=3)


def list_once(client: HubSpotClient) -> None:
    list(client.list_records("contacts", properties=["email"]))


def test_the_first_request_obtains_a_token_with_the_refresh_token_grant_and_sends_it_as_bearer():
    server = TokenServer(granted("access-1"))
    client = client_for(server, FakeClock())

    list_once(client)
    list_once(client)

    [token_request] = server.token_requests
    assert str(token_request.url) == "https://hubspot.test/oauth/v1/token"
    assert "authorization" not in token_request.headers
    form = {key: values[0] for key, values in parse_qs(token_request.content.decode()).items()}
    assert form == {"grant_type": "refresh_token", "client_id": "app-client-id", "client_secret": "app-secret-0123456789",
                    "refresh_token": "refresh-0123456789abcdef"}
    assert server.bearer_tokens() == ["access-1", "access-1"]
    assert client.call_counts["POST /oauth/v1/token"] == 1


def test_the_token_is_renewed_shortly_before_it_expires_not_after():
    clock = FakeClock()
    server = TokenServer(granted("access-1"), granted("access-2", refresh_token="rotated-refresh-token"), granted("access-3"))
    client = client_for(server, clock)

    list_once(client)
    clock.advance(1800 - RENEW_BEFORE_SECONDS - 1)
    list_once(client)
    clock.advance(1)
    list_once(client)
    clock.advance(1800)
    list_once(client)

    assert server.bearer_tokens() == ["access-1", "access-1", "access-2", "access-3"]
    last_form = parse_qs(server.token_requests[-1].content.decode())
    assert last_form["refresh_token"] == ["rotated-refresh-token"]  # a rotated refresh token is the one kept


def test_an_expired_token_answer_renews_once_and_sends_the_request_once_more():
    server = TokenServer(granted("access-1"), granted("access-2"), crm=[expired(), OK])
    client = client_for(server, FakeClock())

    list_once(client)

    assert server.bearer_tokens() == ["access-1", "access-2"]
    assert len(server.token_requests) == 2


def test_a_second_expired_answer_is_an_authentication_error_not_a_loop():
    server = TokenServer(granted("access-1"), granted("access-2"), crm=[expired(), expired()])
    client = client_for(server, FakeClock())

    with pytest.raises(AuthenticationError, match="EXPIRED_AUTHENTICATION"):
        list_once(client)

    assert len(server.crm_requests) == 2 and len(server.token_requests) == 2


@pytest.mark.parametrize("category, fix", [
    ("BAD_REFRESH_TOKEN", "install the app again"),
    ("BAD_CLIENT_ID", "client_id and client_secret"),
])
def test_a_refused_refresh_is_one_clear_error_naming_cause_and_fix_without_secrets(category, fix, caplog):
    body = {"status": "BAD_REFRESH_TOKEN" if category == "BAD_REFRESH_TOKEN" else "error", "category": category,
            "message": f"refresh token {CREDENTIALS.refresh_token} of client secret {CREDENTIALS.client_secret} refused"}
    server = TokenServer(json_response(400, body))
    client = client_for(server, FakeClock())

    with caplog.at_level(logging.DEBUG), pytest.raises(TokenRefreshError) as raised:
        list_once(client)

    message = str(raised.value)
    assert f"HTTP 400 {category}" in message and fix in message and "https://hubspot.test/oauth/v1/token" in message
    for secret in (CREDENTIALS.client_secret, CREDENTIALS.refresh_token):
        assert secret not in message and secret not in caplog.text
    assert server.crm_requests == [] and len(server.token_requests) == 1  # refused for good: not retried


def test_a_server_error_while_refreshing_is_retried_like_any_request():
    server = TokenServer(json_response(503, {"message": "unavailable"}), granted("access-1"))
    clock = FakeClock()
    client = client_for(server, clock)

    list_once(client)

    assert server.bearer_tokens() == ["access-1"] and len(clock.sleeps) == 1


def test_secrets_never_appear_in_logs(caplog):
    server = TokenServer(granted("access-secret-token-value"))
    with caplog.at_level(logging.DEBUG):
        list_once(client_for(server, FakeClock()))

    assert "app-client-id" in caplog.text  # which app got a token is worth a line
    for secret in ("access-secret-token-value", CREDENTIALS.client_secret, CREDENTIALS.refresh_token):
        assert secret not in caplog.text


def test_the_rate_limit_budget_is_one_per_install_whatever_the_access_token():
    same_install = OAuthCredentials(client_id="app-client-id", client_secret="other-secret", refresh_token=CREDENTIALS.refresh_token)
    other_install = OAuthCredentials(client_id="app-client-id", client_secret=CREDENTIALS.client_secret, refresh_token="refresh-of-another-account")

    key = budget_key("https://api.hubapi.com", CREDENTIALS.account_key(), "crm")
    assert key == budget_key("https://api.hubapi.com", same_install.account_key(), "crm")
    assert key != budget_key("https://api.hubapi.com", other_install.account_key(), "crm")
    assert CREDENTIALS.refresh_token not in CREDENTIALS.account_key()


def test_exactly_one_way_to_authenticate():
    with pytest.raises(ValueError, match="exactly one"):
        HubSpotClient(base_url="https://hubspot.test", token="pat-token", oauth=CREDENTIALS)
    with pytest.raises(ValueError, match="exactly one"):
        HubSpotClient(base_url="https://hubspot.test")


# Against the sandbox's OAuth: tokens that expire on the sandbox clock.

@pytest.fixture
def oauth_sandbox(tmp_path):
    sandbox = Sandbox(SandboxSettings(db_path=str(tmp_path / "oauth.sqlite"), tier="unlimited",
                                      client_id="sandbox-app", client_secret="sandbox-app-secret"))
    yield sandbox
    sandbox.close()


def sandbox_client(sandbox: Sandbox, refresh_token: str, clock: FakeClock, token_path: str = "/oauth/v1/token") -> HubSpotClient:
    credentials = OAuthCredentials(client_id="sandbox-app", client_secret="sandbox-app-secret", refresh_token=refresh_token,
                                   token_url=f"http://sandbox.embedded{token_path}")
    return HubSpotClient(base_url="http://sandbox.embedded", oauth=credentials, tier="unlimited",
                         transport=httpx.WSGITransport(app=sandbox.wsgi_app), clock=clock)


@pytest.mark.parametrize("token_path", ["/oauth/v1/token", "/oauth/v3/token"])
def test_against_the_sandbox_a_token_expired_by_the_server_clock_is_renewed_and_the_sync_goes_on(oauth_sandbox, token_path):
    refresh_token = oauth_sandbox.oauth.exchange_code(oauth_sandbox.oauth.authorize())["refresh_token"]
    oauth_sandbox.seed("contacts", [{"email": "a@example.com"}])
    client = sandbox_client(oauth_sandbox, refresh_token, FakeClock(), token_path)

    assert len(list(client.list_records("contacts", properties=["email"]))) == 1
    oauth_sandbox.clock.advance(1801)  # the server's clock runs ahead of ours: it says expired first
    assert len(list(client.list_records("contacts", properties=["email"]))) == 1

    assert client._transport.oauth.refresh_count == 2
    assert oauth_sandbox.request_counts["GET /crm/v3/objects/{objectType}"] == 2  # the refused one is not counted, as at HubSpot


def test_against_the_sandbox_an_unknown_refresh_token_stops_the_run_with_the_fix(oauth_sandbox):
    client = sandbox_client(oauth_sandbox, "refresh-token-of-nobody", FakeClock())

    with pytest.raises(TokenRefreshError, match="BAD_REFRESH_TOKEN.*install the app again"):
        client.list_records("contacts", properties=["email"]).__next__()
