"""The base of a three-way merge after a run that wrote and died before its checkpoint (``state/pending.py``).

A dead run's writes are not a user's changes. For a linked pair, a field whose record still holds
exactly the value a pending write set there has that value as its base on that side: unchanged since
our write, so a change on the other side made since flows, and a value cleared there stays cleared.
A field holding anything else keeps its committed base (the write never landed, or a user changed it
since: then it is a change like any other).

A record created by a dead run is found by the next run through its origin id (``datasync_id`` or the
external-id column) and is not linked yet. Such a pair is merged three ways with the created values as
the base of both sides, instead of being compared as two strangers: an edit made on either side since
the create flows, where a compare would let the default app's copy overwrite it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from datasync_pipeline.engine.normalize import comparable
from datasync_pipeline.objects.catalogue import ResolvedMapping

BASE_COLUMNS = ["hubspot_id", "app_id", "hubspot_values", "app_values"]


def with_pending_writes(pairs: pd.DataFrame, hubspot: pd.DataFrame, app: pd.DataFrame, mappings: list[ResolvedMapping], *,
                        hubspot_pending: Mapping[str, Mapping[str, Any]], app_pending: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """``pairs`` (hubspot_id, app_id, hubspot_values, app_values) with each side's base taking the pending
    values its record still holds. A record absent from its frame has not changed since the base."""
    if pairs.empty or not (hubspot_pending or app_pending):
        return pairs
    pairs = pairs.copy()
    by_name = {m.hubspot: m for m in mappings}
    for side, frame, id_column, written in (("hubspot", hubspot, "hubspot_id", hubspot_pending), ("app", app, "app_id", app_pending)):
        if not written:
            continue
        current = frame.drop_duplicates("record_id")
        current = current.set_index(current["record_id"].astype(str))
        column = f"{side}_values"
        bases = list(pairs[column])
        for position, record_id in enumerate(pairs[id_column].astype(str)):
            values = written.get(record_id)
            if not values:
                continue
            base = dict(bases[position] or {})
            for name, value in values.items():
                if name not in by_name:
                    continue
                now = current.at[record_id, name] if record_id in current.index and name in current else base.get(name)
                if _same(now, value, by_name[name]):
                    base[name] = value
            bases[position] = base
        pairs[column] = pd.Series(bases, index=pairs.index, dtype=object)
    return pairs


def created_pairs_base(pairs: pd.DataFrame, *, app_creates: Mapping[str, Mapping[str, Any]],
                       hubspot_creates: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The base of new pairs linked through an origin id whose record a dead run created: the values it created
    the record with, on both sides. ``app_creates`` are keyed by the HubSpot id the app row was created from,
    ``hubspot_creates`` by the app id the HubSpot record was created from."""
    rows = []
    origin = pairs[pairs["matched_by"] == "origin"] if "matched_by" in pairs else pairs.iloc[:0]
    for hubspot_id, app_id in origin[["hubspot_id", "app_id"]].astype(str).itertuples(index=False):
        values = app_creates.get(hubspot_id) or hubspot_creates.get(app_id)
        if values is not None:
            rows.append((hubspot_id, app_id, dict(values), dict(values)))
    return pd.DataFrame(rows, columns=BASE_COLUMNS, dtype=object)


def _same(now: Any, written: Any, mapping: ResolvedMapping) -> bool:
    """Whether a record's value is the one written, as the merge compares values (None and blank alike)."""
    left, right = comparable(pd.Series([now, written], dtype=object), mapping.value_type)
    if pd.isna(left) or pd.isna(right):
        return bool(pd.isna(left) and pd.isna(right))
    return left == right
