"""Who may do what: the CRM bearer token, the OAuth client that refreshes it, and the control token of ``/_sandbox/``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from datasync_pipeline.sandbox import Sandbox, SandboxSettings, ServedSandbox, serve_in_thread

CLIENT_ID, CLIENT_SECRET = "sandbox-app", "sandbox-app-secret"


@pytest.fixture
def oauth_sandbox(tmp_path) -> Iterator[ServedSandbox]:
    """A served sandbox with one OAuth app configured."""
    settings = SandboxSettings(db_path=str(tmp_path / "oauth.sqlite"), tier="unlimited", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    sandbox = Sandbox(settings)
    with serve_in_thread(sandbox) as served:
        yield served
    sandbox.close()


def refresh(served: ServedSandbox, refresh_token: str = "r", **form: str) -> httpx.Response:
    return httpx.post(f"{served.url}/oauth/v3/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token, **form})


def installed(served: ServedSandbox) -> str:
    """The refresh token an install gives: the code HubSpot's consent page would hand out, exchanged at v3."""
    code = served.sandbox.oauth.authorize()
    response = httpx.post(f"{served.url}/oauth/v3/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "https://app.example/callback",
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert response.status_code == 200, response.text
    return response.json()["refresh_token"]


# Until issue 13 this test refreshed an arbitrary refresh token ("r") and got the portal's static token back:
# that was the lenient v3 endpoint. HubSpot refreshes only refresh tokens it issued, and hands out expiring tokens.
def test_the_configured_client_refreshes_and_gets_hubspot_token_shape(oauth_sandbox) -> None:
    response = refresh(oauth_sandbox, installed(oauth_sandbox), client_id=CLIENT_ID, client_secret=CLIENT_SECRET)

    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] != oauth_sandbox.token
    assert body["expires_in"] == 1800 and body["token_type"] == "bearer" and body["token_use"] == "access"
    assert {"refresh_token", "hub_id", "user_id", "scopes"} <= set(body)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(f"{oauth_sandbox.url}/crm/v3/objects/contacts", headers=headers).status_code == 200
    assert httpx.post(f"{oauth_sandbox.url}/oauth/v3/token", data={"grant_type": "password"}).json()["category"] == "BAD_GRANT_TYPE"


def test_v3_refuses_a_refresh_token_it_never_issued(oauth_sandbox) -> None:
    response = refresh(oauth_sandbox, "made-up-refresh-token", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)

    assert response.status_code == 400 and response.json()["category"] == "BAD_REFRESH_TOKEN"


def test_v3_tokens_expire_on_the_sandbox_clock(oauth_sandbox) -> None:
    token = refresh(oauth_sandbox, installed(oauth_sandbox), client_id=CLIENT_ID, client_secret=CLIENT_SECRET).json()["access_token"]
    oauth_sandbox.sandbox.clock.advance(1800)

    response = httpx.get(f"{oauth_sandbox.url}/crm/v3/objects/contacts", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401 and response.json()["category"] == "EXPIRED_AUTHENTICATION"


def test_v3_reads_credentials_from_the_body_only(oauth_sandbox) -> None:
    response = httpx.post(f"{oauth_sandbox.url}/oauth/v3/token", params={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                          data={"grant_type": "refresh_token", "refresh_token": installed(oauth_sandbox)})

    assert response.status_code == 400 and response.json()["category"] == "BAD_CLIENT_ID"


def test_v3_client_credentials_authenticate_as_the_app_without_refresh_token_or_crm_access(oauth_sandbox) -> None:
    response = httpx.post(f"{oauth_sandbox.url}/oauth/v3/token",
                          data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})

    body = response.json()
    assert response.status_code == 200 and "refresh_token" not in body and "user_id" not in body and body["scopes"] == ["oauth"]
    crm = httpx.get(f"{oauth_sandbox.url}/crm/v3/objects/contacts", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert crm.status_code == 403 and crm.json()["category"] == "MISSING_SCOPES"


@pytest.mark.parametrize("client_id, client_secret", [("someone", "anything"), (CLIENT_ID, "wrong-secret"), ("someone", CLIENT_SECRET)])
def test_unknown_clients_are_refused_with_hubspot_error_shape(oauth_sandbox, client_id: str, client_secret: str) -> None:
    response = refresh(oauth_sandbox, client_id=client_id, client_secret=client_secret)

    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error" and body["category"] == "BAD_CLIENT_ID" and body["correlationId"]
    assert oauth_sandbox.token not in response.text


def test_without_a_configured_client_every_refresh_is_refused(served_sandbox) -> None:
    response = refresh(served_sandbox, client_id="c", client_secret="s")

    assert response.status_code == 400
    assert response.json()["category"] == "BAD_CLIENT_ID"
    assert served_sandbox.token not in response.text


def test_the_crm_token_does_not_open_the_control_routes(served_sandbox) -> None:
    bearer = {"Authorization": f"Bearer {served_sandbox.token}"}
    for method, path in (("GET", "/_sandbox/stats"), ("POST", "/_sandbox/seed"), ("POST", "/_sandbox/faults"), ("DELETE", "/_sandbox/faults")):
        response = httpx.request(method, f"{served_sandbox.url}{path}", headers=bearer, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["category"] == "INVALID_AUTHENTICATION"
        assert "X-Sandbox-Control-Token" in response.json()["message"]
    assert served_sandbox.sandbox.faults.pending == []


def test_a_token_from_the_oauth_endpoint_does_not_open_the_control_routes(oauth_sandbox) -> None:
    token = refresh(oauth_sandbox, installed(oauth_sandbox), client_id=CLIENT_ID, client_secret=CLIENT_SECRET).json()["access_token"]

    response = httpx.get(f"{oauth_sandbox.url}/_sandbox/stats", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401


def test_the_control_token_opens_the_control_routes_and_only_them(served_sandbox) -> None:
    control = {"X-Sandbox-Control-Token": served_sandbox.control_token}

    assert httpx.get(f"{served_sandbox.url}/_sandbox/stats", headers=control).status_code == 200
    assert httpx.get(f"{served_sandbox.url}/_sandbox/stats", headers={"X-Sandbox-Control-Token": "guess"}).status_code == 401
    as_bearer = {"Authorization": f"Bearer {served_sandbox.control_token}"}
    assert httpx.get(f"{served_sandbox.url}/crm/v3/objects/contacts", headers=as_bearer).status_code == 401


def test_each_sandbox_gets_its_own_control_token_unless_given(tmp_path) -> None:
    first = SandboxSettings(db_path=str(tmp_path / "a.sqlite"))
    second = SandboxSettings(db_path=str(tmp_path / "b.sqlite"))

    assert first.control_token != second.control_token
    assert first.control_token != first.token
    assert SandboxSettings(db_path="x", control_token="chosen").control_token == "chosen"
    with pytest.raises(ValueError, match="differ from the CRM bearer token"):
        SandboxSettings(db_path="x", token="same", control_token="same")
    with pytest.raises(ValueError, match="both the OAuth client id and its client secret"):
        SandboxSettings(db_path="x", client_id="only-the-id")


def test_oauth_installs_survive_a_restart_of_the_sandbox(tmp_path) -> None:
    settings = SandboxSettings(db_path=str(tmp_path / "restart.sqlite"), tier="unlimited", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    first = Sandbox(settings)
    granted = first.oauth.exchange_code(first.oauth.authorize(["oauth", "crm.objects.contacts.read"]))
    unused_code = first.oauth.authorize()
    first.close()

    again = Sandbox(settings)
    try:
        access = again.oauth.find(granted["access_token"])
        assert access is not None and not again.oauth.is_expired(access) and "crm.objects.contacts.read" in access.scopes
        assert again.oauth.refresh(granted["refresh_token"])["scopes"] == ["oauth", "crm.objects.contacts.read"]
        assert again.oauth.exchange_code(unused_code)["refresh_token"]
        with pytest.raises(Exception, match="BAD_AUTH_CODE|auth code"):
            again.oauth.exchange_code(unused_code)  # a code is good once, across restarts too
    finally:
        again.close()


def test_expired_access_tokens_are_forgotten_when_the_next_is_issued(tmp_path) -> None:
    sandbox = Sandbox(SandboxSettings(db_path=str(tmp_path / "prune.sqlite"), tier="unlimited", client_id=CLIENT_ID, client_secret=CLIENT_SECRET))
    try:
        granted = sandbox.oauth.exchange_code(sandbox.oauth.authorize())
        sandbox.clock.advance(1800)
        sandbox.oauth.refresh(granted["refresh_token"])

        assert sandbox.oauth.find(granted["access_token"]) is None
    finally:
        sandbox.close()
