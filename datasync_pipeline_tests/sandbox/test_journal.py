"""The webhooks journal (2026-03): subscribed changes in order, read by offset, gone after 3 days."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from datasync_pipeline.sandbox import Sandbox, SandboxSettings, ServedSandbox, serve_in_thread

CLIENT_ID, CLIENT_SECRET = "journal-app", "journal-app-secret"
JOURNAL = "/webhooks-journal/journal-local/2026-03"
SCOPES = "developer.webhooks_journal.read developer.webhooks_journal.subscriptions.write developer.webhooks_journal.subscriptions.read"


@pytest.fixture
def served(tmp_path) -> Iterator[ServedSandbox]:
    settings = SandboxSettings(db_path=str(tmp_path / "journal.sqlite"), tier="unlimited", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    sandbox = Sandbox(settings)
    with serve_in_thread(sandbox) as running:
        yield running
    sandbox.close()


@pytest.fixture
def app(served: ServedSandbox) -> httpx.Client:
    return _app_client(served)


def _app_client(served: ServedSandbox) -> httpx.Client:
    """The app's client-credentials token, as the journal guide asks (tokens expire: take a new one after moving the clock)."""
    granted = httpx.post(f"{served.url}/oauth/v3/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scope": SCOPES}).json()
    assert "developer.webhooks_journal.read" in granted["scopes"]
    return httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {granted['access_token']}"}, timeout=10)


@pytest.fixture
def api(served: ServedSandbox) -> httpx.Client:
    return httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.token}"}, timeout=10)


def _subscribe(app: httpx.Client, **body) -> None:
    response = app.post("/webhooks-journal/subscriptions/2026-03", json={"portalId": 1234567, "objectIds": [], "properties": [], **body})
    assert response.status_code == 200, response.text


def _events(app: httpx.Client) -> list[dict]:
    """Every event in the journal, walking it from the earliest entry by offset, files fetched without a token."""
    events, entry = [], app.get(f"{JOURNAL}/earliest")
    while entry.status_code == 200:
        events += httpx.get(entry.json()["url"]).json()["events"]
        entry = app.get(f"{JOURNAL}/offset/{entry.json()['currentOffset']}/next")
    assert entry.status_code == 204
    return events


def test_creates_changes_deletions_merges_and_association_changes_are_journaled_in_order(app, api, served) -> None:
    _subscribe(app, subscriptionType="OBJECT", objectTypeId="0-1", actions=["CREATE", "UPDATE", "DELETE", "MERGE"])
    _subscribe(app, subscriptionType="ASSOCIATION", objectTypeId="0-1", actions=["ASSOCIATION_ADDED", "ASSOCIATION_REMOVED"])
    first = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@example.com"}}).json()["id"]
    second = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "b@example.com"}}).json()["id"]
    api.patch(f"/crm/v3/objects/contacts/{first}", json={"properties": {"firstname": "Ann"}})
    [company] = served.sandbox.seed("companies", [{"name": "Co"}])  # seeding is an import: not journaled
    api.put(f"/crm/v4/objects/contacts/{first}/associations/default/companies/{company}")
    api.delete(f"/crm/v4/objects/contacts/{first}/associations/companies/{company}")
    api.post("/crm/v3/objects/contacts/merge", json={"primaryObjectId": first, "objectIdToMerge": second})
    api.delete(f"/crm/v3/objects/contacts/{first}")

    events = _events(app)
    summary = [(event["action"], str(event["objectId"]), event.get("propertyName")) for event in events]
    assert summary[:3] == [("CREATE", first, None), ("CREATE", second, None), ("UPDATE", first, "firstname")]
    association_events = [event for event in events if event["action"].startswith("ASSOCIATION")]
    assert [(event["action"], event["fromObjectId"], event["toObjectId"]) for event in association_events] == [
        ("ASSOCIATION_ADDED", int(first), int(company)), ("ASSOCIATION_REMOVED", int(first), int(company))]
    merge = next(event for event in events if event["action"] == "MERGE")
    assert merge["primaryObjectId"] == int(first) and merge["mergedObjectIds"] == [int(second)]
    assert [summary_item[:2] for summary_item in summary if summary_item[0] == "DELETE"] == [("DELETE", second), ("DELETE", first)]
    assert all(event["portalId"] == 1234567 and event["objectTypeId"] == "0-1" for event in events)


def test_only_subscribed_changes_are_journaled_and_properties_filter_updates(app, api) -> None:
    _subscribe(app, subscriptionType="OBJECT", objectTypeId="0-1", actions=["UPDATE"], properties=["lastname"])
    record = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "f@example.com"}}).json()["id"]
    api.post("/crm/v3/objects/companies", json={"properties": {"name": "Not subscribed"}})
    api.post("/crm/v3/objects/contacts/batch/update", json={"inputs": [{"id": record, "properties": {"firstname": "F", "lastname": "L"}}]})

    assert [(event["action"], event["propertyName"], event["propertyValue"]) for event in _events(app)] == [("UPDATE", "lastname", "L")]


def test_entries_expire_after_three_days_and_their_offsets_then_404(app, api, served) -> None:
    _subscribe(app, subscriptionType="OBJECT", objectTypeId="0-1", actions=["CREATE"])
    api.post("/crm/v3/objects/contacts", json={"properties": {"email": "old@example.com"}})
    old = app.get(f"{JOURNAL}/earliest").json()
    served.sandbox.clock.advance(2 * 24 * 3600)
    api.post("/crm/v3/objects/contacts", json={"properties": {"email": "new@example.com"}})
    app = _app_client(served)
    assert app.get(f"{JOURNAL}/batch/earliest/10").json()["results"][0]["currentOffset"] == old["currentOffset"]
    served.sandbox.clock.advance(24 * 3600 + 1)
    app = _app_client(served)

    assert app.get(f"{JOURNAL}/offset/{old['currentOffset']}/next").status_code == 404
    assert len(app.get(f"{JOURNAL}/batch/latest/10").json()["results"]) == 1
    read = app.post(f"{JOURNAL}/batch/read", json={"inputs": [old["currentOffset"]]})
    assert read.status_code == 207 and read.json()["errors"][0]["context"]["offset"] == [old["currentOffset"]]
    assert httpx.get(old["url"]).status_code == 403  # the pre-signed link expired too


def test_the_journal_answers_the_app_token_only_with_its_scope(api, served) -> None:
    assert api.get(f"{JOURNAL}/earliest").status_code == 401  # a private app's token
    bare = httpx.post(f"{served.url}/oauth/v3/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).json()["access_token"]
    refused = httpx.get(f"{served.url}{JOURNAL}/earliest", headers={"Authorization": f"Bearer {bare}"})
    assert refused.status_code == 403 and refused.json()["category"] == "MISSING_SCOPES"
    tampered = httpx.get(f"{served.url}/webhooks-journal/files/x?expires=99999999999999&signature=forged")
    assert tampered.status_code == 403


def test_no_subscription_no_entries_and_nothing_stored(api, app, served) -> None:
    api.post("/crm/v3/objects/contacts", json={"properties": {"email": "quiet@example.com"}})
    assert app.get(f"{JOURNAL}/earliest").status_code == 404
    assert app.get("/webhooks-journal/subscriptions/2026-03").json() == {"results": []}
