"""An httpx client talking to the served sandbox over loopback HTTP, with the sandbox's token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from datasync_pipeline.sandbox import ServedSandbox


@pytest.fixture
def api(served_sandbox: ServedSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=served_sandbox.url, headers={"Authorization": f"Bearer {served_sandbox.token}"}, timeout=10
    ) as client:
        yield client


def create_contact(api: httpx.Client, **properties: str) -> dict:
    response = api.post("/crm/v3/objects/contacts", json={"properties": properties})
    assert response.status_code == 201, response.text
    return response.json()
