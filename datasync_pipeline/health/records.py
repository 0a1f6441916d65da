"""The record view (rule 12): the records of the syncs, one row each, filtered and in chosen columns.

A row is a record's sync, object, status (synced, failed, excluded, deleted_in_hubspot, deleted_in_app),
category or reason, message, both ids, the time of its last sync or outcome (UTC) and its last synced
field values, one column per mapped HubSpot property. Rows are read from the state store in chunks
(``pandas.read_sql`` with a chunk size over the SQL of ``rows.py``), so listing or exporting a million
pairs holds one chunk in memory at a time. Only record data is read: nothing of the configuration
(connection URLs, tokens) can reach a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.config.model import DatasyncConfig, SyncSpec
from datasync_pipeline.health.rows import BASE_COLUMNS, RecordFilter, field_label, paired_rows, unpaired_rows
from datasync_pipeline.objects.catalogue import OBJECT_TYPES, Identity
from datasync_pipeline.sync.mappings import resolve_mappings

CHUNK_SIZE = 50_000


class RecordViewError(ValueError):
    """A filter or column the record view cannot use; the message says what would work."""


def selected_syncs(config: DatasyncConfig, *, syncs: list[str] | None = None, objects: list[str] | None = None) -> list[SyncSpec]:
    """The configuration's syncs by name and by object type (each filter only when given)."""
    known = {sync.name for sync in config.syncs}
    unknown = [name for name in syncs or [] if name not in known]
    if unknown:
        raise RecordViewError(f"no sync named {', '.join(map(repr, unknown))}; known syncs: {', '.join(sorted(known)) or 'none'}")
    return [sync for sync in config.syncs if (not syncs or sync.name in syncs) and (not objects or sync.object in objects)]


def sync_fields(sync: SyncSpec) -> list[str]:
    return [mapping.hubspot for mapping in resolve_mappings(sync)]


IDENTITY_FIELDS = {Identity.EMAIL: ("email",), Identity.NAME_OR_DOMAIN: ("name", "domain"), Identity.SKU_OR_NAME: ("hs_sku", "name")}
TABLE_COLUMNS = ["status", "category", "hubspot_id", "app_id"]


def identity_fields(sync: SyncSpec) -> list[str]:
    """The HubSpot properties a person tells the sync's records apart by: its identity rule's, else the required one."""
    object_type = OBJECT_TYPES[sync.object]
    wanted = IDENTITY_FIELDS.get(object_type.identity) or tuple(m.hubspot for m in object_type.default_mappings if m.required)[:1]
    mapped = sync_fields(sync)
    return [field for field in wanted if field in mapped]


def table_columns(syncs: list[SyncSpec]) -> list[str]:
    """The columns printed by default: few enough for an 80-column terminal (``--columns``/``--json`` give all)."""
    fields = dict.fromkeys(field_label(field) for sync in syncs for field in identity_fields(sync))
    return (["sync"] if len(syncs) > 1 else []) + TABLE_COLUMNS + list(fields) + ["message"]


def available_columns(syncs: list[SyncSpec]) -> list[str]:
    """The record view's own columns, then every field value column of these syncs."""
    fields = [field_label(field) for sync in syncs for field in sync_fields(sync)]
    return BASE_COLUMNS + list(dict.fromkeys(fields))


def choose_columns(syncs: list[SyncSpec], wanted: list[str] | None) -> list[str]:
    available = available_columns(syncs)
    if not wanted:
        return available
    unknown = [column for column in wanted if column not in available]
    if unknown:
        raise RecordViewError(f"unknown column {', '.join(map(repr, unknown))}; available: {', '.join(available)}")
    return list(dict.fromkeys(wanted))


def parse_time(text: str, *, end_of_day: bool = False) -> datetime:
    """A date (``2026-11-28``) or an ISO timestamp, in UTC unless it names its zone.

    A date as the end of a period means the whole day: ``--until 2026-11-28`` includes that day.
    """
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), tzinfo=UTC)
            return start + timedelta(days=1) if end_of_day else start
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RecordViewError(f"{text!r} is not a date (2026-11-28) or an ISO timestamp (2026-11-28T20:10:00+01:00)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def count_records(engine: sa.Engine, syncs: list[SyncSpec], where: RecordFilter = RecordFilter()) -> int:
    total = 0
    with engine.connect() as connection:
        for sync in syncs:
            for query in (paired_rows(sync.name, [], where=where), unpaired_rows(sync.name, [], where=where)):
                total += connection.execute(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    return total


def read_records(
    engine: sa.Engine, syncs: list[SyncSpec], *, columns: list[str], where: RecordFilter = RecordFilter(),
    chunk_size: int = CHUNK_SIZE, limit: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The rows in chunks of at most ``chunk_size``, each with exactly ``columns``; at most ``limit`` rows in all."""
    remaining = limit
    with engine.connect() as connection:
        for sync in syncs:
            fields = [field for field in sync_fields(sync) if field_label(field) in columns]
            for query in (paired_rows(sync.name, fields, prefer=sync.default_app.value, where=where), unpaired_rows(sync.name, fields, where=where)):
                if remaining is not None:
                    query = query.limit(remaining)
                for chunk in pd.read_sql(query, connection, chunksize=chunk_size, coerce_float=False):
                    if remaining is not None:
                        if remaining <= 0:
                            return
                        chunk = chunk.head(remaining)
                        remaining -= len(chunk)
                    yield _shaped(chunk, sync, columns)
                if remaining is not None and remaining <= 0:
                    return


def _shaped(chunk: pd.DataFrame, sync: SyncSpec, columns: list[str]) -> pd.DataFrame:
    chunk = chunk.assign(object=sync.object, time=pd.to_datetime(chunk["time"], utc=True))
    for column in columns:
        if column not in chunk:
            chunk[column] = None  # a field another selected sync has
    shaped = chunk[columns]
    # Ids and values as text: a column keeps one type across chunks and syncs (and in Parquet).
    text_columns = [c for c in columns if c != "time"]
    return shaped.astype({c: "string" for c in text_columns})
