"""Checking mappings against the real schemas when a run starts (rule 4).

The config can only check what it declares; at run time the HubSpot property definitions and the
app table's column types are known, so a mapping that cannot carry its values (a number property
on a text column, a property that does not exist) stops the extract with every problem named,
before anything is read or written.

The HubSpot property definition decides a custom mapping's value type when its config states none:
a custom mapping of a ``number`` property to a NUMERIC column needs no ``type: number``. Such a
mapping is checked against the app column once the definitions have typed it (``with_property_types``),
and that typed mapping is the one to compare and convert values with.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from datasync_pipeline.connectors.base import FieldType
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.objects.catalogue import ResolvedMapping, ValueType, incompatibility

HUBSPOT_TYPES = {
    "string": ValueType.STRING, "number": ValueType.NUMBER, "date": ValueType.DATE, "datetime": ValueType.DATETIME,
    "enumeration": ValueType.ENUMERATION, "bool": ValueType.BOOL, "phone_number": ValueType.STRING,
}


class MappingTypeError(DatasyncError):
    """Mappings that cannot work with the schemas as they are."""


def hubspot_value_type(definition: dict[str, Any]) -> ValueType:
    """The value type of a HubSpot property, from its definition (``GET /crm/v3/properties``)."""
    return HUBSPOT_TYPES.get(definition.get("type", "string"), ValueType.STRING)


def property_types(definitions: Iterable[dict[str, Any]]) -> dict[str, ValueType]:
    """Property name -> value type, for ``resolve_mappings(sync, property_types=...)``."""
    return {definition["name"]: hubspot_value_type(definition) for definition in definitions}


def with_property_types(mappings: Iterable[ResolvedMapping], definitions: Iterable[dict[str, Any]]) -> list[ResolvedMapping]:
    """The mappings, each whose config states no type now typed by its HubSpot property definition.

    A property without a definition leaves its mapping as it was (``hubspot_type_problems`` names it).
    """
    types = property_types(definitions)
    return [
        replace(mapping, value_type=types[mapping.hubspot], type_declared=True)
        if not mapping.type_declared and mapping.hubspot in types else mapping
        for mapping in mappings
    ]


def typed_by_hubspot(mappings: list[ResolvedMapping], definitions: Callable[[], Iterable[dict[str, Any]]]) -> list[ResolvedMapping]:
    """``with_property_types``, calling ``definitions`` (e.g. ``lambda: client.get_properties(object)``)
    only when a mapping states no type, so syncs without such mappings make no extra call."""
    if all(mapping.type_declared for mapping in mappings):
        return mappings
    return with_property_types(mappings, definitions())


def app_type_problems(mappings: Iterable[ResolvedMapping], types: Mapping[str, FieldType], *, where: str) -> list[str]:
    """Mappings whose app field cannot hold their values (``types``: the connector's ``value_types()``; ``where``:
    the app's name in messages, e.g. a table name); a mapping not typed yet is checked once it is."""
    problems = []
    for mapping in mappings:
        if mapping.app not in types:
            continue  # the connector reports missing fields itself
        if not mapping.type_declared:
            continue  # its HubSpot property decides its type: see ``with_property_types``
        field_type = types[mapping.app]
        if why := incompatibility(mapping.value_type, field_type.value_type):
            problems.append(f"{mapping.hubspot} -> {where}.{mapping.app} ({field_type.declared}): {why}")
    return problems


def missing_field_problem(field: str, types: Mapping[str, FieldType], *, where: str) -> str | None:
    """Why ``field`` cannot be used when the app has no such field (``types``: the connector's ``value_types()``, every
    field it has), with its near names; None when it has it. A table's connector refuses a missing column itself when
    it reflects the table; an app that answers nothing for a field it does not know (another HubSpot portal ignores
    unknown property names) is checked here."""
    if field in types:
        return None
    close = difflib.get_close_matches(field, list(types), n=3)
    hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
    return f"{where} has no field {field!r}{hint}: create it there or fix the name"


def missing_field_problems(fields: Iterable[str], types: Mapping[str, FieldType], *, where: str) -> list[str]:
    """``missing_field_problem`` of each field, in order, each once."""
    return [problem for field in dict.fromkeys(fields) if (problem := missing_field_problem(field, types, where=where))]


def hubspot_type_problems(mappings: Iterable[ResolvedMapping], object_type: str, definitions: Iterable[dict[str, Any]]) -> list[str]:
    by_name = {definition["name"]: definition for definition in definitions}
    problems = []
    for mapping in mappings:
        definition = by_name.get(mapping.hubspot)
        if definition is None:
            close = difflib.get_close_matches(mapping.hubspot, list(by_name), n=3)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            problems.append(f"HubSpot {object_type} have no property {mapping.hubspot!r}{hint}: create it in HubSpot or fix the mapping")
            continue
        hubspot_type = hubspot_value_type(definition)
        if mapping.type_declared and (why := incompatibility(mapping.value_type, hubspot_type)):
            problems.append(f"{mapping.hubspot} is a {definition.get('type')} property in HubSpot but mapped as {mapping.value_type.value}: {why}")
        elif mapping.app_type is not None and (why := incompatibility(hubspot_type, mapping.app_type)):
            problems.append(f"{mapping.hubspot} -> {mapping.app}: {why}")
    return problems


def raise_if_any(problems: list[str], *, where: str) -> None:
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise MappingTypeError(f"{where}: {len(problems)} mapping(s) cannot work:\n{listed}")
