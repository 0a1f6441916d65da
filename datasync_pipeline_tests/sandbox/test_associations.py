"""Associations over HTTP: v4 batch endpoints, type ids both ways, primary company, v3 blocks on records."""

from __future__ import annotations

import httpx
import pytest

from datasync_pipeline.sandbox import Sandbox

V4 = "/crm/v4/associations"


@pytest.fixture
def records(sandbox: Sandbox) -> dict[str, list[str]]:
    return {
        "contacts": sandbox.seed("contacts", [{"email": f"c{index}@example.com"} for index in range(3)]),
        "companies": sandbox.seed("companies", [{"name": f"Company {index}"} for index in range(3)]),
        "deals": sandbox.seed("deals", [{"dealname": "Deal"}]),
    }


def _types(api: httpx.Client, from_type: str, record_id: str, to_type: str) -> dict[int, list[tuple[int, str | None]]]:
    body = api.get(f"/crm/v4/objects/{from_type}/{record_id}/associations/{to_type}").json()
    return {
        int(link["toObjectId"]): sorted((kind["typeId"], kind["label"]) for kind in link["associationTypes"])
        for link in body["results"]
    }


def test_default_association_is_stored_both_ways_with_hubspot_type_ids(api: httpx.Client, records: dict) -> None:
    contact, company = records["contacts"][0], records["companies"][0]
    response = api.post(f"{V4}/contacts/companies/batch/associate/default",
                        json={"inputs": [{"from": {"id": contact}, "to": {"id": company}}]})
    assert response.status_code == 200
    assert response.json()["results"][0]["associationSpec"] == {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
    assert _types(api, "contacts", contact, "companies") == {int(company): [(279, None)]}
    assert _types(api, "companies", company, "contacts") == {int(contact): [(280, None)]}


def test_primary_company_is_unique_and_mirrored_in_associatedcompanyid(api: httpx.Client, records: dict) -> None:
    contact = records["contacts"][0]
    first, second = records["companies"][:2]
    before = api.get(f"/crm/v3/objects/contacts/{contact}").json()["updatedAt"]

    def make_primary(company: str) -> None:
        response = api.post(f"{V4}/contacts/companies/batch/create", json={"inputs": [{
            "from": {"id": contact}, "to": {"id": company},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
        }]})
        assert response.status_code == 201

    make_primary(first)
    assert _types(api, "contacts", contact, "companies") == {int(first): [(1, "Primary"), (279, None)]}
    assert _types(api, "companies", first, "contacts") == {int(contact): [(2, "Primary"), (280, None)]}
    make_primary(second)
    assert _types(api, "contacts", contact, "companies") == {int(first): [(279, None)], int(second): [(1, "Primary"), (279, None)]}
    fetched = api.get(f"/crm/v3/objects/contacts/{contact}", params={"properties": "associatedcompanyid"}).json()
    assert fetched["properties"]["associatedcompanyid"] == second
    assert fetched["updatedAt"] == before  # association changes do not move last-modified

    assert api.post(f"{V4}/contacts/companies/batch/archive",
                    json={"inputs": [{"from": {"id": contact}, "to": [{"id": second}]}]}).status_code == 204
    assert _types(api, "contacts", contact, "companies") == {int(first): [(279, None)]}
    cleared = api.get(f"/crm/v3/objects/contacts/{contact}", params={"properties": "associatedcompanyid"}).json()
    assert cleared["properties"]["associatedcompanyid"] is None


def test_writing_associatedcompanyid_sets_the_primary_company(api: httpx.Client, records: dict) -> None:
    contact, company = records["contacts"][1], records["companies"][2]
    api.patch(f"/crm/v3/objects/contacts/{contact}", json={"properties": {"associatedcompanyid": company}})
    assert _types(api, "contacts", contact, "companies") == {int(company): [(1, "Primary"), (279, None)]}


def test_batch_read_shape_and_missing_associations(api: httpx.Client, records: dict) -> None:
    deal, company = records["deals"][0], records["companies"][0]
    api.post(f"{V4}/deals/companies/batch/create", json={"inputs": [{
        "from": {"id": deal}, "to": {"id": company},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}],
    }]})
    response = api.post(f"{V4}/companies/deals/batch/read", json={"inputs": [{"id": company}, {"id": records["companies"][1]}]})
    assert response.status_code == 207
    body = response.json()
    assert body["results"] == [{"from": {"id": company}, "to": [{"toObjectId": int(deal), "associationTypes": [
        {"category": "HUBSPOT_DEFINED", "typeId": 342, "label": None}]}]}]
    assert body["errors"][0]["context"]["fromObjectId"] == [records["companies"][1]]


def test_unknown_type_id_and_missing_records_are_refused(api: httpx.Client, records: dict) -> None:
    contact, company = records["contacts"][0], records["companies"][0]
    wrong_type = api.post(f"{V4}/contacts/companies/batch/create", json={"inputs": [{
        "from": {"id": contact}, "to": {"id": company},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}],
    }]})
    assert wrong_type.status_code == 400
    missing = api.post(f"{V4}/contacts/companies/batch/associate/default",
                       json={"inputs": [{"from": {"id": contact}, "to": {"id": "99999999"}}]})
    assert missing.status_code == 400
    assert api.post(f"{V4}/contacts/companies/batch/read", json={"inputs": [{"id": "1"}] * 1001}).status_code == 400


def test_list_associations_pages_by_target(api: httpx.Client, sandbox: Sandbox) -> None:
    [company] = sandbox.seed("companies", [{"name": "Big"}])
    contacts = sandbox.seed("contacts", [{"email": f"many{index}@example.com"} for index in range(7)])
    api.post(f"{V4}/companies/contacts/batch/associate/default",
             json={"inputs": [{"from": {"id": company}, "to": {"id": contact}} for contact in contacts]})
    seen, after = [], None
    while True:
        body = api.get(f"/crm/v4/objects/companies/{company}/associations/contacts",
                       params={"limit": 3, **({"after": after} if after else {})}).json()
        seen += [str(link["toObjectId"]) for link in body["results"]]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
    assert seen == contacts


def test_create_with_associations_and_v3_associations_block(api: httpx.Client, records: dict) -> None:
    company = records["companies"][0]
    created = api.post("/crm/v3/objects/contacts/batch/create", json={"inputs": [{
        "properties": {"email": "linked@example.com"},
        "associations": [{"to": {"id": company}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279},
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1},
        ]}],
    }]})
    assert created.status_code == 201
    contact = created.json()["results"][0]["id"]
    fetched = api.get(f"/crm/v3/objects/contacts/{contact}", params={"associations": "companies"}).json()
    assert sorted(fetched["associations"]["companies"]["results"], key=lambda item: item["type"]) == [
        {"id": company, "type": "contact_to_company"},
        {"id": company, "type": "contact_to_company_unlabeled"},
    ]
    listed = api.get("/crm/v3/objects/companies", params={"associations": "contacts", "limit": 100}).json()["results"]
    with_contacts = [record for record in listed if "associations" in record]
    assert [record["id"] for record in with_contacts] == [company]
