"""Property definitions: reading them, creating custom ones, and the unique property upserts key on.

Creating a property is idempotent here (HubSpot's 409 "already exists" returns the existing definition),
so setup code can run on every start.
"""

from __future__ import annotations

from typing import Any

from datasync_pipeline.connectors.hubspot.errors import RejectedRequestError
from datasync_pipeline.connectors.hubspot.transport import HubSpotTransport
from datasync_pipeline.errors import DatasyncError

FALLBACK_GROUP_NAME = "datasync"


class PropertiesApi:
    """`/crm/v3/properties/{type}` (or a date-versioned prefix)."""

    def __init__(self, transport: HubSpotTransport, *, properties_path_prefix: str) -> None:
        self._transport = transport
        self._prefix = properties_path_prefix.rstrip("/")

    def get_properties(self, object_type: str) -> list[dict[str, Any]]:
        """Every property definition of an object type (HubSpot does not page this list)."""
        response = self._transport.request("GET", f"{self._prefix}/{{type}}", path_params={"type": object_type})
        return list(response.json().get("results") or [])

    def get_property(self, object_type: str, name: str) -> dict[str, Any]:
        response = self._transport.request(
            "GET", f"{self._prefix}/{{type}}/{{name}}", path_params={"type": object_type, "name": name}
        )
        return response.json()

    def create_property(self, object_type: str, definition: dict[str, Any]) -> dict[str, Any]:
        """Create a custom property; if it exists already, return the existing definition."""
        try:
            response = self._transport.request(
                "POST", f"{self._prefix}/{{type}}", path_params={"type": object_type}, json=definition
            )
        except RejectedRequestError as rejection:
            if rejection.status != 409:
                raise
            return self.get_property(object_type, definition["name"])
        return response.json()

    def ensure_unique_property(self, object_type: str, name: str, label: str) -> None:
        """Make sure a custom string property with unique values exists, so upserts can key on it.

        Raises when a property of that name exists without unique values: HubSpot cannot change that
        afterwards, and upserting on it would not be idempotent.
        """
        existing = {prop.get("name"): prop for prop in self.get_properties(object_type)}
        if name in existing:
            if not existing[name].get("hasUniqueValue"):
                raise DatasyncError(
                    f"The HubSpot {object_type} property {name!r} exists but does not require unique values; "
                    "choose another name for the sync's unique id property"
                )
            return
        created = self.create_property(
            object_type,
            {
                "name": name,
                "label": label,
                "type": "string",
                "fieldType": "text",
                "groupName": _group_name(existing.values()),
                "hasUniqueValue": True,
                "formField": False,
                "description": "Set by datasync: the id of the paired record in the other app.",
            },
        )
        if not created.get("hasUniqueValue", True):
            raise DatasyncError(f"The HubSpot {object_type} property {name!r} was created without unique values")


def _group_name(properties) -> str:
    """A property group that exists for the object: the `...information` group HubSpot creates, if any."""
    groups = [prop.get("groupName") for prop in properties if prop.get("groupName")]
    for group in groups:
        if group.endswith("information"):
            return group
    return groups[0] if groups else FALLBACK_GROUP_NAME
