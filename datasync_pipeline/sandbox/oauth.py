"""``POST /oauth/v3/token``: the OAuth refresh a HubSpot OAuth app performs every 30 minutes.

The sandbox has one token, so a refresh hands back that token; the point is that clients exercise
their refresh path and parse HubSpot's answer shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox.errors import HubSpotError, json_response

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox

ACCESS_TOKEN_LIFETIME_SECONDS = 1800
SANDBOX_HUB_ID = 1234567


def refresh_token(sandbox: Sandbox, request: Request) -> Response:
    form = request.form
    if form.get("grant_type") != "refresh_token":
        raise HubSpotError(400, "BAD_GRANT_TYPE", "grant_type must be refresh_token")
    for field in ("refresh_token", "client_id", "client_secret"):
        if not form.get(field):
            raise HubSpotError(400, "VALIDATION_ERROR", f"missing or invalid {field}")
    return json_response({
        "token_type": "bearer",
        "access_token": sandbox.settings.token,
        "refresh_token": form["refresh_token"],
        "expires_in": ACCESS_TOKEN_LIFETIME_SECONDS,
        "hub_id": SANDBOX_HUB_ID,
        "scopes": ["crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.companies.read",
                   "crm.objects.companies.write", "crm.objects.deals.read", "crm.objects.deals.write", "oauth"],
    })
