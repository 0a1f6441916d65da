"""Reference data: the portal's owners and the pipelines (with stages) of deals and tickets.

What records point at by id (``hubspot_owner_id``, ``pipeline``/``dealstage``, ``hs_pipeline``/
``hs_pipeline_stage``), read so that a sync can map them from what an app holds: an owner's email, a
pipeline's or stage's label (``sync/translate.py``).
"""

from __future__ import annotations

from typing import Any

from datasync_pipeline.connectors.hubspot.transport import HubSpotTransport

OWNERS_PAGE_SIZE = 500  # HubSpot's largest page of owners


class ReferenceApi:
    """``GET /crm/v3/owners`` (paged) and ``GET /crm/v3/pipelines/{type}``."""

    def __init__(self, transport: HubSpotTransport) -> None:
        self._transport = transport

    def owners(self) -> list[dict[str, Any]]:
        """Every active owner: ``{id, email, firstName, lastName, userId, ...}``."""
        owners: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": OWNERS_PAGE_SIZE, **({"after": after} if after else {})}
            page = self._transport.request("GET", "/crm/v3/owners", params=params).json()
            owners.extend(page.get("results") or [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return owners

    def pipelines(self, object_type: str) -> list[dict[str, Any]]:
        """The pipelines of ``deals`` or ``tickets``, each with its ``stages`` (``{id, label, ...}``)."""
        response = self._transport.request("GET", "/crm/v3/pipelines/{type}", path_params={"type": object_type})
        return list(response.json().get("results") or [])
