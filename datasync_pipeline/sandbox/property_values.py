"""Checking and normalising property values on write, with HubSpot's error codes and messages.

HubSpot reports every bad value of one input together, as JSON inside the error message; clients
(including ours) read the codes from there, so the problem dictionaries keep HubSpot's key order.
"""

from __future__ import annotations

import re
from typing import Any

from datasync_pipeline.sandbox.errors import property_values_error
from datasync_pipeline.sandbox.object_types import ObjectType
from datasync_pipeline.sandbox.property_definitions import PropertyDefinition
from datasync_pipeline.sandbox.timestamps import parse_to_milliseconds, to_iso

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def _problem(name: str, code: str, message: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": code, "name": name}


def as_text(value: Any) -> str:
    """JSON values as HubSpot stores them: always strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def normalize_properties(
    object_type: ObjectType, definitions: dict[str, PropertyDefinition], properties: Any
) -> dict[str, str | None]:
    """Validate a write's properties; returns them normalised, with ``None`` meaning "clear this value".

    Raises the 400 HubSpot answers with when any value is unknown, read-only or invalid.
    """
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise property_values_error([_problem("properties", "INVALID_PROPERTIES", "properties must be an object")])
    normalized: dict[str, str | None] = {}
    problems: list[dict[str, Any]] = []
    for name, raw in properties.items():
        definition = definitions.get(name)
        if definition is None:
            problems.append(_problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            continue
        if definition.read_only or definition.calculated:
            problems.append(
                _problem(name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.')
            )
            continue
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            normalized[name] = None
            continue
        value, problem = _normalize_value(object_type, definition, as_text(raw))
        if problem is not None:
            problems.append(problem)
        else:
            normalized[name] = value
    if problems:
        raise property_values_error(problems)
    return normalized


def _normalize_value(
    object_type: ObjectType, definition: PropertyDefinition, value: str
) -> tuple[str, dict[str, Any] | None]:
    name = definition.name
    if object_type.name == "contacts" and name == "email":
        email = value.strip().lower()
        if not _EMAIL.match(email):
            return value, _problem(name, "INVALID_EMAIL", f"Email address {value} is invalid")
        return email, None
    if definition.type == "number":
        try:
            float(value.strip())
        except ValueError:
            return value, _problem(name, "INVALID_INTEGER", f"{value} was not a valid number.")
        return value.strip(), None
    if definition.type == "bool":
        if value.strip().lower() not in {"true", "false"}:
            return value, _problem(name, "INVALID_OPTION", f"{value} was not one of the allowed options: [true, false]")
        return value.strip().lower(), None
    if definition.type == "enumeration" and definition.options:
        allowed = definition.option_values
        chosen = [part for part in value.split(";") if part != ""] if definition.field_type == "checkbox" else [value]
        for part in chosen:
            if part not in allowed:
                options = ", ".join(option.value for option in definition.options)
                return value, _problem(name, "INVALID_OPTION", f"{part} was not one of the allowed options: [{options}]")
        return value, None
    if definition.type in {"date", "datetime"}:
        milliseconds = parse_to_milliseconds(value)
        if milliseconds is None:
            code = "INVALID_DATE" if definition.type == "date" else "INVALID_DATETIME"
            return value, _problem(name, code, f"{value} was not a valid {definition.type}.")
        iso = to_iso(milliseconds)
        return (iso[:10] if definition.type == "date" else iso), None
    return value, None
