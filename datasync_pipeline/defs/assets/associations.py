"""The associations asset of a sync: ``<sync>/associations``, after the links of the sync and its partners.

Rule 8 keeps an association only where the associated object is synced too, so the asset needs the
links of both syncs: it runs after ``<sync>/hubspot_load``, ``<sync>/app_load``, ``<sync>/checkpoint``
and the same steps of each partner sync (the sync of the associated object between the same
accounts), and reads the app side's key columns from ``<sync>/app_records``. An incremental run
reads only changed app rows, so it plans the pairs whose app row changed, and those of the HubSpot records the
webhooks journal named (``sync/associations.py``). A partner sync that is disabled keeps nothing: its
associations are left out, and a sync left with none gets no asset.
"""

import dagster as dg
import pandas as pd

from datasync_pipeline.config.model import AssociationSpec, DatasyncConfig, SyncSpec
from datasync_pipeline.defs.assets.sync_chain import dagster_metadata, sync_step
from datasync_pipeline.defs.resources import STATE_STORE_KEY, SYNC_RUN_KEY, connection_resource_key
from datasync_pipeline.objects.catalogue import ASSOCIATIONS
from datasync_pipeline.settings import Settings
from datasync_pipeline.sync.associations import AssociationTarget, associations_step
from datasync_pipeline.sync.mappings import resolve_mappings

LINKING_STEPS = ("hubspot_load", "app_load", "checkpoint")


def partner_sync(config: DatasyncConfig, sync: SyncSpec, association: AssociationSpec) -> SyncSpec | None:
    """The sync of the associated object between the same app and HubSpot accounts (the config checks there is one)."""
    hubspot = config.hubspot_connection_name(sync)
    partners = [
        other for other in config.syncs
        if other.object == association.object and other.app == sync.app and config.hubspot_connection_name(other) == hubspot
    ]
    return partners[0] if len(partners) == 1 else None


def association_targets(config: DatasyncConfig, sync: SyncSpec) -> list[AssociationTarget]:
    """The associations this sync keeps now: enabled, allowed by rule 8, with an enabled partner sync."""
    targets = []
    for association in sync.associations:
        kind = ASSOCIATIONS.get((sync.object, association.object))
        partner = partner_sync(config, sync, association)
        if association.enabled and kind is not None and partner is not None and partner.enabled:
            targets.append(AssociationTarget(association, kind, partner.name))
    return targets


def build_association_assets(config: DatasyncConfig, settings: Settings | None = None) -> list[dg.AssetsDefinition]:
    settings = settings or Settings.from_environment()
    return [
        _association_asset(config, sync, targets, settings)
        for sync in config.syncs
        if sync.enabled and (targets := association_targets(config, sync))
    ]


def _association_asset(config: DatasyncConfig, sync: SyncSpec, targets: list[AssociationTarget], settings: Settings) -> dg.AssetsDefinition:
    hubspot_key = connection_resource_key(config.hubspot_connection_name(sync))
    app_key = connection_resource_key(sync.app)
    mappings = resolve_mappings(sync)
    # The loads link created records; the checkpoint commits the links of matched pairs.
    upstream = [
        dg.AssetKey([name, step])
        for name in dict.fromkeys([sync.name, *(target.partner for target in targets)])
        for step in LINKING_STEPS
    ]
    kept = ", ".join(f"{target.spec.object} ({target.spec.app_column})" if target.spec.app_column else target.spec.object for target in targets)

    @dg.asset(
        key=dg.AssetKey([sync.name, "associations"]),
        group_name=sync.name,
        kinds={"hubspot", config.connections[sync.app].kind},
        deps=upstream,
        ins={"app": dg.AssetIn(dg.AssetKey([sync.name, "app_records"]))},
        required_resource_keys={hubspot_key, app_key, STATE_STORE_KEY, SYNC_RUN_KEY},
        description=f"The associations of {sync.object} with {kept}, kept on both sides (rule 8).",
    )
    def associations(context: dg.AssetExecutionContext, app: pd.DataFrame) -> dg.MaterializeResult:
        step = sync_step(context, sync, mappings, hubspot_key=hubspot_key, app_key=app_key, settings=settings)
        return dg.MaterializeResult(metadata=dagster_metadata(associations_step(step, targets, app)))


    return associations
