"""Malformed request bodies never make the sandbox answer 5xx: HubSpot answers every one with a 4xx.

A seeded, deterministic fuzz over the bodies of every write and search endpoint. Each case starts from a
valid body and replaces one value somewhere inside it (or the whole body) with a JSON value of another
shape: a scalar where an object belongs, a list of strings where a list of objects belongs, and so on.
Requests go through the WSGI app in process, so thousands of them take a few seconds and never sleep.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import Client

from datasync_pipeline.sandbox import Sandbox

SEED = 20261205
CASES_PER_ENDPOINT = 120
HEADERS = {"Authorization": "Bearer sandbox-token", "Content-Type": "application/json"}

JUNK: list[Any] = [
    None, True, False, 0, -1, 1.5, 10**30, "", "x", "1001", "hs_object_id", "email", "EQ", [], ["x"], [1], [None],
    [["x"]], [{}], {}, {"a": 1}, {"id": "x"}, {"id": ["1001"]}, {"id": {"a": 1}}, [{"id": "x"}], [{"a": 1}],
]


def _templates(contact_id: str, company_id: str) -> dict[tuple[str, str], Any]:
    """A valid body for each endpoint, in HubSpot's shapes."""
    properties = {"email": "fuzz@example.com", "firstname": "Fuzz"}
    association = {"to": {"id": company_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}
    objects = "/crm/v3/objects/contacts"
    pair = "/crm/v4/associations/contacts/companies/batch"
    return {
        ("POST", objects): {"properties": properties, "associations": [association]},
        ("PATCH", f"{objects}/{contact_id}"): {"properties": {"firstname": "Changed"}},
        ("POST", f"{objects}/search"): {
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "x@example.com"}]}],
            "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}],
            "properties": ["email"], "limit": 10, "after": "0", "query": "x",
        },
        ("POST", f"{objects}/batch/read"): {"properties": ["email"], "idProperty": "email", "inputs": [{"id": "x@example.com"}]},
        ("POST", f"{objects}/batch/create"): {"inputs": [{"properties": properties, "associations": [association]}]},
        ("POST", f"{objects}/batch/update"): {"inputs": [{"id": contact_id, "properties": {"firstname": "B"}}]},
        ("POST", f"{objects}/batch/upsert"): {"inputs": [{"id": "u@example.com", "idProperty": "email", "properties": {"firstname": "U"}}]},
        ("POST", f"{objects}/batch/archive"): {"inputs": [{"id": "999999"}]},
        ("POST", f"{objects}/gdpr-delete"): {"objectId": "999999", "idProperty": "hs_object_id"},
        ("POST", f"{pair}/read"): {"inputs": [{"id": contact_id}]},
        ("POST", f"{pair}/create"): {"inputs": [{"from": {"id": contact_id}, "to": {"id": company_id},
                                                  "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]},
        ("POST", f"{pair}/associate/default"): {"inputs": [{"from": {"id": contact_id}, "to": {"id": company_id}}]},
        ("POST", f"{pair}/archive"): {"inputs": [{"from": {"id": contact_id}, "to": [{"id": company_id}]}]},
        ("POST", "/crm/v3/pipelines/deals"): {"label": "Fuzz", "displayOrder": 1, "stages": [
            {"label": "One", "displayOrder": 0, "metadata": {"probability": "0.5"}}]},
        ("POST", "/crm/v3/pipelines/tickets/0/stages"): {"label": "Fuzz", "metadata": {"ticketState": "OPEN"}},
        ("PATCH", "/crm/v3/pipelines/deals/default/stages/closedwon"): {"label": "Won", "metadata": {"probability": "1.0"}},
        ("POST", "/crm/v4/associations/contacts/companies/labels"): {"label": "Fuzz", "name": "fuzz", "inverseLabel": "Zzuf"},
        ("PUT", "/crm/v4/associations/contacts/companies/labels"): {"associationTypeId": 1000, "label": "Fuzzier"},
        ("PUT", f"/crm/v4/objects/contacts/{contact_id}/associations/companies/{company_id}"): [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
        ("POST", "/crm/v3/properties/contacts/groups"): {"name": "fuzz_group", "label": "Fuzz"},
        ("PATCH", "/crm/v3/properties/contacts/fuzzed"): {"label": "Fuzzed again", "options": [{"label": "B", "value": "b"}]},
        ("POST", "/crm/v3/properties/contacts"): {
            "name": "fuzzed", "label": "Fuzzed", "type": "enumeration", "fieldType": "select", "groupName": "contactinformation",
            "options": [{"label": "A", "value": "a"}],
        },
    }


def _paths(body: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every place inside a JSON value, as a tuple of keys and indexes (the empty tuple is the whole body)."""
    yield prefix
    if isinstance(body, dict):
        for key, value in body.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from _paths(value, (*prefix, index))


def _replaced(body: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(body))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def _cases(template: Any, rng: random.Random) -> Iterator[Any]:
    for _ in range(CASES_PER_ENDPOINT):
        body = template
        for _ in range(rng.choice([1, 1, 2])):
            body = _replaced(body, rng.choice(list(_paths(body))), rng.choice(JUNK))
        yield body


@pytest.fixture
def client_and_ids(sandbox: Sandbox) -> tuple[Client, str, str]:
    [company_id] = sandbox.seed("companies", [{"name": "Fuzz Co"}])
    [contact_id] = sandbox.seed("contacts", [{"email": "seeded@example.com"}])
    return Client(sandbox.wsgi_app), contact_id, company_id


def test_no_malformed_body_answers_5xx(client_and_ids) -> None:
    client, contact_id, company_id = client_and_ids
    rng = random.Random(SEED)
    server_errors = []
    sent = 0
    for (method, path), template in _templates(contact_id, company_id).items():
        for body in _cases(template, rng):
            response = client.open(path, method=method, data=json.dumps(body), headers=HEADERS)
            sent += 1
            if response.status_code >= 500:
                server_errors.append((method, path, body, response.get_data(as_text=True)[:200]))
            else:
                if response.status_code >= 400:
                    answer = json.loads(response.get_data(as_text=True))
                    assert answer["status"] == "error" and answer["category"] and answer["message"], answer

    assert sent >= 22 * CASES_PER_ENDPOINT
    assert server_errors == [], f"{len(server_errors)} of {sent} malformed bodies answered 5xx, e.g. {server_errors[:5]}"


def test_no_malformed_body_to_the_change_capture_routes_answers_5xx(sandbox: Sandbox) -> None:
    """Merge, the webhooks journal (with the app's client-credentials token) and the search-index control route."""
    [first, second] = sandbox.seed("contacts", [{"email": "one@example.com"}, {"email": "two@example.com"}])
    app_token = sandbox.oauth.for_the_app(["developer.webhooks_journal.read", "developer.webhooks_journal.subscriptions.write"])
    app = {"Authorization": f"Bearer {app_token['access_token']}", "Content-Type": "application/json"}
    control = {"X-Sandbox-Control-Token": sandbox.settings.control_token, "Content-Type": "application/json"}
    subscription = {"subscriptionType": "OBJECT", "portalId": 1234567, "actions": ["CREATE", "UPDATE"], "objectTypeId": "0-1",
                    "objectIds": [1001], "properties": ["email"], "associatedObjectTypeIds": ["0-2"]}
    templates = [
        ("POST", "/crm/v3/objects/contacts/merge", HEADERS, {"primaryObjectId": first, "objectIdToMerge": second}),
        ("POST", "/webhooks-journal/subscriptions/2026-03", app, subscription),
        ("POST", "/webhooks-journal/journal/2026-03/batch/read", app, {"inputs": ["3c90c3cc-0d44-4b50-8888-8dd25736052a"]}),
        ("POST", "/webhooks-journal/journal-local/2026-03/batch/read", app, {"inputs": ["3c90c3cc-0d44-4b50-8888-8dd25736052a"]}),
        ("POST", "/_sandbox/search-index", control, {"delayMs": 1000, "jitterMs": 500, "seed": 7, "hold": [first], "release": [first]}),
    ]
    client, rng = Client(sandbox.wsgi_app), random.Random(SEED)
    server_errors, sent = [], 0
    for method, path, headers, template in templates:
        for body in _cases(template, rng):
            response = client.open(path, method=method, data=json.dumps(body), headers=headers)
            sent += 1
            if response.status_code >= 500:
                server_errors.append((path, body, response.get_data(as_text=True)[:200]))
            elif response.status_code >= 400:
                answer = json.loads(response.get_data(as_text=True))
                assert answer["status"] == "error" and answer["category"] and answer["message"], answer

    assert sent == len(templates) * CASES_PER_ENDPOINT
    assert server_errors == [], f"{len(server_errors)} of {sent} malformed bodies answered 5xx, e.g. {server_errors[:5]}"


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/crm/v3/objects/contacts", {"properties": {"email": "a@example.com"}, "associations": ["x"]}),
        ("POST", "/crm/v3/objects/contacts/gdpr-delete", {"objectId": "a@example.com", "idProperty": ["email"]}),
        ("POST", "/crm/v3/objects/contacts/batch/read", {"idProperty": ["email"], "inputs": [{"id": "a@example.com"}]}),
        ("POST", "/crm/v3/objects/contacts/search", {"filterGroups": ["x"]}),
        ("POST", "/crm/v4/associations/contacts/companies/batch/create", {"inputs": [{"from": "1", "to": "2", "types": []}]}),
        ("POST", "/crm/v4/associations/contacts/companies/batch/archive", {"inputs": [{"from": "1", "to": "2"}]}),
        ("POST", "/crm/v3/objects/contacts", {"properties": {"firstname": {"a": 1}}}),
        ("POST", "/crm/v3/objects/contacts", {"properties": {"firstname": ["a"]}}),
    ],
)
def test_the_malformed_bodies_named_in_issue_13_are_400s(client_and_ids, method: str, path: str, body: Any) -> None:
    client, _, _ = client_and_ids
    response = client.open(path, method=method, data=json.dumps(body) if body is not None else None, headers=HEADERS)

    assert response.status_code == 400, response.get_data(as_text=True)
    answer = json.loads(response.get_data(as_text=True))
    assert answer["status"] == "error" and answer["category"] == "VALIDATION_ERROR" and answer["correlationId"]
