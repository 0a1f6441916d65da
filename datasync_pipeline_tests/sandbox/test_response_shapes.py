"""Every route the sandbox serves answers the JSON shape it documents (``sandbox/response_shapes.py``).

One sample request per route, under both path families (v3/v4 and 2026-03) where the route has both; the test
fails when a route has no documented shape or no sample here, so a new endpoint cannot go unchecked. Error
answers are checked against HubSpot's ``Error`` shape too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from datasync_pipeline.sandbox import Sandbox, SandboxSettings, ServedSandbox, serve_in_thread
from datasync_pipeline.sandbox.app import _rules, path_template
from datasync_pipeline.sandbox.response_shapes import ENDPOINT_SHAPES, canonical_template, problems

CLIENT_ID, CLIENT_SECRET = "shapes-app", "shapes-app-secret"


@pytest.fixture
def served(tmp_path) -> Iterator[ServedSandbox]:
    settings = SandboxSettings(db_path=str(tmp_path / "shapes.sqlite"), tier="unlimited", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    sandbox = Sandbox(settings)
    with serve_in_thread(sandbox) as running:
        yield running
    sandbox.close()


class Recorder:
    """Sends requests and keeps, per canonical route, the answers seen (matched by the sandbox's own router)."""

    def __init__(self, served: ServedSandbox, prefix_objects: str, prefix_v4_objects: str, prefix_associations: str,
                 prefix_properties: str, prefix_pipelines: str) -> None:
        self.served = served
        self.http = httpx.Client(base_url=served.url, timeout=10, headers={"Authorization": f"Bearer {served.token}"})
        self.control = {"X-Sandbox-Control-Token": served.control_token}
        self.objects, self.v4_objects, self.associations = prefix_objects, prefix_v4_objects, prefix_associations
        self.properties, self.pipelines = prefix_properties, prefix_pipelines
        self.adapter = served.sandbox.wsgi_app.url_map.bind("sandbox")
        self.samples: dict[tuple[str, str], list[httpx.Response]] = {}

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        rule, _ = self.adapter.match(path.split("?")[0], method=method, return_rule=True)
        self.samples.setdefault((method, canonical_template(path_template(rule))), []).append(response)
        return response


def exercise(r: Recorder) -> None:
    """One request (at least) to every route, in an order where each finds what it needs."""
    o, v4, a, p, pl = r.objects, r.v4_objects, r.associations, r.properties, r.pipelines
    contact = r.send("POST", f"{o}/contacts", json={"properties": {"email": "shape@example.com", "firstname": "Shape"}}).json()
    company = r.send("POST", f"{o}/companies", json={"properties": {"name": "Shapes Inc", "domain": "shapes.example"}}).json()
    r.send("GET", f"{o}/contacts", params={"limit": 1})
    r.send("GET", f"{o}/contacts/{contact['id']}", params={"properties": "email,salutation"})
    r.send("GET", f"{o}/contacts/999999999")  # an Error
    r.send("PATCH", f"{o}/contacts/{contact['id']}", json={"properties": {"lastname": "Checked"}})
    r.send("POST", f"{o}/contacts/search", json={"filterGroups": [], "properties": ["email"], "limit": 1})
    created = r.send("POST", f"{o}/contacts/batch/create", json={"inputs": [{"properties": {"email": "b1@example.com"}}]}).json()
    batch_id = created["results"][0]["id"]
    r.send("POST", f"{o}/contacts/batch/read", json={"properties": ["email"], "inputs": [{"id": batch_id}]})
    r.send("POST", f"{o}/contacts/batch/update", json={"inputs": [{"id": batch_id, "properties": {"firstname": "B"}}]})
    r.send("POST", f"{o}/contacts/batch/upsert", json={"inputs": [{"id": "u1@example.com", "idProperty": "email", "properties": {"firstname": "U"}}]})
    r.send("GET", f"{v4}/contacts/{contact['id']}/associations/companies")
    r.send("PUT", f"{v4}/contacts/{contact['id']}/associations/default/companies/{company['id']}")
    r.send("PUT", f"{v4}/contacts/{contact['id']}/associations/companies/{company['id']}",
           json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}])
    r.send("GET", f"{v4}/contacts/{contact['id']}/associations/companies")
    r.send("POST", f"{a}/contacts/companies/batch/read", json={"inputs": [{"id": contact["id"]}]})
    r.send("POST", f"{a}/contacts/companies/batch/create", json={"inputs": [{"from": {"id": batch_id}, "to": {"id": company["id"]},
           "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]})
    r.send("POST", f"{a}/contacts/companies/batch/associate/default", json={"inputs": [{"from": {"id": batch_id}, "to": {"id": company["id"]}}]})
    r.send("POST", f"{a}/contacts/companies/batch/archive", json={"inputs": [{"from": {"id": batch_id}, "to": [{"id": company["id"]}]}]})
    r.send("DELETE", f"{v4}/contacts/{contact['id']}/associations/companies/{company['id']}")
    label = r.send("POST", f"{a}/contacts/companies/labels", json={"label": "Shape", "name": "shape"}).json()["results"][0]
    r.send("GET", f"{a}/contacts/companies/labels")
    r.send("PUT", f"{a}/contacts/companies/labels", json={"associationTypeId": label["typeId"], "label": "Shaped"})
    r.send("DELETE", f"{a}/contacts/companies/labels/{label['typeId']}")
    r.send("GET", f"{p}/contacts")
    r.send("POST", f"{p}/contacts/groups", json={"name": "shapes", "label": "Shapes"})
    r.send("GET", f"{p}/contacts/groups")
    r.send("GET", f"{p}/contacts/groups/shapes")
    r.send("POST", f"{p}/contacts", json={"name": "shape_note", "label": "Shape note", "type": "string", "fieldType": "text", "groupName": "shapes"})
    r.send("GET", f"{p}/contacts/shape_note")
    r.send("PATCH", f"{p}/contacts/shape_note", json={"label": "Shape notes"})
    r.send("DELETE", f"{p}/contacts/shape_note")
    pipeline = r.send("POST", f"{pl}/deals", json={"label": "Shapes", "displayOrder": 3, "stages": [
        {"label": "Open", "displayOrder": 0, "metadata": {"probability": "0.5"}},
        {"label": "Won", "displayOrder": 1, "metadata": {"probability": "1.0"}}]}).json()
    r.send("GET", f"{pl}/deals")
    r.send("GET", f"{pl}/deals/{pipeline['id']}")
    r.send("PATCH", f"{pl}/deals/{pipeline['id']}", json={"label": "Shapes too"})
    r.send("PUT", f"{pl}/deals/{pipeline['id']}", json={"label": "Shapes", "displayOrder": 3, "stages": [
        {"label": "Open", "displayOrder": 0, "metadata": {"probability": "0.5"}},
        {"label": "Won", "displayOrder": 1, "metadata": {"probability": "1.0"}}]})
    stage = r.send("POST", f"{pl}/deals/{pipeline['id']}/stages", json={"label": "Lost", "displayOrder": 2, "metadata": {"probability": "0.0"}}).json()
    r.send("GET", f"{pl}/deals/{pipeline['id']}/stages")
    r.send("GET", f"{pl}/deals/{pipeline['id']}/stages/{stage['id']}")
    r.send("PATCH", f"{pl}/deals/{pipeline['id']}/stages/{stage['id']}", json={"label": "Lost it"})
    r.send("PUT", f"{pl}/deals/{pipeline['id']}/stages/{stage['id']}", json={"label": "Lost", "displayOrder": 2, "metadata": {"probability": "0.0"}})
    r.send("DELETE", f"{pl}/deals/{pipeline['id']}/stages/{stage['id']}")
    r.send("DELETE", f"{pl}/deals/{pipeline['id']}")
    r.send("DELETE", f"{o}/companies/{company['id']}")
    r.send("POST", f"{o}/contacts/batch/archive", json={"inputs": [{"id": batch_id}]})
    r.send("POST", f"{o}/contacts/gdpr-delete", json={"objectId": contact["id"]})
    twins = [r.send("POST", f"{o}/companies", json={"properties": {"name": f"Twin {n}"}}).json()["id"] for n in (1, 2)]
    r.send("POST", f"{o}/companies/merge", json={"primaryObjectId": twins[0], "objectIdToMerge": twins[1]})
    r.send("POST", f"{o}/companies/merge", json={"primaryObjectId": twins[0], "objectIdToMerge": twins[1]})  # an Error: merged


def exercise_unversioned(r: Recorder) -> None:
    """Routes with one path only: owners, OAuth and the control API."""
    owners = r.send("GET", "/crm/v3/owners").json()
    r.send("GET", f"/crm/v3/owners/{owners['results'][0]['id']}")
    r.send("POST", "/_sandbox/owners", headers=r.control, json={"email": "shape.owner@sandbox.example"})
    r.send("POST", "/_sandbox/seed", headers=r.control, json={"objectType": "contacts", "records": [{"email": "seeded@example.com"}]})
    r.send("POST", "/_sandbox/faults", headers=r.control, json={"status": 503, "times": 1, "pathContains": "/nothing-matches"})
    r.send("GET", "/_sandbox/stats", headers=r.control)
    r.send("DELETE", "/_sandbox/faults", headers=r.control)
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": "https://app.example/cb"}
    for version in ("v1", "v3"):
        code = r.send("POST", "/_sandbox/oauth/authorize", headers=r.control, json={}).json()["code"]
        granted = r.send("POST", f"/oauth/{version}/token", data={"grant_type": "authorization_code", "code": code, **client}).json()
        r.send("POST", f"/oauth/{version}/token", data={"grant_type": "refresh_token", "refresh_token": granted["refresh_token"], **client})
        r.send("POST", f"/oauth/{version}/token", data={"grant_type": "refresh_token", "refresh_token": "unknown", **client})  # an Error
        r.send("GET", f"/oauth/v1/access-tokens/{granted['access_token']}")
    r.send("POST", "/_sandbox/clock", headers=r.control, json={"advanceSeconds": 1})
    r.send("GET", "/_sandbox/search-index", headers=r.control)
    r.send("POST", "/_sandbox/search-index", headers=r.control, json={"delayMs": 0, "jitterMs": 0, "hold": [], "release": []})
    exercise_journal(r)


def exercise_journal(r: Recorder) -> None:
    """The webhooks journal, with the app's client-credentials token; one write makes two entries to read."""
    scopes = "developer.webhooks_journal.read developer.webhooks_journal.subscriptions.read developer.webhooks_journal.subscriptions.write"
    # Issued in process: a client_credentials answer has no refresh_token, which TokenResponseIF requires (a known gap).
    app_token = r.served.sandbox.oauth.for_the_app(scopes.split())["access_token"]
    app = {"Authorization": f"Bearer {app_token}"}
    r.send("POST", "/webhooks-journal/subscriptions/2026-03", headers=app, json={
        "subscriptionType": "OBJECT", "portalId": 1234567, "actions": ["CREATE", "UPDATE"], "objectTypeId": "0-1",
        "objectIds": [], "properties": []})
    r.send("GET", "/webhooks-journal/subscriptions/2026-03", headers=app)
    for email in ("journal1@example.com", "journal2@example.com"):
        r.send("POST", f"{r.objects}/contacts", json={"properties": {"email": email}})
    for journal in ("/webhooks-journal/journal/2026-03", "/webhooks-journal/journal-local/2026-03"):
        first = r.send("GET", f"{journal}/earliest", headers=app).json()
        r.send("GET", f"{journal}/latest", headers=app)
        r.send("GET", f"{journal}/offset/{first['currentOffset']}/next", headers=app)
        r.send("GET", f"{journal}/batch/earliest/2", headers=app)
        r.send("GET", f"{journal}/batch/latest/2", headers=app)
        r.send("POST", f"{journal}/batch/read", headers=app, json={"inputs": [first["currentOffset"]]})
        r.send("GET", f"{journal}/offset/00000000-0000-0000-0000-000000000000/next", headers=app)  # an Error: unknown offset
        r.send("GET", first["url"].replace(r.served.url, ""), headers={"Authorization": ""})
    r.send("DELETE", "/webhooks-journal/subscriptions/2026-03/portals/1234567", headers=app)


def check(samples: dict[tuple[str, str], list[httpx.Response]]) -> list[str]:
    found = []
    for route, responses in samples.items():
        status, shape = ENDPOINT_SHAPES[route]
        for response in responses:
            where = f"{route[0]} {route[1]} ({response.status_code})"
            if response.status_code >= 400:
                found += [f"{where} {problem}" for problem in problems(response.json(), "Error")]
            elif response.status_code != status:
                found.append(f"{where}: expected status {status}")
            elif shape is None:
                found += [f"{where}: expected no body"] if response.content else []
            else:
                found += [f"{where} {problem}" for problem in problems(response.json(), shape)]
    return found


@pytest.mark.parametrize("family", ["v3", "2026-03"])
def test_every_served_route_answers_its_documented_shape(served: ServedSandbox, family: str) -> None:
    if family == "v3":
        recorder = Recorder(served, "/crm/v3/objects", "/crm/v4/objects", "/crm/v4/associations", "/crm/v3/properties", "/crm/v3/pipelines")
    else:
        recorder = Recorder(served, "/crm/objects/2026-03", "/crm/objects/2026-03", "/crm/associations/2026-03",
                            "/crm/properties/2026-03", "/crm/pipelines/2026-03")
    exercise(recorder)
    exercise_unversioned(recorder)

    served_routes = {(method, canonical_template(path_template(rule)))
                     for rule in _rules() for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served_routes - set(ENDPOINT_SHAPES) == set(), "routes without a documented shape"
    assert served_routes - set(recorder.samples) == set(), "routes without a sample in this test"
    assert check(recorder.samples) == []
    errors = [response for responses in recorder.samples.values() for response in responses if response.status_code >= 400]
    assert len(errors) >= 3  # the deliberate ones: an unknown record, an unknown refresh token on v1 and v3


def test_the_checker_names_what_departs_from_a_shape() -> None:
    record = {"id": 1, "properties": {"email": {"a": 1}}, "createdAt": "x", "updatedAt": "x"}

    assert problems(record, "SimplePublicObject") == [
        "$: missing 'archived'", "$.id: expected string, got int", "$.properties.email: expected string or null, got dict"]
    assert problems({"status": "DONE", "results": [], "startedAt": "", "completedAt": ""}, "BatchResponseSimplePublicObject") == [
        "$.status: 'DONE' is not one of ['PENDING', 'PROCESSING', 'CANCELED', 'COMPLETE']"]
    assert problems(True, {"type": "integer"}) == ["$: expected integer, got bool"]
