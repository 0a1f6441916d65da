"""Batch writes are checked set-wise but behave as if applied one input at a time, in order.

The inputs of one batch see each other's writes: a unique value the first input claims is taken for the
second, a value the first gives up is free for the second, a record the first creates is there for the
second to find. And a batch costs a handful of SQL statements, not a dozen per input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import sqlalchemy as sa

from datasync_pipeline.sandbox import Sandbox

BATCH = "/crm/v3/objects/contacts/batch"


def _contacts(api: httpx.Client) -> list[dict]:
    return api.get("/crm/v3/objects/contacts", params={"limit": 100, "properties": "email,firstname"}).json()["results"]


@pytest.fixture
def datasync_id(api: httpx.Client) -> str:
    response = api.post("/crm/v3/properties/contacts", json={
        "name": "datasync_id", "label": "Datasync ID", "type": "string", "fieldType": "text",
        "groupName": "contactinformation", "hasUniqueValue": True,
    })
    assert response.status_code == 201, response.text
    return "datasync_id"


def test_two_inputs_claiming_one_value_fail_the_whole_batch_without_trace_ids(api: httpx.Client) -> None:
    response = api.post(f"{BATCH}/create", json={"inputs": [
        {"properties": {"email": "same@example.com", "firstname": "First"}},
        {"properties": {"email": "SAME@example.com ", "firstname": "Second"}},
    ]})
    assert response.status_code == 409
    assert response.json()["category"] == "CONFLICT"
    assert response.json()["message"].startswith("Contact already exists. Existing ID: ")
    assert _contacts(api) == []


def test_two_upsert_inputs_setting_one_custom_unique_value(api: httpx.Client, datasync_id: str) -> None:
    response = api.post(f"{BATCH}/upsert", json={"inputs": [
        {"id": "a@example.com", "idProperty": "email", "properties": {datasync_id: "s:1"}, "objectWriteTraceId": "a"},
        {"id": "b@example.com", "idProperty": "email", "properties": {datasync_id: "S:1"}, "objectWriteTraceId": "b"},
    ]})
    assert response.status_code == 207
    body = response.json()
    [created] = body["results"]
    assert created["properties"]["email"] == "a@example.com" and created["new"] is True
    assert body["errors"] == [{
        "status": "error", "category": "CONFLICT", "message": f"Contact already exists. Existing ID: {created['id']}",
        "context": {"objectWriteTraceId": ["b"]},
    }]


def test_a_value_given_up_by_one_input_is_free_for_the_next(api: httpx.Client, sandbox: Sandbox) -> None:
    first, second = sandbox.seed("contacts", [{"email": "one@example.com"}, {"email": "two@example.com"}])
    response = api.post(f"{BATCH}/update", json={"inputs": [
        {"id": first, "properties": {"email": "three@example.com"}},
        {"id": second, "properties": {"email": "one@example.com"}},
    ]})
    assert response.status_code == 200, response.text
    assert {contact["id"]: contact["properties"]["email"] for contact in _contacts(api)} == {
        first: "three@example.com", second: "one@example.com",
    }
    taken = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "one@example.com"}})
    assert taken.json()["message"] == f"Contact already exists. Existing ID: {second}"
    free = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "two@example.com"}})
    assert free.status_code == 201


def test_one_record_named_twice_in_an_update_takes_both_writes_in_order(api: httpx.Client, sandbox: Sandbox) -> None:
    [contact] = sandbox.seed("contacts", [{"email": "twice@example.com", "firstname": "Old"}])
    response = api.post(f"{BATCH}/update", json={"inputs": [
        {"id": contact, "properties": {"firstname": "First", "lastname": "Kept"}},
        {"id": "twice@example.com", "idProperty": "email", "properties": {"firstname": "Second"}},
    ]})
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert (first["properties"]["firstname"], second["properties"]["firstname"]) == ("First", "Second")
    assert second["properties"]["lastname"] == "Kept"
    assert second["updatedAt"] > first["updatedAt"]
    stored = api.get(f"/crm/v3/objects/contacts/{contact}", params={"properties": "firstname,lastname"}).json()
    assert stored["properties"]["firstname"] == "Second" and stored["updatedAt"] == second["updatedAt"]


def test_an_upsert_finds_the_record_an_earlier_input_created(api: httpx.Client, datasync_id: str) -> None:
    response = api.post(f"{BATCH}/upsert", json={"inputs": [
        {"id": "new@example.com", "idProperty": "email", "properties": {datasync_id: "s:7", "firstname": "A"}},
        {"id": "s:7", "idProperty": datasync_id, "properties": {"firstname": "B"}},
    ]})
    assert response.status_code == 200
    created, found = response.json()["results"]
    assert (created["new"], found["new"]) == (True, False)
    assert found["id"] == created["id"] and found["properties"]["firstname"] == "B"


def test_upsert_by_a_property_made_unique_after_its_values_were_seeded(api: httpx.Client, sandbox: Sandbox) -> None:
    """No values of the property are in the unique-value table yet, so lookups fall back to scanning records."""
    first, second = sandbox.seed("contacts", [{"email": "s1@example.com", "legacy_code": "L-1"},
                                              {"email": "s2@example.com", "legacy_code": "L-2"}])
    api.post("/crm/v3/properties/contacts", json={
        "name": "legacy_code", "label": "Legacy code", "type": "string", "fieldType": "text",
        "groupName": "contactinformation", "hasUniqueValue": True,
    })
    response = api.post(f"{BATCH}/upsert", json={"inputs": [
        {"id": "l-1", "idProperty": "legacy_code", "properties": {"firstname": "One"}},
        {"id": "L-2", "idProperty": "legacy_code", "properties": {"firstname": "Two"}},
    ]})
    assert response.status_code == 200
    assert [(result["id"], result["new"]) for result in response.json()["results"]] == [(first, False), (second, False)]


def test_batch_create_answers_with_the_primary_company_mirrored(api: httpx.Client, sandbox: Sandbox) -> None:
    linked, named = sandbox.seed("companies", [{"name": "Linked"}, {"name": "Named"}])
    response = api.post(f"{BATCH}/create", json={"inputs": [
        {"properties": {"email": "linked@example.com"}, "associations": [
            {"to": {"id": linked}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]},
        ]},
        {"properties": {"email": "named@example.com", "associatedcompanyid": f" {named}"}},
        {"properties": {"email": "nowhere@example.com", "associatedcompanyid": "424242"}},
    ]})
    assert response.status_code == 201
    answered = [result["properties"]["associatedcompanyid"] for result in response.json()["results"]]
    assert answered == [linked, named, "424242"]
    for result, company in zip(response.json()["results"], (linked, named, None), strict=True):
        stored = api.get(f"/crm/v3/objects/contacts/{result['id']}", params={"properties": "associatedcompanyid"}).json()
        assert stored["properties"]["associatedcompanyid"] == result["properties"]["associatedcompanyid"]
        primary = api.get(f"/crm/v4/objects/contacts/{result['id']}/associations/companies").json()["results"]
        assert [str(link["toObjectId"]) for link in primary] == ([company] if company else [])


@contextmanager
def _counting_statements(sandbox: Sandbox) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    sa.event.listen(sandbox.store.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(sandbox.store.engine, "before_cursor_execute", count)


def test_a_batch_of_100_costs_a_handful_of_statements(api: httpx.Client, sandbox: Sandbox, datasync_id: str) -> None:
    sandbox.seed("contacts", [{"email": f"seeded{index}@example.com"} for index in range(300)])
    upserts = [{"id": f"s:{index}", "idProperty": datasync_id, "properties": {"email": f"u{index}@example.com"}}
               for index in range(100)]
    with _counting_statements(sandbox) as created:
        assert api.post(f"{BATCH}/upsert", json={"inputs": upserts}).status_code == 200
    with _counting_statements(sandbox) as updated:
        assert api.post(f"{BATCH}/upsert", json={"inputs": upserts}).status_code == 200
    with _counting_statements(sandbox) as inserted:
        creates = [{"properties": {"email": f"c{index}@example.com"}} for index in range(100)]
        assert api.post(f"{BATCH}/create", json={"inputs": creates}).status_code == 201
    assert len(created) <= 12 and len(updated) <= 12 and len(inserted) <= 12, (created, updated, inserted)
