"""Turning what the connectors return into engine frames, and plans back into connector inputs.

Engine frames have ``record_id`` plus one column per mapped field named by its HubSpot property,
and the origin columns (``_origin_app_id``, ``_origin_hubspot_id``) that let a rerun link instead
of duplicate. This module is the only place that knows both the connectors' and the engine's shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from datasync_pipeline.config.model import AppTable, AssociationSpec, FilterRule
from datasync_pipeline.engine.filters import IN_FILTERS, filter_fields, in_filters
from datasync_pipeline.objects.catalogue import ResolvedMapping

MODIFIED_AT = "_modified_at"  # when the source last changed the record: watermarks and freshness
ORIGIN_PROPERTY = "datasync_id"  # a custom unique HubSpot property: "<sync>:<app id>" of records we created


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
        row[MODIFIED_AT] = record.get("updatedAt")
        rows.append(row)
    raw = pd.DataFrame(rows, columns=["record_id", *wanted, "_origin_app_id", MODIFIED_AT], dtype=object)
    frame = raw[["record_id", *fields, "_origin_app_id"]].copy()
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


def app_frame(
    rows: pd.DataFrame,
    mappings: list[ResolvedMapping],
    table: AppTable,
    filters: Sequence[FilterRule] = (),
    associations: Sequence[AssociationSpec] = (),
) -> pd.DataFrame:
    renamed = {m.app: m.hubspot for m in mappings}
    frame = pd.DataFrame({"record_id": rows[table.key].astype(str)})
    for app_column, hubspot_property in renamed.items():
        frame[hubspot_property] = rows[app_column].astype(object).where(rows[app_column].notna(), None)
    origin = rows[table.external_id] if table.external_id and table.external_id in rows else None
    frame["_origin_hubspot_id"] = origin.astype(object).where(origin.notna(), None).map(lambda v: None if v is None else str(v)) if origin is not None else None
    if table.updated_at and table.updated_at in rows:
        frame[MODIFIED_AT] = pd.to_datetime(rows[table.updated_at], utc=True)
    if filters:
        frame[IN_FILTERS] = in_filters(rows, filters)
    for association in associations:
        keys = rows[association.app_column]
        frame[association_column(association.object)] = keys.astype(object).where(keys.notna(), None).map(_key_text)
    return frame


def _key_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an integer key read into a float column because of NULLs
    return str(value)


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


def columns_of(row: dict[str, Any], mappings: list[ResolvedMapping]) -> dict[str, Any]:
    """App columns of a planned create: every mapped column, None where the source had no value."""
    return {m.app: row.get(m.hubspot) for m in mappings}


def app_columns(values: dict[str, Any], mappings: list[ResolvedMapping]) -> dict[str, Any]:
    by_property = {m.hubspot: m.app for m in mappings}
    return {by_property[name]: value for name, value in values.items()}
