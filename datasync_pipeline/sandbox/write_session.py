"""What one write transaction knows of one object type's records and unique values, kept in memory.

Writing a batch input straight to the store costs about ten statements (look the record up, check each
unique value, take an id, insert, claim values, read it back). A session instead reads what a whole batch
names in a few set-wise queries (the ``prefetch_*`` methods), answers every later question from memory
(reading through to the store for anything it was not told about), keeps every write in memory, and
writes them all back in ``flush`` with one executemany per table.

Nothing the session reads is written before ``flush``, so the store plus the session's changes is exactly
the state one-by-one writes would have met: inputs of one batch see each other's writes in order (a value
the first input claims is taken for the second; a value the first gives up is free for the second).
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy.engine import Connection

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.property_history import Version, store_versions
from datasync_pipeline.sandbox.store import StoredRecord

# SQLite's lower() folds ASCII letters only; lookups that fall back to scanning values must fold alike.
_SQLITE_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class WriteSession:
    """Live records of one object type, and their unique values, as the open transaction will leave them."""

    def __init__(self, connection: Connection, object_type: str) -> None:
        self.connection = connection
        self.object_type = object_type
        self._records: dict[int, StoredRecord | None] = {}  # None: no live record of this type
        self._claims: dict[int, dict[str, str]] = {}  # record id -> {property: value key it holds}
        self._owners: dict[tuple[str, str], int | None] = {}  # (property, value key) -> holder
        self._record_types: dict[int, str | None] = {}  # any live record's type, for links
        self._scan_hints: dict[str, set[str]] = {}
        self._scanned: dict[tuple[str, str], list[int]] = {}
        self._claims_checked: dict[tuple[str, tuple[int, ...]], bool] = {}
        self._next_id: int | None = None
        self._created: dict[int, StoredRecord] = {}  # new records, in order
        self._changed: dict[int, StoredRecord] = {}  # existing records written, in order
        self._touched_claims: dict[tuple[int, str], None] = {}  # (record id, property) claims rewritten
        self._versions: list[Version] = []  # property values written, for propertiesWithHistory

    # Reading ahead ----------------------------------------------------------------------------------

    def prefetch_records(self, ids: Iterable[int]) -> None:
        """Fetch the live records of this type among ``ids``, and the unique values they hold, in two queries."""
        wanted = [record_id for record_id in dict.fromkeys(ids) if record_id not in self._records]
        if not wanted:
            return
        found = store.fetch_records(self.connection, self.object_type, wanted)
        claims = store.unique_claims_of(self.connection, found)
        for record_id in wanted:
            self._records[record_id] = found.get(record_id)
            if record_id in found:
                self._claims[record_id] = claims.get(record_id, {})

    def prefetch_owners(self, keys: Iterable[tuple[str, str]]) -> None:
        """Find who holds each ``(property, value key)`` in one query per property, and fetch those records."""
        by_property: dict[str, set[str]] = {}
        for name, key in keys:
            if (name, key) not in self._owners:
                by_property.setdefault(name, set()).add(key)
        for name, wanted in by_property.items():
            found = store.unique_owners(self.connection, self.object_type, name, wanted)
            self._owners.update({(name, key): found.get(key) for key in wanted})
        self.prefetch_records(owner for owner in self._owners.values() if owner is not None)

    def prefetch_record_types(self, ids: Iterable[int]) -> None:
        wanted = [record_id for record_id in dict.fromkeys(ids) if record_id not in self._record_types]
        if wanted:
            found = store.live_record_types(self.connection, wanted)
            self._record_types.update({record_id: found.get(record_id) for record_id in wanted})

    def expect_lookups(self, property_name: str, keys: Iterable[str]) -> None:
        """Values that may be looked up by scanning: the first scan of a property covers them all at once."""
        self._scan_hints.setdefault(property_name, set()).update(keys)

    # Questions ------------------------------------------------------------------------------------------

    def record(self, record_id: int) -> StoredRecord | None:
        """The live record of this type with this id, as this transaction has it so far (not a copy)."""
        if record_id not in self._records:
            self.prefetch_records([record_id])
        return self._records[record_id]

    def owner(self, property_name: str, key: str) -> int | None:
        """The record holding a value key of a unique property."""
        if (property_name, key) not in self._owners:
            found = store.unique_owners(self.connection, self.object_type, property_name, [key])
            self._owners[(property_name, key)] = found.get(key)
        return self._owners[(property_name, key)]

    def record_type(self, record_id: int) -> str | None:
        """The type of the live record with this id, whatever its type (association targets are of other types)."""
        if self._records.get(record_id) is not None:
            return self.object_type
        self.prefetch_record_types([record_id])
        return self._record_types[record_id]

    def find_by_value(self, property_name: str, key: str) -> int | None:
        """The record an ``idProperty`` value names, as ``store.find_ids_by_property`` finds one.

        Through the unique-value table; when the property holds no values there at all, by scanning every
        record's value instead, the lowest id first.
        """
        holder = self.owner(property_name, key)
        if holder is not None or self._has_claims(property_name):
            return holder
        return self._first_by_scan(property_name, key)

    def _has_claims(self, property_name: str) -> bool:
        if any(holder is not None for (name, _), holder in self._owners.items() if name == property_name):
            return True
        rewritten = tuple(sorted(record_id for record_id, name in self._touched_claims if name == property_name))
        if (property_name, rewritten) not in self._claims_checked:
            self._claims_checked[(property_name, rewritten)] = store.has_unique_claims(
                self.connection, self.object_type, property_name, excluding=rewritten
            )
        return self._claims_checked[(property_name, rewritten)]

    def _first_by_scan(self, property_name: str, key: str) -> int | None:
        if (property_name, key) not in self._scanned:
            wanted = {key} | self._scan_hints.get(property_name, set())
            wanted = {value for value in wanted if (property_name, value) not in self._scanned}
            found = store.ids_by_value(self.connection, self.object_type, property_name, wanted, archived=False)
            self._scanned.update({(property_name, value): found.get(value, []) for value in wanted})
        written = {**self._created, **self._changed}
        candidates = [record_id for record_id in self._scanned[(property_name, key)] if record_id not in written]
        for record in written.values():
            value = record.properties.get(property_name)
            if value is not None and value.translate(_SQLITE_LOWER) == key:
                candidates.append(record.id)
        return min(candidates, default=None)

    # Writing --------------------------------------------------------------------------------------------

    def add(self, properties: dict[str, str], now: int) -> StoredRecord:
        """A new record with the next portal-wide id."""
        if self._next_id is None:
            self._next_id = store.next_record_id(self.connection)
        record = StoredRecord(self._next_id, self.object_type, properties, now, now, False, None)
        self._next_id += 1
        self._records[record.id] = record
        self._claims[record.id] = {}
        self._created[record.id] = record
        return record

    @property
    def created(self) -> list[StoredRecord]:
        """The records this session created, in order."""
        return list(self._created.values())

    @property
    def changed_records(self) -> list[StoredRecord]:
        """The existing records this session modified, in order."""
        return list(self._changed.values())

    def changed(self, record: StoredRecord) -> None:
        """Note that a record this session handed out has been modified in place."""
        if record.id not in self._created:
            self._changed[record.id] = record

    def claim(self, record_id: int, values: dict[str, str | None]) -> None:
        """Point each unique property's value at this record; ``None`` gives up the record's value."""
        held = self._claims[record_id]
        for name, value in values.items():
            self._touched_claims[(record_id, name)] = None
            previous = held.pop(name, None)
            if previous is not None:
                self._owners[(name, previous)] = None
            if value:
                key = store.unique_key(value)
                self._owners[(name, key)] = record_id
                held[name] = key

    def note_versions(self, record_id: int, values: dict[str, str | None], timestamp: int) -> None:
        """Remember the values a write set (``None``: cleared) as new versions of those properties."""
        self._versions.extend((record_id, name, value or "", timestamp) for name, value in values.items())

    def flush(self) -> None:
        """Write every change to the store: the id counter, new records, changed records, unique values."""
        if self._next_id is not None:
            store.set_next_record_id(self.connection, self._next_id)
        store.insert_records(
            self.connection,
            self.object_type,
            [(record.id, record.properties, record.created_at, record.updated_at) for record in self._created.values()],
        )
        store.update_records(self.connection, self._changed.values())
        released = list(self._touched_claims)
        claims = [
            (self.object_type, name, self._claims[record_id][name], record_id)
            for record_id, name in released
            if name in self._claims[record_id]
        ]
        store.replace_unique_claims(self.connection, released, claims)
        store_versions(self.connection, self._versions)


def snapshot(record: StoredRecord) -> StoredRecord:
    """A copy that later writes in the same session leave alone, to answer with."""
    return replace(record, properties=dict(record.properties))
