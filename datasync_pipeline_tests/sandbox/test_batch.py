"""Batch endpoints over HTTP: limits, duplicate ids, 207 partial failures, all-or-nothing, upsert."""

from __future__ import annotations

import json

import httpx

from datasync_pipeline.sandbox import Sandbox
from datasync_pipeline_tests.sandbox.conftest import create_contact

BATCH = "/crm/v3/objects/contacts/batch"


def _count(api: httpx.Client) -> int:
    return api.post("/crm/v3/objects/contacts/search", json={"limit": 1}).json()["total"]


def test_batch_create_success_body(api: httpx.Client) -> None:
    response = api.post(f"{BATCH}/create", json={"inputs": [
        {"properties": {"email": "one@example.com"}}, {"properties": {"email": "two@example.com"}},
    ]})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "COMPLETE"
    assert {"startedAt", "completedAt"} <= set(body)
    assert [result["properties"]["email"] for result in body["results"]] == ["one@example.com", "two@example.com"]


def test_batch_over_100_inputs_is_refused(api: httpx.Client) -> None:
    inputs = [{"properties": {"email": f"x{index}@example.com"}} for index in range(101)]
    response = api.post(f"{BATCH}/create", json={"inputs": inputs})
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert _count(api) == 0


def test_duplicate_ids_in_one_batch_are_refused(api: httpx.Client) -> None:
    contact_id = create_contact(api, email="dup@example.com")["id"]
    for action, inputs in (
        ("update", [{"id": contact_id, "properties": {"firstname": "A"}}, {"id": contact_id, "properties": {"firstname": "B"}}]),
        ("read", [{"id": contact_id}, {"id": contact_id}]),
        ("archive", [{"id": contact_id}, {"id": contact_id}]),
    ):
        response = api.post(f"{BATCH}/{action}", json={"inputs": inputs})
        assert response.status_code == 400, action
        assert response.json()["category"] == "VALIDATION_ERROR"
        assert "Duplicate IDs found in batch input" in response.json()["message"]


def test_batch_read_reports_missing_ids_with_207(api: httpx.Client) -> None:
    contact_id = create_contact(api, email="here@example.com", firstname="Here")["id"]
    response = api.post(f"{BATCH}/read", json={"properties": ["firstname", "phone"], "inputs": [{"id": contact_id}, {"id": "424242"}]})
    assert response.status_code == 207
    body = response.json()
    assert [record["id"] for record in body["results"]] == [contact_id]
    assert body["results"][0]["properties"]["firstname"] == "Here"
    assert body["results"][0]["properties"]["phone"] is None
    assert body["numErrors"] == 1
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"]["ids"] == ["424242"]


def test_batch_read_by_id_property(api: httpx.Client) -> None:
    contact_id = create_contact(api, email="by.email@example.com")["id"]
    body = api.post(f"{BATCH}/read", json={"idProperty": "email", "inputs": [{"id": "by.email@example.com"}]}).json()
    assert [record["id"] for record in body["results"]] == [contact_id]


def test_batch_create_without_trace_ids_fails_whole_batch_on_duplicate_email(api: httpx.Client) -> None:
    existing = create_contact(api, email="taken@example.com")["id"]
    response = api.post(f"{BATCH}/create", json={"inputs": [
        {"properties": {"email": "fresh@example.com"}}, {"properties": {"email": "TAKEN@example.com"}},
    ]})
    assert response.status_code == 409
    body = response.json()
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {existing}"
    assert _count(api) == 1


def test_batch_create_without_trace_ids_fails_whole_batch_on_invalid_email(api: httpx.Client) -> None:
    response = api.post(f"{BATCH}/create", json={"inputs": [
        {"properties": {"email": "good@example.com"}}, {"properties": {"email": "not-an-email"}},
    ]})
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"] == (
        'Property values were not valid: [{"isValid":false,"message":"Email address not-an-email is invalid",'
        '"error":"INVALID_EMAIL","name":"email"}]'
    )
    assert _count(api) == 0


def test_batch_create_with_trace_ids_writes_good_inputs_and_reports_bad_ones(api: httpx.Client) -> None:
    existing = create_contact(api, email="exists@example.com")["id"]
    response = api.post(f"{BATCH}/create", json={"inputs": [
        {"properties": {"email": "ok@example.com"}, "objectWriteTraceId": "t1"},
        {"properties": {"email": "bad email"}, "objectWriteTraceId": "t2"},
        {"properties": {"email": "exists@example.com"}, "objectWriteTraceId": "t3"},
        {"properties": {"email": "ok2@example.com", "numberofemployees": "x"}, "objectWriteTraceId": "t4"},
    ]})
    assert response.status_code == 207
    body = response.json()
    assert body["status"] == "COMPLETE"
    assert [result["properties"]["email"] for result in body["results"]] == ["ok@example.com"]
    assert body["numErrors"] == 3
    by_trace = {error["context"]["objectWriteTraceId"][0]: error for error in body["errors"]}
    assert by_trace["t2"]["category"] == "VALIDATION_ERROR" and "INVALID_EMAIL" in by_trace["t2"]["message"]
    assert by_trace["t3"]["category"] == "CONFLICT"
    assert by_trace["t3"]["message"] == f"Contact already exists. Existing ID: {existing}"
    assert "PROPERTY_DOESNT_EXIST" in by_trace["t4"]["message"]
    assert all(isinstance(error["context"]["objectWriteTraceId"], list) for error in body["errors"])
    assert _count(api) == 2


def test_two_inputs_with_one_email_conflict_inside_the_batch(api: httpx.Client) -> None:
    response = api.post(f"{BATCH}/create", json={"inputs": [
        {"properties": {"email": "twin@example.com"}, "objectWriteTraceId": "a"},
        {"properties": {"email": "Twin@example.com"}, "objectWriteTraceId": "b"},
    ]})
    body = response.json()
    assert response.status_code == 207
    assert body["errors"][0]["message"] == f"Contact already exists. Existing ID: {body['results'][0]['id']}"


def test_batch_update_and_archive(api: httpx.Client, sandbox: Sandbox) -> None:
    first, second = sandbox.seed("contacts", [{"email": "u1@example.com"}, {"email": "u2@example.com"}])
    response = api.post(f"{BATCH}/update", json={"inputs": [
        {"id": first, "properties": {"firstname": "First"}},
        {"id": "u2@example.com", "idProperty": "email", "properties": {"firstname": "Second"}},
    ]})
    assert response.status_code == 200
    assert {result["id"]: result["properties"]["firstname"] for result in response.json()["results"]} == {
        first: "First", second: "Second"
    }
    assert api.post(f"{BATCH}/archive", json={"inputs": [{"id": first}, {"id": "999999"}]}).status_code == 204
    assert api.get(f"/crm/v3/objects/contacts/{first}").status_code == 404


def test_batch_update_with_a_conflicting_email_changes_nothing(api: httpx.Client, sandbox: Sandbox) -> None:
    first, second = sandbox.seed("contacts", [{"email": "k1@example.com", "firstname": "K"}, {"email": "k2@example.com"}])
    response = api.post(f"{BATCH}/update", json={"inputs": [
        {"id": first, "properties": {"firstname": "Changed"}},
        {"id": second, "properties": {"email": "k1@example.com"}},
    ]})
    assert response.status_code == 409
    assert response.json()["message"] == f"Contact already exists. Existing ID: {first}"
    assert api.get(f"/crm/v3/objects/contacts/{first}").json()["properties"]["firstname"] == "K"


def test_batch_upsert_by_email_reports_new_or_not(api: httpx.Client) -> None:
    existing = create_contact(api, email="old@example.com", firstname="Old")["id"]
    response = api.post(f"{BATCH}/upsert", json={"inputs": [
        {"id": "OLD@example.com", "idProperty": "email", "properties": {"firstname": "Renewed"}},
        {"id": "brand.new@example.com", "idProperty": "email", "properties": {"firstname": "New"}},
    ]})
    assert response.status_code == 200
    results = {result["properties"]["firstname"]: result for result in response.json()["results"]}
    assert results["Renewed"]["id"] == existing and results["Renewed"]["new"] is False
    assert results["New"]["new"] is True
    assert results["New"]["properties"]["email"] == "brand.new@example.com"
    again = api.post(f"{BATCH}/upsert", json={"inputs": [
        {"id": "brand.new@example.com", "idProperty": "email", "properties": {"firstname": "Again"}},
    ]}).json()
    assert again["results"][0]["new"] is False and again["results"][0]["id"] == results["New"]["id"]


def test_upsert_needs_a_unique_id_property(api: httpx.Client) -> None:
    response = api.post(f"{BATCH}/upsert", json={"inputs": [{"id": "x", "idProperty": "firstname", "properties": {}}]})
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_number_and_option_validation_codes(api: httpx.Client) -> None:
    number = api.post("/crm/v3/objects/companies", json={"properties": {"name": "N", "numberofemployees": "many"}})
    assert number.status_code == 400
    problems = json.loads(number.json()["message"].removeprefix("Property values were not valid: "))
    assert problems == [{"isValid": False, "message": "many was not a valid number.", "error": "INVALID_INTEGER",
                         "name": "numberofemployees"}]
    option = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "o@example.com", "lifecyclestage": "royalty"}})
    assert option.status_code == 400
    assert '"error":"INVALID_OPTION"' in option.json()["message"]
    assert api.post("/crm/v3/objects/contacts", json={"properties": {"lifecyclestage": "customer"}}).status_code == 201
