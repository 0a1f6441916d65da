"""More of HubSpot's default properties: the common ones integrations meet first, beyond the core set.

Names, types, field types, groups and options follow HubSpot's default property definitions as its
properties API lists them for a new portal (``GET /crm/v3/properties/{objectType}``; the knowledge-base
pages "HubSpot's default contact / company / deal / ticket / product / activity properties"). Read-only
and calculated flags follow the same definitions: values HubSpot computes itself (counts, "days to close",
attachment-free analytics) refuse writes. Enumeration options are HubSpot's internal values; where a
portal may edit them (ticket category, deal priority) the defaults of a new portal are listed.

Kept apart from ``property_definitions`` so the core set stays short to read; ``DEFAULT_PROPERTIES`` there
merges these in.
"""

from __future__ import annotations

from datasync_pipeline.sandbox.property_definitions import (
    PropertyDefinition,
    PropertyOption,
    _date,
    _datetime,
    _number,
    _options,
    _select,
    _text,
)

_CONTACT = "contactinformation"
_COMPANY = "companyinformation"
_DEAL = "dealinformation"
_TICKET = "ticketinformation"
_ENGAGEMENT = "engagement"
_BOOL_OPTIONS = (PropertyOption("True", "true", 0), PropertyOption("False", "false", 1))


def _bool(name: str, label: str, group: str, **kwargs) -> PropertyDefinition:
    return PropertyDefinition(name, label, "bool", "booleancheckbox", group, _BOOL_OPTIONS, **kwargs)


LANGUAGES = _options("en", "de", "es", "fr", "it", "ja", "nl", "pt-br", "sv", "zh-cn", "fi", "da", "no", "pl")
ANALYTICS_SOURCES = _options(
    "ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS", "OTHER_CAMPAIGNS",
    "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL", "AI_REFERRALS",
)

CONTACTS = [
    _text("salutation", "Salutation", _CONTACT),
    _text("fax", "Fax Number", _CONTACT, field_type="phonenumber"),
    _text("industry", "Industry", _CONTACT),
    _select("hs_language", "Preferred language", _CONTACT, LANGUAGES),
    _date("date_of_birth", "Date of birth", _CONTACT),
    _text("twitterhandle", "Twitter Username", "socialmediainformation"),
    _text("message", "Message", _CONTACT, field_type="textarea"),
    _text("annualrevenue", "Annual Revenue", _CONTACT),
    _text("numemployees", "Number of Employees", _CONTACT),
    _text("hs_timezone", "Time Zone", _CONTACT),
    _text("hs_whatsapp_phone_number", "WhatsApp Phone Number", _CONTACT, field_type="phonenumber"),
    _select("hs_analytics_source", "Original Traffic Source", "analyticsinformation", ANALYTICS_SOURCES,
            read_only=True),
    _number("num_associated_deals", "Number of Associated Deals", "deal_information", read_only=True, calculated=True),
    _number("num_notes", "Number of Sales Activities", "sales_properties", read_only=True, calculated=True),
    _datetime("notes_last_updated", "Last Activity Date", "sales_properties", read_only=True),
    _datetime("hs_lifecyclestage_customer_date", "Date entered 'Customer (Lifecycle Stage Pipeline)'",
              _CONTACT, read_only=True, calculated=True),
    _bool("hs_email_optout", "Unsubscribed from all email", "emailinformation", read_only=True),
]

COMPANIES = [
    _number("founded_year", "Year Founded", _COMPANY),
    _text("hs_language", "Preferred language", _COMPANY),
    _text("linkedin_company_page", "LinkedIn Company Page", "socialmediainformation"),
    _text("twitterhandle", "Twitter Handle", "socialmediainformation"),
    _text("facebook_company_page", "Facebook Company Page", "socialmediainformation"),
    _text("timezone", "Time Zone", _COMPANY),
    _text("address2", "Street Address 2", _COMPANY),
    _bool("is_public", "Is Public", _COMPANY),
    _number("total_money_raised", "Total Money Raised", _COMPANY),
    _select("hs_lead_status", "Lead Status", "sales_properties", _options(
        "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING",
    ), field_type="radio"),
    _number("num_associated_deals", "Number of Associated Deals", _COMPANY, read_only=True, calculated=True),
    _number("hs_num_child_companies", "Number of child companies", _COMPANY, read_only=True, calculated=True),
    _number("total_revenue", "Total Revenue", _COMPANY, read_only=True, calculated=True),
    _select("hs_analytics_source", "Original Traffic Source", "analyticsinformation", ANALYTICS_SOURCES,
            read_only=True),
]

DEALS = [
    _select("hs_priority", "Priority", _DEAL, (
        PropertyOption("Low", "low", 0), PropertyOption("Medium", "medium", 1), PropertyOption("High", "high", 2),
    )),
    _text("closed_lost_reason", "Closed Lost Reason", _DEAL, field_type="textarea"),
    _text("closed_won_reason", "Closed Won Reason", _DEAL, field_type="textarea"),
    _select("hs_forecast_category", "Forecast category", _DEAL, _options(
        "OMIT", "PIPELINE", "BEST_CASE", "COMMIT", "CLOSED",
    )),
    _number("hs_forecast_probability", "Forecast probability", _DEAL),
    _text("hs_next_step", "Next step", _DEAL, field_type="textarea"),
    _text("hs_deal_stage_probability", "Deal probability", _DEAL, read_only=True, calculated=True),
    _number("hs_acv", "Annual contract value", _DEAL, read_only=True, calculated=True),
    _number("hs_arr", "Annual recurring revenue", _DEAL, read_only=True, calculated=True),
    _number("hs_mrr", "Monthly recurring revenue", _DEAL, read_only=True, calculated=True),
    _number("hs_tcv", "Total contract value", _DEAL, read_only=True, calculated=True),
    _number("amount_in_home_currency", "Amount in company currency", _DEAL, read_only=True, calculated=True),
    _number("days_to_close", "Days to close", _DEAL, read_only=True, calculated=True),
    _bool("hs_is_closed", "Is Deal Closed?", _DEAL, read_only=True, calculated=True),
    _bool("hs_is_closed_won", "Is Closed Won", _DEAL, read_only=True, calculated=True),
    _number("num_associated_contacts", "Number of Associated Contacts", _DEAL, read_only=True, calculated=True),
    _datetime("hs_closed_won_date", "Closed won date", _DEAL, read_only=True, calculated=True),
]

TICKETS = [
    _select("hs_resolution", "Resolution", _TICKET, _options(
        "ISSUE_FIXED", "WORKAROUND_PROVIDED", "NO_ACTION_NEEDED", "DUPLICATE", "CUSTOMER_UNRESPONSIVE", "OTHER",
    )),
    _text("hs_ticket_id", "Ticket ID", _TICKET, read_only=True),
    _datetime("closed_date", "Close date", _TICKET),
    _datetime("first_agent_reply_date", "First agent email response date", _TICKET, read_only=True),
    _number("time_to_close", "Time to close", _TICKET, read_only=True, calculated=True),
    _number("time_to_first_agent_reply", "Time to first agent email reply", _TICKET, read_only=True, calculated=True),
    _number("num_notes", "Number of Sales Activities", _TICKET, read_only=True, calculated=True),
    _datetime("notes_last_updated", "Last activity date", _TICKET, read_only=True),
    _text("hs_tag_ids", "Tags", _TICKET),
    _number("num_associated_companies", "Number of Associated Companies", _TICKET, read_only=True, calculated=True),
]

PRODUCTS = [
    _select("hs_product_type", "Product type", "productinformation", (
        PropertyOption("Inventory", "inventory", 0), PropertyOption("Non-inventory", "non_inventory", 1),
        PropertyOption("Service", "service", 2),
    )),
    _text("hs_url", "URL", "productinformation"),
    _text("hs_images", "Image URL", "productinformation"),
    _text("hs_folder_id", "Folder", "productinformation"),
    _number("hs_discount_percentage", "Discount percentage", "productinformation"),
    _select("recurringbillingfrequency", "Billing frequency", "productinformation", _options(
        "weekly", "biweekly", "monthly", "quarterly", "per_six_months", "annually", "per_two_years",
        "per_three_years", "per_four_years", "per_five_years",
    )),
    _text("hs_price_eur", "Unit price EUR", "productinformation"),
]

LINE_ITEMS = [
    _number("hs_discount_percentage", "Discount percentage", "lineiteminformation"),
    _number("hs_cost_of_goods_sold", "Unit cost", "lineiteminformation"),
    _select("recurringbillingfrequency", "Billing frequency", "lineiteminformation", PRODUCTS[5].options),
    _text("hs_recurring_billing_period", "Term", "lineiteminformation"),
    _number("hs_position_on_quote", "Position on quote", "lineiteminformation"),
    _number("hs_total_discount", "Total discount", "lineiteminformation", read_only=True, calculated=True),
    _number("hs_tcv", "Total contract value", "lineiteminformation", read_only=True, calculated=True),
]

INVOICES = [
    _text("hs_purchase_order_number", "Purchase order number", "invoiceinformation"),
    _number("hs_balance_due", "Balance due", "invoiceinformation", read_only=True, calculated=True),
    _number("hs_subtotal", "Subtotal", "invoiceinformation", read_only=True, calculated=True),
    _text("hs_tax_id", "Tax ID", "invoiceinformation"),
]

# Every activity: attachments (file ids separated by ";") and the activity's creator.
ACTIVITY = [
    _text("hs_attachment_ids", "Attached file IDs", _ENGAGEMENT),
    _text("hs_created_by_user_id", "Created by user ID", _ENGAGEMENT, read_only=True),
    _text("hs_body_preview", "Body preview", _ENGAGEMENT, read_only=True, calculated=True),
]

CALLS = [
    _text("hs_call_to_number", "To number", _ENGAGEMENT, field_type="phonenumber"),
    _text("hs_call_from_number", "From number", _ENGAGEMENT, field_type="phonenumber"),
    _text("hs_call_recording_url", "Recording URL", _ENGAGEMENT),
    _text("hs_call_callee_object_id", "Callee object id", _ENGAGEMENT, read_only=True),
]

EMAILS = [
    _text("hs_email_to_email", "Recipient email address", _ENGAGEMENT),
    _text("hs_email_from_email", "Sender email address", _ENGAGEMENT),
    _text("hs_email_sender_email", "Sender email", _ENGAGEMENT),
    _text("hs_email_headers", "Email headers", _ENGAGEMENT, field_type="textarea"),
]

MEETINGS = [
    _text("hs_internal_meeting_notes", "Internal meeting notes", _ENGAGEMENT, field_type="html"),
    _text("hs_meeting_external_url", "External URL", _ENGAGEMENT),
    _text("hs_activity_type", "Call and meeting type", _ENGAGEMENT),
]

TASKS = [
    _datetime("hs_task_reminders", "Reminder", _ENGAGEMENT),
    _datetime("hs_task_completion_date", "Completed at", _ENGAGEMENT, read_only=True),
    _bool("hs_task_is_overdue", "Is overdue", _ENGAGEMENT, read_only=True, calculated=True),
]

NOTES: list[PropertyDefinition] = []

EXTRA_DEFAULT_PROPERTIES: dict[str, list[PropertyDefinition]] = {
    "contacts": CONTACTS,
    "companies": COMPANIES,
    "deals": DEALS,
    "tickets": TICKETS,
    "products": PRODUCTS,
    "line_items": LINE_ITEMS,
    "invoices": INVOICES,
    "calls": CALLS + ACTIVITY,
    "emails": EMAILS + ACTIVITY,
    "meetings": MEETINGS + ACTIVITY,
    "tasks": TASKS + ACTIVITY,
    "notes": NOTES + ACTIVITY,
}
