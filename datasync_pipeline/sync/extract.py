"""The extract steps: each side's records, all of them (first sync) or what changed since its watermark, and the
records a change needs beside it.

Work grows with the changes, not with the size of either side: HubSpot is searched by last-modified
(a (timestamp, id) cursor that survives bulk updates sharing one timestamp and never pages past
10,000), the app by its updated-at column; a new record's possible match on the other side is
looked up by its identity (emails, SKUs, names, domains), never by reading the other side in full.
Reads start a little before the watermark (HubSpot indexes search with a delay; an app commit can
land after a later timestamp was read); records read twice are harmless, because the three-way merge
finds nothing changed in them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.engine import frames
from datasync_pipeline.engine.filters import filter_fields
from datasync_pipeline.engine.normalize import email_key
from datasync_pipeline.objects.catalogue import OBJECT_TYPES, Identity, ResolvedMapping
from datasync_pipeline.objects.type_checks import app_type_problems, hubspot_type_problems, missing_field_problems, raise_if_any
from datasync_pipeline.state import retries
from datasync_pipeline.sync.binding import app_label, app_name
from datasync_pipeline.sync.step import ApiCalls, Step
from datasync_pipeline.sync.translate import unmapped_rows
from datasync_pipeline.vocabulary import Side

LOOKUP_CHUNK = 100
LATE = "_late"  # in a trailing pass: modified before the fast read's start


def read_hubspot(step: Step) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``<sync>/hubspot_records``: the HubSpot side's records with the mapped properties, and the step's metadata.

    A first sync checks first that every mapped property can hold the app's values (``objects/type_checks.py``).
    """
    sync, client = step.sync, step.client
    calls = ApiCalls(client)
    if step.incremental:
        # HubSpot indexes search a few seconds after a write: the read starts the overlap before the watermark, or a
        # window behind it in a trailing pass.
        since, fast = step.read_from(Side.HUBSPOT)
        frame = read_hubspot_changes(client, step.store, sync, step.mappings, since, fast_read_from=fast if since < fast else None)
        frame = _with_retries(frame, read_hubspot_by_ids(client, sync, step.mappings, step.journal_targets().records))
    else:
        raise_if_any(hubspot_type_problems(step.mappings, sync.object, client.get_properties(sync.object)),
                     where=f"sync {sync.name!r}, HubSpot {sync.object}")
        records = client.list_all(sync.object, properties=hubspot_properties(sync, step.mappings))
        frame = frames.hubspot_frame(records, step.mappings, sync.name, sync.filters.hubspot)
    step.log.info(f"read {len(frame):,} HubSpot {sync.object} ({step.mode.value})")
    return frame, {"dagster/row_count": len(frame), **calls.metadata()}


def read_app(step: Step) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``<sync>/app_records``: the app side's records under the engine's field names, and the step's metadata.

    Every run checks first that the fields the sync maps and filters on exist and hold values of the right kind.
    """
    sync, side = step.sync, step.app()
    types = side.value_types()
    used = [*(m.app for m in step.mappings), *filter_fields(sync.filters.app)]
    raise_if_any(missing_field_problems(used, types, where=app_name(sync)) + app_type_problems(step.mappings, types, where=app_name(sync)),
                 where=f"sync {sync.name!r}, {app_label(sync)}")
    if step.incremental:
        # An app transaction can commit after a later timestamp was read: the read starts the overlap before the mark,
        # or a window behind it in a trailing pass.
        since, fast = step.read_from(Side.APP)
        frame = read_app_changes(side, step.store, sync, since, fast_read_from=fast if since < fast else None)
    else:
        frame = side.read_all()
    step.log.info(f"read {len(frame):,} records of {app_label(sync)} ({step.mode.value})")
    return frame, {"dagster/row_count": len(frame)}


def hubspot_properties(sync: SyncSpec, mappings: list[ResolvedMapping]) -> list[str]:
    return list(dict.fromkeys([m.hubspot for m in mappings] + filter_fields(sync.filters.hubspot) + [frames.ORIGIN_PROPERTY, frames.MERGED_PROPERTY]))


def marked_late(frame: pd.DataFrame, fast_read_from: datetime | None) -> pd.DataFrame:
    """In a trailing pass, the records a fast read would not have read (modified before its start) marked as late
    candidates (``LATE``): the checkpoint counts those that were still a change as late arrivals."""
    if fast_read_from is None:
        return frame
    modified = frame[frames.MODIFIED_AT] if frames.MODIFIED_AT in frame else pd.Series(pd.NaT, index=frame.index)
    return frame.assign(**{LATE: (modified < pd.Timestamp(fast_read_from)).fillna(False).astype(bool)})


def read_hubspot_changes(client, store, sync: SyncSpec, mappings: list[ResolvedMapping], since: datetime, *,
                         fast_read_from: datetime | None = None) -> pd.DataFrame:
    """HubSpot records changed since ``since`` (late candidates marked, ``marked_late``), plus those due for a retry."""
    since_ms = int(since.timestamp() * 1000)
    records = client.search_modified_since(sync.object, since_ms, properties=hubspot_properties(sync, mappings))
    changed = marked_late(frames.hubspot_frame(records, mappings, sync.name, sync.filters.hubspot), fast_read_from)
    return _with_retries(changed, retried_in_hubspot(client, store, sync, mappings))


def read_app_changes(side, store, sync: SyncSpec, since: datetime, *, fast_read_from: datetime | None = None) -> pd.DataFrame:
    """App records changed since ``since`` (late candidates marked, ``marked_late``), plus those due for a retry
    (``side``: the app's ``AppConnector``)."""
    changed = marked_late(side.read_changed_since(since), fast_read_from)
    return _with_retries(changed, retried_in_app(side, store, sync))


def _with_retries(changed: pd.DataFrame, retried: pd.DataFrame) -> pd.DataFrame:
    if retried.empty:
        return changed
    return pd.concat([changed, retried[~retried["record_id"].isin(changed["record_id"])]], ignore_index=True)


def lookup_in_hubspot(client, sync: SyncSpec, mappings: list[ResolvedMapping], app_records: pd.DataFrame) -> pd.DataFrame:
    """HubSpot records that new app records may match, by their identity."""
    identity = OBJECT_TYPES[sync.object].identity
    properties = hubspot_properties(sync, mappings)
    found: dict[str, dict] = {}
    if identity is Identity.EMAIL and "email" in app_records:
        emails = [e for e in email_key(app_records["email"]).dropna().unique()]
        if emails:
            found.update(client.batch_read(sync.object, emails, properties=properties, id_property="email").results)
    else:
        for column in _identity_columns(identity, mappings):
            if column in app_records:
                values = [str(v).strip() for v in app_records[column].dropna().unique() if str(v).strip()]
                for record in client.search_by_values(sync.object, column, values, properties=properties):
                    found[str(record["id"])] = record
    records = {str(record["id"]): record for record in found.values()}.values()
    return frames.hubspot_frame(records, mappings, sync.name, sync.filters.hubspot)


def lookup_in_app(side, sync: SyncSpec, mappings: list[ResolvedMapping], hubspot_records: pd.DataFrame) -> pd.DataFrame:
    """App records that new HubSpot records may match, by their identity."""
    identity = OBJECT_TYPES[sync.object].identity
    found = []
    for field_name in _identity_columns(identity, mappings):
        if field_name in hubspot_records:
            values = [str(v).strip() for v in hubspot_records[field_name].dropna().unique() if str(v).strip()]
            if values:
                found.append(side.lookup(field_name, values))
    if not found:
        return side.read_by_ids([])
    candidates = pd.concat(found, ignore_index=True).drop_duplicates(subset=["record_id"]).reset_index(drop=True)
    # Candidates are only matched against: one whose values found no HubSpot counterpart waits for its own change.
    return unmapped_rows(candidates)[0].reset_index(drop=True)


def _identity_columns(identity: Identity, mappings: list[ResolvedMapping]) -> list[str]:
    mapped = {m.hubspot for m in mappings}
    wanted = {Identity.EMAIL: ["email"], Identity.NAME_OR_DOMAIN: ["domain", "name"], Identity.SKU_OR_NAME: ["hs_sku", "name"]}.get(identity, [])
    return [column for column in wanted if column in mapped]


def archived_in_hubspot(client, object_type: str) -> list[str]:
    """Ids of the HubSpot records in the recycle bin (cost: the bin's size / 100 requests)."""
    return [str(record["id"]) for record in client.list_records(object_type, properties=[], archived=True)]


def _due_sources(store, sync: SyncSpec, *, recorded_by: str, source_side: str) -> list[str]:
    """Ids, on the source side, of the records whose failed write to the other side is due for a retry."""
    due = store.due_retries(sync.name, recorded_by=recorded_by, now=datetime.now(UTC), limit=retries.records_per_run())
    direct = [record_id for side, record_id in due if side == source_side]
    other_side = [record_id for side, record_id in due if side != source_side]
    if other_side:
        pairs = store.last_values(sync.name, **{f"{'app' if source_side == 'hubspot' else 'hubspot'}_ids": other_side})
        direct += pairs[f"{source_side}_id"].tolist()
    return list(dict.fromkeys(direct))


def retried_in_hubspot(client, store, sync: SyncSpec, mappings: list[ResolvedMapping]) -> pd.DataFrame:
    """HubSpot records whose earlier write to the app failed transiently, read again for a retry."""
    ids = _due_sources(store, sync, recorded_by="app", source_side="hubspot")
    records = client.batch_read(sync.object, ids, properties=hubspot_properties(sync, mappings)).results.values() if ids else []
    return frames.hubspot_frame(records, mappings, sync.name, sync.filters.hubspot)


def read_hubspot_by_ids(client, sync: SyncSpec, mappings: list[ResolvedMapping], ids: list[str]) -> pd.DataFrame:
    """HubSpot records the webhooks journal named (merged, deleted, restored): read by id, so a merge's survivor is
    followed even before search shows its change; a deleted one is simply not found (the recycle bin names it)."""
    records = client.batch_read(sync.object, ids, properties=hubspot_properties(sync, mappings)).results.values() if ids else []
    return frames.hubspot_frame(records, mappings, sync.name, sync.filters.hubspot)


def retried_in_app(side, store, sync: SyncSpec) -> pd.DataFrame:
    """App records whose earlier write to HubSpot failed transiently, read again for a retry."""
    return side.read_by_ids(_due_sources(store, sync, recorded_by="hubspot", source_side="app"))
