"""The objects datasync syncs (rule 1), each with its identity rule and default field mappings.

A default mapping pairs a HubSpot property with the app column of the same meaning under a
conventional name; a sync may rename the app column, switch the mapping off (unless it is
required) or add custom mappings. Identity (rule 6) says how the first sync matches records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Identity(StrEnum):
    EMAIL = "email"  # contacts: email, case and surrounding space ignored
    NAME_OR_DOMAIN = "name_or_domain"  # companies
    SKU_OR_NAME = "sku_or_name"  # products
    NONE = "none"  # deals, invoices, tickets, activities: never matched, always created


class ValueType(StrEnum):
    STRING = "string"
    EMAIL = "email"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    ENUMERATION = "enumeration"
    BOOL = "bool"


@dataclass(frozen=True)
class DefaultMapping:
    hubspot: str
    app: str
    value_type: ValueType = ValueType.STRING
    required: bool = False


@dataclass(frozen=True)
class ObjectType:
    name: str
    identity: Identity
    default_mappings: tuple[DefaultMapping, ...]
    last_modified_property: str = "hs_lastmodifieddate"
    defaults_by_property: dict[str, DefaultMapping] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults_by_property", {m.hubspot: m for m in self.default_mappings})


def _m(hubspot: str, app: str, value_type: ValueType = ValueType.STRING, required: bool = False) -> DefaultMapping:
    return DefaultMapping(hubspot, app, value_type, required)


S, N, D, DT, E = ValueType.STRING, ValueType.NUMBER, ValueType.DATE, ValueType.DATETIME, ValueType.ENUMERATION

_ACTIVITY_COMMON = (_m("hs_timestamp", "occurred_at", DT, required=True),)

OBJECT_TYPES: dict[str, ObjectType] = {
    o.name: o
    for o in (
        ObjectType(
            "contacts",
            Identity.EMAIL,
            (
                _m("email", "email", ValueType.EMAIL, required=True),
                _m("firstname", "first_name"),
                _m("lastname", "last_name"),
                _m("phone", "phone"),
                _m("company", "company_name"),
                _m("jobtitle", "job_title"),
                _m("city", "city"),
                _m("country", "country"),
            ),
            last_modified_property="lastmodifieddate",
        ),
        ObjectType(
            "companies",
            Identity.NAME_OR_DOMAIN,
            (
                _m("name", "name", required=True),
                _m("domain", "domain"),
                _m("website", "website"),
                _m("phone", "phone"),
                _m("city", "city"),
                _m("industry", "industry"),
                _m("numberofemployees", "employees", N),
            ),
        ),
        ObjectType(
            "deals",
            Identity.NONE,
            (
                _m("dealname", "name", required=True),
                _m("amount", "amount", N),
                _m("closedate", "close_date", DT),
                _m("pipeline", "pipeline"),
                _m("dealstage", "stage"),
            ),
        ),
        ObjectType(
            "products",
            Identity.SKU_OR_NAME,
            (
                _m("name", "name", required=True),
                _m("hs_sku", "sku"),
                _m("price", "price", N),
                _m("description", "description"),
            ),
        ),
        ObjectType(
            "invoices",
            Identity.NONE,
            (
                _m("hs_currency", "currency", required=True),
                _m("hs_invoice_date", "invoice_date", D),
                _m("hs_due_date", "due_date", D),
            ),
        ),
        ObjectType(
            "tickets",
            Identity.NONE,
            (
                _m("subject", "subject", required=True),
                _m("content", "content"),
                _m("hs_pipeline", "pipeline"),
                _m("hs_pipeline_stage", "stage"),
            ),
        ),
        ObjectType("calls", Identity.NONE, _ACTIVITY_COMMON + (_m("hs_call_body", "body"), _m("hs_call_title", "title"))),
        ObjectType("emails", Identity.NONE, _ACTIVITY_COMMON + (_m("hs_email_subject", "subject"), _m("hs_email_text", "body"))),
        ObjectType("tasks", Identity.NONE, _ACTIVITY_COMMON + (_m("hs_task_subject", "subject"), _m("hs_task_body", "body"))),
        ObjectType("notes", Identity.NONE, _ACTIVITY_COMMON + (_m("hs_note_body", "body"),)),
        ObjectType("meetings", Identity.NONE, _ACTIVITY_COMMON + (_m("hs_meeting_title", "title"), _m("hs_meeting_body", "body"))),
    )
}


@dataclass(frozen=True)
class ResolvedMapping:
    """A mapping in force for one sync: the HubSpot property, the app column, their types."""

    hubspot: str
    app: str
    value_type: ValueType  # the HubSpot property's type
    required: bool
    is_default: bool
    app_type: ValueType | None = None  # the app column's type, when declared in the config
    # False for a custom mapping whose config states no `type`: ``value_type`` is a placeholder
    # (string) until the HubSpot property definition gives it (``type_checks.with_property_types``).
    type_declared: bool = True
    # What the app holds instead of HubSpot's value (``sync/translate.py``): a value map, or a lookup of ids.
    values: Mapping[str, str] | None = field(default=None, hash=False, compare=False)
    lookup: str | None = None  # "owner_email" or "label"

    @property
    def translated(self) -> bool:
        return self.values is not None or self.lookup is not None


# The properties a `lookup: label` mapping may name, per object: its pipeline and its stage.
PIPELINE_PROPERTIES: dict[str, tuple[str, str]] = {"deals": ("pipeline", "dealstage"), "tickets": ("hs_pipeline", "hs_pipeline_stage")}
OWNER_PROPERTY = "hubspot_owner_id"


# Values flow between types of one family; across families a value would be refused or mangled.
TYPE_FAMILIES: dict[ValueType, str] = {
    ValueType.STRING: "text", ValueType.EMAIL: "text", ValueType.ENUMERATION: "text",
    ValueType.NUMBER: "number", ValueType.DATE: "date", ValueType.DATETIME: "date", ValueType.BOOL: "boolean",
}


def incompatibility(hubspot_type: ValueType, app_type: ValueType) -> str | None:
    """Why a HubSpot property of one type cannot be mapped to an app field of another, or None."""
    if TYPE_FAMILIES[hubspot_type] == TYPE_FAMILIES[app_type]:
        return None
    return (f"a {hubspot_type.value} property cannot be mapped to a {app_type.value} field: "
            f"{TYPE_FAMILIES[hubspot_type]} values do not convert to {TYPE_FAMILIES[app_type]} values without loss")


@dataclass(frozen=True)
class AssociationKind:
    """An association datasync keeps (rule 8), with HubSpot's type id for writing it."""

    from_object: str
    to_object: str
    type_id: int  # HUBSPOT_DEFINED; for companies the primary link
    primary: bool = False  # only the primary company is synced


def _activity_links(name: str, contact: int, company: int, deal: int) -> list[AssociationKind]:
    return [AssociationKind(name, "contacts", contact), AssociationKind(name, "companies", company), AssociationKind(name, "deals", deal)]


ASSOCIATIONS: dict[tuple[str, str], AssociationKind] = {
    (kind.from_object, kind.to_object): kind
    for kind in [
        AssociationKind("contacts", "companies", 1, primary=True),
        AssociationKind("deals", "companies", 5, primary=True),
        AssociationKind("deals", "contacts", 3),
        AssociationKind("tickets", "contacts", 16),
        AssociationKind("tickets", "companies", 26, primary=True),
        AssociationKind("invoices", "contacts", 177),
        *_activity_links("notes", 202, 190, 214),
        *_activity_links("tasks", 204, 192, 216),
        *_activity_links("calls", 194, 182, 206),
        *_activity_links("emails", 198, 186, 210),
        *_activity_links("meetings", 200, 188, 212),
    ]
}
