"""Single-record endpoints over HTTP: shapes, nulls, paging, archive, auth, persistence."""

from __future__ import annotations

import re
import uuid

import httpx

from datasync_pipeline.sandbox import Sandbox, SandboxSettings
from datasync_pipeline_tests.sandbox.conftest import create_contact

ISO_MILLISECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_create_returns_201_with_hubspot_record_shape(api: httpx.Client) -> None:
    created = create_contact(api, email="Ada@Example.com", firstname="Ada")

    assert set(created) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert created["id"].isdigit()
    assert created["archived"] is False
    assert ISO_MILLISECONDS.match(created["createdAt"]) and ISO_MILLISECONDS.match(created["updatedAt"])
    assert created["properties"]["email"] == "ada@example.com"
    assert created["properties"]["hs_object_id"] == created["id"]
    assert created["properties"]["createdate"] == created["createdAt"]
    assert created["properties"]["lastmodifieddate"] == created["updatedAt"]


def test_get_shows_default_properties_with_nulls_and_ignores_unknown_names(api: httpx.Client) -> None:
    contact_id = create_contact(api, email="grace@example.com", firstname="Grace")["id"]

    default = api.get(f"/crm/v3/objects/contacts/{contact_id}").json()
    assert default["properties"] == {
        "createdate": default["createdAt"], "email": "grace@example.com", "firstname": "Grace",
        "hs_object_id": contact_id, "lastmodifieddate": default["updatedAt"], "lastname": None,
    }
    asked = api.get(f"/crm/v3/objects/contacts/{contact_id}", params={"properties": "phone,no_such_property"}).json()
    assert asked["properties"]["phone"] is None
    assert "no_such_property" not in asked["properties"]
    assert "firstname" not in asked["properties"]


def test_companies_use_hs_lastmodifieddate_and_type_ids_and_dated_paths_work(api: httpx.Client) -> None:
    response = api.post("/crm/objects/2026-03/0-2", json={"properties": {"name": "Acme", "domain": "acme.com"}})
    assert response.status_code == 201
    company = api.get(f"/crm/v3/objects/companies/{response.json()['id']}").json()
    assert company["properties"]["hs_lastmodifieddate"] == company["updatedAt"]
    assert "lastmodifieddate" not in company["properties"]
    assert company["properties"]["name"] == "Acme"


def test_ids_come_from_one_increasing_counter_across_types(api: httpx.Client) -> None:
    first = create_contact(api, email="a@example.com")["id"]
    company = api.post("/crm/v3/objects/companies", json={"properties": {"name": "B"}}).json()["id"]
    second = create_contact(api, email="c@example.com")["id"]
    assert int(first) < int(company) < int(second)


def test_list_pages_with_after_and_no_paging_on_last_page(api: httpx.Client, sandbox: Sandbox) -> None:
    ids = sandbox.seed("contacts", [{"email": f"p{index}@example.com"} for index in range(25)])

    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 10, **({"after": after} if after else {})}
        body = api.get("/crm/v3/objects/contacts", params=params).json()
        seen += [record["id"] for record in body["results"]]
        pages += 1
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert body["paging"]["next"]["link"].startswith("http://127.0.0.1")
    assert seen == ids
    assert pages == 3


def test_list_limit_is_capped_at_100(api: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.seed("contacts", [{"email": f"cap{index}@example.com"} for index in range(120)])
    body = api.get("/crm/v3/objects/contacts", params={"limit": 500}).json()
    assert len(body["results"]) == 100
    assert "paging" in body


def test_patch_updates_clears_and_bumps_last_modified(api: httpx.Client) -> None:
    created = create_contact(api, email="lin@example.com", firstname="Lin", lastname="Ng")

    response = api.patch(f"/crm/v3/objects/contacts/{created['id']}", json={"properties": {"firstname": "Lyn", "lastname": ""}})
    assert response.status_code == 200
    fetched = api.get(f"/crm/v3/objects/contacts/{created['id']}").json()
    assert fetched["properties"]["firstname"] == "Lyn"
    assert fetched["properties"]["lastname"] is None
    assert fetched["updatedAt"] > created["updatedAt"]
    assert fetched["properties"]["lastmodifieddate"] == fetched["updatedAt"]
    assert fetched["createdAt"] == created["createdAt"]


def test_patch_refuses_unknown_and_read_only_properties(api: httpx.Client) -> None:
    contact_id = create_contact(api, email="ro@example.com")["id"]

    unknown = api.patch(f"/crm/v3/objects/contacts/{contact_id}", json={"properties": {"favourite_colour": "red"}})
    assert unknown.status_code == 400
    assert unknown.json()["category"] == "VALIDATION_ERROR"
    assert '"error":"PROPERTY_DOESNT_EXIST"' in unknown.json()["message"]
    for read_only in ("hs_object_id", "createdate", "lastmodifieddate"):
        refused = api.patch(f"/crm/v3/objects/contacts/{contact_id}", json={"properties": {read_only: "1"}})
        assert refused.status_code == 400, read_only
        assert read_only in refused.json()["message"]


def test_get_by_unique_property_with_id_property(api: httpx.Client) -> None:
    contact_id = create_contact(api, email="find.me@example.com")["id"]
    found = api.get("/crm/v3/objects/contacts/FIND.ME@example.com", params={"idProperty": "email"})
    assert found.status_code == 200
    assert found.json()["id"] == contact_id


def test_missing_record_is_404_object_not_found(api: httpx.Client) -> None:
    response = api.get("/crm/v3/objects/contacts/999999999")
    assert response.status_code == 404
    body = response.json()
    assert body["status"] == "error" and body["category"] == "OBJECT_NOT_FOUND"
    uuid.UUID(body["correlationId"])


def test_delete_archives_and_archived_records_show_only_when_asked(api: httpx.Client) -> None:
    kept = create_contact(api, email="kept@example.com")["id"]
    gone = create_contact(api, email="gone@example.com")["id"]

    assert api.delete(f"/crm/v3/objects/contacts/{gone}").status_code == 204
    assert api.get(f"/crm/v3/objects/contacts/{gone}").status_code == 404
    archived = api.get(f"/crm/v3/objects/contacts/{gone}", params={"archived": "true"}).json()
    assert archived["archived"] is True
    assert ISO_MILLISECONDS.match(archived["archivedAt"])
    assert [record["id"] for record in api.get("/crm/v3/objects/contacts").json()["results"]] == [kept]
    assert [record["id"] for record in api.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()["results"]] == [gone]


def test_gdpr_delete_removes_permanently(api: httpx.Client) -> None:
    contact_id = create_contact(api, email="forget@example.com")["id"]
    response = api.post("/crm/v3/objects/contacts/gdpr-delete", json={"objectId": "forget@example.com", "idProperty": "email"})
    assert response.status_code == 204
    assert api.get(f"/crm/v3/objects/contacts/{contact_id}", params={"archived": "true"}).status_code == 404
    assert api.get(f"/crm/v3/objects/contacts/{contact_id}").status_code == 404


def test_auth_requires_the_bearer_token(served_sandbox) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = httpx.get(f"{served_sandbox.url}/crm/v3/objects/contacts", headers=headers)
        assert response.status_code == 401
        assert response.json()["category"] == "INVALID_AUTHENTICATION"
        assert response.json()["status"] == "error"


def test_malformed_json_and_unknown_routes_and_types(api: httpx.Client) -> None:
    malformed = api.post("/crm/v3/objects/contacts", content=b'{"properties": ', headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["category"] == "VALIDATION_ERROR"
    assert "Invalid input JSON on line 1" in malformed.json()["message"]

    unknown_route = api.get("/crm/v3/nothing/here")
    assert unknown_route.status_code == 404
    assert unknown_route.json()["status"] == "error"

    unknown_type = api.get("/crm/v3/objects/spaceships")
    assert unknown_type.status_code == 400
    assert unknown_type.json()["message"] == "Unable to infer object type from: spaceships"


def test_state_persists_across_sandbox_instances(tmp_path) -> None:
    settings = SandboxSettings(db_path=str(tmp_path / "persist.sqlite"), tier="unlimited")
    first = Sandbox(settings)
    [contact_id] = first.seed("contacts", [{"email": "stay@example.com", "firstname": "Stay"}])
    first.close()

    second = Sandbox(settings)
    client = httpx.Client(transport=httpx.WSGITransport(app=second.wsgi_app), base_url="http://sandbox",
                          headers={"Authorization": "Bearer sandbox-token"})
    assert client.get(f"/crm/v3/objects/contacts/{contact_id}").json()["properties"]["firstname"] == "Stay"
    duplicate = client.post("/crm/v3/objects/contacts", json={"properties": {"email": "STAY@example.com"}})
    assert duplicate.status_code == 409
    new_id = client.post("/crm/v3/objects/contacts", json={"properties": {"email": "new@example.com"}}).json()["id"]
    assert int(new_id) > int(contact_id)
    second.close()


def test_concurrent_creates_from_many_threads_all_succeed_with_distinct_ids(api: httpx.Client) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def create(index: int) -> str:
        return create_contact(api, email=f"thread{index}@example.com")["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(40)))
    assert len(set(ids)) == 40
    assert api.post("/crm/v3/objects/contacts/search", json={"limit": 1}).json()["total"] == 40
