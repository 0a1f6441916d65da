"""The mappings in force for one sync: the catalogue's defaults for its object, as the sync renames or switches
them off, plus its custom ones (rule 5). Here, not in the catalogue, so the catalogue stays below the config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datasync_pipeline.config.model import FieldMapping, SyncSpec
from datasync_pipeline.objects.catalogue import OBJECT_TYPES, ResolvedMapping, ValueType


def resolve_mappings(sync: SyncSpec, property_types: Mapping[str, ValueType] | None = None) -> list[ResolvedMapping]:
    """The mappings in force: defaults (renamed or switched off by the sync) plus its custom ones.

    A custom mapping's value type is the one its config states, else the HubSpot property's own type
    from ``property_types`` (name -> type, read from the property definitions), else undecided yet
    (``type_declared=False``, string until the definitions are known).
    """
    property_types = property_types or {}
    object_type = OBJECT_TYPES[sync.object]
    overrides = {m.hubspot: m for m in sync.mappings}
    resolved: list[ResolvedMapping] = []
    for default in object_type.default_mappings:
        override = overrides.pop(default.hubspot, None)
        if override is None and not sync.use_default_mappings and not default.required:
            continue
        if override is not None and not override.enabled:
            continue
        # A SQL app names the default columns as the catalogue does; another HubSpot portal names them as HubSpot does.
        app_column = override.app if override is not None and override.app else (default.app if sync.table is not None else default.hubspot)
        app_type = override.app_type if override is not None else None
        resolved.append(ResolvedMapping(default.hubspot, app_column, default.value_type, default.required, True, app_type,
                                        **_translation(override)))
    for custom in overrides.values():
        if custom.enabled and custom.app:
            value_type = custom.type or property_types.get(custom.hubspot)
            resolved.append(ResolvedMapping(custom.hubspot, custom.app, value_type or ValueType.STRING, False, False, custom.app_type,
                                            type_declared=value_type is not None, **_translation(custom)))
    return resolved


def _translation(mapping: FieldMapping | None) -> dict[str, Any]:
    if mapping is None:
        return {}
    return {"values": dict(mapping.values) if mapping.values is not None else None, "lookup": mapping.lookup.value if mapping.lookup else None}


def mapping_path(sync: SyncSpec, hubspot: str) -> tuple[Any, ...]:
    """Where a mapping is in the config file: its entry under the sync's `mappings`, or `mappings` itself for an
    untouched default (problems are reported there)."""
    return next((("mappings", j) for j, mapping in enumerate(sync.mappings) if mapping.hubspot == hubspot), ("mappings",))
