"""The sandbox's state in one SQLite file, through SQLAlchemy Core.

Records keep their properties as a JSON document, but the values every sync filters and sorts on
(create date, last-modified date, archived, id) live in real indexed columns, so a range search on the
last-modified date stays fast on hundreds of thousands of contacts. Unique property values (contact
email, custom ``hasUniqueValue`` properties) get their own table with a primary key, which is what makes
the 409 "already exists" check cheap and race-free.

The app is called from many threads at once: SQLite runs in WAL mode so reads never wait for writes,
and writes are serialised by one lock per store (``transaction``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from datasync_pipeline.sandbox.timestamps import parse_number

FIRST_RECORD_ID = 1001

metadata = sa.MetaData()

records = sa.Table(
    "records",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("object_type", sa.String(40), nullable=False),
    sa.Column("properties", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False, default=False),
    sa.Column("archived_at", sa.BigInteger, nullable=True),
    sa.Index("records_by_type_and_id", "object_type", "archived", "id"),
    sa.Index("records_by_type_and_update", "object_type", "archived", "updated_at", "id"),
    sa.Index("records_by_type_and_creation", "object_type", "archived", "created_at", "id"),
)

id_counter = sa.Table(
    "id_counter",
    metadata,
    sa.Column("name", sa.String(20), primary_key=True),
    sa.Column("next_id", sa.BigInteger, nullable=False),
)

unique_values = sa.Table(
    "unique_values",
    metadata,
    sa.Column("object_type", sa.String(40), primary_key=True),
    sa.Column("property_name", sa.String(200), primary_key=True),
    sa.Column("value_key", sa.Text, primary_key=True),
    sa.Column("record_id", sa.BigInteger, nullable=False, index=True),
)

associations = sa.Table(
    "associations",
    metadata,
    sa.Column("from_id", sa.BigInteger, primary_key=True),
    sa.Column("to_id", sa.BigInteger, primary_key=True),
    sa.Column("category", sa.String(30), primary_key=True),
    sa.Column("type_id", sa.Integer, primary_key=True),
    sa.Column("from_type", sa.String(40), nullable=False),
    sa.Column("to_type", sa.String(40), nullable=False),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Index("associations_by_source", "from_id", "to_type", "to_id"),
    sa.Index("associations_by_target", "to_id"),
)

custom_properties = sa.Table(
    "custom_properties",
    metadata,
    sa.Column("object_type", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),
)


# Portal settings that are not records: property groups, pipelines, owners, association labels, OAuth tokens.
reference_data = sa.Table(
    "reference_data",
    metadata,
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
)

property_history = sa.Table(
    "property_history",
    metadata,
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("source_type", sa.String(40), nullable=False),
    sa.Index("property_history_by_record", "record_id", "name", "timestamp"),
)


# Search lags writes (``search_index``): while ``visible_at`` is in the future (or NULL: held back), search answers
# the version of the record stored here (``present`` false: a record search has not indexed at all).
search_index_lag = sa.Table(
    "search_index_lag",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("visible_at", sa.BigInteger, nullable=True),
    sa.Column("present", sa.Boolean, nullable=False),
    sa.Column("object_type", sa.String(40), nullable=False),
    sa.Column("properties", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False),
    sa.Column("archived_at", sa.BigInteger, nullable=True),
    sa.Index("search_index_lag_by_visibility", "visible_at"),
)

# Records merged into another (``merge``): reads of the old id answer the survivor, as HubSpot's do.
merged_records = sa.Table(
    "merged_records",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("object_type", sa.String(40), nullable=False),
    sa.Column("merged_into", sa.BigInteger, nullable=False, index=True),
    sa.Column("merged_at", sa.BigInteger, nullable=False),
    sa.Column("properties", sa.Text, nullable=False),
)

# The webhooks journal (``journal``): one entry per committed write that a subscription matched.
journal_entries = sa.Table(
    "journal_entries",
    metadata,
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("offset", sa.String(36), nullable=False, unique=True),
    sa.Column("occurred_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("events", sa.Text, nullable=False),
)

@dataclass
class StoredRecord:
    """One CRM record as stored; system properties are derived from the columns when rendered."""

    id: int
    object_type: str
    properties: dict[str, str]
    created_at: int
    updated_at: int
    archived: bool
    archived_at: int | None

    @classmethod
    def from_row(cls, row: Any) -> StoredRecord:
        return cls(
            id=row.id,
            object_type=row.object_type,
            properties=json.loads(row.properties),
            created_at=row.created_at,
            updated_at=row.updated_at,
            archived=bool(row.archived),
            archived_at=row.archived_at,
        )


_WORD = re.compile(r"[^\w]+", re.UNICODE)


def contains_token(text: str | None, token: str | None) -> int:
    """HubSpot's CONTAINS_TOKEN: the token is a whole word of the value (``*`` is a wildcard)."""
    if text is None or token is None:
        return 0
    text, token = text.lower(), token.lower().strip()
    if not token:
        return 0
    words = {text, *text.split(), *(word for word in _WORD.split(text) if word)}
    if "@" in text:
        words.add(text.split("@", 1)[1])
    if "*" in token:
        pattern = re.compile("^" + ".*".join(re.escape(part) for part in token.split("*")) + "$")
        return int(any(pattern.match(word) for word in words))
    return int(token in words)


def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function("datasync_number", 1, parse_number, deterministic=True)
    dbapi_connection.create_function("datasync_contains_token", 2, contains_token, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Store:
    """Owns the engine, the schema and the write lock of one sandbox file."""

    def __init__(self, db_path: str) -> None:
        path = Path(db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = sa.create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=32,
        )
        sa.event.listen(self.engine, "connect", _configure_connection)
        self._write_lock = threading.Lock()
        with self.transaction() as connection:
            metadata.create_all(connection)
            exists = connection.execute(sa.select(id_counter.c.next_id)).first()
            if exists is None:
                connection.execute(sa.insert(id_counter).values(name="records", next_id=FIRST_RECORD_ID))

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction; one at a time per store, committed on success, rolled back on error."""
        with self._write_lock, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection


# Records ------------------------------------------------------------------------------------------


def next_record_id(connection: Connection) -> int:
    """The id the next record of any type will get, from the one counter all types share (portal-wide ids)."""
    return connection.execute(sa.select(id_counter.c.next_id).where(id_counter.c.name == "records")).scalar_one()


def set_next_record_id(connection: Connection, next_id: int) -> None:
    connection.execute(sa.update(id_counter).where(id_counter.c.name == "records").values(next_id=next_id))


def allocate_ids(connection: Connection, count: int) -> list[int]:
    """Take ``count`` ids from the one counter all object types share, like HubSpot's portal-wide ids."""
    first = next_record_id(connection)
    set_next_record_id(connection, first + count)
    return list(range(first, first + count))


def insert_records(
    connection: Connection, object_type: str, rows: Iterable[tuple[int, dict[str, str], int, int]]
) -> None:
    """Insert ``(id, properties, created_at, updated_at)`` rows in one executemany.

    Goes straight to the driver's executemany: seeding tens of thousands of records is on the test
    suite's critical path, and SQLAlchemy's per-row bookkeeping triples its cost.
    """
    parameters = [
        (record_id, object_type, json.dumps(properties), created_at, updated_at)
        for record_id, properties, created_at, updated_at in rows
    ]
    if parameters:
        connection.exec_driver_sql(
            "INSERT INTO records (id, object_type, properties, created_at, updated_at, archived, archived_at) "
            "VALUES (?, ?, ?, ?, ?, 0, NULL)",
            parameters,
        )


def fetch_records(
    connection: Connection, object_type: str, ids: Iterable[int], *, archived: bool | None = False
) -> dict[int, StoredRecord]:
    """Records of one type by id; ``archived=None`` returns them whatever their state."""
    wanted = list(ids)
    found: dict[int, StoredRecord] = {}
    for start in range(0, len(wanted), 500):
        query = sa.select(records).where(
            records.c.object_type == object_type, records.c.id.in_(wanted[start : start + 500])
        )
        if archived is not None:
            query = query.where(records.c.archived == archived)
        for row in connection.execute(query):
            found[row.id] = StoredRecord.from_row(row)
    return found


def list_records(
    connection: Connection, object_type: str, *, archived: bool, after_id: int, limit: int
) -> list[StoredRecord]:
    query = (
        sa.select(records)
        .where(records.c.object_type == object_type, records.c.archived == archived, records.c.id >= after_id)
        .order_by(records.c.id)
        .limit(limit)
    )
    return [StoredRecord.from_row(row) for row in connection.execute(query)]


def live_record_types(connection: Connection, ids: Iterable[int]) -> dict[int, str]:
    """The object type of each live (not archived) record among ``ids``, whatever its type."""
    wanted = list(ids)
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        query = sa.select(records.c.id, records.c.object_type).where(
            records.c.id.in_(wanted[start : start + 500]), records.c.archived.is_(False)
        )
        found.update({row.id: row.object_type for row in connection.execute(query)})
    return found


def find_ids_by_property(
    connection: Connection, object_type: str, property_name: str, values: Iterable[str], *, archived: bool
) -> dict[str, int]:
    """Look records up by a property value (case-insensitive), for ``idProperty`` reads of any property.

    Keys of the answer are the lower-cased values. Unique properties of live records go through the
    unique-value table; anything else scans the JSON, which is fine for the batch sizes involved.
    """
    keys = {str(value).strip().lower() for value in values}
    if not keys:
        return {}
    if not archived:
        found = unique_owners(connection, object_type, property_name, keys)
        if found or has_unique_claims(connection, object_type, property_name):
            return found
    return {key: ids[0] for key, ids in ids_by_value(connection, object_type, property_name, keys, archived=archived).items()}


def ids_by_value(
    connection: Connection, object_type: str, property_name: str, keys: Iterable[str], *, archived: bool
) -> dict[str, list[int]]:
    """Every record (in id order) whose value of a property, lower-cased by SQLite, is one of ``keys``.

    A scan of the JSON of every record of the type: the fallback for properties the unique-value table
    does not cover.
    """
    value = sa.func.lower(sa.func.json_extract(records.c.properties, f"$.{property_name}"))
    query = (
        sa.select(records.c.id, value.label("value_key"))
        .where(records.c.object_type == object_type, records.c.archived == archived, value.in_(set(keys)))
        .order_by(records.c.id)
    )
    found: dict[str, list[int]] = {}
    for row in connection.execute(query):
        found.setdefault(row.value_key, []).append(row.id)
    return found


def update_record(connection: Connection, record: StoredRecord, *, touch: bool = True) -> None:
    """Write back a record's properties; ``touch`` says whether its updated_at moved (it was set by the caller)."""
    values: dict[str, Any] = {"properties": json.dumps(record.properties)}
    if touch:
        values["updated_at"] = record.updated_at
    connection.execute(sa.update(records).where(records.c.id == record.id).values(**values))


def update_records(connection: Connection, changed: Iterable[StoredRecord]) -> None:
    """Write back the properties and last-modified dates of many records in one executemany."""
    parameters = [
        {"record_id": record.id, "properties": json.dumps(record.properties), "updated_at": record.updated_at}
        for record in changed
    ]
    if parameters:
        statement = (
            sa.update(records)
            .where(records.c.id == sa.bindparam("record_id"))
            .values(properties=sa.bindparam("properties"), updated_at=sa.bindparam("updated_at"))
        )
        connection.execute(statement, parameters)


def archive_records(connection: Connection, object_type: str, ids: Iterable[int], archived_at: int) -> None:
    wanted = list(ids)
    if not wanted:
        return
    connection.execute(
        sa.update(records)
        .where(records.c.object_type == object_type, records.c.id.in_(wanted), records.c.archived.is_(False))
        .values(archived=True, archived_at=archived_at)
    )
    connection.execute(sa.delete(unique_values).where(unique_values.c.record_id.in_(wanted)))


def delete_records_permanently(connection: Connection, ids: Iterable[int]) -> None:
    wanted = list(ids)
    connection.execute(sa.delete(records).where(records.c.id.in_(wanted)))
    connection.execute(sa.delete(unique_values).where(unique_values.c.record_id.in_(wanted)))
    connection.execute(sa.delete(property_history).where(property_history.c.record_id.in_(wanted)))
    connection.execute(
        sa.delete(associations).where(sa.or_(associations.c.from_id.in_(wanted), associations.c.to_id.in_(wanted)))
    )


# Unique values ------------------------------------------------------------------------------------


def unique_key(value: str) -> str:
    """Unique values compare case-insensitively and ignore surrounding space, as contact email does."""
    return value.strip().lower()


def unique_owners(connection: Connection, object_type: str, property_name: str, keys: Iterable[str]) -> dict[str, int]:
    """The record holding each of these value keys of one unique property, for the keys that are held."""
    wanted = list(set(keys))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        query = sa.select(unique_values.c.value_key, unique_values.c.record_id).where(
            unique_values.c.object_type == object_type,
            unique_values.c.property_name == property_name,
            unique_values.c.value_key.in_(wanted[start : start + 500]),
        )
        found.update({row.value_key: row.record_id for row in connection.execute(query)})
    return found


def unique_claims_of(connection: Connection, record_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """The unique values each record holds: ``{record_id: {property_name: value_key}}``."""
    wanted = list(record_ids)
    found: dict[int, dict[str, str]] = {}
    for start in range(0, len(wanted), 500):
        query = sa.select(unique_values).where(unique_values.c.record_id.in_(wanted[start : start + 500]))
        for row in connection.execute(query):
            found.setdefault(row.record_id, {})[row.property_name] = row.value_key
    return found


def has_unique_claims(
    connection: Connection, object_type: str, property_name: str, *, excluding: Iterable[int] = ()
) -> bool:
    """Whether any record (other than the ``excluding`` ones) holds a value of this property in the table."""
    query = sa.select(unique_values.c.record_id).where(
        unique_values.c.object_type == object_type, unique_values.c.property_name == property_name
    )
    excluded = list(excluding)
    if excluded:
        query = query.where(unique_values.c.record_id.not_in(excluded))
    return connection.execute(query.limit(1)).first() is not None


def replace_unique_claims(
    connection: Connection, released: list[tuple[int, str]], claims: list[tuple[str, str, str, int]]
) -> None:
    """Drop the ``(record_id, property_name)`` claims in ``released``, then add ``(object_type, property_name,
    value_key, record_id)`` claims, each in one executemany."""
    if released:
        statement = sa.delete(unique_values).where(
            unique_values.c.record_id == sa.bindparam("released_id"),
            unique_values.c.property_name == sa.bindparam("released_property"),
        )
        connection.execute(
            statement, [{"released_id": record_id, "released_property": name} for record_id, name in released]
        )
    if claims:
        connection.execute(
            sa.insert(unique_values),
            [
                {"object_type": object_type, "property_name": name, "value_key": key, "record_id": record_id}
                for object_type, name, key, record_id in claims
            ],
        )


def claim_unique_values_in_bulk(connection: Connection, rows: list[tuple[str, str, str, int]]) -> None:
    """Seed-time claims of ``(object_type, property_name, value_key, record_id)``; the first record wins a repeated value."""
    if rows:
        connection.exec_driver_sql(
            "INSERT OR IGNORE INTO unique_values (object_type, property_name, value_key, record_id) VALUES (?, ?, ?, ?)",
            rows,
        )


# Custom properties --------------------------------------------------------------------------------


def load_custom_properties(connection: Connection) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in connection.execute(sa.select(custom_properties).order_by(custom_properties.c.name)):
        found.setdefault(row.object_type, []).append(json.loads(row.definition))
    return found


def insert_custom_property(connection: Connection, object_type: str, definition: dict[str, Any]) -> None:
    connection.execute(
        sa.insert(custom_properties).values(
            object_type=object_type, name=definition["name"], definition=json.dumps(definition)
        )
    )


def replace_custom_property(connection: Connection, object_type: str, definition: dict[str, Any]) -> None:
    connection.execute(
        sa.update(custom_properties)
        .where(custom_properties.c.object_type == object_type, custom_properties.c.name == definition["name"])
        .values(definition=json.dumps(definition))
    )


def delete_custom_property(connection: Connection, object_type: str, name: str) -> None:
    connection.execute(
        sa.delete(custom_properties).where(custom_properties.c.object_type == object_type, custom_properties.c.name == name)
    )


# Reference data -----------------------------------------------------------------------------------


def load_reference(connection: Connection, kind: str) -> dict[str, dict[str, Any]]:
    """Every stored item of one kind of reference data (property groups, pipelines, owners, labels, tokens), by key."""
    query = sa.select(reference_data).where(reference_data.c.kind == kind).order_by(reference_data.c.position)
    return {row.key: json.loads(row.body) for row in connection.execute(query)}


def get_reference(connection: Connection, kind: str, key: str) -> dict[str, Any] | None:
    """One stored item of reference data, or None."""
    query = sa.select(reference_data.c.body).where(reference_data.c.kind == kind, reference_data.c.key == key)
    body = connection.execute(query).scalar()
    return json.loads(body) if body is not None else None


def put_reference(connection: Connection, kind: str, key: str, body: dict[str, Any]) -> None:
    """Store an item, keeping its position when it replaces one."""
    existing = connection.execute(
        sa.select(reference_data.c.position).where(reference_data.c.kind == kind, reference_data.c.key == key)
    ).scalar()
    if existing is not None:
        connection.execute(
            sa.update(reference_data).where(reference_data.c.kind == kind, reference_data.c.key == key)
            .values(body=json.dumps(body))
        )
        return
    position = connection.execute(sa.select(sa.func.coalesce(sa.func.max(reference_data.c.position), 0))).scalar_one()
    connection.execute(sa.insert(reference_data).values(kind=kind, key=key, body=json.dumps(body), position=position + 1))


def delete_reference(connection: Connection, kind: str, key: str) -> None:
    connection.execute(sa.delete(reference_data).where(reference_data.c.kind == kind, reference_data.c.key == key))
