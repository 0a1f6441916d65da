"""Owners and pipelines: HubSpot's reference data, and the record values checked against it."""

from __future__ import annotations

import httpx

from datasync_pipeline.sandbox import ServedSandbox


def test_owners_list_pages_filter_by_email_and_read_one(served_sandbox: ServedSandbox, api: httpx.Client) -> None:
    extra = served_sandbox.sandbox.add_owner("pat@example.com", "Pat", "Doe")
    gone = served_sandbox.sandbox.add_owner("left@example.com", archived=True)

    first = api.get("/crm/v3/owners", params={"limit": 2}).json()
    assert len(first["results"]) == 2 and first["paging"]["next"]["after"] == "2"
    rest = api.get("/crm/v3/owners", params={"limit": 2, "after": first["paging"]["next"]["after"]}).json()
    assert [owner["id"] for owner in rest["results"]] == [extra] and "paging" not in rest
    assert api.get("/crm/v3/owners", params={"email": "PAT@example.com"}).json()["results"][0]["id"] == extra
    assert [owner["id"] for owner in api.get("/crm/v3/owners", params={"archived": "true"}).json()["results"]] == [gone]
    owner = api.get(f"/crm/v3/owners/{extra}").json()
    assert {"id", "email", "firstName", "lastName", "userId", "createdAt", "updatedAt", "archived", "teams"} <= set(owner)
    assert api.get(f"/crm/v3/owners/{owner['userId']}", params={"idProperty": "userId"}).json()["id"] == extra
    assert api.get("/crm/v3/owners/1").status_code == 404


def test_hubspot_owner_id_must_name_an_active_owner(served_sandbox: ServedSandbox, api: httpx.Client) -> None:
    owner = served_sandbox.sandbox.add_owner("o@example.com")
    gone = served_sandbox.sandbox.add_owner("g@example.com", archived=True)

    assert api.post("/crm/v3/objects/companies", json={"properties": {"hubspot_owner_id": owner}}).status_code == 201
    for wrong in ("123", gone):
        refused = api.post("/crm/v3/objects/companies", json={"properties": {"hubspot_owner_id": wrong}})
        assert refused.status_code == 400 and "INVALID_OWNER_ID" in refused.json()["message"]


def test_default_pipelines_and_stage_checks(api: httpx.Client) -> None:
    deals = api.get("/crm/v3/pipelines/deals").json()["results"]
    assert [pipeline["id"] for pipeline in deals] == ["default"]
    assert deals[0]["stages"][0]["metadata"]["probability"] == "0.2"
    tickets = api.get("/crm/v3/pipelines/tickets/0/stages").json()["results"]
    assert [stage["id"] for stage in tickets] == ["1", "2", "3", "4"]

    wrong = api.post("/crm/v3/objects/deals", json={"properties": {"dealname": "D", "dealstage": "nope"}})
    assert wrong.status_code == 400 and "INVALID_OPTION" in wrong.json()["message"]


def test_custom_pipeline_stages_are_valid_once_created(api: httpx.Client) -> None:
    created = api.post("/crm/v3/pipelines/deals", json={"label": "Renewals", "displayOrder": 1, "stages": [
        {"label": "Up for renewal", "displayOrder": 0, "metadata": {"probability": "0.5"}},
        {"label": "Renewed", "displayOrder": 1, "metadata": {"probability": "1.0"}},
    ]})
    assert created.status_code == 201
    pipeline = created.json()
    first_stage = pipeline["stages"][0]["id"]

    deal = api.post("/crm/v3/objects/deals", json={"properties": {
        "dealname": "Renewal", "pipeline": pipeline["id"], "dealstage": first_stage,
    }})
    assert deal.status_code == 201, deal.text
    # a stage of another pipeline is refused, and so is a custom stage in the default pipeline
    mixed = api.patch(f"/crm/v3/objects/deals/{deal.json()['id']}", json={"properties": {"dealstage": "closedwon"}})
    assert mixed.status_code == 400
    other = api.post("/crm/v3/objects/deals", json={"properties": {"dealname": "X", "dealstage": first_stage}})
    assert other.status_code == 400

    added = api.post(f"/crm/v3/pipelines/deals/{pipeline['id']}/stages",
                     json={"label": "Lost", "displayOrder": 2, "metadata": {"probability": "0.0"}})
    assert added.status_code == 201
    moved = api.patch(f"/crm/v3/objects/deals/{deal.json()['id']}", json={"properties": {"dealstage": added.json()["id"]}})
    assert moved.status_code == 200
    options = api.get("/crm/v3/properties/deals/dealstage").json()["options"]
    assert added.json()["id"] in {option["value"] for option in options}

    renamed = api.patch(f"/crm/v3/pipelines/deals/{pipeline['id']}/stages/{first_stage}", json={"label": "Due"})
    assert renamed.json()["label"] == "Due"
    assert api.patch(f"/crm/v3/pipelines/deals/{pipeline['id']}", json={"label": "Renewal deals"}).json()["label"] == "Renewal deals"
    assert api.post("/crm/v3/pipelines/deals/default/stages", json={"label": "No probability"}).status_code == 400
    assert api.delete(f"/crm/v3/pipelines/deals/{pipeline['id']}/stages/{first_stage}").status_code == 204
    assert api.delete(f"/crm/v3/pipelines/deals/{pipeline['id']}").status_code == 204
    assert api.get(f"/crm/v3/pipelines/deals/{pipeline['id']}").status_code == 404
    assert api.delete("/crm/v3/pipelines/deals/default").status_code == 400


def test_ticket_pipelines_need_a_ticket_state(api: httpx.Client) -> None:
    refused = api.post("/crm/v3/pipelines/tickets", json={"label": "Escalations", "stages": [{"label": "Open"}]})
    assert refused.status_code == 400
    created = api.post("/crm/v3/pipelines/tickets", json={"label": "Escalations", "stages": [
        {"label": "Open", "metadata": {"ticketState": "OPEN"}}, {"label": "Done", "metadata": {"ticketState": "CLOSED"}},
    ]}).json()
    ticket = api.post("/crm/v3/objects/tickets", json={"properties": {
        "subject": "Escalated", "hs_pipeline": created["id"], "hs_pipeline_stage": created["stages"][0]["id"],
    }})
    assert ticket.status_code == 201
    assert api.get("/crm/v3/pipelines/contacts").status_code == 400


def test_a_served_sandbox_is_seeded_with_owners_over_the_control_route(served_sandbox, api) -> None:
    control = {"X-Sandbox-Control-Token": served_sandbox.control_token}
    added = httpx.post(f"{served_sandbox.url}/_sandbox/owners", headers=control,
                       json={"email": "nora.new@sandbox.example", "firstName": "Nora", "lastName": "New"})

    assert added.status_code == 201
    owner = added.json()
    assert api.get(f"/crm/v3/owners/{owner['id']}").json()["email"] == "nora.new@sandbox.example"
    assert api.post("/crm/v3/objects/contacts", json={"properties": {"email": "c@example.com", "hubspot_owner_id": owner["id"]}}).status_code == 201
    duplicate = httpx.post(f"{served_sandbox.url}/_sandbox/owners", headers=control, json={"email": "NORA.new@sandbox.example"})
    assert duplicate.status_code == 400 and duplicate.json()["category"] == "VALIDATION_ERROR"
    assert httpx.post(f"{served_sandbox.url}/_sandbox/owners", headers=control, json={"email": 3}).status_code == 400
    bearer = {"Authorization": f"Bearer {served_sandbox.token}"}
    assert httpx.post(f"{served_sandbox.url}/_sandbox/owners", headers=bearer, json={"email": "x@example.com"}).status_code == 401
