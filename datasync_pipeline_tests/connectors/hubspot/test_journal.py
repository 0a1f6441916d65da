"""The connector's webhooks journal reader against the sandbox: subscriptions kept, entries read in order after an
offset, pre-signed files fetched without the token, an expired offset said and read past."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from datasync_pipeline.connectors.hubspot import HubSpotClient
from datasync_pipeline.connectors.hubspot.journal import FILE_ENDPOINT, JournalClient
from datasync_pipeline.connectors.hubspot.oauth import ClientCredentials
from datasync_pipeline.sandbox import Sandbox, SandboxSettings

APP = ("journal-app", "journal-app-secret")


class Recording(httpx.BaseTransport):
    """The sandbox in-process, with every request's Authorization header noted by path."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.inner = httpx.WSGITransport(app=sandbox.wsgi_app)
        self.authorization: list[tuple[str, str | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.authorization.append((request.url.path, request.headers.get("authorization")))
        return self.inner.handle_request(request)


@pytest.fixture
def sandbox(tmp_path) -> Iterator[Sandbox]:
    emulated = Sandbox(SandboxSettings(db_path=str(tmp_path / "sandbox.sqlite"), tier="unlimited", client_id=APP[0], client_secret=APP[1]))
    yield emulated
    emulated.close()


@pytest.fixture
def transport(sandbox) -> Recording:
    return Recording(sandbox)


@pytest.fixture
def journal(transport) -> Iterator[JournalClient]:
    with JournalClient(base_url="http://sandbox", credentials=ClientCredentials(*APP), tier="unlimited", transport=transport) as client:
        yield client


@pytest.fixture
def api(sandbox) -> Iterator[HubSpotClient]:
    with HubSpotClient(base_url="http://sandbox", token="sandbox-token", tier="unlimited", transport=httpx.WSGITransport(app=sandbox.wsgi_app)) as client:
        yield client


def test_subscriptions_are_created_once_and_keep_what_was_there(journal, sandbox):
    sandbox.journal.subscribe({"subscriptionType": "OBJECT", "objectTypeId": "0-1", "actions": ["UPDATE"], "properties": ["email"]})

    assert journal.ensure_subscriptions(["contacts", "companies"]) == ["contacts", "companies"]
    assert journal.ensure_subscriptions(["contacts", "companies"]) == []  # read, nothing to add
    by_type = {(item["subscriptionType"], item["objectTypeId"]): item for item in sandbox.journal.subscriptions}
    assert set(by_type[("OBJECT", "0-1")]["actions"]) == {"UPDATE", "DELETE", "MERGE", "RESTORE"}
    assert by_type[("OBJECT", "0-1")]["properties"] == ["email"]
    assert by_type[("ASSOCIATION", "0-2")]["actions"] == ["ASSOCIATION_ADDED", "ASSOCIATION_REMOVED"]


def test_entries_are_read_in_order_after_the_offset_with_files_fetched_without_the_token(journal, api, sandbox, transport):
    journal.ensure_subscriptions(["contacts"])
    assert journal.read(None).offset is None  # nothing journaled yet: no offset to keep
    contact, other = api.batch_create("contacts", [{"ref": "a", "properties": {"email": "a@example.com"}},
                                                   {"ref": "b", "properties": {"email": "b@example.com"}}]).results.values()
    [company] = sandbox.seed("companies", [{"name": "Co"}])
    api.create_associations("contacts", "companies", [{"ref": "x", "from_id": contact["id"], "to_id": company, "type_id": 279}])
    api.batch_archive("contacts", [other["id"]])

    first = journal.read(None, max_entries=1)
    rest = journal.read(first.offset)
    again = journal.read(rest.offset)

    assert first.more and first.entries == 1 and [e.action for e in first.events] == ["ASSOCIATION_ADDED"]  # the contacts side only: subscribed for contacts
    added = first.events[0]
    assert (added.from_type, added.from_id, added.to_type, added.to_id) == ("contacts", contact["id"], "companies", company)
    assert not rest.more and [(e.action, e.object_type, e.object_id) for e in rest.events] == [("DELETE", "contacts", other["id"])]
    assert again.events == [] and again.offset == rest.offset and not again.expired
    files = [auth for path, auth in transport.authorization if path.startswith("/webhooks-journal/files/")]
    assert files == [None, None]  # the pre-signed links: the signature is the credential, the token never goes there
    assert journal.call_counts[FILE_ENDPOINT] == 2


def test_an_expired_offset_is_said_and_the_read_starts_over_from_the_earliest_entry(journal, api, sandbox):
    journal.ensure_subscriptions(["contacts"])
    [record] = api.batch_create("contacts", [{"ref": "a", "properties": {"email": "a@example.com"}}]).results.values()
    api.batch_archive("contacts", [record["id"]])
    old = journal.read(None)
    sandbox.clock.advance(4 * 24 * 3600)
    [later] = api.batch_create("contacts", [{"ref": "b", "properties": {"email": "b@example.com"}}]).results.values()
    api.batch_archive("contacts", [later["id"]])

    with JournalClient(base_url="http://sandbox", credentials=ClientCredentials(*APP), tier="unlimited",
                       transport=httpx.WSGITransport(app=sandbox.wsgi_app)) as fresh:  # the old token expired with the clock
        read = fresh.read(old.offset)

    assert read.expired and [e.object_id for e in read.events] == [later["id"]] and read.offset != old.offset
