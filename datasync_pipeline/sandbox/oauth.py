"""``POST /oauth/v3/token``: the OAuth refresh a HubSpot OAuth app performs every 30 minutes.

The sandbox has one token, so a refresh hands back that token; the point is that clients exercise
their refresh path and parse HubSpot's answer shape. Only the OAuth app the sandbox was configured
with (``client_id`` and ``client_secret`` in its settings) may refresh: any other client, or any client
at all when none is configured, gets HubSpot's 400 ``BAD_CLIENT_ID`` error body. The token handed out
opens the CRM API only, never the ``/_sandbox/`` control routes (they have their own credential).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox.errors import HubSpotError, json_response

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox
    from datasync_pipeline.sandbox.settings import SandboxSettings

ACCESS_TOKEN_LIFETIME_SECONDS = 1800
SANDBOX_HUB_ID = 1234567
BAD_CLIENT = "BAD_CLIENT_ID"


def refresh_token(sandbox: Sandbox, request: Request) -> Response:
    form = request.form
    if form.get("grant_type") != "refresh_token":
        raise HubSpotError(400, "BAD_GRANT_TYPE", "grant_type must be refresh_token")
    for field in ("refresh_token", "client_id", "client_secret"):
        if not form.get(field):
            raise HubSpotError(400, "VALIDATION_ERROR", f"missing or invalid {field}")
    if not is_known_client(sandbox.settings, form["client_id"], form["client_secret"]):
        raise HubSpotError(400, BAD_CLIENT, "missing or unknown client id, or a client secret that does not belong to it")
    return json_response({
        "token_type": "bearer",
        "access_token": sandbox.settings.token,
        "refresh_token": form["refresh_token"],
        "expires_in": ACCESS_TOKEN_LIFETIME_SECONDS,
        "hub_id": SANDBOX_HUB_ID,
        "scopes": ["crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.companies.read",
                   "crm.objects.companies.write", "crm.objects.deals.read", "crm.objects.deals.write", "oauth"],
    })


def is_known_client(settings: SandboxSettings, client_id: str, client_secret: str) -> bool:
    """The configured OAuth app's credentials, compared in constant time; False when none is configured."""
    if settings.client_id is None or settings.client_secret is None:
        return False
    same_id = hmac.compare_digest(client_id.encode(), settings.client_id.encode())
    same_secret = hmac.compare_digest(client_secret.encode(), settings.client_secret.encode())
    return same_id and same_secret
