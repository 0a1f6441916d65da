"""Checks across the configuration that need more than one field: references and mappings.

They run after the shape is valid and report each problem at its exact place
(``syncs[2].mappings[0].hubspot``), which a model-level validator could not do. ``live_problems``
goes further for ``datasync check``: it reads the app tables and HubSpot's property definitions,
with the very checks a run makes when it starts, and writes nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from datasync_pipeline.config.model import DatasyncConfig, FieldMapping, Lookup, SyncSpec
from datasync_pipeline.connectors.base import Problem
from datasync_pipeline.connectors.registry import kind_of
from datasync_pipeline.objects.catalogue import ASSOCIATIONS, OBJECT_TYPES, OWNER_PROPERTY, PIPELINE_PROPERTIES, ResolvedMapping, incompatibility
from datasync_pipeline.objects.type_checks import hubspot_type_problems, with_property_types
from datasync_pipeline.sync.mappings import mapping_path, resolve_mappings


def find_problems(config: DatasyncConfig) -> list[Problem]:
    problems: list[Problem] = []
    seen_names: set[str] = set()
    hubspot_names = [n for n, c in config.connections.items() if kind_of(c).hubspot_side]
    for index, sync in enumerate(config.syncs):
        here = ("syncs", index)
        if sync.name in seen_names:
            problems.append((here + ("name",), f"another sync is already named {sync.name!r}"))
        seen_names.add(sync.name)
        problems.extend((here + path, message) for path, message in _app_problems(config, sync))
        if sync.hubspot is None and len(hubspot_names) != 1:
            problems.append((here, f"name the sync's `hubspot` connection: there are {len(hubspot_names)}"))
        elif sync.hubspot is not None and sync.hubspot not in hubspot_names:
            problems.append((here + ("hubspot",), f"{sync.hubspot!r} is not a HubSpot connection defined under `connections`"))
        problems.extend((here + path, message) for path, message in _mapping_problems(sync))
        problems.extend((here + path, message) for path, message in _association_problems(config, sync))
    return problems


def _app_problems(config: DatasyncConfig, sync: SyncSpec) -> Iterator[Problem]:
    """The app side: a defined connection, not the sync's own HubSpot account, located as its kind needs."""
    connection = config.connections.get(sync.app)
    if connection is None:
        known = ", ".join(sorted(config.connections))
        yield ("app",), f"{sync.app!r} is not a connection defined under `connections` (defined: {known})"
        return
    if sync.hubspot == sync.app:
        yield ("app",), f"{sync.app!r} is the sync's HubSpot side too: a sync connects two different accounts"
    needs_table = kind_of(connection).needs_table
    if needs_table and sync.table is None:
        yield ("table",), f"{sync.app!r} is a {connection.kind} connection: say which `table` holds the {sync.object}"
    elif not needs_table and sync.table is not None:
        yield ("table",), f"{sync.app!r} is a {connection.kind} connection: it has no tables (remove `table`)"
    for index, association in enumerate(sync.associations):
        if needs_table and association.app_column is None:
            yield ("associations", index), (f"{sync.app!r} is a {connection.kind} connection: name the `app_column` that holds "
                                            f"the key of each {sync.object} record's associated {association.object} record")
        elif not needs_table and association.app_column is not None:
            yield ("associations", index, "app_column"), (f"{sync.app!r} is a {connection.kind} connection: it keeps associations "
                                                          "itself (remove `app_column`)")


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
    return sum(kind_of(c).hubspot_side for c in config.connections.values()) == 1


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
        yield from ((here + path, message) for path, message in _translation_problems(sync, mapping))
        # A custom mapping without a `type` takes its HubSpot property's type, checked when a run reads it.
        hubspot_type = default.value_type if default is not None else mapping.type
        if hubspot_type is not None and mapping.app_type is not None and (why := incompatibility(hubspot_type, mapping.app_type)):
            column = mapping.app or (default.app if default is not None else "")
            yield here + ("app_type",), f"{mapping.hubspot} -> {column}: {why}"
    if not sync.use_default_mappings:
        listed = {m.hubspot for m in sync.mappings if m.enabled}
        missing = [m.hubspot for m in object_type.default_mappings if m.required and m.hubspot not in listed]
        if missing:
            yield ("use_default_mappings",), f"default mappings are off but the required {missing} are not listed under mappings"


def _translation_problems(sync: SyncSpec, mapping: FieldMapping) -> Iterator[Problem]:
    """A mapping translates by a value map or by a lookup (owners by email, pipelines and stages by label), not both,
    and a lookup only where HubSpot holds ids of that kind."""
    if mapping.lookup is not None and mapping.values is not None:
        yield ("values",), "a mapping translates its values by `values` or by `lookup`, not both"
    if mapping.lookup is Lookup.OWNER_EMAIL and mapping.hubspot != OWNER_PROPERTY:
        yield ("lookup",), f"`lookup: owner_email` maps {OWNER_PROPERTY} (the record's owner), not {mapping.hubspot}"
    pipeline_properties = PIPELINE_PROPERTIES.get(sync.object, ())
    if mapping.lookup is Lookup.LABEL and mapping.hubspot not in pipeline_properties:
        where = (f"the pipeline and stage of {sync.object} ({', '.join(pipeline_properties)})" if pipeline_properties
                 else "the pipelines and stages of deals and tickets")
        yield ("lookup",), f"`lookup: label` maps {where}, not {sync.object}.{mapping.hubspot}"


# Against the live systems (`datasync check`): every problem a run would meet, found without writing anything.


def live_problems(config: DatasyncConfig) -> list[Problem]:
    """Connect to every connection and check each sync against the real app side and HubSpot's property definitions.

    Reads only. Each connection is opened by its connector's own check (``ConnectionCheck``, found by its ``kind``
    in the registry): a SQL database has its tables reflected, a HubSpot account its property definitions read (an
    embedded sandbox from a copy of its file). Each problem is reported at its place in the file, with near matches.
    """
    problems: list[Problem] = []
    with ExitStack() as stack:
        checks = {name: kind_of(connection).open_check(name, connection, problems, stack) for name, connection in config.connections.items()}
        definitions: dict[tuple[str, str], list[dict[str, Any]] | None] = {}
        for name, check in checks.items():
            if check is None or not kind_of(config.connections[name]).hubspot_side:
                continue
            objects = [s.object for s in config.syncs if _hubspot_of(config, s) == name] or ["contacts"]  # unused: still try the token
            for object_type in dict.fromkeys(objects):
                definitions[(name, object_type)] = check.hubspot_properties(object_type, problems)
        for index, sync in enumerate(config.syncs):
            here = ("syncs", index)
            properties = definitions.get((_hubspot_of(config, sync), sync.object))
            # As a run does: a custom mapping that states no type takes its HubSpot property's.
            mappings = with_property_types(resolve_mappings(sync), properties) if properties is not None else resolve_mappings(sync)
            if checks.get(sync.app) is not None:
                problems.extend((here + path, message) for path, message in checks[sync.app].app_problems(sync, mappings, problems))
            if properties is not None:
                problems.extend((here + path, message) for path, message in _hubspot_problems(sync, mappings, properties))
    return problems


def _hubspot_of(config: DatasyncConfig, sync: SyncSpec) -> str | None:
    return config.hubspot_connection_name(sync) if sync.hubspot or _single_hubspot(config) else None


def _hubspot_problems(sync: SyncSpec, mappings: list[ResolvedMapping], properties: list[dict[str, Any]]) -> Iterator[Problem]:
    for mapping in mappings:
        for problem in hubspot_type_problems([mapping], sync.object, properties):
            yield mapping_path(sync, mapping.hubspot), problem
    names = [definition["name"] for definition in properties]
    for k, rule in enumerate(sync.filters.hubspot):
        if rule.field not in names:
            close = difflib.get_close_matches(rule.field, names, n=3)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            yield ("filters", "hubspot", k, "field"), f"HubSpot {sync.object} have no property {rule.field!r}{hint}"
