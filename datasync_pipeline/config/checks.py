"""Checks across the configuration that need more than one field: references and mappings.

They run after the shape is valid and report each problem at its exact place
(``syncs[2].mappings[0].hubspot``), which a model-level validator could not do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from datasync_pipeline.config.model import DatasyncConfig, HubSpotConnection, SqlConnection, SyncSpec
from datasync_pipeline.objects.catalogue import ASSOCIATIONS, OBJECT_TYPES, ValueType, incompatibility

Problem = tuple[tuple[Any, ...], str]


def find_problems(config: DatasyncConfig) -> list[Problem]:
    problems: list[Problem] = []
    seen_names: set[str] = set()
    hubspot_names = [n for n, c in config.connections.items() if isinstance(c, HubSpotConnection)]
    for index, sync in enumerate(config.syncs):
        here = ("syncs", index)
        if sync.name in seen_names:
            problems.append((here + ("name",), f"another sync is already named {sync.name!r}"))
        seen_names.add(sync.name)
        if not isinstance(config.connections.get(sync.app), SqlConnection):
            problems.append((here + ("app",), f"{sync.app!r} is not a SQL connection defined under `connections`"))
        if sync.hubspot is None and len(hubspot_names) != 1:
            problems.append((here, f"name the sync's `hubspot` connection: there are {len(hubspot_names)}"))
        elif sync.hubspot is not None and sync.hubspot not in hubspot_names:
            problems.append((here + ("hubspot",), f"{sync.hubspot!r} is not a HubSpot connection defined under `connections`"))
        problems.extend((here + path, message) for path, message in _mapping_problems(sync))
        problems.extend((here + path, message) for path, message in _association_problems(config, sync))
    return problems


def _association_problems(config: DatasyncConfig, sync: SyncSpec) -> Iterator[Problem]:
    """Associations are kept only where rule 8 allows them and the associated object has a sync too."""
    hubspot_connection = config.hubspot_connection_name(sync) if sync.hubspot or _single_hubspot(config) else None
    for index, association in enumerate(sync.associations):
        here = ("associations", index)
        if (sync.object, association.object) not in ASSOCIATIONS:
            allowed = sorted(to for (source, to) in ASSOCIATIONS if source == sync.object)
            yield here + ("object",), (
                f"{sync.object} keep no association with {association.object}"
                + (f"; they can be associated with {', '.join(allowed)}" if allowed else "")
            )
            continue
        partners = [
            other for other in config.syncs
            if other.object == association.object and other.app == sync.app
            and (hubspot_connection is None or config.hubspot_connection_name(other) == hubspot_connection)
        ]
        if not partners:
            yield here + ("object",), (
                f"no sync of {association.object} between the same accounts: associations are kept only "
                f"where the associated object is synced too (rule 8)"
            )
        elif len(partners) > 1:
            yield here + ("object",), f"{len(partners)} syncs of {association.object} between the same accounts; keep one"


def _single_hubspot(config: DatasyncConfig) -> bool:
    return sum(isinstance(c, HubSpotConnection) for c in config.connections.values()) == 1


def _mapping_problems(sync: SyncSpec) -> Iterator[Problem]:
    object_type = OBJECT_TYPES[sync.object]
    seen: set[str] = set()
    for index, mapping in enumerate(sync.mappings):
        here = ("mappings", index)
        default = object_type.defaults_by_property.get(mapping.hubspot)
        if mapping.hubspot in seen:
            yield here + ("hubspot",), f"property {mapping.hubspot!r} is mapped twice"
        seen.add(mapping.hubspot)
        if default is not None and default.required and not mapping.enabled:
            yield here + ("enabled",), f"{sync.object}.{mapping.hubspot} is a required mapping and cannot be switched off"
        if default is None and mapping.enabled and not mapping.app:
            yield here + ("app",), f"custom mapping of {mapping.hubspot!r} needs the app column it maps to"
        if default is not None and mapping.type is not None and mapping.type is not default.value_type:
            yield here + ("type",), f"{sync.object}.{mapping.hubspot} is a {default.value_type.value} property, not {mapping.type.value}"
        hubspot_type = default.value_type if default is not None else mapping.type or ValueType.STRING
        if mapping.app_type is not None and (why := incompatibility(hubspot_type, mapping.app_type)):
            column = mapping.app or (default.app if default is not None else "")
            yield here + ("app_type",), f"{mapping.hubspot} -> {column}: {why}"
    if not sync.use_default_mappings:
        listed = {m.hubspot for m in sync.mappings if m.enabled}
        missing = [m.hubspot for m in object_type.default_mappings if m.required and m.hubspot not in listed]
        if missing:
            yield ("use_default_mappings",), f"default mappings are off but the required {missing} are not listed under mappings"
