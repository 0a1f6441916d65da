"""HubSpot's common default properties, their groups, and custom property update and archive."""

from __future__ import annotations

import httpx
import pytest

from datasync_pipeline.sandbox.object_types import OBJECT_TYPES

# The defaults issue 13 found refused with PROPERTY_DOESNT_EXIST, by object type.
NAMED_IN_ISSUE = {
    "contacts": ["salutation", "fax", "industry", "hs_language", "date_of_birth"],
    "companies": ["founded_year"],
    "deals": ["hs_priority", "closed_lost_reason"],
    "tickets": ["hs_resolution"],
    "products": ["hs_product_type"],
    "calls": ["hs_call_to_number"],
    "notes": ["hs_attachment_ids"],
}


def test_every_type_lists_a_full_catalogue_with_hubspot_fields(api: httpx.Client) -> None:
    for object_type in OBJECT_TYPES:
        results = api.get(f"/crm/v3/properties/{object_type}").json()["results"]
        assert len(results) >= 9, object_type
        for definition in results:
            assert {"name", "label", "type", "fieldType", "groupName", "options", "calculated", "hubspotDefined",
                    "modificationMetadata"} <= set(definition)
            if definition["type"] == "enumeration":
                assert definition["options"], definition["name"]
    total = sum(len(api.get(f"/crm/v3/properties/{object_type}").json()["results"]) for object_type in OBJECT_TYPES)
    assert total >= 250


@pytest.mark.parametrize("object_type, names", NAMED_IN_ISSUE.items())
def test_common_defaults_read_as_null_and_search(api: httpx.Client, object_type: str, names: list[str]) -> None:
    required = {"notes": {"hs_timestamp": "2026-01-01T00:00:00Z"}, "calls": {"hs_timestamp": "2026-01-01T00:00:00Z"},
                "tickets": {"subject": "T", "hs_pipeline_stage": "1"}}
    created = api.post(f"/crm/v3/objects/{object_type}", json={"properties": required.get(object_type, {})})
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]

    read = api.get(f"/crm/v3/objects/{object_type}/{record_id}", params={"properties": ",".join(names)}).json()
    assert {name: read["properties"][name] for name in names} == dict.fromkeys(names)
    found = api.post(f"/crm/v3/objects/{object_type}/search", json={
        "filterGroups": [{"filters": [{"propertyName": names[0], "operator": "NOT_HAS_PROPERTY"}]}], "properties": names,
    })
    assert found.status_code == 200 and found.json()["total"] == 1


def test_an_enumeration_default_takes_only_its_options(api: httpx.Client) -> None:
    refused = api.post("/crm/v3/objects/deals", json={"properties": {"dealname": "D", "hs_priority": "urgent"}})
    assert refused.status_code == 400 and "INVALID_OPTION" in refused.text
    assert api.post("/crm/v3/objects/deals", json={"properties": {"dealname": "D", "hs_priority": "high"}}).status_code == 201
    read_only = api.post("/crm/v3/objects/deals", json={"properties": {"dealname": "D", "days_to_close": "3"}})
    assert read_only.status_code == 400 and "READ_ONLY_VALUE" in read_only.text


def test_groups_are_not_shadowed_by_the_single_property_route(api: httpx.Client) -> None:
    groups = api.get("/crm/v3/properties/contacts/groups")
    assert groups.status_code == 200
    assert "contactinformation" in {group["name"] for group in groups.json()["results"]}
    created = api.post("/crm/v3/properties/contacts/groups", json={"name": "datasync", "label": "Datasync"})
    assert created.status_code == 201
    assert api.get("/crm/v3/properties/contacts/groups/datasync").json()["label"] == "Datasync"
    assert api.post("/crm/v3/properties/contacts/groups", json={"name": "datasync", "label": "Again"}).status_code == 409


def test_custom_properties_update_and_archive_hubspot_ones_refuse(api: httpx.Client) -> None:
    body = {"name": "tier", "label": "Tier", "type": "enumeration", "fieldType": "select", "groupName": "contactinformation",
            "options": [{"label": "Gold", "value": "gold"}]}
    assert api.post("/crm/v3/properties/contacts", json=body).status_code == 201

    updated = api.patch("/crm/v3/properties/contacts/tier", json={
        "label": "Customer tier", "options": [{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"}],
    })
    assert updated.status_code == 200
    assert updated.json()["label"] == "Customer tier"
    assert [option["value"] for option in updated.json()["options"]] == ["gold", "silver"]
    assert api.post("/crm/v3/objects/contacts", json={"properties": {"tier": "silver"}}).status_code == 201
    assert api.patch("/crm/v3/properties/contacts/tier", json={"type": "string"}).status_code == 400
    assert api.patch("/crm/v3/properties/contacts/email", json={"label": "Mail"}).status_code == 400
    assert api.delete("/crm/v3/properties/contacts/email").status_code == 400

    assert api.delete("/crm/v3/properties/contacts/tier").status_code == 204
    assert api.get("/crm/v3/properties/contacts/tier").status_code == 404
    assert api.delete("/crm/v3/properties/contacts/tier").status_code == 404
