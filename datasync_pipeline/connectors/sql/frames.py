"""Rows of an app table as engine frames (``connectors/base.py``): columns renamed to the sync's field names.

Only this module knows both the table's column names and the engine's. Keys, external ids and association
keys are text (an integer key read into a float column because of NULLs is written without ``.0``);
``updated_at`` becomes ``_modified_at`` in UTC; rows outside the sync's app filters are flagged.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from datasync_pipeline.connectors.base import ORIGIN_HUBSPOT_ID, RECORD_ID, SideBinding
from datasync_pipeline.engine.filters import IN_FILTERS, in_filters
from datasync_pipeline.engine.frames import MODIFIED_AT, association_column


def engine_frame(rows: pd.DataFrame, binding: SideBinding, table: Any) -> pd.DataFrame:
    """``rows`` as ``SqlConnector`` reads them (the table's column names); ``table`` the sync's ``table:`` settings."""
    frame = pd.DataFrame({RECORD_ID: rows[table.key].astype(str)})
    for hubspot_property, app_column in binding.fields.items():
        frame[hubspot_property] = rows[app_column].astype(object).where(rows[app_column].notna(), None)
    origin = rows[table.external_id] if table.external_id and table.external_id in rows else None
    frame[ORIGIN_HUBSPOT_ID] = origin.astype(object).where(origin.notna(), None).map(lambda v: None if v is None else str(v)) if origin is not None else None
    if table.updated_at and table.updated_at in rows:
        frame[MODIFIED_AT] = pd.to_datetime(rows[table.updated_at], utc=True)
    if binding.filters:
        frame[IN_FILTERS] = in_filters(rows, binding.filters)
    for association in binding.associations:
        keys = rows[association.app_column]
        frame[association_column(association.object)] = keys.astype(object).where(keys.notna(), None).map(_key_text)
    return frame


def _key_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an integer key read into a float column because of NULLs
    return str(value)
