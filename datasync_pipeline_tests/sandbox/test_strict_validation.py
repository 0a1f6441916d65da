"""HubSpot's create rules, 423 on demand, and property history on reads."""

from __future__ import annotations

import httpx

from datasync_pipeline.sandbox import Fault, ServedSandbox


def test_a_note_without_hs_timestamp_is_refused_as_hubspot_does(api: httpx.Client) -> None:
    response = api.post("/crm/v3/objects/notes", json={"properties": {"hs_note_body": "hello"}})

    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"] == "Error creating NOTE.  Some required properties were not set."
    assert body["context"] == {"properties": ["hs_timestamp"]}
    created = api.post("/crm/v3/objects/notes", json={"properties": {"hs_note_body": "hi", "hs_timestamp": "2026-01-02T03:04:05Z"}})
    assert created.status_code == 201


def test_a_ticket_needs_a_subject_and_a_stage_and_lands_in_the_default_pipeline(api: httpx.Client) -> None:
    refused = api.post("/crm/v3/objects/tickets", json={"properties": {"subject": "Broken"}})
    assert refused.status_code == 400 and refused.json()["context"] == {"properties": ["hs_pipeline_stage"]}

    batch = api.post("/crm/v3/objects/tickets/batch/create", json={"inputs": [{"properties": {"content": "x"}}]})
    assert batch.status_code == 400 and batch.json()["context"] == {"properties": ["subject", "hs_pipeline_stage"]}

    created = api.post("/crm/v3/objects/tickets", json={"properties": {"subject": "Broken", "hs_pipeline_stage": "1"}})
    assert created.status_code == 201
    assert created.json()["properties"]["hs_pipeline"] == "0"


def test_numbers_and_booleans_are_stored_as_strings_objects_and_lists_are_refused(api: httpx.Client) -> None:
    created = api.post("/crm/v3/objects/companies", json={"properties": {"name": "N", "numberofemployees": 12}})
    assert created.json()["properties"]["numberofemployees"] == "12"

    for value in ({"a": 1}, ["a"]):
        refused = api.post("/crm/v3/objects/companies", json={"properties": {"name": value}})
        assert refused.status_code == 400
        assert refused.json()["message"].startswith("Invalid input JSON: Cannot deserialize value of type `java.lang.String`")


def test_423_can_be_injected_with_a_retry_hint(served_sandbox: ServedSandbox, api: httpx.Client) -> None:
    served_sandbox.sandbox.faults.add(Fault(status=423, path_contains="/batch/update", retry_after=2))
    served_sandbox.sandbox.faults.add(Fault(status=423, path_contains="/batch/create"))

    locked = api.post("/crm/v3/objects/contacts/batch/update", json={"inputs": []})
    assert locked.status_code == 423 and locked.headers["Retry-After"] == "2"
    assert locked.json()["category"] == "LOCKED"
    plain = api.post("/crm/v3/objects/contacts/batch/create", json={"inputs": []})
    assert plain.status_code == 423 and plain.json()["status"] == "error"
    assert api.post("/crm/v3/objects/contacts/batch/create", json={"inputs": []}).status_code == 201


def test_properties_with_history_lists_every_value_newest_first(api: httpx.Client) -> None:
    contact = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "h@example.com", "firstname": "One"}}).json()
    api.patch(f"/crm/v3/objects/contacts/{contact['id']}", json={"properties": {"firstname": "Two"}})
    api.patch(f"/crm/v3/objects/contacts/{contact['id']}", json={"properties": {"firstname": ""}})

    read = api.get(f"/crm/v3/objects/contacts/{contact['id']}",
                   params={"propertiesWithHistory": "firstname,phone,nonexistent,createdate"}).json()
    history = read["propertiesWithHistory"]
    assert [version["value"] for version in history["firstname"]] == ["", "Two", "One"]
    assert {version["sourceType"] for version in history["firstname"]} == {"API"}
    assert history["phone"] == []
    assert "nonexistent" not in history
    assert history["createdate"][0]["value"] == read["createdAt"]

    batch = api.post("/crm/v3/objects/contacts/batch/read",
                     json={"propertiesWithHistory": ["firstname"], "inputs": [{"id": contact["id"]}]}).json()
    assert [version["value"] for version in batch["results"][0]["propertiesWithHistory"]["firstname"]] == ["", "Two", "One"]
    listed = api.get("/crm/v3/objects/contacts", params={"propertiesWithHistory": "email"}).json()
    assert listed["results"][0]["propertiesWithHistory"]["email"][0]["value"] == "h@example.com"


def test_seeded_records_show_their_value_as_one_imported_version(served_sandbox: ServedSandbox, api: httpx.Client) -> None:
    [contact_id] = served_sandbox.sandbox.seed("contacts", [{"email": "s@example.com"}])

    history = api.get(f"/crm/v3/objects/contacts/{contact_id}", params={"propertiesWithHistory": "email"}).json()

    assert history["propertiesWithHistory"]["email"][0] | {"timestamp": None} == {
        "value": "s@example.com", "timestamp": None, "sourceType": "IMPORT"
    }
