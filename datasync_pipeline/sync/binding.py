"""What a sync tells the connector of each side (``SideBinding``): its field names, filters and associations."""

from __future__ import annotations

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.connectors.base import SideBinding
from datasync_pipeline.engine.filters import filter_fields
from datasync_pipeline.objects.catalogue import ResolvedMapping


def side_binding(sync: SyncSpec, mappings: list[ResolvedMapping]) -> SideBinding:
    """The app side of ``sync``: each mapping's HubSpot property (the engine's field) and the app's field for it."""
    return SideBinding(
        sync_name=sync.name,
        object_type=sync.object,
        fields={m.hubspot: m.app for m in mappings},
        filter_fields=tuple(filter_fields(sync.filters.app)),
        filters=tuple(sync.filters.app),
        associations=tuple(a for a in sync.associations if a.enabled),
    )


def hubspot_binding(sync: SyncSpec, mappings: list[ResolvedMapping]) -> SideBinding:
    """The sync's own HubSpot side as a writer sees it: each engine field is the property of the same name."""
    return SideBinding(sync_name=sync.name, object_type=sync.object, fields={m.hubspot: m.hubspot for m in mappings})


def app_name(sync: SyncSpec) -> str:
    """The app side's own name for the synced object: its table, else its object type."""
    return sync.table.name if sync.table is not None else sync.object


def app_label(sync: SyncSpec) -> str:
    """The app side in words, for messages and descriptions: "table 'customers' of erp", "contacts of portal_b"."""
    return f"table {sync.table.name!r} of {sync.app}" if sync.table is not None else f"{sync.object} of {sync.app}"
