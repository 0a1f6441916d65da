"""The ``Sandbox``: one emulated HubSpot portal, its state file, and the WSGI app that serves it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.app import SandboxApplication
from datasync_pipeline.sandbox.association_labels import AssociationLabels
from datasync_pipeline.sandbox.association_links import Link, add_link
from datasync_pipeline.sandbox.association_types import HUBSPOT_DEFINED, pair_for
from datasync_pipeline.sandbox.faults import FaultBook
from datasync_pipeline.sandbox.object_types import find_object_type
from datasync_pipeline.sandbox.change_capture import ChangeCapture
from datasync_pipeline.sandbox.clock import Clock
from datasync_pipeline.sandbox.journal import Journal
from datasync_pipeline.sandbox.oauth_tokens import APP_ID, OAuthTokens
from datasync_pipeline.sandbox.search_index import SearchIndex
from datasync_pipeline.sandbox.owners import Owners
from datasync_pipeline.sandbox.pipelines import Pipelines
from datasync_pipeline.sandbox.property_catalogue import PropertyCatalogue
from datasync_pipeline.sandbox.property_values import as_text
from datasync_pipeline.sandbox.rate_limit import RateLimiter
from datasync_pipeline.sandbox.reference_checks import ReferenceChecks
from datasync_pipeline.sandbox.settings import SandboxSettings
from datasync_pipeline.sandbox.timestamps import datetime_to_milliseconds, now_milliseconds


class Sandbox:
    """An emulated HubSpot portal backed by one SQLite file.

    Opening a sandbox on an existing file picks up its records, custom properties and associations;
    ``wsgi_app`` serves the CRM API (in-process through ``httpx.WSGITransport``, or over HTTP with
    ``serve_in_thread``); ``faults`` and ``request_counts`` are how tests script and observe clients.
    """

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.store = store.Store(settings.db_path)
        self.owners = Owners(self.store)
        self.pipelines = Pipelines(self.store)
        self.labels = AssociationLabels(self.store)
        self.catalogue = PropertyCatalogue(self.store, ReferenceChecks(self.owners, self.pipelines, self.labels))
        self.pipelines.on_change = self.catalogue.refresh_pipelines
        self.clock = Clock()
        self.oauth = OAuthTokens(self.clock, settings.access_token_lifetime_seconds, self.store)
        self.search_index = SearchIndex(self.clock, delay_ms=settings.search_index_delay_ms,
                                        jitter_ms=settings.search_index_jitter_ms, seed=settings.search_index_seed)
        self.journal = Journal(self.clock, self.store, APP_ID)
        self.changes = ChangeCapture(self.search_index, self.journal)
        self.faults = FaultBook()
        self.rate_limiter = RateLimiter(settings.rate_limit_tier, settings.rate_window_seconds)
        self.request_counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self.wsgi_app = SandboxApplication(self)

    def count_request(self, route: str) -> None:
        with self._counts_lock:
            self.request_counts[route] += 1

    def request_counts_snapshot(self) -> dict[str, int]:
        """A copy of the counts that is safe to read while requests are being served."""
        with self._counts_lock:
            return dict(self.request_counts)

    def close(self) -> None:
        self.store.dispose()

    def seed(
        self, object_type: str, records: Iterable[dict[str, Any]], updated_at: datetime | None = None
    ) -> list[str]:
        """Insert records directly, bypassing HTTP, auth, rate limits and validation; returns their ids in order.

        ``updated_at`` stamps every record's create and last-modified dates (to build portals where many
        records share one timestamp); by default they are stamped now.
        """
        kind = find_object_type(object_type)
        if kind is None:
            raise ValueError(f"Unknown object type {object_type!r}")
        stamp = datetime_to_milliseconds(updated_at) if updated_at is not None else now_milliseconds()
        cleaned = [
            {name: as_text(value) for name, value in record.items() if value is not None and value != ""}
            for record in records
        ]
        unique = self.catalogue.unique_properties(kind)
        with self.store.transaction() as connection:
            ids = store.allocate_ids(connection, len(cleaned))
            store.insert_records(
                connection, kind.name, ((record_id, properties, stamp, stamp) for record_id, properties in zip(ids, cleaned, strict=True))
            )
            claims = [
                (kind.name, name, store.unique_key(properties[name]), record_id)
                for record_id, properties in zip(ids, cleaned, strict=True)
                for name in unique
                if properties.get(name)
            ]
            store.claim_unique_values_in_bulk(connection, claims)
        return [str(record_id) for record_id in ids]

    def add_owner(self, email: str, first_name: str = "", last_name: str = "", *, archived: bool = False) -> str:
        """Add an owner (a user of the portal) and return its owner id."""
        return self.owners.add(email, first_name, last_name, archived=archived)["id"]

    def associate(
        self, from_type: str, from_id: str | int, to_type: str, to_id: str | int, *, primary: bool = False
    ) -> None:
        """Link two records with the pair's default type (or as primary company), bypassing HTTP."""
        source, target = find_object_type(from_type), find_object_type(to_type)
        if source is None or target is None:
            raise ValueError(f"Unknown object type in {from_type!r} -> {to_type!r}")
        pair = pair_for(source.name, target.name)
        if pair is None or (primary and pair.primary is None):
            raise ValueError(f"No {'primary ' if primary else ''}association between {source.name} and {target.name}")
        type_id = pair.primary if primary else pair.unlabeled
        with self.store.transaction() as connection:
            add_link(connection, Link(source.name, int(from_id), target.name, int(to_id), HUBSPOT_DEFINED, type_id))
