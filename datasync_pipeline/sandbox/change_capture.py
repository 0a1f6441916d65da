"""What every API write tells the parts of the sandbox that watch changes: the search index and the webhooks journal.

The write paths (``record_writes`` for creates and updates, archives, association changes, merges) call one
`ChangeCapture` inside their transaction, so a change is indexed and journaled exactly when it is committed.
When search is instant and no journal subscription exists, it reads nothing and writes nothing extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Connection

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.association_links import Link
from datasync_pipeline.sandbox.journal import Journal
from datasync_pipeline.sandbox.object_types import ObjectType, find_object_type
from datasync_pipeline.sandbox.search_index import SearchIndex
from datasync_pipeline.sandbox.store import StoredRecord


def _type_id(object_type: str) -> str:
    kind = find_object_type(object_type)
    return kind.type_id if kind is not None else object_type


class ChangeCapture:
    def __init__(self, search_index: SearchIndex, journal: Journal) -> None:
        self.search_index = search_index
        self.journal = journal

    def wants_prior_state(self, connection: Connection) -> bool:
        """Whether writers must read records' state before a write (for lagging search or journal diffs)."""
        return self.journal.listening or self.search_index.lags or self.search_index.has_rows(connection)

    def records_written(
        self, connection: Connection, kind: ObjectType, created: list[StoredRecord],
        before: dict[int, StoredRecord], changed: list[StoredRecord],
    ) -> None:
        """Creates and updates of one transaction; ``before`` holds the changed records as they were."""
        self.search_index.note_writes(connection, {
            **{record.id: None for record in created}, **{record.id: before.get(record.id) for record in changed}})
        if not self.journal.listening:
            return
        events: list[dict[str, Any]] = [self._event("CREATE", kind.type_id, record.id) for record in created]
        for record in changed:
            old = before.get(record.id)
            old_values = old.properties if old is not None else {}
            for name in sorted(set(old_values) | set(record.properties)):
                if old_values.get(name) != record.properties.get(name):
                    events.append({**self._event("UPDATE", kind.type_id, record.id), "propertyName": name,
                                   "propertyValue": record.properties.get(name, "")})
        self.journal.record(connection, events)

    def archive(self, connection: Connection, kind: ObjectType, ids: Iterable[int], now: int) -> None:
        """Archive live records (the recycle bin) and note it; ids naming nothing are ignored, as HubSpot does."""
        wanted = list(ids)
        if not self.wants_prior_state(connection):
            store.archive_records(connection, kind.name, wanted, now)
            return
        live = store.fetch_records(connection, kind.name, wanted)
        store.archive_records(connection, kind.name, list(live), now)
        self.search_index.note_writes(connection, dict(live))
        self.journal.record(connection, [self._event("DELETE", kind.type_id, record_id) for record_id in live])

    def links_changed(self, connection: Connection, added: Iterable[Link] = (), removed: Iterable[Link] = ()) -> None:
        """Association changes: journaled only (HubSpot does not move either record's last-modified date)."""
        if not self.journal.listening:
            return
        events = []
        for action, links in (("ASSOCIATION_ADDED", added), ("ASSOCIATION_REMOVED", removed)):
            for link in links:
                for source_type, source, target_type, target in (
                    (link.from_type, link.from_id, link.to_type, link.to_id), (link.to_type, link.to_id, link.from_type, link.from_id)):
                    events.append({**self._event(action, _type_id(source_type), source),
                                   "fromObjectTypeId": _type_id(source_type), "fromObjectId": source,
                                   "toObjectTypeId": _type_id(target_type), "toObjectId": target,
                                   "associationTypeId": link.type_id, "associationCategory": link.category})
        self.journal.record(connection, events)

    def merged(
        self, connection: Connection, kind: ObjectType, survivor_before: StoredRecord, survivor: StoredRecord,
        merged_away: StoredRecord, moved: int,
    ) -> None:
        """A merge: the survivor changed, the merged record left search (HubSpot sends a deletion for it too)."""
        self.search_index.note_writes(connection, {survivor.id: survivor_before, merged_away.id: merged_away})
        self.journal.record(connection, [
            {**self._event("MERGE", kind.type_id, survivor.id), "primaryObjectId": survivor.id,
             "mergedObjectIds": [merged_away.id], "newObjectId": survivor.id, "numberOfPropertiesMoved": moved},
            self._event("DELETE", kind.type_id, merged_away.id),
        ])

    @staticmethod
    def _event(action: str, object_type_id: str, object_id: int) -> dict[str, Any]:
        return {"action": action, "objectTypeId": object_type_id, "objectId": object_id}
