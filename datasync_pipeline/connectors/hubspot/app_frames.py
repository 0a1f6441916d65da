"""Records of a HubSpot portal on the app side of a sync, as engine frames, and engine values back as properties.

Only this module knows both the app portal's property names and the engine's field names (``SideBinding.fields``
maps one to the other). HubSpot's shapes it relies on (``HUBSPOT_API.md``): property values are strings and a
requested property without a value comes back null (or empty, once cleared); ``updatedAt`` is ISO-8601 with
milliseconds and equals the last-modified property; writes take strings and an empty string clears a value.

Times go to HubSpot as whole epoch milliseconds, rounded so that a filter means exactly what the engine asked:
"at or after" a time rounds up, "strictly after" rounds down (HubSpot keeps milliseconds, Python microseconds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from datasync_pipeline.connectors.base import ORIGIN_HUBSPOT_ID, RECORD_ID, FieldType, SideBinding
from datasync_pipeline.connectors.hubspot.search import modified_ms, to_epoch_ms
from datasync_pipeline.engine.associations import hubspot_targets
from datasync_pipeline.engine.filters import IN_FILTERS, filter_fields, in_filters
from datasync_pipeline.engine.frames import MODIFIED_AT, association_column, has_value
from datasync_pipeline.objects.catalogue import AssociationKind, ValueType
from datasync_pipeline.objects.type_checks import hubspot_value_type

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --- reading --------------------------------------------------------------------------------------------
def read_properties(binding: SideBinding, origin_property: str, modified_property: str) -> list[str]:
    """The app-portal properties a read asks for: the mapped ones, those the filters read, the origin, the
    last-modified time (HubSpot ignores names it does not know, so an origin property not created yet is harmless)."""
    return list(dict.fromkeys([
        *binding.fields.values(), *binding.filter_fields, *filter_fields(binding.filters),
        origin_property, modified_property,
    ]))


def engine_frame(
    records: Sequence[Mapping[str, Any]],
    binding: SideBinding,
    *,
    origin_property: str,
    associated: Mapping[str, Mapping[str, str | None]] | None = None,
) -> pd.DataFrame:
    """``records`` as HubSpot returns them, as an engine frame (``connectors/base.py``).

    ``associated`` maps each kept association's object to record id -> the associated record's id in this
    portal (``associated_ids``); records it does not list hold none.
    """
    properties = [record.get("properties") or {} for record in records]
    frame = pd.DataFrame({RECORD_ID: pd.Series([str(record["id"]) for record in records], dtype=object)})
    for engine_field, app_property in binding.fields.items():
        frame[engine_field] = pd.Series([_value(values.get(app_property)) for values in properties], dtype=object)
    origins = [origin_hubspot_id(values.get(origin_property), binding.sync_name) for values in properties]
    frame[ORIGIN_HUBSPOT_ID] = pd.Series(origins, dtype=object)
    updated = pd.Series([record.get("updatedAt") for record in records], dtype=object)
    frame[MODIFIED_AT] = pd.to_datetime(updated, utc=True, format="ISO8601")
    if binding.filters:
        names = list(dict.fromkeys([*binding.filter_fields, *filter_fields(binding.filters)]))
        raw = pd.DataFrame({name: pd.Series([values.get(name) for values in properties], dtype=object) for name in names},
                           index=frame.index)
        frame[IN_FILTERS] = in_filters(raw, binding.filters)
    for association in binding.associations:
        ids = (associated or {}).get(association.object, {})
        keys = [ids.get(record_id) for record_id in frame[RECORD_ID]]
        frame[association_column(association.object)] = pd.Series(keys, dtype=object)
    return frame


def _value(value: Any) -> str | None:
    """HubSpot's empty string (a cleared value) is no value, as null is."""
    return None if value is None or value == "" else value


def origin_hubspot_id(value: str | None, sync_name: str) -> str | None:
    """The primary HubSpot id in an origin value (``<sync>:<primary HubSpot id>``, written by ``origin_value``, so
    one app portal can serve several syncs); None when absent or another sync's."""
    prefix = f"{sync_name}:"
    if value and value.startswith(prefix) and len(value) > len(prefix):
        return value[len(prefix):]
    return None


def associated_ids(links: Mapping[str, Sequence[Mapping[str, Any]]], kind: AssociationKind) -> dict[str, str | None]:
    """Per record, the one associated record the app side holds: the primary one for kinds HubSpot keeps a primary
    of (a contact's primary company), otherwise the lowest id, as the engine reads the primary portal
    (``engine/associations.py``). ``links`` is what ``HubSpotClient.read_associations`` answers."""
    return {record_id: (targets[0] if targets else None) for record_id, targets in hubspot_targets(links, kind).items()}


# --- times ----------------------------------------------------------------------------------------------
def modified_at(record: Mapping[str, Any], modified_property: str) -> dt.datetime | None:
    """The last-modified time a record answer carries (its last-modified property, else ``updatedAt``)."""
    ms = modified_ms(dict(record), modified_property)
    return from_epoch_ms(ms) if ms else None


def parsed_time(value: Any) -> dt.datetime | None:
    """An ISO-8601 or epoch-millisecond time from HubSpot (``archivedAt``), as aware UTC."""
    return from_epoch_ms(to_epoch_ms(value)) if value else None


def from_epoch_ms(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)


def at_or_after_ms(since: dt.datetime) -> int:
    """The first whole millisecond at or after ``since``: a ``GTE`` bound that lets in nothing earlier."""
    micros = _micros(since)
    return -(-micros // 1000)


def after_ms(since: dt.datetime) -> int:
    """The whole millisecond ``since`` falls in: a ``GT`` bound that lets in everything later."""
    return _micros(since) // 1000


def _micros(value: dt.datetime) -> int:
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return (utc - EPOCH) // dt.timedelta(microseconds=1)


# --- writing --------------------------------------------------------------------------------------------
def property_text(value: Any) -> str | None:
    """An engine value as HubSpot takes it: text, None for no value (None, NaN, NaT, blank text).

    Booleans are ``true``/``false``, times ISO-8601 in UTC (a naive time is taken as UTC), dates ``YYYY-MM-DD``,
    a whole float without ``.0`` (a number column with gaps reads integers as floats).
    """
    if not has_value(value):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cleared_or_text(value: Any) -> str:
    """An update's value: no value clears the property (HubSpot clears on an empty string)."""
    text = property_text(value)
    return "" if text is None else text


def properties_of(values: Mapping[str, Any], fields: Mapping[str, str], *, clear_missing: bool) -> dict[str, str]:
    """Engine field values as app-portal properties. A create leaves values out (``clear_missing=False``);
    an update clears them."""
    if clear_missing:
        return {fields[name]: cleared_or_text(value) for name, value in values.items()}
    return {fields[name]: text for name, value in values.items() if (text := property_text(value)) is not None}


# --- property types -------------------------------------------------------------------------------------
def field_type(definition: Mapping[str, Any]) -> FieldType:
    """What a property holds, from its definition (``GET /crm/v3/properties``), named as HubSpot declares it.

    HubSpot's own booleans are ``enumeration`` properties shown as a ``booleancheckbox``: they hold booleans.
    """
    declared = f"{definition.get('type', 'string')} ({definition.get('fieldType', 'text')})"
    if definition.get("fieldType") == "booleancheckbox":
        return FieldType(ValueType.BOOL, declared)
    return FieldType(hubspot_value_type(dict(definition)), declared)


def distinct_text(values: Iterable[Any]) -> list[str]:
    """Values (record ids, lookup values) as text, each once, in their order."""
    return list(dict.fromkeys(str(value) for value in values))

