"""The client against the HubSpot sandbox: over real HTTP on loopback, and embedded through WSGI."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from datasync_pipeline.connectors.hubspot import AuthenticationError, DuplicateRecordError, HubSpotClient
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.sandbox import Fault, Sandbox, SandboxSettings, serve_in_thread
from datasync_pipeline_tests.connectors.hubspot.fakes import FakeClock

CREATE = "POST /crm/v3/objects/{type}/batch/create"


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that keeps the JSON body of every request sent."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[tuple[str, dict]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.bodies.append((request.url.path, json.loads(request.content) if request.content else {}))
        return super().handle_request(request)


@pytest.fixture
def client(served_sandbox):
    with HubSpotClient(base_url=served_sandbox.url, token=served_sandbox.token, tier="unlimited", timeout_seconds=10.0) as client:
        yield client


def _contacts(count: int, prefix: str = "c") -> list[dict]:
    return [{"ref": f"{prefix}{n}", "properties": {"email": f"{prefix}{n}@example.com", "firstname": f"F{n}"}} for n in range(count)]


def test_list_pages_by_100(client, served_sandbox):
    served_sandbox.sandbox.seed("contacts", [{"email": f"list{n}@example.com"} for n in range(250)])
    records = list(client.list_records("contacts", properties=["email"]))
    assert len(records) == 250 and len({record["id"] for record in records}) == 250
    assert client.call_counts["GET /crm/v3/objects/{type}"] == 3


def test_batch_create_fails_only_the_bad_input(client):
    inputs = _contacts(100)
    inputs[37]["properties"]["email"] = "not-an-email"
    result = client.batch_create("contacts", inputs)
    assert len(result.results) == 99
    assert set(result.failed) == {"c37"} and result.failed["c37"].category == ErrorCategory.INVALID_EMAIL
    assert result.results["c5"]["properties"]["email"] == "c5@example.com"

    again = client.batch_create("contacts", [{"ref": "dup", "properties": {"email": "c5@example.com"}}, *_contacts(3, prefix="d")])
    error = again.failed["dup"]
    assert isinstance(error, DuplicateRecordError) and error.category == ErrorCategory.DUPLICATE_ON_OTHER_SIDE
    assert error.existing_id == result.results["c5"]["id"]
    assert len(again.results) == 3


def test_1000_contacts_take_ten_create_calls(client, served_sandbox):
    result = client.batch_create("contacts", _contacts(1_000, prefix="k"))
    assert len(result.results) == 1_000 and not result.failed
    assert client.call_counts[CREATE] == 10  # one call per 100 records
    assert sum(count for route, count in served_sandbox.sandbox.request_counts.items() if "batch/create" in route) == 10


def test_unknown_properties_and_missing_ids_fail_per_record(client):
    created = client.batch_create(
        "contacts", [{"ref": "ok", "properties": {"email": "ok@example.com"}}, {"ref": "bad", "properties": {"no_such_property": "x"}}]
    )
    assert created.failed["bad"].category == ErrorCategory.UNKNOWN_PROPERTY and "ok" in created.results
    updated = client.batch_update(
        "contacts",
        [
            {"ref": created.results["ok"]["id"], "id": created.results["ok"]["id"], "properties": {"firstname": "Ada"}},
            {"ref": "424242", "id": "424242", "properties": {"firstname": "Nobody"}},
        ],
    )
    assert updated.results[created.results["ok"]["id"]]["properties"]["firstname"] == "Ada"
    assert updated.failed["424242"].category == ErrorCategory.NOT_FOUND


def test_429_is_retried_after_retry_after(client, served_sandbox):
    ids = served_sandbox.sandbox.seed("contacts", [{"email": "rl@example.com"}])
    served_sandbox.sandbox.faults.add(Fault(status=429, times=1, path_contains="/batch/read", retry_after=1))
    result = client.batch_read("contacts", [str(ids[0])], properties=["email"])
    assert result.results[str(ids[0])]["properties"]["email"] == "rl@example.com"
    assert client.call_counts["POST /crm/v3/objects/{type}/batch/read"] == 2
    assert client.retry_counts["POST /crm/v3/objects/{type}/batch/read"] == 1


def _fake_clock_client(served_sandbox, **settings) -> tuple[HubSpotClient, FakeClock]:
    clock = FakeClock()
    client = HubSpotClient(base_url=served_sandbox.url, token=served_sandbox.token, tier="unlimited", clock=clock, **settings)
    return client, clock


def test_5xx_is_retried_with_backoff(served_sandbox):
    served_sandbox.sandbox.faults.add(Fault(status=503, times=2, path_contains="/batch/create"))
    client, clock = _fake_clock_client(served_sandbox)
    with client:
        result = client.batch_create("contacts", _contacts(5, prefix="s"))
    assert len(result.results) == 5
    assert client.retry_counts[CREATE] == 2 and len(clock.sleeps) == 2


def test_5xx_past_the_attempts_fails_the_chunk_not_the_call(served_sandbox):
    served_sandbox.sandbox.faults.add(Fault(status=500, times=3, path_contains="/batch/create"))
    client, _ = _fake_clock_client(served_sandbox, max_attempts=3, max_concurrency=1)
    with client:
        result = client.batch_create("contacts", _contacts(150, prefix="x"))
    assert len(result.failed) == 100 and len(result.results) == 50
    assert {error.category for error in result.failed.values()} == {ErrorCategory.SERVER_ERROR}


@pytest.mark.parametrize("drop", [False, True])
def test_timeouts_and_dropped_connections_are_retried(served_sandbox, drop):
    served_sandbox.sandbox.faults.add(Fault(status="timeout", times=1, path_contains="/properties", delay_seconds=0.6, drop=drop))
    client, _ = _fake_clock_client(served_sandbox, timeout_seconds=0.3)
    with client:
        assert client.get_properties("contacts")
    assert client.retry_counts["GET /crm/v3/properties/{type}"] == 1


def test_search_reads_15000_tied_records_once_without_paging_past_10000(served_sandbox):
    sandbox = served_sandbox.sandbox
    tied_at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    tied = sandbox.seed("contacts", [{"email": f"tie{n}@example.com"} for n in range(15_000)], updated_at=tied_at)
    others = []
    for n in range(300):
        others += sandbox.seed("contacts", [{"email": f"other{n}@example.com"}], updated_at=tied_at + timedelta(seconds=n - 100))
    transport = RecordingTransport()
    with HubSpotClient(base_url=served_sandbox.url, token=served_sandbox.token, tier="unlimited", transport=transport) as client:
        since = int((tied_at - timedelta(seconds=50)).timestamp() * 1000)
        read = list(client.search_modified_since("contacts", since, properties=["email"]))
    counts = Counter(record["id"] for record in read)
    expected = {str(i) for i in tied} | {str(i) for n, i in enumerate(others) if n >= 50}
    assert set(counts) == expected and max(counts.values()) == 1
    searches = [body for path, body in transport.bodies if path.endswith("/search")]
    assert all(int(body.get("after") or 0) < 10_000 for body in searches)
    assert len(searches) < len(expected) / 200 + 10


def test_upsert_on_a_unique_property_is_idempotent(client):
    client.ensure_unique_property("companies", "datasync_source_id", "Datasync source id")
    client.ensure_unique_property("companies", "datasync_source_id", "Datasync source id")  # a second start
    inputs = [{"ref": f"u{n}", "id": f"erp-{n}", "properties": {"name": f"Company {n}"}} for n in range(120)]
    first = client.batch_upsert("companies", inputs, id_property="datasync_source_id")
    second = client.batch_upsert("companies", inputs, id_property="datasync_source_id")
    assert all(record["new"] for record in first.results.values()) and len(first.results) == 120
    assert not any(record["new"] for record in second.results.values())
    assert {ref: record["id"] for ref, record in first.results.items()} == {ref: record["id"] for ref, record in second.results.items()}
    assert len(list(client.list_records("companies", properties=["name"]))) == 120


def test_associations_are_created_and_read(client):
    contacts = client.batch_create("contacts", _contacts(3, prefix="a")).results
    companies = client.batch_create("companies", [{"ref": "acme", "properties": {"name": "Acme"}}]).results
    company_id = companies["acme"]["id"]
    links = [
        {"ref": f"{ref}-{type_id}", "from_id": record["id"], "to_id": company_id, "type_id": type_id}
        for ref, record in contacts.items()
        for type_id in (279, 1)
    ]
    created = client.create_associations("contacts", "companies", links)
    assert len(created.results) == 6 and not created.failed
    read = client.read_associations("contacts", "companies", [record["id"] for record in contacts.values()] + ["999999999"])
    for record in contacts.values():
        (link,) = read[record["id"]]
        assert link["toObjectId"] == company_id
        assert {kind["typeId"] for kind in link["associationTypes"]} == {279, 1}
    assert read["999999999"] == []
    client.archive_associations("contacts", "companies", [(contacts["a0"]["id"], company_id)])
    assert client.read_associations("contacts", "companies", [contacts["a0"]["id"]])[contacts["a0"]["id"]] == []


def test_a_refused_token_never_appears_in_the_error(served_sandbox):
    secret = "pat-na1-00000000-dead-beef-0000-000000000000"
    with HubSpotClient(base_url=served_sandbox.url, token=secret, tier="unlimited") as client:
        with pytest.raises(AuthenticationError) as raised:
            client.get_properties("contacts")
        assert secret not in str(raised.value) and secret not in repr(raised.value) and secret not in repr(client)


def test_embedded_mode_through_wsgi(sandbox):
    transport = httpx.WSGITransport(app=sandbox.wsgi_app)
    with HubSpotClient(base_url="http://sandbox.local", token=sandbox.settings.token, tier="unlimited", transport=transport) as client:
        created = client.batch_create("deals", [{"ref": "d1", "properties": {"dealname": "Big deal"}}])
        deal_id = created.results["d1"]["id"]
        read = client.batch_read("deals", [deal_id, "424242"], properties=["dealname"])
    assert read.results[deal_id]["properties"]["dealname"] == "Big deal"
    assert read.failed["424242"].category == ErrorCategory.NOT_FOUND


def test_an_overloaded_account_429s_are_absorbed(tmp_path):
    """The client thinks it is unlimited; the account is a starter one with a half-second window, so the
    rate-limit headers slow the client down and the few 429s that still happen are retried."""
    settings = SandboxSettings(db_path=str(tmp_path / "limited.sqlite"), tier="starter", rate_window_seconds=0.5)
    limited = Sandbox(settings)
    try:
        with serve_in_thread(limited, host="127.0.0.1", port=0) as served:
            with HubSpotClient(base_url=served.url, token=served.token, tier="unlimited", max_attempts=10) as client:
                for _ in range(130):
                    assert client.get_properties("deals")
                retries = client.retry_counts["GET /crm/v3/properties/{type}"]
                assert client.call_counts["GET /crm/v3/properties/{type}"] == 130 + retries
                assert retries <= 10
    finally:
        limited.close()
