"""The properties API over HTTP: default definitions, custom properties, unique values and upserts by them."""

from __future__ import annotations

import httpx

from datasync_pipeline.sandbox import Sandbox

PROPERTIES = "/crm/v3/properties"


def test_default_definitions_have_hubspot_fields_and_types(api: httpx.Client) -> None:
    contacts = {prop["name"]: prop for prop in api.get(f"{PROPERTIES}/contacts").json()["results"]}
    assert {"email", "firstname", "lastname", "phone", "lifecyclestage", "associatedcompanyid", "hs_object_id"} <= set(contacts)
    lifecycle = contacts["lifecyclestage"]
    assert lifecycle["type"] == "enumeration"
    assert "customer" in [option["value"] for option in lifecycle["options"]]
    for field in ("label", "fieldType", "groupName", "hasUniqueValue", "hidden", "hubspotDefined", "calculated"):
        assert field in lifecycle
    assert contacts["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    assert contacts["firstname"]["modificationMetadata"]["readOnlyValue"] is False

    companies = {prop["name"]: prop for prop in api.get(f"{PROPERTIES}/companies").json()["results"]}
    assert companies["numberofemployees"]["type"] == "number"
    assert "hs_lastmodifieddate" in companies
    for object_type, expected in {
        "deals": "dealstage", "products": "hs_sku", "tickets": "hs_pipeline_stage",
        "invoices": "hs_invoice_date", "calls": "hs_call_body", "emails": "hs_email_subject",
        "tasks": "hs_task_subject", "notes": "hs_note_body", "meetings": "hs_meeting_title", "line_items": "quantity",
    }.items():
        names = [prop["name"] for prop in api.get(f"{PROPERTIES}/{object_type}").json()["results"]]
        assert expected in names, object_type
        assert "paging" not in api.get(f"{PROPERTIES}/{object_type}").json()


def test_create_custom_property_then_write_it_and_refuse_recreating(api: httpx.Client) -> None:
    definition = {"name": "favourite_colour", "label": "Favourite colour", "type": "enumeration",
                  "fieldType": "select", "groupName": "contactinformation",
                  "options": [{"label": "Red", "value": "red"}, {"label": "Blue", "value": "blue"}]}
    created = api.post(f"{PROPERTIES}/contacts", json=definition)
    assert created.status_code == 201
    assert created.json()["hubspotDefined"] is False
    assert api.get(f"{PROPERTIES}/contacts/favourite_colour").json()["label"] == "Favourite colour"

    assert api.post("/crm/v3/objects/contacts", json={"properties": {"favourite_colour": "blue"}}).status_code == 201
    assert api.post("/crm/v3/objects/contacts", json={"properties": {"favourite_colour": "green"}}).status_code == 400

    again = api.post(f"{PROPERTIES}/contacts", json=definition)
    assert again.status_code == 409
    assert again.json()["status"] == "error"
    assert api.post(f"{PROPERTIES}/contacts", json={"name": "Bad Name", "label": "x"}).status_code == 400


def test_unique_custom_property_gives_conflicts_and_upserts(api: httpx.Client) -> None:
    definition = {"name": "erp_id", "label": "ERP id", "type": "string", "fieldType": "text",
                  "groupName": "companyinformation", "hasUniqueValue": True}
    assert api.post(f"{PROPERTIES}/companies", json=definition).json()["hasUniqueValue"] is True

    first = api.post("/crm/v3/objects/companies", json={"properties": {"name": "One", "erp_id": "E-1"}}).json()["id"]
    duplicate = api.post("/crm/v3/objects/companies", json={"properties": {"name": "Two", "erp_id": "E-1"}})
    assert duplicate.status_code == 409
    assert duplicate.json()["category"] == "CONFLICT"
    assert duplicate.json()["message"].endswith(f"Existing ID: {first}")

    upserted = api.post("/crm/v3/objects/companies/batch/upsert", json={"inputs": [
        {"id": "E-1", "idProperty": "erp_id", "properties": {"name": "One renamed"}},
        {"id": "E-2", "idProperty": "erp_id", "properties": {"name": "Two"}},
    ]}).json()["results"]
    by_erp = {result["properties"]["erp_id"]: result for result in upserted}
    assert by_erp["E-1"]["id"] == first and by_erp["E-1"]["new"] is False
    assert by_erp["E-1"]["properties"]["name"] == "One renamed"
    assert by_erp["E-2"]["new"] is True
    assert api.get("/crm/v3/objects/companies/E-2", params={"idProperty": "erp_id"}).json()["id"] == by_erp["E-2"]["id"]


def test_custom_properties_persist_in_the_sandbox_file(api: httpx.Client, sandbox: Sandbox) -> None:
    api.post(f"{PROPERTIES}/deals", json={"name": "region", "label": "Region", "type": "string",
                                          "fieldType": "text", "groupName": "dealinformation"})
    reopened = Sandbox(sandbox.settings)
    client = httpx.Client(transport=httpx.WSGITransport(app=reopened.wsgi_app), base_url="http://sandbox",
                          headers={"Authorization": f"Bearer {sandbox.settings.token}"})
    assert client.get(f"{PROPERTIES}/deals/region").status_code == 200
    reopened.close()
