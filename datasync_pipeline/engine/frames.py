"""The engine's frames: the HubSpot side's records as frames, and the names every frame shares.

Engine frames have ``record_id`` plus one column per mapped field named by its HubSpot property,
and the origin columns (``_origin_app_id``, ``_origin_hubspot_id``) that let a rerun link instead
of duplicate. The app side's connector builds its own frames (``connectors/base.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from datasync_pipeline.config.model import FilterRule
from datasync_pipeline.engine.filters import IN_FILTERS, filter_fields, in_filters
from datasync_pipeline.objects.catalogue import ResolvedMapping

MODIFIED_AT = "_modified_at"  # when the source last changed the record: watermarks and freshness
ORIGIN_PROPERTY = "datasync_id"  # a custom unique HubSpot property: "<sync>:<app id>" of records we created
MERGED_PROPERTY = "hs_merged_object_ids"  # HubSpot's ids merged into a record, ";"-separated (sync/merges.py)
MERGED_IDS = "_merged_ids"


def origin_value(sync_name: str, app_id: str) -> str:
    return f"{sync_name}:{app_id}"


def hubspot_frame(
    records: Iterable[dict[str, Any]], mappings: list[ResolvedMapping], sync_name: str, filters: Sequence[FilterRule] = ()
) -> pd.DataFrame:
    fields = [m.hubspot for m in mappings]
    wanted = list(dict.fromkeys([*fields, *filter_fields(filters)]))
    rows = []
    for record in records:
        properties = record.get("properties") or {}
        row = {"record_id": str(record["id"]), **{name: properties.get(name) for name in wanted}}
        row["_origin_app_id"] = _origin_app_id(properties.get(ORIGIN_PROPERTY), sync_name)
        row[MERGED_IDS] = properties.get(MERGED_PROPERTY) or None
        row[MODIFIED_AT] = record.get("updatedAt")
        rows.append(row)
    raw = pd.DataFrame(rows, columns=["record_id", *wanted, "_origin_app_id", MERGED_IDS, MODIFIED_AT], dtype=object)
    frame = raw[["record_id", *fields, "_origin_app_id", MERGED_IDS]].copy()
    frame[MODIFIED_AT] = pd.to_datetime(raw[MODIFIED_AT], utc=True, format="ISO8601")
    if filters:
        frame[IN_FILTERS] = in_filters(raw, filters)
    return frame


def _origin_app_id(value: str | None, sync_name: str) -> str | None:
    prefix = f"{sync_name}:"
    if value and value.startswith(prefix):
        return value[len(prefix):]
    return None


def association_column(object_name: str) -> str:
    """The engine column holding the app key of the associated record of this object type."""
    return f"_association_{object_name}"


def properties_of(row: dict[str, Any], mappings: list[ResolvedMapping]) -> dict[str, str]:
    """HubSpot properties of a planned create: strings, fields without a value left out.

    Without a value (``has_value``) means None, blank text, and the missing markers NaN (float,
    numpy or ``Decimal``), NaT and pd.NA. So a NaN in a number field is "no value", the engine's rule
    everywhere (``blank_to_none``, validation): the source has no value, nothing is written; it is
    never sent as the text "nan". (On a linked pair, a value that became NaN is a cleared value.)
    """
    return {m.hubspot: str(row[m.hubspot]) for m in mappings if has_value(row.get(m.hubspot))}


def has_value(value: Any) -> bool:
    """Whether a field holds a value: not None, NaN, NaT, pd.NA or blank text."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    try:
        return not bool(pd.isna(value))
    except (TypeError, ValueError):  # array-likes are values
        return True
