"""HubSpot's merge: the survivor keeps its values, fills gaps, lists merged ids, takes links and history."""

from __future__ import annotations

import httpx
from hubspot import HubSpot
from hubspot.crm.contacts import PublicMergeInput

from datasync_pipeline.sandbox import Sandbox, ServedSandbox


def test_official_client_merges_contacts_and_the_old_id_reads_as_the_survivor(served_sandbox: ServedSandbox, api: httpx.Client) -> None:
    sandbox = served_sandbox.sandbox
    primary, other = sandbox.seed("contacts", [{"email": "keep@example.com", "firstname": "Keep"},
                                               {"email": "dupe@example.com", "firstname": "Dupe", "city": "Lyon"}])
    [company] = sandbox.seed("companies", [{"name": "Dupe Co"}])
    sandbox.associate("contacts", other, "companies", company)
    before = api.get(f"/crm/v3/objects/contacts/{primary}").json()["updatedAt"]
    sandbox.clock.advance(5)

    merged = HubSpot(access_token=served_sandbox.token, host=served_sandbox.url).crm.contacts.basic_api.merge(
        public_merge_input=PublicMergeInput(primary_object_id=primary, object_id_to_merge=other))

    assert merged.id == primary
    assert merged.properties["firstname"] == "Keep" and merged.properties["city"] == "Lyon"
    assert merged.properties["hs_merged_object_ids"] == other
    assert merged.updated_at.isoformat() > before.replace("Z", "+00:00")
    old = api.get(f"/crm/v3/objects/contacts/{other}", params={"properties": "email"}).json()
    assert old["id"] == primary and old["properties"]["email"] == "keep@example.com"
    batch = api.post("/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": other}]}).json()
    assert [record["id"] for record in batch["results"]] == [primary]
    assert [record["id"] for record in api.get("/crm/v3/objects/contacts").json()["results"]] == [primary]
    assert api.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()["results"] == []
    links = api.get(f"/crm/v4/objects/contacts/{primary}/associations/companies").json()["results"]
    assert [link["toObjectId"] for link in links] == [int(company)]
    back = api.get(f"/crm/v4/objects/companies/{company}/associations/contacts").json()["results"]
    assert [link["toObjectId"] for link in back] == [int(primary)]


def test_merge_frees_the_merged_email_and_carries_history(api: httpx.Client) -> None:
    keep = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "k@example.com"}}).json()["id"]
    dupe = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "d@example.com", "phone": "1"}}).json()["id"]
    api.patch(f"/crm/v3/objects/contacts/{dupe}", json={"properties": {"phone": "2"}})

    assert api.post("/crm/v3/objects/contacts/merge", json={"primaryObjectId": keep, "objectIdToMerge": dupe}).status_code == 200

    assert api.post("/crm/v3/objects/contacts", json={"properties": {"email": "d@example.com"}}).status_code == 201
    history = api.get(f"/crm/v3/objects/contacts/{keep}", params={"propertiesWithHistory": "phone"}).json()["propertiesWithHistory"]
    assert [version["value"] for version in history["phone"]] == ["2", "1"]


def test_merging_again_lists_every_merged_id_and_follows_chains(sandbox: Sandbox) -> None:
    client = httpx.Client(transport=httpx.WSGITransport(app=sandbox.wsgi_app), base_url="http://sandbox",
                          headers={"Authorization": "Bearer sandbox-token"})
    a, b, c = sandbox.seed("companies", [{"name": "A"}, {"name": "B"}, {"name": "C"}])
    client.post("/crm/v3/objects/companies/merge", json={"primaryObjectId": b, "objectIdToMerge": c})
    merged = client.post("/crm/v3/objects/companies/merge", json={"primaryObjectId": a, "objectIdToMerge": b}).json()

    assert merged["properties"]["hs_merged_object_ids"].split(";") == [c, b]
    assert client.get(f"/crm/v3/objects/companies/{c}").json()["id"] == a


def test_merge_refusals(api: httpx.Client, sandbox: Sandbox) -> None:
    [one] = sandbox.seed("deals", [{"dealname": "One"}])
    same = api.post("/crm/v3/objects/deals/merge", json={"primaryObjectId": one, "objectIdToMerge": one})
    missing = api.post("/crm/v3/objects/deals/merge", json={"primaryObjectId": one, "objectIdToMerge": "999999"})
    notes = api.post("/crm/v3/objects/notes/merge", json={"primaryObjectId": one, "objectIdToMerge": "2"})
    no_body = api.post("/crm/v3/objects/deals/merge", json={"primaryObjectId": one})

    assert (same.status_code, missing.status_code, notes.status_code, no_body.status_code) == (400, 404, 400, 400)
    assert missing.json()["category"] == "OBJECT_NOT_FOUND"
