"""Rate limits and injected faults over HTTP, and the ``/_sandbox/`` control API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from datasync_pipeline.sandbox import Fault, Sandbox, SandboxSettings, ServedSandbox, serve_in_thread
from datasync_pipeline.sandbox.rate_limit import RateLimiter
from datasync_pipeline.sandbox.settings import RateLimitTier


@pytest.fixture
def starter(tmp_path) -> Iterator[tuple[ServedSandbox, httpx.Client]]:
    """A starter-tier sandbox (100 requests per window, 250,000 a day) with a long window, so nothing refills mid-test."""
    settings = SandboxSettings(db_path=str(tmp_path / "limited.sqlite"), tier="starter", rate_window_seconds=30)
    limited = Sandbox(settings)
    with serve_in_thread(limited) as served:
        with httpx.Client(base_url=served.url, headers={"Authorization": "Bearer sandbox-token"}) as client:
            yield served, client
    limited.close()


def test_window_limit_headers_and_429_body(starter) -> None:
    _, client = starter
    first = client.get("/crm/v3/objects/contacts")
    assert first.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "99"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "30000"
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "249999"
    for _ in range(99):
        assert client.get("/crm/v3/objects/contacts").status_code == 200

    refused = client.get("/crm/v3/objects/contacts")
    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    body = refused.json()
    assert body["status"] == "error"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    uuid.UUID(body["correlationId"])


def test_window_refills_as_it_rolls(tmp_path) -> None:
    settings = SandboxSettings(db_path=str(tmp_path / "rolling.sqlite"), tier="starter", rate_window_seconds=10)
    limited = Sandbox(settings)
    # A hand-moved clock: the window's arithmetic, whatever the machine's speed.
    now = [1_000.0]
    limited.rate_limiter = RateLimiter(settings.rate_limit_tier, 10, clock=lambda: now[0])
    client = httpx.Client(transport=httpx.WSGITransport(app=limited.wsgi_app), base_url="http://sandbox",
                          headers={"Authorization": "Bearer sandbox-token"})
    statuses = []
    for _ in range(101):
        statuses.append(client.get("/crm/v3/objects/contacts").status_code)
        now[0] += 0.01
    assert statuses.count(429) == 1 and statuses[-1] == 429
    now[0] = 1_000.0 + 9.9  # still inside the window of the first request
    assert client.get("/crm/v3/objects/contacts").status_code == 429
    now[0] = 1_000.0 + 10.005  # the first request has rolled out of the window: one slot is free
    assert client.get("/crm/v3/objects/contacts").status_code == 200
    assert client.get("/crm/v3/objects/contacts").status_code == 429
    limited.close()


def test_search_has_its_own_five_per_second_limit_without_headers(starter) -> None:
    served, client = starter
    # A stopped clock puts all six searches inside one second, however slow the machine is.
    served.sandbox.rate_limiter = RateLimiter(served.sandbox.settings.rate_limit_tier, 30, clock=lambda: 1_000.0)
    answers = [client.post("/crm/v3/objects/contacts/search", json={}) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429]
    assert "X-HubSpot-RateLimit-Max" not in answers[0].headers
    assert answers[5].json()["policyName"] == "SECONDLY"
    assert answers[5].json()["message"] == "You have reached your secondly limit."
    assert client.get("/crm/v3/objects/contacts").status_code == 200


def test_daily_budget_is_enforced(starter) -> None:
    served, client = starter
    tier = RateLimitTier(per_window=100, daily=3)
    served.sandbox.rate_limiter = RateLimiter(tier, 30)
    assert [client.get("/crm/v3/objects/contacts").status_code for _ in range(3)] == [200] * 3
    refused = client.get("/crm/v3/objects/contacts")
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "DAILY"
    assert refused.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_control_endpoints_are_not_rate_limited(starter) -> None:
    served, client = starter
    for _ in range(110):
        assert client.get("/_sandbox/stats", headers=control_headers(served)).status_code == 200
    assert client.get("/crm/v3/objects/contacts").headers["X-HubSpot-RateLimit-Remaining"] == "99"


def test_429_fault_with_retry_after_hits_only_matching_requests(api: httpx.Client, served_sandbox) -> None:
    served_sandbox.sandbox.faults.add(Fault(status=429, times=1, path_contains="/batch/create", method="POST",
                                            retry_after=1, policy_name="TEN_SECONDLY_ROLLING"))
    assert api.get("/crm/v3/objects/contacts").status_code == 200
    body = {"inputs": [{"properties": {"email": "f@example.com"}}]}
    faulted = api.post("/crm/v3/objects/contacts/batch/create", json=body)
    assert faulted.status_code == 429
    assert faulted.headers["Retry-After"] == "1"
    assert faulted.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert faulted.json()["errorType"] == "RATE_LIMIT"
    assert api.post("/crm/v3/objects/contacts/batch/create", json=body).status_code == 201
    counts = served_sandbox.sandbox.request_counts
    assert counts["POST /crm/v3/objects/{objectType}/batch/create"] == 2
    assert counts["GET /crm/v3/objects/{objectType}"] == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_faults_have_hubspot_bodies_and_run_out(api: httpx.Client, served_sandbox, status: int) -> None:
    served_sandbox.sandbox.faults.add(Fault(status=status, times=2))
    for _ in range(2):
        faulted = api.get("/crm/v3/objects/contacts")
        assert faulted.status_code == status
        assert faulted.json()["status"] == "error" and faulted.json()["category"]
    assert api.get("/crm/v3/objects/contacts").status_code == 200


def test_timeout_fault_delays_or_drops(api: httpx.Client, served_sandbox) -> None:
    served_sandbox.sandbox.faults.add(Fault(status="timeout", delay_seconds=0.3))
    with pytest.raises(httpx.ReadTimeout):
        api.get("/crm/v3/objects/contacts", timeout=0.1)
    served_sandbox.sandbox.faults.add(Fault(status="timeout", delay_seconds=0.01, drop=True))
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served_sandbox.url}/crm/v3/objects/contacts",
                  headers={"Authorization": f"Bearer {served_sandbox.token}"})
    assert api.get("/crm/v3/objects/contacts").status_code == 200


def test_faults_clear(api: httpx.Client, served_sandbox) -> None:
    served_sandbox.sandbox.faults.add(Fault(status=500, times=5))
    served_sandbox.sandbox.faults.clear()
    assert api.get("/crm/v3/objects/contacts").status_code == 200


def control_headers(served: ServedSandbox) -> dict[str, str]:
    return {"X-Sandbox-Control-Token": served.control_token}


def test_control_api_seeds_faults_and_reports_counts(api: httpx.Client, served_sandbox: ServedSandbox) -> None:
    control = control_headers(served_sandbox)
    seeded = api.post("/_sandbox/seed", json={"objectType": "contacts", "records": [{"email": "s@example.com"}],
                                              "updatedAt": "2024-01-01T00:00:00Z"}, headers=control)
    assert seeded.status_code == 201
    [contact_id] = seeded.json()["ids"]
    assert api.get(f"/crm/v3/objects/contacts/{contact_id}").json()["updatedAt"] == "2024-01-01T00:00:00.000Z"

    assert api.post("/_sandbox/faults", json={"status": 503, "times": 1, "pathContains": "/contacts"}, headers=control).status_code == 201
    assert api.get("/crm/v3/objects/contacts").status_code == 503
    assert api.post("/_sandbox/faults", json={"status": 500, "times": 3}, headers=control).status_code == 201
    assert api.delete("/_sandbox/faults", headers=control).status_code == 204
    assert api.get("/crm/v3/objects/contacts").status_code == 200

    stats = api.get("/_sandbox/stats", headers=control).json()
    assert stats["requestCounts"]["GET /crm/v3/objects/{objectType}"] == 2
    assert stats["requestCounts"]["GET /crm/v3/objects/{objectType}/{objectId}"] == 1
    assert not any(route.startswith(("GET /_sandbox", "POST /_sandbox")) for route in stats["requestCounts"])
    assert httpx.get(f"{api.base_url}/_sandbox/stats").status_code == 401


def test_latency_is_added_to_every_request(tmp_path) -> None:
    settings = SandboxSettings(db_path=str(tmp_path / "slow.sqlite"), tier="unlimited", latency_ms=150)
    slow = Sandbox(settings)
    client = httpx.Client(transport=httpx.WSGITransport(app=slow.wsgi_app), base_url="http://sandbox",
                          headers={"Authorization": "Bearer sandbox-token"})
    started = time.perf_counter()
    client.get("/crm/v3/objects/contacts")
    assert time.perf_counter() - started >= 0.15
    slow.close()
