"""Checking mappings against the real schemas when a run starts (rule 4).

The config can only check what it declares; at run time the HubSpot property definitions and the
app table's column types are known, so a mapping that cannot carry its values (a number property
on a text column, a property that does not exist) stops the extract with every problem named,
before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.objects.catalogue import ResolvedMapping, ValueType, incompatibility

HUBSPOT_TYPES = {
    "string": ValueType.STRING, "number": ValueType.NUMBER, "date": ValueType.DATE, "datetime": ValueType.DATETIME,
    "enumeration": ValueType.ENUMERATION, "bool": ValueType.BOOL, "phone_number": ValueType.STRING,
}


class MappingTypeError(DatasyncError):
    """Mappings that cannot work with the schemas as they are."""


def sql_value_type(column_type: sa.types.TypeEngine) -> ValueType:
    """The value type an app column holds, from its SQLAlchemy type."""
    if isinstance(column_type, sa.Boolean):
        return ValueType.BOOL
    if isinstance(column_type, (sa.Integer, sa.Numeric, sa.Float)):
        return ValueType.NUMBER
    if isinstance(column_type, sa.DateTime):
        return ValueType.DATETIME
    if isinstance(column_type, sa.Date):
        return ValueType.DATE
    return ValueType.STRING


def app_type_problems(mappings: Iterable[ResolvedMapping], table: sa.Table) -> list[str]:
    problems = []
    for mapping in mappings:
        if mapping.app not in table.c:
            continue  # the connector reports missing columns itself
        app_type = sql_value_type(table.c[mapping.app].type)
        if why := incompatibility(mapping.value_type, app_type):
            problems.append(f"{mapping.hubspot} -> {table.name}.{mapping.app} ({table.c[mapping.app].type}): {why}")
    return problems


def hubspot_type_problems(mappings: Iterable[ResolvedMapping], object_type: str, definitions: Iterable[dict[str, Any]]) -> list[str]:
    by_name = {definition["name"]: definition for definition in definitions}
    problems = []
    for mapping in mappings:
        definition = by_name.get(mapping.hubspot)
        if definition is None:
            problems.append(f"HubSpot {object_type} have no property {mapping.hubspot!r}: create it in HubSpot or fix the mapping")
            continue
        hubspot_type = HUBSPOT_TYPES.get(definition.get("type", "string"), ValueType.STRING)
        if why := incompatibility(mapping.value_type, hubspot_type):
            problems.append(f"{mapping.hubspot} is a {definition.get('type')} property in HubSpot but mapped as {mapping.value_type.value}: {why}")
        elif mapping.app_type is not None and (why := incompatibility(hubspot_type, mapping.app_type)):
            problems.append(f"{mapping.hubspot} -> {mapping.app}: {why}")
    return problems


def raise_if_any(problems: list[str], *, where: str) -> None:
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise MappingTypeError(f"{where}: {len(problems)} mapping(s) cannot work:\n{listed}")
