"""Recreating deleted records from their last synced values, and re-linking their pairs.

HubSpot has no restore endpoint (the recycle bin is a UI action), so a record deleted there is
recreated: an upsert on ``datasync_id`` with the values it held after the last sync, which makes a
repeated restore idempotent. A row soft-deleted in the app is still there: its soft-delete mark is
cleared, so it keeps its key and its link. A row deleted for good is inserted again, keyed on its
external id. Either way the pair is linked to the record and syncs as before; its associations
follow on the next run, from the surviving side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.engine.frames import ORIGIN_PROPERTY, origin_value
from datasync_pipeline.errors import RecordError
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.state import Link, StateStore, echoes

PREVIEW_COLUMNS = ["hubspot_id", "app_id", "deleted_in", "values", "hubspot_values", "app_values"]


@dataclass
class RestoreResult:
    target: str
    restored: dict[str, str] = field(default_factory=dict)  # old id on the target side -> new id
    failed: dict[str, RecordError] = field(default_factory=dict)


def preview_restore(store: StateStore, sync: SyncSpec, target: str) -> pd.DataFrame:
    """The records deleted on ``target`` ("hubspot" or "app") that a restore would recreate, with their values."""
    _check_target(target)
    pairs = store.known_pairs(sync.name, status=f"deleted_in_{target}")
    if pairs.empty:
        return pd.DataFrame(columns=PREVIEW_COLUMNS)
    values = store.last_values(sync.name, hubspot_ids=pairs["hubspot_id"])
    values = values.assign(deleted_in=target, values=values[f"{target}_values"])
    return values[PREVIEW_COLUMNS].sort_values("hubspot_id").reset_index(drop=True)


def restore_deleted(
    store: StateStore, sync: SyncSpec, mappings: list[ResolvedMapping], target: str, *, client: Any = None, connector: Any = None
) -> RestoreResult:
    """Recreate every record of the sync deleted on ``target`` and re-link its pair."""
    preview = preview_restore(store, sync, target)
    result = RestoreResult(target)
    if preview.empty:
        return result
    if target == "hubspot":
        _recreate_in_hubspot(client, store, sync, mappings, preview, result)
        if connector is not None:
            _point_external_ids_at_restored(connector, store, sync, preview, result)
    else:
        _recreate_in_app(connector, store, sync, mappings, preview, result)
    return result


def _recreate_in_hubspot(client, store: StateStore, sync: SyncSpec, mappings, preview: pd.DataFrame, result: RestoreResult) -> None:
    synced = {m.hubspot for m in mappings}
    client.ensure_unique_property(sync.object, ORIGIN_PROPERTY, "datasync record id")
    inputs = []
    for hubspot_id, app_id, values in preview[["hubspot_id", "app_id", "values"]].itertuples(index=False):
        properties = {name: str(value) for name, value in values.items() if name in synced and value is not None}
        origin = origin_value(sync.name, app_id)
        inputs.append({"ref": hubspot_id, "id": origin, "properties": {**properties, ORIGIN_PROPERTY: origin}})
    written = client.batch_upsert(sync.object, inputs, id_property=ORIGIN_PROPERTY)
    links = []
    for hubspot_id, app_id, hubspot_values, app_values in preview[["hubspot_id", "app_id", "hubspot_values", "app_values"]].itertuples(index=False):
        if hubspot_id in written.results:
            new_id = str(written.results[hubspot_id]["id"])
            result.restored[hubspot_id] = new_id
            links.append((hubspot_id, Link(new_id, app_id, hubspot_values=dict(hubspot_values), app_values=dict(app_values))))
        elif hubspot_id in written.failed:
            result.failed[hubspot_id] = written.failed[hubspot_id]
    _relink(store, sync, links, survivor_side="app")


def _point_external_ids_at_restored(connector, store: StateStore, sync: SyncSpec, preview: pd.DataFrame, result: RestoreResult) -> None:
    """The app records of records recreated in HubSpot keep the new HubSpot id (the SQL external-id column): a
    record holding the id of its pair's record is how a later run knows it is still the one linked
    (``engine/reused_keys.py``)."""
    if not connector.keeps_origins or not result.restored:
        return
    origins = {str(app_id): result.restored[hubspot_id]
               for hubspot_id, app_id in preview[["hubspot_id", "app_id"]].itertuples(index=False) if hubspot_id in result.restored}
    connector.update({}, origins=origins)
    echoes.record_writes(store, sync.name, echoes.APP, connector.written_stamps())


def _recreate_in_app(connector, store: StateStore, sync: SyncSpec, mappings, preview: pd.DataFrame, result: RestoreResult) -> None:
    undeleted = connector.undelete(preview["app_id"]).written
    links = []
    for hubspot_id, app_id, hubspot_values, app_values in preview[["hubspot_id", "app_id", "hubspot_values", "app_values"]].itertuples(index=False):
        if str(app_id) in undeleted:
            result.restored[app_id] = str(app_id)
            links.append((hubspot_id, Link(hubspot_id, app_id, hubspot_values=dict(hubspot_values), app_values=dict(app_values))))
    preview = preview[~preview["app_id"].astype(str).isin(undeleted)]
    synced = {m.hubspot for m in mappings}
    # Recreated from the HubSpot record that survived, keyed on it (idempotent: a repeated restore finds the row).
    records = [{"_ref": str(hubspot_id), **{name: value for name, value in values.items() if name in synced}}
               for hubspot_id, values in preview[["hubspot_id", "values"]].itertuples(index=False)]
    written = connector.create(records) if records else None
    for hubspot_id, app_id, hubspot_values, app_values in preview[["hubspot_id", "app_id", "hubspot_values", "app_values"]].itertuples(index=False):
        if str(hubspot_id) in written.written:
            new_key = str(written.written[str(hubspot_id)])
            result.restored[app_id] = new_key
            links.append((hubspot_id, Link(hubspot_id, new_key, hubspot_values=dict(hubspot_values), app_values=dict(app_values))))
        elif str(hubspot_id) in written.failed:
            result.failed[app_id] = written.failed[str(hubspot_id)]
    _relink(store, sync, links, survivor_side="hubspot")


def _relink(store: StateStore, sync: SyncSpec, links: list[tuple[str, Link]], *, survivor_side: str) -> None:
    """Point each pair at its new record, mark it synced again, and clear the survivor's 'deleted' failure."""
    if not links:
        return
    old_hubspot_ids = [old for old, link in links if link.hubspot_id != old]
    store.forget_pairs(sync.name, old_hubspot_ids)
    store.link(sync.name, [link for _, link in links])
    survivors = [link.app_id if survivor_side == "app" else link.hubspot_id for _, link in links]
    store.clear_outcomes(sync.name, survivor_side, survivors, recorded_by="checkpoint")


def _check_target(target: str) -> None:
    if target not in ("hubspot", "app"):
        raise ValueError(f"restore target must be 'hubspot' or 'app', not {target!r}")
