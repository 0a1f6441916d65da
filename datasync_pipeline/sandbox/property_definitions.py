"""The properties every HubSpot portal starts with, per object type, shaped like HubSpot's definitions.

Only a realistic subset of HubSpot's hundreds of defaults: the ones integrations read and write, plus
the system properties (id, create date, last-modified date) every record has. Types and options are
HubSpot's own, so value validation (numbers, enumerations) behaves as it does there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROPERTY_TYPES = {"string", "number", "date", "datetime", "enumeration", "bool"}
FIELD_TYPES = {
    "text", "textarea", "number", "date", "select", "radio", "checkbox", "booleancheckbox",
    "phonenumber", "calculation_equation", "html", "file",
}


@dataclass(frozen=True)
class PropertyOption:
    label: str
    value: str
    display_order: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "displayOrder": self.display_order, "hidden": False}


@dataclass(frozen=True)
class PropertyDefinition:
    """One property of an object type, as ``GET /crm/v3/properties/{objectType}`` describes it."""

    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group_name: str = ""
    options: tuple[PropertyOption, ...] = ()
    has_unique_value: bool = False
    hidden: bool = False
    hubspot_defined: bool = True
    calculated: bool = False
    read_only: bool = False
    description: str = ""
    created_at: str | None = None

    @property
    def option_values(self) -> set[str]:
        return {option.value for option in self.options}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [option.to_json() for option in self.options],
            "displayOrder": -1,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only,
            "archived": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }
        if self.created_at:
            body["createdAt"] = self.created_at
            body["updatedAt"] = self.created_at
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> PropertyDefinition:
        """Rebuild a custom property from the JSON it was stored as."""
        options = tuple(
            PropertyOption(str(option.get("label", option.get("value", ""))), str(option["value"]),
                           int(option.get("displayOrder", index)))
            for index, option in enumerate(body.get("options") or [])
        )
        return cls(
            name=body["name"],
            label=body.get("label") or body["name"],
            type=body.get("type", "string"),
            field_type=body.get("fieldType", "text"),
            group_name=body.get("groupName", ""),
            options=options,
            has_unique_value=bool(body.get("hasUniqueValue", False)),
            hidden=bool(body.get("hidden", False)),
            hubspot_defined=False,
            description=body.get("description", ""),
            created_at=body.get("createdAt"),
        )


def _options(*values: str) -> tuple[PropertyOption, ...]:
    """Options whose labels are derived from HubSpot's internal values."""
    return tuple(
        PropertyOption(value.replace("_", " ").title(), value, index) for index, value in enumerate(values)
    )


def _text(name: str, label: str, group: str, **kwargs: Any) -> PropertyDefinition:
    return PropertyDefinition(name, label, "string", kwargs.pop("field_type", "text"), group, **kwargs)


def _number(name: str, label: str, group: str, **kwargs: Any) -> PropertyDefinition:
    return PropertyDefinition(name, label, "number", "number", group, **kwargs)


def _datetime(name: str, label: str, group: str, **kwargs: Any) -> PropertyDefinition:
    return PropertyDefinition(name, label, "datetime", "date", group, **kwargs)


def _date(name: str, label: str, group: str, **kwargs: Any) -> PropertyDefinition:
    return PropertyDefinition(name, label, "date", "date", group, **kwargs)


def _select(name: str, label: str, group: str, options: tuple[PropertyOption, ...], **kwargs: Any) -> PropertyDefinition:
    return PropertyDefinition(name, label, "enumeration", kwargs.pop("field_type", "select"), group, options, **kwargs)


def _system(group: str, last_modified_property: str) -> list[PropertyDefinition]:
    """The read-only properties every record carries, backed by the record's own columns."""
    return [
        _number("hs_object_id", "Record ID", group, read_only=True),
        _datetime("createdate", "Create Date", group, read_only=True),
        _datetime(last_modified_property, "Last Modified Date", group, read_only=True),
        _text("hubspot_owner_id", "Owner", group),
    ]


LIFECYCLE_STAGES = _options(
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
    "evangelist", "other",
)

_CONTACT = "contactinformation"
_COMPANY = "companyinformation"
_DEAL = "dealinformation"
_ENGAGEMENT = "engagement"

_CONTACTS = [
    _text("email", "Email", _CONTACT),
    _text("firstname", "First Name", _CONTACT),
    _text("lastname", "Last Name", _CONTACT),
    _text("phone", "Phone Number", _CONTACT, field_type="phonenumber"),
    _text("mobilephone", "Mobile Phone Number", _CONTACT, field_type="phonenumber"),
    _text("company", "Company Name", _CONTACT),
    _text("website", "Website URL", _CONTACT),
    _text("jobtitle", "Job Title", _CONTACT),
    _text("address", "Street Address", _CONTACT),
    _text("city", "City", _CONTACT),
    _text("state", "State/Region", _CONTACT),
    _text("zip", "Postal Code", _CONTACT),
    _text("country", "Country/Region", _CONTACT),
    _select("lifecyclestage", "Lifecycle Stage", _CONTACT, LIFECYCLE_STAGES, field_type="radio"),
    _select("hs_lead_status", "Lead Status", "sales_properties", _options(
        "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING",
    ), field_type="radio"),
    _number("associatedcompanyid", "Primary Associated Company ID", _CONTACT),
    _text("hs_merged_object_ids", "Merged Contact IDs", _CONTACT, read_only=True, calculated=False,
          field_type="checkbox"),
    *_system(_CONTACT, "lastmodifieddate"),
]

_COMPANIES = [
    _text("name", "Company name", _COMPANY),
    _text("domain", "Company Domain Name", _COMPANY),
    _text("website", "Website URL", _COMPANY),
    _text("phone", "Phone Number", _COMPANY, field_type="phonenumber"),
    _text("address", "Street Address", _COMPANY),
    _text("city", "City", _COMPANY),
    _text("state", "State/Region", _COMPANY),
    _text("zip", "Postal Code", _COMPANY),
    _text("country", "Country/Region", _COMPANY),
    _text("industry", "Industry", _COMPANY),
    _number("numberofemployees", "Number of Employees", _COMPANY),
    _number("annualrevenue", "Annual Revenue", _COMPANY),
    _text("description", "Description", _COMPANY, field_type="textarea"),
    _select("type", "Type", _COMPANY, _options("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER")),
    _select("lifecyclestage", "Lifecycle Stage", _COMPANY, LIFECYCLE_STAGES, field_type="radio"),
    _number("num_associated_contacts", "Number of Associated Contacts", _COMPANY, read_only=True, calculated=True),
    _text("hs_merged_object_ids", "Merged Company IDs", _COMPANY, read_only=True, calculated=False,
          field_type="checkbox"),
    *_system(_COMPANY, "hs_lastmodifieddate"),
]

_DEALS = [
    _text("dealname", "Deal Name", _DEAL),
    _number("amount", "Amount", _DEAL),
    _datetime("closedate", "Close Date", _DEAL),
    _select("pipeline", "Pipeline", _DEAL, (PropertyOption("Sales Pipeline", "default", 0),)),
    _select("dealstage", "Deal Stage", _DEAL, _options(
        "appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
        "contractsent", "closedwon", "closedlost",
    ), field_type="radio"),
    _select("dealtype", "Deal Type", _DEAL, _options("newbusiness", "existingbusiness"), field_type="radio"),
    _text("description", "Deal Description", _DEAL, field_type="textarea"),
    _text("deal_currency_code", "Currency", _DEAL),
    _text("hs_merged_object_ids", "Merged Deal IDs", _DEAL, read_only=True, calculated=False,
          field_type="checkbox"),
    *_system(_DEAL, "hs_lastmodifieddate"),
]

_PRODUCTS = [
    _text("name", "Name", "productinformation"),
    _text("hs_sku", "SKU", "productinformation"),
    _number("price", "Unit price", "productinformation"),
    _text("description", "Description", "productinformation", field_type="textarea"),
    _number("hs_cost_of_goods_sold", "Unit cost", "productinformation"),
    _text("hs_recurring_billing_period", "Term", "productinformation"),
    *_system("productinformation", "hs_lastmodifieddate"),
]

_LINE_ITEMS = [
    _text("name", "Name", "lineiteminformation"),
    _text("hs_product_id", "Product ID", "lineiteminformation"),
    _text("hs_sku", "SKU", "lineiteminformation"),
    _number("quantity", "Quantity", "lineiteminformation"),
    _number("price", "Unit price", "lineiteminformation"),
    _number("amount", "Net price", "lineiteminformation"),
    _number("discount", "Unit discount", "lineiteminformation"),
    _text("description", "Description", "lineiteminformation", field_type="textarea"),
    *_system("lineiteminformation", "hs_lastmodifieddate"),
]

_TICKETS = [
    _text("subject", "Ticket name", "ticketinformation"),
    _text("content", "Ticket description", "ticketinformation", field_type="textarea"),
    _select("hs_pipeline", "Pipeline", "ticketinformation", (PropertyOption("Support Pipeline", "0", 0),)),
    _select("hs_pipeline_stage", "Ticket status", "ticketinformation", (
        PropertyOption("New", "1", 0), PropertyOption("Waiting on contact", "2", 1),
        PropertyOption("Waiting on us", "3", 2), PropertyOption("Closed", "4", 3),
    )),
    _select("hs_ticket_priority", "Priority", "ticketinformation", _options("LOW", "MEDIUM", "HIGH", "URGENT")),
    _text("hs_ticket_category", "Category", "ticketinformation"),
    _text("source_type", "Source", "ticketinformation"),
    _text("hs_merged_object_ids", "Merged Ticket IDs", "ticketinformation", read_only=True, calculated=False,
          field_type="checkbox"),
    *_system("ticketinformation", "hs_lastmodifieddate"),
]

_INVOICES = [
    _text("hs_currency", "Currency", "invoiceinformation"),
    _datetime("hs_invoice_date", "Invoice date", "invoiceinformation"),
    _datetime("hs_due_date", "Due date", "invoiceinformation"),
    _text("hs_number", "Number", "invoiceinformation"),
    _text("hs_title", "Title", "invoiceinformation"),
    _select("hs_invoice_status", "Invoice status", "invoiceinformation", _options("draft", "open", "paid", "voided")),
    _number("hs_amount_billed", "Amount billed", "invoiceinformation"),
    _text("hs_comments", "Comments", "invoiceinformation", field_type="textarea"),
    *_system("invoiceinformation", "hs_lastmodifieddate"),
]


def _activity(*specific: PropertyDefinition) -> list[PropertyDefinition]:
    return [_datetime("hs_timestamp", "Activity date", _ENGAGEMENT), *specific, *_system(_ENGAGEMENT, "hs_lastmodifieddate")]


_CALLS = _activity(
    _text("hs_call_title", "Call Title", _ENGAGEMENT),
    _text("hs_call_body", "Call notes", _ENGAGEMENT, field_type="html"),
    _number("hs_call_duration", "Call duration", _ENGAGEMENT),
    _select("hs_call_direction", "Call direction", _ENGAGEMENT, _options("INBOUND", "OUTBOUND")),
    _text("hs_call_status", "Call status", _ENGAGEMENT),
    _text("hs_call_disposition", "Call outcome", _ENGAGEMENT),
)
_EMAILS = _activity(
    _text("hs_email_subject", "Email subject", _ENGAGEMENT),
    _text("hs_email_text", "Email body", _ENGAGEMENT, field_type="textarea"),
    _text("hs_email_html", "Email HTML", _ENGAGEMENT, field_type="html"),
    _select("hs_email_direction", "Email direction", _ENGAGEMENT,
            _options("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL")),
    _select("hs_email_status", "Email send status", _ENGAGEMENT,
            _options("BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT")),
)
_NOTES = _activity(
    _text("hs_note_body", "Note body", _ENGAGEMENT, field_type="html"),
)
_TASKS = _activity(
    _text("hs_task_subject", "Task Title", _ENGAGEMENT),
    _text("hs_task_body", "Notes", _ENGAGEMENT, field_type="html"),
    _select("hs_task_status", "Task Status", _ENGAGEMENT,
            _options("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")),
    _select("hs_task_priority", "Priority", _ENGAGEMENT, _options("NONE", "LOW", "MEDIUM", "HIGH")),
    _select("hs_task_type", "Task Type", _ENGAGEMENT, _options("CALL", "EMAIL", "TODO", "LINKED_IN")),
)
_MEETINGS = _activity(
    _text("hs_meeting_title", "Meeting name", _ENGAGEMENT),
    _text("hs_meeting_body", "Meeting description", _ENGAGEMENT, field_type="html"),
    _datetime("hs_meeting_start_time", "Start Time", _ENGAGEMENT),
    _datetime("hs_meeting_end_time", "End Time", _ENGAGEMENT),
    _text("hs_meeting_location", "Location", _ENGAGEMENT),
    _select("hs_meeting_outcome", "Meeting outcome", _ENGAGEMENT,
            _options("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")),
)

DEFAULT_PROPERTIES: dict[str, tuple[PropertyDefinition, ...]] = {
    "contacts": tuple(_CONTACTS),
    "companies": tuple(_COMPANIES),
    "deals": tuple(_DEALS),
    "products": tuple(_PRODUCTS),
    "line_items": tuple(_LINE_ITEMS),
    "tickets": tuple(_TICKETS),
    "invoices": tuple(_INVOICES),
    "calls": tuple(_CALLS),
    "emails": tuple(_EMAILS),
    "notes": tuple(_NOTES),
    "tasks": tuple(_TASKS),
    "meetings": tuple(_MEETINGS),
}

# Returned when a read names no properties; HubSpot's own choice for contacts, companies and deals.
DEFAULT_READ_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": ("firstname", "lastname", "email"),
    "companies": ("name", "domain"),
    "deals": ("dealname", "amount", "closedate", "pipeline", "dealstage"),
    "products": ("name", "price", "description"),
    "line_items": ("name", "quantity", "price", "amount", "hs_product_id"),
    "tickets": ("subject", "content", "hs_pipeline", "hs_pipeline_stage"),
    "invoices": ("hs_currency", "hs_invoice_date", "hs_invoice_status"),
    "calls": ("hs_timestamp", "hs_call_title"),
    "emails": ("hs_timestamp", "hs_email_subject"),
    "notes": ("hs_timestamp", "hs_note_body"),
    "tasks": ("hs_timestamp", "hs_task_subject"),
    "meetings": ("hs_timestamp", "hs_meeting_title"),
}
