"""The webhooks journal (API version 2026-03): what an app polls instead of searching for changes.

Modelled on HubSpot's "Webhooks journal and management APIs (2026-03)" overview and "Webhook journal APIs" guide
(developers.hubspot.com/docs/api-reference/latest/webhooks-journal/guide and .../journal-entries/guide) and their
endpoint pages ("Get the earliest / latest local journal entry", "Get the next local journal entry", "Get the
earliest local journal entries in batch", "Read journal entries in batch", "Create or update a subscription"):
- the journal keeps about 3 days of history, in order; entries older than that are gone (``RETENTION_MS``), and
  asking for the entry after an offset that expired or never existed is a 404;
- each entry is answered as ``{currentOffset (a UUID), expiresAt, url}``: the url is a temporary pre-signed link
  to the entry's JSON file, fetched without an Authorization header;
- entries exist for the app's subscriptions only (``subscriptionType`` OBJECT or ASSOCIATION, ``objectTypeId``,
  ``actions`` among CREATE UPDATE DELETE MERGE RESTORE ASSOCIATION_ADDED ASSOCIATION_REMOVED, optional
  ``objectIds`` and ``properties``); a write nobody subscribed to leaves no entry;
- it is read with a client-credentials token carrying ``developer.webhooks_journal.read`` (subscriptions:
  ``developer.webhooks_journal.subscriptions.read`` / ``.write``);
- global (``/journal/``) and local (``/journal-local/``) journals; the sandbox is one portal, so both hold the same
  entries, and ``installPortalId`` naming another portal finds none.

Assumed (the docs found do not say): one entry per committed API write (a batch of 100 updates is one entry), its
file ``{offset, occurredAt, portalId, appId, events: [...]}``; each event carries the journal ``action`` beside the
fields of HubSpot's v3 webhook payloads ("Webhooks API" guide; "New subscription types for webhooks" changelog for
merge and association changes): ``eventId, subscriptionId, portalId, appId, occurredAt, objectTypeId, objectId,
changeSource``, plus ``propertyName, propertyValue`` (UPDATE, one event per property), ``primaryObjectId,
mergedObjectIds, newObjectId, numberOfPropertiesMoved`` (MERGE) and ``fromObjectTypeId, fromObjectId,
toObjectTypeId, toObjectId, associationTypeId, associationCategory`` (ASSOCIATION_*). The entry after the newest
is "nothing yet": 204 without a body. Pre-signed urls live ``URL_LIFETIME_SECONDS``; a stale or forged one is 403.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.clock import Clock
from datasync_pipeline.sandbox.errors import HubSpotError, not_found, validation_error
from datasync_pipeline.sandbox.object_types import find_object_type
from datasync_pipeline.sandbox.oauth import SANDBOX_HUB_ID
from datasync_pipeline.sandbox.timestamps import to_iso

RETENTION_MS = 3 * 24 * 3600 * 1000
URL_LIFETIME_SECONDS = 900
SUBSCRIPTIONS = "journal_subscriptions"
OBJECT_ACTIONS = frozenset({"CREATE", "UPDATE", "DELETE", "MERGE", "RESTORE"})
ASSOCIATION_ACTIONS = frozenset({"ASSOCIATION_ADDED", "ASSOCIATION_REMOVED"})
SUBSCRIPTION_TYPES = frozenset({"OBJECT", "ASSOCIATION"})
entries = store.journal_entries


class Journal:
    """Subscriptions (in the sandbox's reference data) and the entries their events produce."""

    def __init__(self, clock: Clock, record_store: store.Store, app_id: int) -> None:
        self.clock = clock
        self.app_id = app_id
        self._store = record_store
        self._secret = secrets.token_bytes(16)
        self._lock = threading.Lock()
        self._event_ids = itertools.count(1)
        with record_store.reading() as connection:
            self._subscriptions = list(store.load_reference(connection, SUBSCRIPTIONS).values())

    # Subscriptions ------------------------------------------------------------------------------------

    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._subscriptions]

    @property
    def listening(self) -> bool:
        with self._lock:
            return bool(self._subscriptions)

    def subscribe(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create, or update the one of the same type and object type (the documented upsert)."""
        kind = body.get("subscriptionType") or "OBJECT"
        if kind not in SUBSCRIPTION_TYPES:
            raise validation_error(f"subscriptionType {kind!r} is not supported here; use one of {sorted(SUBSCRIPTION_TYPES)}.")
        object_type = find_object_type(str(body.get("objectTypeId", "")))
        if object_type is None:
            raise validation_error(f"Unknown objectTypeId {body.get('objectTypeId')!r}.")
        actions = body.get("actions")
        allowed = OBJECT_ACTIONS if kind == "OBJECT" else ASSOCIATION_ACTIONS
        if not isinstance(actions, list) or not actions or any(action not in allowed for action in actions):
            raise validation_error(f"'actions' must list some of {sorted(allowed)} for a {kind} subscription.")
        portal = body.get("portalId")
        if portal is not None and portal != SANDBOX_HUB_ID:
            raise validation_error(f"The app is not installed in portal {portal}.")
        object_ids = [int(value) for value in body.get("objectIds") or []]
        properties = [str(value) for value in body.get("properties") or []]
        associated = [t.type_id for name in body.get("associatedObjectTypeIds") or [] if (t := find_object_type(str(name)))]
        now = to_iso(self.clock.milliseconds())
        with self._lock, self._store.transaction() as connection:
            existing = next((item for item in self._subscriptions
                             if item["subscriptionType"] == kind and item["objectTypeId"] == object_type.type_id), None)
            subscription = {
                "id": existing["id"] if existing else max((item["id"] for item in self._subscriptions), default=0) + 1,
                "appId": self.app_id, "portalId": SANDBOX_HUB_ID, "subscriptionType": kind,
                "objectTypeId": object_type.type_id, "actions": list(dict.fromkeys(actions)), "objectIds": object_ids,
                "properties": properties, "associatedObjectTypeIds": associated,
                "createdAt": existing["createdAt"] if existing else now, "updatedAt": now,
            }
            store.put_reference(connection, SUBSCRIPTIONS, str(subscription["id"]), subscription)
            self._subscriptions = [item for item in self._subscriptions if item["id"] != subscription["id"]] + [subscription]
        return dict(subscription)

    def unsubscribe_portal(self, portal_id: int) -> None:
        """Drop every subscription of the portal (``DELETE .../subscriptions/2026-03/portals/{portalId}``)."""
        with self._lock, self._store.transaction() as connection:
            for item in self._subscriptions:
                if item["portalId"] == portal_id:
                    store.delete_reference(connection, SUBSCRIPTIONS, str(item["id"]))
            self._subscriptions = [item for item in self._subscriptions if item["portalId"] != portal_id]

    def _matching(self, event: dict[str, Any]) -> dict[str, Any] | None:
        action = event["action"]
        for item in self.subscriptions:
            if action not in item["actions"]:
                continue
            if action in ASSOCIATION_ACTIONS:
                if item["objectTypeId"] != event["fromObjectTypeId"]:
                    continue
                if item["associatedObjectTypeIds"] and event["toObjectTypeId"] not in item["associatedObjectTypeIds"]:
                    continue
            else:
                if item["objectTypeId"] != event["objectTypeId"]:
                    continue
                if item["objectIds"] and event["objectId"] not in item["objectIds"]:
                    continue
                if action == "UPDATE" and item["properties"] and event.get("propertyName") not in item["properties"]:
                    continue
            return item
        return None

    # Recording ----------------------------------------------------------------------------------------

    def record(self, connection: Connection, events: Iterable[dict[str, Any]]) -> None:
        """Journal one committed write's events, those some subscription asked for, as one entry."""
        if not self.listening:
            return
        now = self.clock.milliseconds()
        kept = []
        for event in events:
            subscription = self._matching(event)
            if subscription is not None:
                kept.append({"eventId": next(self._event_ids), "subscriptionId": subscription["id"], "portalId": SANDBOX_HUB_ID,
                             "appId": self.app_id, "occurredAt": now, "changeSource": "API", **event})
        if not kept:
            return
        connection.execute(sa.delete(entries).where(entries.c.occurred_at < now - RETENTION_MS))
        offset = str(uuid.uuid4())
        connection.execute(sa.insert(entries).values(offset=offset, occurred_at=now, events=json.dumps(kept)))

    # Reading ------------------------------------------------------------------------------------------

    def _live(self) -> Any:
        return entries.c.occurred_at >= self.clock.milliseconds() - RETENTION_MS

    def earliest(self, count: int = 1) -> list[Any]:
        with self._store.reading() as connection:
            query = sa.select(entries).where(self._live()).order_by(entries.c.position).limit(count)
            return list(connection.execute(query))

    def latest(self, count: int = 1) -> list[Any]:
        with self._store.reading() as connection:
            query = sa.select(entries).where(self._live()).order_by(entries.c.position.desc()).limit(count)
            return list(reversed(list(connection.execute(query))))

    def after(self, offset: str) -> Any | None:
        """The entry after ``offset``: None when there is none yet; 404 when the offset expired or never existed."""
        with self._store.reading() as connection:
            position = connection.execute(
                sa.select(entries.c.position).where(entries.c.offset == offset, self._live())
            ).scalar()
            if position is None:
                raise not_found(f"The journal offset {offset} has expired or does not exist.", context={"offset": [offset]})
            query = sa.select(entries).where(entries.c.position > position, self._live()).order_by(entries.c.position).limit(1)
            return connection.execute(query).first()

    def find(self, offsets: list[str]) -> dict[str, Any]:
        with self._store.reading() as connection:
            query = sa.select(entries).where(entries.c.offset.in_(offsets), self._live())
            return {row.offset: row for row in connection.execute(query)}

    def answer(self, row: Any, base_url: str) -> dict[str, Any]:
        """``{currentOffset, expiresAt, url}`` with a freshly signed download link."""
        expires = int((self.clock.now() + URL_LIFETIME_SECONDS) * 1000)
        signature = self._sign(row.offset, expires)
        url = f"{base_url.rstrip('/')}/webhooks-journal/files/{row.offset}?expires={expires}&signature={signature}"
        return {"currentOffset": row.offset, "expiresAt": to_iso(expires), "url": url}

    def file(self, offset: str, expires: str, signature: str) -> dict[str, Any]:
        """The entry's JSON file, for a link `answer` signed that has not expired."""
        if not expires.isdigit() or not hmac.compare_digest(self._sign(offset, int(expires)), signature):
            raise HubSpotError(403, "FORBIDDEN", "The signature of this journal file link is not valid.")
        if int(expires) < self.clock.milliseconds():
            raise HubSpotError(403, "FORBIDDEN", "This journal file link has expired; ask the journal for a new one.")
        row = self.find([offset]).get(offset)
        if row is None:
            raise not_found(f"The journal entry {offset} has expired or does not exist.")
        return {"offset": row.offset, "occurredAt": row.occurred_at, "portalId": SANDBOX_HUB_ID, "appId": self.app_id,
                "events": json.loads(row.events)}

    def _sign(self, offset: str, expires: int) -> str:
        return hmac.new(self._secret, f"{offset}:{expires}".encode(), hashlib.sha256).hexdigest()
