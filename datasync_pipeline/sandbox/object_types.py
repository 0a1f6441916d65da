"""The CRM object types the sandbox knows, by name and by HubSpot's numeric type id."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectType:
    """One CRM object type.

    ``singular`` is the upper-case word HubSpot uses in messages ("Could not get some CONTACT objects");
    ``last_modified_property`` differs between contacts and everything else, which trips up clients.
    """

    name: str
    type_id: str
    singular: str
    last_modified_property: str

    @property
    def label(self) -> str:
        """The word used in conflict messages: "Contact already exists"."""
        return self.singular.replace("_", " ").capitalize()


OBJECT_TYPES: dict[str, ObjectType] = {
    object_type.name: object_type
    for object_type in (
        ObjectType("contacts", "0-1", "CONTACT", "lastmodifieddate"),
        ObjectType("companies", "0-2", "COMPANY", "hs_lastmodifieddate"),
        ObjectType("deals", "0-3", "DEAL", "hs_lastmodifieddate"),
        ObjectType("tickets", "0-5", "TICKET", "hs_lastmodifieddate"),
        ObjectType("products", "0-7", "PRODUCT", "hs_lastmodifieddate"),
        ObjectType("line_items", "0-8", "LINE_ITEM", "hs_lastmodifieddate"),
        ObjectType("tasks", "0-27", "TASK", "hs_lastmodifieddate"),
        ObjectType("notes", "0-46", "NOTE", "hs_lastmodifieddate"),
        ObjectType("meetings", "0-47", "MEETING", "hs_lastmodifieddate"),
        ObjectType("calls", "0-48", "CALL", "hs_lastmodifieddate"),
        ObjectType("emails", "0-49", "EMAIL", "hs_lastmodifieddate"),
        ObjectType("invoices", "0-53", "INVOICE", "hs_lastmodifieddate"),
    )
}

_ALIASES: dict[str, ObjectType] = {}
for _object_type in OBJECT_TYPES.values():
    _ALIASES[_object_type.name] = _object_type
    _ALIASES[_object_type.type_id] = _object_type
    _ALIASES[_object_type.singular.lower()] = _object_type
    _ALIASES[_object_type.singular.lower().replace("_", "")] = _object_type
_ALIASES["lineitems"] = OBJECT_TYPES["line_items"]
_ALIASES["line_item"] = OBJECT_TYPES["line_items"]


def find_object_type(name_or_id: str) -> ObjectType | None:
    """The object type a path segment names ("contacts", "contact", "0-1"), or None."""
    return _ALIASES.get(name_or_id.strip().lower())
