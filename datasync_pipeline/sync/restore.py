"""Recreating deleted records from their last synced values, and re-linking their pairs.

HubSpot has no restore endpoint (the recycle bin is a UI action), so a record deleted there is
recreated: an upsert on ``datasync_id`` with the values it held after the last sync, which makes a
repeated restore idempotent (the HubSpot side's ``create``, as the loads write it). A row soft-deleted in the app is still there: its soft-delete mark is
cleared, so it keeps its key and its link. A row deleted for good is inserted again, keyed on its
external id. Either way the pair is linked to the record and syncs as before; its associations
follow on the next run, from the surviving side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.connectors.base import REFERENCE, AppConnector
from datasync_pipeline.errors import RecordError
from datasync_pipeline.objects.catalogue import ResolvedMapping
from datasync_pipeline.state import Link, StateStore, echoes
from datasync_pipeline.vocabulary import Recorder, Side

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
    store: StateStore, sync: SyncSpec, mappings: list[ResolvedMapping], target: str, *, hubspot: AppConnector | None = None,
    app: AppConnector | None = None,
) -> RestoreResult:
    """Recreate every record of the sync deleted on ``target`` and re-link its pair.

    ``hubspot`` writes the sync's HubSpot side (``HubSpotSide.primary``), ``app`` the app side: the same connectors,
    and the same idempotent ``create``, as the loads use. ``app`` is needed to restore into the app, and, when
    restoring into HubSpot, lets the app rows keep the new HubSpot ids.
    """
    preview = preview_restore(store, sync, target)
    result = RestoreResult(target)
    if preview.empty:
        return result
    if target == Side.HUBSPOT:
        _recreate(hubspot, Side.HUBSPOT, store, sync, mappings, preview, result)
        if app is not None:
            _point_external_ids_at_restored(app, store, sync, preview, result)
    else:
        undeleted = app.undelete(preview["app_id"]).written
        _relink(store, sync, [(hubspot_id, Link(hubspot_id, app_id, hubspot_values=dict(hubspot_values), app_values=dict(app_values)))
                              for hubspot_id, app_id, hubspot_values, app_values in _rows(preview) if str(app_id) in undeleted],
                survivor_side=Side.HUBSPOT)
        result.restored.update({app_id: str(app_id) for app_id in preview["app_id"] if str(app_id) in undeleted})
        _recreate(app, Side.APP, store, sync, mappings, preview[~preview["app_id"].astype(str).isin(undeleted)], result)
    return result


def _rows(preview: pd.DataFrame):
    return preview[["hubspot_id", "app_id", "hubspot_values", "app_values"]].itertuples(index=False)


def _recreate(writer: AppConnector, target: Side, store: StateStore, sync: SyncSpec, mappings: list[ResolvedMapping],
              preview: pd.DataFrame, result: RestoreResult) -> None:
    """Create the deleted records again from their last synced values, each keyed on the surviving record it comes
    from (idempotent: a repeated restore finds the record created before), and link them to it."""
    if preview.empty:
        return
    synced = {m.hubspot for m in mappings}
    survivor = target.other
    records = [{REFERENCE: str(source), **{name: value for name, value in values.items() if name in synced}}
               for source, values in preview[[survivor.id_column, "values"]].itertuples(index=False)]
    written = writer.create(records)
    links = []
    for hubspot_id, app_id, hubspot_values, app_values in _rows(preview):
        old, source = (hubspot_id, str(app_id)) if target is Side.HUBSPOT else (app_id, str(hubspot_id))
        if source in written.written:
            new_id = str(written.written[source])
            result.restored[old] = new_id
            link = Link(new_id, app_id, **_values(hubspot_values, app_values)) if target is Side.HUBSPOT else \
                Link(hubspot_id, new_id, **_values(hubspot_values, app_values))
            links.append((hubspot_id, link))
        elif source in written.failed:
            result.failed[old] = written.failed[source]
    echoes.record_writes(store, sync.name, target.value, writer.written_stamps())
    _relink(store, sync, links, survivor_side=survivor)


def _values(hubspot_values: dict, app_values: dict) -> dict[str, dict]:
    return {"hubspot_values": dict(hubspot_values), "app_values": dict(app_values)}


def _point_external_ids_at_restored(connector: AppConnector, store: StateStore, sync: SyncSpec, preview: pd.DataFrame,
                                    result: RestoreResult) -> None:
    """The app records of records recreated in HubSpot keep the new HubSpot id (the SQL external-id column): a
    record holding the id of its pair's record is how a later run knows it is still the one linked
    (``engine/reused_keys.py``)."""
    if not connector.keeps_origins or not result.restored:
        return
    origins = {str(app_id): result.restored[hubspot_id]
               for hubspot_id, app_id in preview[["hubspot_id", "app_id"]].itertuples(index=False) if hubspot_id in result.restored}
    connector.update({}, origins=origins)
    echoes.record_writes(store, sync.name, echoes.APP, connector.written_stamps())


def _relink(store: StateStore, sync: SyncSpec, links: list[tuple[str, Link]], *, survivor_side: str) -> None:
    """Point each pair at its new record, mark it synced again, and clear the survivor's 'deleted' failure."""
    if not links:
        return
    old_hubspot_ids = [old for old, link in links if link.hubspot_id != old]
    store.forget_pairs(sync.name, old_hubspot_ids)
    store.link(sync.name, [link for _, link in links])
    survivors = [link.app_id if survivor_side == "app" else link.hubspot_id for _, link in links]
    store.clear_outcomes(sync.name, survivor_side, survivors, recorded_by=Recorder.CHECKPOINT)


def _check_target(target: str) -> None:
    if target not in ("hubspot", "app"):
        raise ValueError(f"restore target must be 'hubspot' or 'app', not {target!r}")
