"""The sandbox answers with the rate-limit headers HubSpot documents, on every CRM answer, as a client pacing from them needs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline.sandbox.rate_limit import RateLimiter

WINDOW_HEADERS = ("X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds")
DAILY_HEADERS = ("X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining")


def _client(tmp_path, tier: str, now: list[float]) -> Iterator[httpx.Client]:
    sandbox = Sandbox(SandboxSettings(db_path=str(tmp_path / f"{tier}.sqlite"), tier=tier))
    # A hand-moved clock: the window's arithmetic, whatever the machine's speed.
    sandbox.rate_limiter = RateLimiter(sandbox.settings.rate_limit_tier, 10, clock=lambda: now[0])
    with httpx.Client(transport=httpx.WSGITransport(app=sandbox.wsgi_app), base_url="http://sandbox",
                      headers={"Authorization": "Bearer sandbox-token"}) as client:
        yield client
    sandbox.close()


@pytest.fixture
def now() -> list[float]:
    return [1_000.0]


@pytest.fixture
def professional(tmp_path, now) -> Iterator[httpx.Client]:
    yield from _client(tmp_path, "professional", now)


@pytest.fixture
def oauth(tmp_path, now) -> Iterator[httpx.Client]:
    yield from _client(tmp_path, "oauth", now)


def test_every_crm_answer_carries_the_window_and_daily_headers_errors_included(professional: httpx.Client) -> None:
    answers = [
        professional.get("/crm/v3/objects/contacts"),
        professional.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@example.com"}}),
        professional.get("/crm/v3/objects/contacts/999999"),  # 404
        professional.post("/crm/v3/objects/contacts", json={"properties": {"email": "not an email"}}),  # 400
        professional.get("/crm/v3/properties/contacts"),
    ]
    assert [answer.status_code for answer in answers][2:4] == [404, 400]
    for sent, answer in enumerate(answers, start=1):
        assert answer.headers["X-HubSpot-RateLimit-Max"] == "190"
        assert answer.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert answer.headers["X-HubSpot-RateLimit-Remaining"] == str(190 - sent)
        assert answer.headers["X-HubSpot-RateLimit-Daily"] == "625000"
        assert answer.headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(625_000 - sent)


def test_remaining_comes_back_as_the_window_rolls(professional: httpx.Client, now: list[float]) -> None:
    for _ in range(3):
        professional.get("/crm/v3/objects/contacts")
        now[0] += 4.0
    # At 1012 the first request (1000) has left the ten-second window; those at 1004 and 1008 remain.
    assert professional.get("/crm/v3/objects/contacts").headers["X-HubSpot-RateLimit-Remaining"] == str(190 - 3)


def test_a_refusal_carries_the_headers_and_hubspots_body(professional: httpx.Client) -> None:
    for _ in range(190):
        professional.get("/crm/v3/objects/contacts")
    refused = professional.get("/crm/v3/objects/contacts")
    assert refused.status_code == 429
    assert {name: refused.headers[name] for name in WINDOW_HEADERS} == {
        "X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Remaining": "0",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }
    body = refused.json()
    assert {key: body[key] for key in ("status", "message", "errorType", "policyName")} == {
        "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING",
    }


def test_oauth_apps_have_no_daily_limit_and_get_no_daily_headers(oauth: httpx.Client) -> None:
    answer = oauth.get("/crm/v3/objects/contacts")
    assert answer.headers["X-HubSpot-RateLimit-Max"] == "110"
    assert not any(name in answer.headers for name in DAILY_HEADERS)


def test_search_answers_carry_no_rate_limit_headers(professional: httpx.Client) -> None:
    answer = professional.post("/crm/v3/objects/contacts/search", json={})
    assert answer.status_code == 200
    assert not any(name in answer.headers for name in WINDOW_HEADERS + DAILY_HEADERS)
