"""The v4 labels API, labeled and default PUTs, and unknown label ids refused."""

from __future__ import annotations

import httpx

from datasync_pipeline.sandbox import ServedSandbox

V4 = "/crm/v4"


def _pair(served_sandbox: ServedSandbox) -> tuple[str, str]:
    [contact] = served_sandbox.sandbox.seed("contacts", [{"email": "l@example.com"}])
    [company] = served_sandbox.sandbox.seed("companies", [{"name": "L"}])
    return contact, company


def test_labels_are_created_listed_used_renamed_and_deleted(served_sandbox: ServedSandbox, api: httpx.Client) -> None:
    contact, company = _pair(served_sandbox)
    created = api.post(f"{V4}/associations/contacts/companies/labels",
                       json={"label": "Manager", "name": "manager", "inverseLabel": "Managed company"})
    assert created.status_code == 200
    forward, backward = created.json()["results"]
    assert forward["category"] == "USER_DEFINED" and forward["label"] == "Manager"
    listed = api.get(f"{V4}/associations/contacts/companies/labels").json()["results"]
    assert {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None} in listed
    assert {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"} in listed
    assert forward in listed

    put = api.put(f"{V4}/objects/contacts/{contact}/associations/companies/{company}",
                  json=[{"associationCategory": "USER_DEFINED", "associationTypeId": forward["typeId"]}])
    assert put.status_code == 201
    assert put.json()["labels"] == ["Manager"]
    seen_from_company = api.get(f"{V4}/objects/companies/{company}/associations/contacts").json()["results"][0]
    assert {"category": "USER_DEFINED", "typeId": backward["typeId"], "label": "Managed company"} in seen_from_company["associationTypes"]

    assert api.put(f"{V4}/associations/contacts/companies/labels",
                   json={"associationTypeId": forward["typeId"], "label": "Boss"}).status_code == 204
    assert {"category": "USER_DEFINED", "typeId": forward["typeId"], "label": "Boss"} in api.get(
        f"{V4}/associations/contacts/companies/labels").json()["results"]
    assert api.delete(f"{V4}/associations/contacts/companies/labels/{forward['typeId']}").status_code == 204
    assert api.delete(f"{V4}/associations/contacts/companies/labels/{forward['typeId']}").status_code == 404


def test_unknown_user_defined_type_ids_are_refused(served_sandbox: ServedSandbox, api: httpx.Client) -> None:
    contact, company = _pair(served_sandbox)
    spec = [{"associationCategory": "USER_DEFINED", "associationTypeId": 4242}]

    assert api.put(f"{V4}/objects/contacts/{contact}/associations/companies/{company}", json=spec).status_code == 400
    batch = api.post(f"{V4}/associations/contacts/companies/batch/create",
                     json={"inputs": [{"from": {"id": contact}, "to": {"id": company}, "types": spec}]})
    assert batch.status_code == 400
    create = api.post("/crm/v3/objects/contacts", json={"properties": {}, "associations": [{"to": {"id": company}, "types": spec}]})
    assert create.status_code == 400


def test_default_put_answers_from_to_and_association_spec(served_sandbox: ServedSandbox, api: httpx.Client) -> None:
    contact, company = _pair(served_sandbox)

    answer = api.put(f"{V4}/objects/contacts/{contact}/associations/default/companies/{company}").json()

    assert answer["results"] == [{"from": {"id": contact}, "to": {"id": company},
                                  "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}}]


def test_batch_create_answers_the_labels_of_each_pair_as_hubspot_does(served_sandbox: ServedSandbox, api: httpx.Client) -> None:
    contact, company = _pair(served_sandbox)
    [other] = served_sandbox.sandbox.seed("contacts", [{"email": "m@example.com"}])
    manager = api.post(f"{V4}/associations/contacts/companies/labels", json={"label": "Manager", "name": "manager"}).json()["results"][0]

    response = api.post(f"{V4}/associations/contacts/companies/batch/create", json={"inputs": [
        {"from": {"id": contact}, "to": {"id": company}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1},
            {"associationCategory": "USER_DEFINED", "associationTypeId": manager["typeId"]}]},
        {"from": {"id": other}, "to": {"id": company}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]},
    ]})

    assert response.status_code == 201
    labels = {result["fromObjectId"]: result["labels"] for result in response.json()["results"]}
    assert labels == {int(contact): ["Primary", "Manager"], int(other): []}
