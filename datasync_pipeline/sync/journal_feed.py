"""What the webhooks journal says each sync has to do: read once per tick per HubSpot connection, kept as targets.

Association changes do not move a record's last-modified date and deletions leave nothing to search for, so the
change probe cannot see them; without the journal only the hourly reconciling run finds them (it re-reads every
association of a sync). With it (``journal:`` on the connection, ``connectors/hubspot/journal.py``), each tick:

1. makes sure the app is subscribed to the deletions, merges and association changes of the synced object types;
2. reads the entries after the connection's offset (``state/journal.py``);
3. turns each event on a linked record of a sync into a target of that sync: ``ASSOCIATION_ADDED`` / ``_REMOVED``
   between two object types a sync associates target the record of that sync's object (the journal lists both
   directions of a link), ``DELETE`` / ``MERGE`` / ``RESTORE`` target the record (a merge: the survivor and the
   records merged into it);
4. keeps the targets and the new offset in one transaction.

A stretch the journal cannot vouch for owes each sync that keeps associations a full reconcile (target ``FULL``):
the first read of a connection (nothing says what happened before), an offset that expired (more than the
retention between two reads: entries were dropped unread; the read restarts from the earliest entry kept), a
subscription that had to be created or widened (changes before it were not journaled), and a read that failed.
The next reconciling run (hourly) then re-reads every association, as it does without the journal; a journal that
keeps failing therefore costs what no journal costs, never a lost change.

Events on records no sync links are dropped: a run could do nothing with them (a new record's associations are
planned when it is linked). So are association changes the sync already holds (``_already_synced``, against the
associations' base): above all the sync's own writes to HubSpot, which the journal lists like anyone's. A failure to read leaves the offset where it was; the next tick reads on from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from datasync_pipeline.config import DatasyncConfig, SyncSpec
from datasync_pipeline.connectors.hubspot.journal import JournalClient, JournalEvent
from datasync_pipeline.state import StateStore
from datasync_pipeline.state import journal as journal_state
from datasync_pipeline.state.association_bases import read_bases
from datasync_pipeline.state.journal import ASSOCIATION, FULL, RECORD, Target

SYNCED = "synced"
RETENTION = timedelta(days=3)  # how long HubSpot keeps journal entries
ASSOCIATION_CHANGES = frozenset({"ASSOCIATION_ADDED", "ASSOCIATION_REMOVED"})
RECORD_CHANGES = frozenset({"DELETE", "MERGE", "RESTORE"})

JournalClientFor = Callable[[str], JournalClient | None]


@dataclass
class FeedRead:
    """One connection's journal read in one tick."""

    connection: str
    syncs: list[str]
    entries: int = 0
    events: int = 0
    targets: int = 0
    full_because: str | None = None  # why every sync of the connection owes a full reconcile
    more: bool = False
    calls: int = 0
    error: str | None = None

    @property
    def message(self) -> str:
        if self.error:
            return (f"could not read the webhooks journal of {self.connection} ({self.error}); read on from the same offset next tick, "
                    "and the next reconciling run re-reads every association")
        text = (f"webhooks journal of {self.connection}: {self.entries:,} new entr{'ies' if self.entries != 1 else 'y'}, "
                f"{self.targets:,} record{'s' if self.targets != 1 else ''} to sync")
        if self.full_because:
            text += f"; {self.full_because}: the next reconciling run re-reads every association"
        if self.more:
            text += "; more entries wait for the next tick"
        return text


@dataclass
class JournalFeed:
    """Reads the journals of the connections whose syncs use it; ``associated[sync]``: the object types it associates."""

    config: DatasyncConfig
    store: StateStore
    journal_client: JournalClientFor
    associated: Mapping[str, set[str]] = field(default_factory=dict)

    def connections(self, syncs: Iterable[SyncSpec]) -> dict[str, list[SyncSpec]]:
        """The HubSpot connections with ``journal:`` on, and their syncs (enabled in the file)."""
        found: dict[str, list[SyncSpec]] = {}
        for sync in syncs:
            name = self.config.hubspot_connection_name(sync)
            if sync.enabled and getattr(self.config.connections[name], "reads_journal", False):
                found.setdefault(name, []).append(sync)
        return found

    def read_all(self, syncs: Iterable[SyncSpec] | None = None) -> list[FeedRead]:
        return [self.read(connection, members) for connection, members in self.connections(syncs or self.config.syncs).items()]

    def read(self, connection: str, syncs: list[SyncSpec]) -> FeedRead:
        result = FeedRead(connection, [sync.name for sync in syncs])
        client = None
        before = 0
        try:
            client = self.journal_client(connection)
            if client is None:
                return result
            before = sum(client.call_counts.values())
            ever_read, offset, read_at = journal_state.read_cursor(self.store.engine, connection)
            widened = set(client.ensure_subscriptions(sync.object for sync in syncs))
            read = client.read(offset)
        except Exception as error:  # noqa: BLE001 - the journal is a shortcut: the probe and the hourly reconcile go on
            result.error = _describe(error)
            # Until it answers again nothing vouches for the association changes: the reconciling run re-reads them.
            journal_state.owe_full(self.store.engine, [target.sync for target in self.owed_full(syncs, every=True, object_types=set())])
            return result
        finally:
            if client is not None:
                result.calls = sum(client.call_counts.values()) - before
        targets = self.targets(syncs, read.events)
        every = True  # whether every sync owes the full reconcile, or only those of the object types just subscribed
        if not ever_read:
            result.full_because = "first read of the journal"
        elif read.expired:
            result.full_because = (f"the journal offset {offset} expired (unread entries were dropped after HubSpot's 3-day "
                                   "retention); reading on from the earliest entry kept")
        elif offset is None and read_at is not None and datetime.now(UTC) - read_at > RETENTION:
            # Empty at the last read, and not read for longer than entries are kept: some may have come and gone.
            result.full_because = f"the journal was last read {read_at:%Y-%m-%d %H:%M} UTC, longer ago than HubSpot keeps entries"
        elif widened:
            result.full_because, every = f"subscribed to the changes of {', '.join(sorted(widened))} just now", False
        if result.full_because:
            targets += self.owed_full(syncs, every=every, object_types=widened)
        result.entries, result.events, result.more = read.entries, len(read.events), read.more
        result.targets = len({(t.sync, t.hubspot_id) for t in targets if t.hubspot_id is not None})
        journal_state.record_read(self.store.engine, connection, read.offset, targets)
        return result

    def targets(self, syncs: list[SyncSpec], events: list[JournalEvent]) -> list[Target]:
        """The targets of these events on the records the syncs link (see the module docstring)."""
        groups: dict[str, list[tuple[str, tuple[str, ...], tuple[str, str, str] | None]]] = {}  # sync -> (kind, ids, association)
        for event in events:
            for sync in syncs:
                if event.action in ASSOCIATION_CHANGES:
                    kept = self.associated.get(sync.name, set())
                    for own_type, own_id, other_type, other_id in ((event.from_type, event.from_id, event.to_type, event.to_id),
                                                                   (event.to_type, event.to_id, event.from_type, event.from_id)):
                        if own_type == sync.object and other_type in kept and own_id:
                            groups.setdefault(sync.name, []).append((ASSOCIATION, (own_id,), (event.action, other_type, str(other_id))))
                elif event.action in RECORD_CHANGES and event.object_type == sync.object and event.object_id:
                    # A merge's survivor and the records merged into it: the survivor may take over a link.
                    groups.setdefault(sync.name, []).append((RECORD, (event.object_id, *event.merged_ids), None))
        targets = []
        for sync_name, items in groups.items():
            ids = list(dict.fromkeys(record_id for _, group, _ in items for record_id in group))
            links = self.store.last_values(sync_name, hubspot_ids=ids)  # one query per sync and tick
            linked = set(links.loc[links["status"] == SYNCED, "hubspot_id"].astype(str))
            synced = self._synced_associations(sync_name, [item for item in items if item[2] is not None])
            for kind, group, association in items:
                if not linked.intersection(group):
                    continue
                if association is not None and _already_synced(synced, group[0], association):
                    continue
                targets += [Target(sync_name, kind, record_id) for record_id in group]
        return list(dict.fromkeys(targets))

    def _synced_associations(self, sync_name: str, items: list) -> dict[tuple[str, str], str | None]:
        """(record id, associated object) -> the associated record's HubSpot id as last synced (the associations' base)."""
        wanted: dict[str, set[str]] = {}
        for _, group, (_, other_type, _) in items:
            wanted.setdefault(other_type, set()).add(group[0])
        synced: dict[tuple[str, str], str | None] = {}
        for other_type, ids in wanted.items():
            bases = read_bases(self.store.engine, sync_name, other_type, ids)
            synced.update({(str(h), other_type): None if v is None else str(v) for h, v in zip(bases["hubspot_id"], bases["hubspot_value"], strict=True)})
        return synced

    def owed_full(self, syncs: list[SyncSpec], *, every: bool, object_types: set[str]) -> list[Target]:
        """A full reconcile owed by the syncs that keep associations: all of them, or those of these object types."""
        return [Target(sync.name, FULL) for sync in syncs if self.associated.get(sync.name) and (every or sync.object in object_types)]


def _already_synced(synced: Mapping[tuple[str, str], str | None], record_id: str, association: tuple[str, str, str]) -> bool:
    """An association change the sync holds already (its own write, read back from the journal): an association added
    to the very record last synced as associated, or removed from a record last synced as associated with another
    (or none). Anything else may change what the sync keeps, and is planned."""
    action, other_type, other_id = association
    base = synced.get((record_id, other_type))
    return base == other_id if action == "ASSOCIATION_ADDED" else base != other_id


def _describe(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}".rstrip(": ")
