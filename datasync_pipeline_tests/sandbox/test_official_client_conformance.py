"""HubSpot's own client (hubspot-api-client 12) against the served sandbox: OAuth, owners, pipelines, labels, CRUD.

The client is used unchanged, pointed at the sandbox with its ``host`` setting, so every call here goes
through the paths, bodies and answer models HubSpot's OpenAPI specs define.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import AssociationSpec
from hubspot.crm.associations.v4.schema import PublicAssociationDefinitionCreateRequest
from hubspot.crm.companies.exceptions import ApiException as CompaniesApiException
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.objects import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import ApiException
from hubspot.crm.pipelines import PipelineInput, PipelineStageInput

from datasync_pipeline.sandbox import Sandbox, SandboxSettings, ServedSandbox, serve_in_thread

CLIENT_ID, CLIENT_SECRET = "conformance-app", "conformance-secret"
REQUIRED = {
    "contacts": {"email": "c@example.com"}, "companies": {"name": "C"}, "deals": {"dealname": "D"},
    "products": {"name": "P"}, "line_items": {"name": "L"}, "invoices": {"hs_currency": "EUR"},
    "tickets": {"subject": "T", "hs_pipeline_stage": "1"},
    **{activity: {"hs_timestamp": "2026-01-01T00:00:00.000Z"} for activity in ("notes", "calls", "emails", "meetings", "tasks")},
}
# A property each type accepts any text in, to update.
TEXT_PROPERTY = {
    "contacts": "firstname", "companies": "city", "deals": "description", "products": "description",
    "line_items": "description", "invoices": "hs_comments", "tickets": "content", "notes": "hs_note_body",
    "calls": "hs_call_title", "emails": "hs_email_subject", "meetings": "hs_meeting_title", "tasks": "hs_task_subject",
}


@pytest.fixture
def served(tmp_path) -> Iterator[ServedSandbox]:
    settings = SandboxSettings(db_path=str(tmp_path / "conformance.sqlite"), tier="unlimited",
                               client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    sandbox = Sandbox(settings)
    with serve_in_thread(sandbox) as running:
        yield running
    sandbox.close()


def _client(served: ServedSandbox, token: str | None = None) -> HubSpot:
    return HubSpot(access_token=token or served.token, host=served.url)


def test_oauth_code_refresh_expiry_scopes_and_introspection(served: ServedSandbox) -> None:
    code = served.sandbox.oauth.authorize(["oauth", "crm.objects.contacts.read"])
    anonymous = HubSpot(host=served.url)
    granted = anonymous.oauth.tokens_api.create(grant_type="authorization_code", code=code, redirect_uri="https://app.example/cb",
                                                client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert granted.expires_in == 1800 and granted.refresh_token

    reader = _client(served, granted.access_token)
    assert reader.crm.contacts.basic_api.get_page(limit=1).results == []
    with pytest.raises(CompaniesApiException) as missing:
        reader.crm.companies.basic_api.get_page(limit=1)
    assert missing.value.status == 403 and "crm.objects.companies.read" in missing.value.body
    info = anonymous.oauth.access_tokens_api.get(granted.access_token)
    assert info.hub_id and "crm.objects.contacts.read" in info.scopes

    served.sandbox.clock.advance(1801)
    with pytest.raises(ContactsApiException) as expired:
        reader.crm.contacts.basic_api.get_page(limit=1)
    assert expired.value.status == 401 and "EXPIRED_AUTHENTICATION" in expired.value.body

    refreshed = anonymous.oauth.tokens_api.create(grant_type="refresh_token", refresh_token=granted.refresh_token,
                                                  client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert refreshed.access_token != granted.access_token
    assert _client(served, refreshed.access_token).crm.contacts.basic_api.get_page(limit=1).results == []
    # the portal's static token (private-app style) keeps working beside OAuth
    assert _client(served).crm.companies.basic_api.get_page(limit=1).results == []
    refused = httpx.post(f"{served.url}/oauth/v1/token", data={"grant_type": "refresh_token", "refresh_token": "nope",
                                                              "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert refused.status_code == 400 and refused.json()["category"] == "BAD_REFRESH_TOKEN"


def test_owners_and_pipelines_through_the_client(served: ServedSandbox) -> None:
    client = _client(served)
    owners = client.crm.owners.owners_api.get_page(limit=1)
    assert owners.results[0].email and owners.paging.next.after == "1"
    assert client.crm.owners.owners_api.get_by_id(owners.results[0].id).email == owners.results[0].email

    pipelines = client.crm.pipelines.pipelines_api
    assert [pipeline.id for pipeline in pipelines.get_all("deals").results] == ["default"]
    created = pipelines.create("deals", pipeline_input=PipelineInput(label="Partners", display_order=2, stages=[
        PipelineStageInput(label="Signed", display_order=0, metadata={"probability": "1.0"}),
    ]))
    stage = client.crm.pipelines.pipeline_stages_api.create("deals", created.id, pipeline_stage_input=PipelineStageInput(
        label="Talking", display_order=1, metadata={"probability": "0.3"}))
    assert stage.id in {s.id for s in pipelines.get_by_id("deals", created.id).stages}
    deal = client.crm.deals.basic_api.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
        properties={"dealname": "Partner deal", "pipeline": created.id, "dealstage": stage.id,
                    "hubspot_owner_id": owners.results[0].id}))
    assert deal.properties["dealstage"] == stage.id


def test_labels_and_default_association_through_the_client(served: ServedSandbox) -> None:
    client = _client(served)
    contact = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": "x@example.com"}))
    company = client.crm.companies.basic_api.create(SimplePublicObjectInputForCreate(properties={"name": "X"}))

    default = client.crm.associations.v4.basic_api.create_default("contacts", contact.id, "companies", company.id)
    assert default.results[0].association_spec.association_type_id == 279
    assert default.results[0]._from.id == contact.id

    definitions = client.crm.associations.v4.schema.definitions_api
    label = definitions.create("contacts", "companies", public_association_definition_create_request=
                               PublicAssociationDefinitionCreateRequest(label="Billing contact", name="billing_contact")).results[0]
    assert label.label == "Billing contact" and label.category == "USER_DEFINED"
    assert label.type_id in {item.type_id for item in definitions.get_all("contacts", "companies").results}
    labeled = client.crm.associations.v4.basic_api.create("contacts", contact.id, "companies", company.id, association_spec=[
        AssociationSpec(association_category="USER_DEFINED", association_type_id=label.type_id)])
    assert labeled.labels == ["Billing contact"]


@pytest.mark.parametrize("object_type", sorted(REQUIRED))
def test_crud_of_every_object_type_through_the_client(served: ServedSandbox, object_type: str) -> None:
    objects = _client(served).crm.objects
    created = objects.basic_api.create(object_type, SimplePublicObjectInputForCreate(properties=REQUIRED[object_type]))
    name = TEXT_PROPERTY[object_type]

    updated = objects.basic_api.update(object_type, created.id, SimplePublicObjectInput(properties={name: "changed"}))
    assert updated.properties[name] == "changed"
    read = objects.basic_api.get_by_id(object_type, created.id, properties=[name])
    assert read.properties[name] == "changed"
    assert [record.id for record in objects.basic_api.get_page(object_type, limit=10).results] == [created.id]
    objects.basic_api.archive(object_type, created.id)
    with pytest.raises(ApiException) as gone:
        objects.basic_api.get_by_id(object_type, created.id)
    assert gone.value.status == 404
