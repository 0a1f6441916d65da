"""HubSpot's own Python client (hubspot-api-client 12), pointed at the sandbox, works unchanged."""

from __future__ import annotations

from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException

from datasync_pipeline.sandbox import ServedSandbox


def _client(served: ServedSandbox) -> HubSpot:
    # The generated Configuration has a ``host`` setter; HubSpot(...) passes extra keywords on to it.
    return HubSpot(access_token=served.token, host=served.url)


def test_official_client_create_get_batch_and_search(served_sandbox: ServedSandbox) -> None:
    contacts = _client(served_sandbox).crm.contacts

    created = contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
            properties={"email": "client@example.com", "firstname": "Client"}
        )
    )
    assert created.id.isdigit()
    fetched = contacts.basic_api.get_by_id(created.id, properties=["email", "firstname", "phone"])
    assert fetched.properties["firstname"] == "Client"
    assert fetched.properties["phone"] is None
    assert fetched.updated_at.tzinfo is not None

    batch = contacts.batch_api.create(
        batch_input_simple_public_object_batch_input_for_create=BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[SimplePublicObjectInputForCreate(properties={"email": f"b{index}@example.com"}) for index in range(3)]
        )
    )
    assert batch.status == "COMPLETE"
    assert len(batch.results) == 3

    found = contacts.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name="email", operator="CONTAINS_TOKEN", value="b*")])],
            sorts=["email"],
            properties=["email"],
            limit=10,
        )
    )
    assert found.total == 3
    assert [record.properties["email"] for record in found.results] == [f"b{index}@example.com" for index in range(3)]


def test_official_client_sees_hubspot_errors(served_sandbox: ServedSandbox) -> None:
    contacts = _client(served_sandbox).crm.contacts
    contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": "twice@example.com"})
    )
    try:
        contacts.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": "twice@example.com"})
        )
    except ApiException as problem:
        assert problem.status == 409
        assert "Contact already exists. Existing ID:" in problem.body
    else:
        raise AssertionError("a duplicate email must be refused")
