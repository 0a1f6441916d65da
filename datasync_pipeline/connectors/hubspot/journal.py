"""HubSpot's webhooks journal (2026-03): the changes search cannot date, read in order by offset.

Association changes do not move a record's last-modified date, and a deletion leaves nothing to search for; the
journal lists both (and merges) as they were committed, for the app's subscriptions, for about three days. The
shapes are those of the "Webhooks journal and management APIs (2026-03)" guides (``sandbox/journal.py`` holds
the details and what had to be assumed):

- it answers only the app's client-credentials token (``oauth.ClientCredentials``), so the journal has its own
  transport, beside the account's CRM one;
- ``ensure_subscriptions`` keeps one OBJECT subscription (DELETE, MERGE, RESTORE) and one ASSOCIATION
  subscription (ASSOCIATION_ADDED, ASSOCIATION_REMOVED) per synced object type, adding what is missing to what
  is there (a subscription is upserted per type and object type);
- ``read`` walks the entries after an offset (from the earliest when there is none): ``GET
  {journal}/offset/{offset}/next`` answers an entry ``{currentOffset, expiresAt, url}``, 204 when nothing newer
  exists, 404 when the offset expired (older than the retention) or never existed: then the entries in between
  are lost to us, which ``JournalRead.expired`` says, and the reader restarts from the earliest entry kept.
  Each entry's events are in a JSON file behind a pre-signed url, fetched without the token.

Cost: one request to find out that nothing happened (the 204), two per entry (the entry, its file); one entry
per committed API write in HubSpot (a batch of 100 association changes is one entry).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

from datasync_pipeline.connectors.hubspot.errors import RejectedRequestError, TransientRequestError
from datasync_pipeline.connectors.hubspot.oauth import ClientCredentials
from datasync_pipeline.connectors.hubspot.tiers import Tier
from datasync_pipeline.connectors.hubspot.transport import HubSpotTransport
from datasync_pipeline.errors import ErrorCategory, RecordError

JOURNAL_PATH = "/webhooks-journal/journal-local/2026-03"
SUBSCRIPTIONS_PATH = "/webhooks-journal/subscriptions/2026-03"
FILE_ENDPOINT = "GET {journal file (pre-signed url)}"
MAX_ENTRIES_PER_READ = 200  # a read's budget: 2 requests an entry ...
READ_BUDGET_SECONDS = 15.0  # ... and no new entry asked after this long, so a sensor tick stays well under Dagster's 60 s

OBJECT_ACTIONS = ("DELETE", "MERGE", "RESTORE")
ASSOCIATION_ACTIONS = ("ASSOCIATION_ADDED", "ASSOCIATION_REMOVED")
# HubSpot's object type ids (HUBSPOT_API.md, "Paths and versions").
OBJECT_TYPE_IDS = {
    "contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5", "products": "0-7", "line_items": "0-8",
    "tasks": "0-27", "notes": "0-46", "meetings": "0-47", "calls": "0-48", "emails": "0-49", "invoices": "0-53",
}
OBJECT_TYPE_NAMES = {type_id: name for name, type_id in OBJECT_TYPE_IDS.items()}


@dataclass(frozen=True)
class JournalEvent:
    """One journaled change, as the sync needs it: what happened to which record (object types by name)."""

    action: str
    object_type: str | None
    object_id: str
    from_type: str | None = None  # ASSOCIATION_*: the link's two ends
    from_id: str | None = None
    to_type: str | None = None
    to_id: str | None = None
    merged_ids: tuple[str, ...] = ()  # MERGE: the records merged into ``object_id``

    @classmethod
    def parse(cls, event: dict[str, Any]) -> JournalEvent:
        def name(type_id: Any) -> str | None:
            return OBJECT_TYPE_NAMES.get(str(type_id)) if type_id is not None else None

        def text(value: Any) -> str | None:
            return None if value is None else str(value)

        action = str(event.get("action", ""))
        survivor = event.get("primaryObjectId") if action == "MERGE" else None
        return cls(
            action=action, object_type=name(event.get("objectTypeId")), object_id=str(survivor or event.get("objectId", "")),
            from_type=name(event.get("fromObjectTypeId")), from_id=text(event.get("fromObjectId")),
            to_type=name(event.get("toObjectTypeId")), to_id=text(event.get("toObjectId")),
            merged_ids=tuple(str(i) for i in event.get("mergedObjectIds") or ()),
        )


@dataclass
class JournalRead:
    """What one read found: the events after ``since`` in order, and the offset to read after next time.

    ``offset`` is None only when the journal holds nothing at all. ``expired``: ``since`` was past the retention
    (or unknown), so changes between it and the earliest kept entry may be lost: the caller reconciles in full.
    ``more``: the read stopped at its budget; the rest is read next time.
    """

    since: str | None
    offset: str | None
    events: list[JournalEvent] = field(default_factory=list)
    entries: int = 0
    expired: bool = False
    more: bool = False


class JournalApi:
    """The journal's and the subscriptions' endpoints over one client-credentials transport."""

    def __init__(self, transport: HubSpotTransport, *, journal_path: str = JOURNAL_PATH, subscriptions_path: str = SUBSCRIPTIONS_PATH) -> None:
        self._transport = transport
        self._journal = journal_path.rstrip("/")
        self._subscriptions = subscriptions_path

    def subscriptions(self) -> list[dict[str, Any]]:
        return list(self._transport.request("GET", self._subscriptions).json().get("results") or [])

    def ensure_subscriptions(self, object_types: Iterable[str]) -> list[str]:
        """Subscribe to the deletions, merges and association changes of these object types, keeping the actions
        already subscribed; returns the object types whose subscriptions had to be created or widened."""
        existing = {(item.get("subscriptionType"), str(item.get("objectTypeId"))): item for item in self.subscriptions()}
        widened = []
        for object_type in dict.fromkeys(object_types):
            type_id = OBJECT_TYPE_IDS[object_type]
            for kind, needed in (("OBJECT", OBJECT_ACTIONS), ("ASSOCIATION", ASSOCIATION_ACTIONS)):
                item = existing.get((kind, type_id)) or {}
                have = list(item.get("actions") or [])
                if set(needed) <= set(have) and not item.get("objectIds"):
                    continue
                # objectIds and associatedObjectTypeIds left empty: every record and every associated type.
                body = {"subscriptionType": kind, "objectTypeId": type_id, "actions": list(dict.fromkeys([*have, *needed])),
                        "objectIds": [], "properties": list(item.get("properties") or []), "associatedObjectTypeIds": []}
                self._transport.request("POST", self._subscriptions, json=body)
                widened.append(object_type)
        return list(dict.fromkeys(widened))

    def read(self, since: str | None, *, max_entries: int = MAX_ENTRIES_PER_READ, budget_seconds: float = READ_BUDGET_SECONDS) -> JournalRead:
        """The events after the offset ``since`` (from the earliest entry when None, or when ``since`` expired), up to
        ``max_entries`` entries or ``budget_seconds`` (``more`` then says the rest waits for the next read)."""
        deadline = time.monotonic() + budget_seconds
        result = JournalRead(since=since, offset=since)
        if since is not None:
            entry = self._next(since)
            if entry is _EXPIRED:
                result.expired = True
                since = None
        if since is None:
            entry = self._earliest()
        while isinstance(entry, dict):
            result.events += [JournalEvent.parse(event) for event in self._file(entry["url"])]
            result.offset = str(entry["currentOffset"])
            result.entries += 1
            if result.entries >= max_entries or time.monotonic() > deadline:
                result.more = True
                break
            entry = self._next(result.offset)
            if entry is _EXPIRED:  # the offset just read expired under us: the next read starts over
                result.expired = True
                break
        return result

    def _earliest(self) -> dict[str, Any] | None:
        try:
            return self._transport.request("GET", f"{self._journal}/earliest").json()
        except RejectedRequestError as error:
            if error.status == 404:  # an empty journal
                return None
            raise

    def _next(self, offset: str) -> dict[str, Any] | None | object:
        try:
            response = self._transport.request("GET", f"{self._journal}/offset/{{offset}}/next", path_params={"offset": offset})
        except RejectedRequestError as error:
            if error.status == 404:
                return _EXPIRED
            raise
        return None if response.status_code == 204 or not response.content else response.json()

    def _file(self, url: str) -> list[dict[str, Any]]:
        response = self._transport.download(url, FILE_ENDPOINT)
        if response.status_code >= 300:
            # A link lives minutes and is fetched at once: a refusal is passing trouble; the entry is asked again next read.
            raise TransientRequestError(RecordError(ErrorCategory.SERVER_ERROR, f"a journal file link answered HTTP {response.status_code}"),
                                        status=response.status_code)
        return list(response.json().get("events") or [])


_EXPIRED = object()


class JournalClient:
    """The journal of one HubSpot account, read as the app (client credentials); counts its requests like the CRM client."""

    def __init__(self, *, base_url: str, credentials: ClientCredentials, tier: Tier | str = Tier.STARTER,
                 transport: httpx.BaseTransport | None = None, timeout_seconds: float = 10.0, max_attempts: int = 2, clock: Any = None) -> None:
        self._transport = HubSpotTransport(base_url=base_url, oauth=credentials, tier=tier, max_concurrency=1,
                                           timeout_seconds=timeout_seconds, max_attempts=max_attempts, transport=transport, clock=clock)
        self.api = JournalApi(self._transport)

    def ensure_subscriptions(self, object_types: Iterable[str]) -> list[str]:
        return self.api.ensure_subscriptions(object_types)

    def read(self, since: str | None, *, max_entries: int = MAX_ENTRIES_PER_READ) -> JournalRead:
        return self.api.read(since, max_entries=max_entries)

    @property
    def call_counts(self):
        return self._transport.call_counts

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
