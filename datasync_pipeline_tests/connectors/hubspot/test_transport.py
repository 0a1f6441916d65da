"""Retries, error handling, counting and secrecy of single requests, against a scripted server and a fake clock."""

from __future__ import annotations

import httpx
import pytest

from datasync_pipeline.connectors.hubspot import AuthenticationError, HubSpotClient, MissingScopesError
from datasync_pipeline.connectors.hubspot.errors import RejectedRequestError, TransientRequestError
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline_tests.connectors.hubspot.fakes import FakeClock, ScriptedServer, json_response

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
OK = json_response(200, {"results": [{"id": "1", "properties": {}}]})
TEN_SECONDLY = {
    "status": "error",
    "message": "You have reached your ten_secondly_rolling limit.",
    "errorType": "RATE_LIMIT",
    "policyName": "TEN_SECONDLY_ROLLING",
}


def _client(server: ScriptedServer, clock: FakeClock, **settings) -> HubSpotClient:
    tier = settings.pop("tier", "unlimited")
    return HubSpotClient(
        base_url="https://hubspot.test", token=TOKEN, tier=tier, transport=server.transport(), clock=clock, **settings
    )


def _list(client: HubSpotClient) -> list[dict]:
    return list(client.list_records("contacts", properties=["email"]))


def test_429_honours_retry_after_and_counts_the_retry():
    clock = FakeClock()
    server = ScriptedServer(json_response(429, TEN_SECONDLY, {"Retry-After": "3"}), OK)
    client = _client(server, clock)
    assert len(_list(client)) == 1
    assert clock.sleeps == [3.0]
    assert client.call_counts["GET /crm/v3/objects/{type}"] == 2
    assert client.retry_counts["GET /crm/v3/objects/{type}"] == 1


def test_429_without_retry_after_waits_out_the_ten_second_window():
    clock = FakeClock()
    client = _client(ScriptedServer(json_response(429, TEN_SECONDLY), OK), clock)
    _list(client)
    assert sum(clock.sleeps) == 10.0


def test_search_429_waits_one_second():
    clock = FakeClock()
    secondly = {**TEN_SECONDLY, "message": "You have reached your secondly limit.", "policyName": "SECONDLY"}
    server = ScriptedServer(json_response(429, secondly), json_response(200, {"total": 0, "results": []}))
    client = _client(server, clock)
    assert list(client.search_modified_since("contacts", 0, properties=[])) == []
    assert clock.sleeps == [1.0]


def test_daily_limit_is_not_retried():
    clock = FakeClock()
    server = ScriptedServer(json_response(429, {**TEN_SECONDLY, "policyName": "DAILY"}))
    client = _client(server, clock)
    with pytest.raises(RejectedRequestError) as raised:
        _list(client)
    assert raised.value.category == ErrorCategory.RATE_LIMITED
    assert len(server.requests) == 1


def test_5xx_backs_off_exponentially_then_gives_up_with_server_error():
    clock = FakeClock()
    server = ScriptedServer(json_response(503, {"message": "unavailable"}))
    client = _client(server, clock, max_attempts=4)
    with pytest.raises(TransientRequestError) as raised:
        _list(client)
    assert raised.value.category == ErrorCategory.SERVER_ERROR
    assert len(server.requests) == 4
    assert len(clock.sleeps) == 3
    assert clock.sleeps[0] < clock.sleeps[2]


def test_timeouts_and_connection_errors_are_retried():
    clock = FakeClock()
    server = ScriptedServer(httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), OK)
    client = _client(server, clock)
    assert len(_list(client)) == 1
    assert client.retry_counts["GET /crm/v3/objects/{type}"] == 2


def test_423_locked_waits_at_least_two_seconds():
    clock = FakeClock()
    client = _client(ScriptedServer(json_response(423, {"message": "locked"}), OK), clock)
    _list(client)
    assert clock.sleeps == [2.0]


def test_401_raises_without_the_token_anywhere():
    clock = FakeClock()
    body = {"status": "error", "message": f"Authentication credentials not found. token {TOKEN}", "category": "INVALID_AUTHENTICATION"}
    client = _client(ScriptedServer(json_response(401, body)), clock)
    with pytest.raises(AuthenticationError) as raised:
        _list(client)
    assert TOKEN not in str(raised.value) and TOKEN not in repr(raised.value)
    assert TOKEN not in repr(client)
    assert clock.sleeps == []


def test_missing_scopes_raise_with_the_scopes_named():
    body = {
        "status": "error",
        "category": "MISSING_SCOPES",
        "message": "This app hasn't been granted all required scopes to make this call.",
        "errors": [{"message": "scopes", "context": {"requiredGranularScopes": ["crm.objects.contacts.read"]}}],
    }
    client = _client(ScriptedServer(json_response(403, body)), FakeClock())
    with pytest.raises(MissingScopesError, match="crm.objects.contacts.read"):
        _list(client)


def test_requests_carry_the_bearer_token_and_count_by_template():
    server = ScriptedServer(OK)
    client = _client(server, FakeClock())
    client.batch_read("deals", ["1"], properties=["dealname"])
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert dict(client.call_counts) == {"POST /crm/v3/objects/{type}/batch/read": 1}


def test_dated_object_prefix_moves_properties_and_associations_too():
    server = ScriptedServer(json_response(200, {"results": []}))
    client = _client(server, FakeClock(), object_path_prefix="/crm/objects/2026-03")
    client.get_properties("contacts")
    client.read_associations("contacts", "companies", ["1"])
    assert [request.url.path for request in server.requests] == [
        "/crm/properties/2026-03/contacts",
        "/crm/associations/2026-03/contacts/companies/batch/read",
    ]


def test_starter_tier_spaces_requests_to_its_whole_budget():
    clock = FakeClock()
    server = ScriptedServer(json_response(200, {"results": []}))
    client = _client(server, clock, tier="starter")
    for _ in range(200):
        client.get_properties("contacts")
    assert clock.now() - 1000.0 == pytest.approx(10.2)  # 100 a window, the next 100 once the first age out (+2%)


def _window_headers(remaining: int) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": "190",
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }


def test_429_waits_only_until_the_window_frees_not_a_whole_window():
    clock = FakeClock()
    pages = [json_response(200, {"results": []}, _window_headers(190 - sent)) for sent in range(1, 190)]
    server = ScriptedServer(*pages, json_response(429, TEN_SECONDLY, _window_headers(0)), json_response(200, {"results": []}))
    client = _client(server, clock, tier="professional")
    for _ in range(189):
        client.get_properties("contacts")
        clock.advance(0.05)
    # The 190th is refused (someone else's request took the slot): the window frees when our first leaves.
    client.get_properties("contacts")
    assert sum(clock.sleeps) == pytest.approx(10.2 - 189 * 0.05)
    assert client.retry_counts["GET /crm/v3/properties/{type}"] == 1


def test_headers_from_the_server_pace_requests_another_client_shares():
    clock = FakeClock()
    # Every answer says 100 of the 190 were used by someone else besides our requests so far.
    answers = [json_response(200, {"results": []}, _window_headers(190 - 100 - sent)) for sent in range(1, 91)]
    server = ScriptedServer(*answers, json_response(200, {"results": []}))
    client = _client(server, clock, tier="professional")
    for _ in range(90):
        client.get_properties("contacts")
    assert clock.sleeps == []
    client.get_properties("contacts")  # the 91st would be the 191st in HubSpot's window
    assert sum(clock.sleeps) == pytest.approx(10.2)  # 90 a window, the second 90 after ten seconds
