"""The association each side of a pair held after the last sync: the base of the associations' three-way rule.

One row per (sync, pair, associated object), keyed by the pair's HubSpot id, holding the associated
record's HubSpot id and app key. A pair without a row held none on either side (the engine's default
base), so rows of pairs without any association are not kept. A pair relinked to another app record
does not inherit the old record's base (its ``app_id`` no longer matches).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.state.tables import association_bases

BASE_COLUMNS = ["hubspot_id", "app_id", "hubspot_value", "app_value"]  # as engine.associations plans with them
CHUNK = 2_000


def read_bases(engine: sa.Engine, sync: str, associated_object: str, hubspot_ids: Iterable[str]) -> pd.DataFrame:
    """``hubspot_id, app_id, hubspot_value, app_value`` of these pairs (those with a base)."""
    ids = list(dict.fromkeys(str(i) for i in hubspot_ids))
    table = association_bases
    columns = [table.c.hubspot_id, table.c.app_id, table.c.hubspot_value, table.c.app_value]
    rows = []
    with engine.connect() as connection:
        for start in range(0, len(ids), CHUNK):
            query = sa.select(*columns).where(
                table.c.sync == sync, table.c.associated_object == associated_object, table.c.hubspot_id.in_(ids[start : start + CHUNK])
            )
            rows.extend(tuple(row) for row in connection.execute(query))
    return pd.DataFrame(rows, columns=BASE_COLUMNS, dtype=object)


def save_bases(engine: sa.Engine, sync: str, associated_object: str, synced: pd.DataFrame, previous: pd.DataFrame) -> int:
    """Keep ``synced`` (the engine's ``plan.synced``) as the new bases; writes only what changed. Returns rows written."""
    before = {tuple(map(_text, row)) for row in previous[BASE_COLUMNS].itertuples(index=False)}
    kept_before = {row[0] for row in before}
    now = datetime.now(UTC)
    changed = [
        row for row in (tuple(map(_text, row)) for row in synced[BASE_COLUMNS].itertuples(index=False))
        # "none on either side" is what no row means: written only to remove an older base
        if row not in before and (row[2] is not None or row[3] is not None or row[0] in kept_before)
    ]
    table = association_bases
    with engine.begin() as connection:
        for start in range(0, len(changed), CHUNK):
            chunk = changed[start : start + CHUNK]
            connection.execute(sa.delete(table).where(
                table.c.sync == sync, table.c.associated_object == associated_object, table.c.hubspot_id.in_([row[0] for row in chunk])))
            kept = [
                {"sync": sync, "hubspot_id": hubspot_id, "associated_object": associated_object, "app_id": app_id,
                 "hubspot_value": hubspot_value, "app_value": app_value, "synced_at": now}
                for hubspot_id, app_id, hubspot_value, app_value in chunk
                if hubspot_value is not None or app_value is not None
            ]
            if kept:
                connection.execute(sa.insert(table), kept)
    return len(changed)


def _text(value: object) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)
