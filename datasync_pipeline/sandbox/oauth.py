"""``POST /oauth/v3/token``: HubSpot's v3 OAuth token endpoint, on the same codes and tokens as ``/oauth/v1/token``.

Modelled on HubSpot's "Manage OAuth access tokens using the v3 APIs" guide and its API reference
(``POST /oauth/v3/token``): the same job as v1, with every parameter in the form-encoded body (never in the query
string, so client secrets stay out of server logs). The grants:
- ``authorization_code`` (``code``, ``redirect_uri``): the install's first access and refresh tokens;
- ``refresh_token`` (``refresh_token``): a new access token for an install; an unknown one is 400 ``BAD_REFRESH_TOKEN``;
- ``client_credentials``: a token that authenticates as the app itself (HubSpot offers it for the webhooks journal
  API), with no refresh token and no user.
Each needs the app's ``client_id`` and ``client_secret`` (400 ``BAD_CLIENT_ID`` otherwise, and always when the
sandbox has no OAuth app configured); parameters sent in the query string are ignored, as v3 reads only the body.
The answer is v1's (``token_type, access_token, refresh_token, expires_in, hub_id, scopes``) plus ``user_id`` and
``token_use``. No published sample of ``token_use``'s value was found: the sandbox answers ``"access"``, after the
v1 token metadata's ``token_type: "access"``. Tokens expire on the sandbox clock (``oauth_tokens``).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox.errors import HubSpotError, json_response

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox
    from datasync_pipeline.sandbox.settings import SandboxSettings

SANDBOX_HUB_ID = 1234567
SANDBOX_USER_ID = 9000001
BAD_CLIENT = "BAD_CLIENT_ID"
V3_GRANTS = ("authorization_code", "refresh_token", "client_credentials")


def token_v3(sandbox: Sandbox, request: Request) -> Response:
    form = request.form  # the body only: v3 never reads credentials from the query string
    grant = form.get("grant_type")
    if grant not in V3_GRANTS:
        raise HubSpotError(400, "BAD_GRANT_TYPE", f"grant_type must be one of {', '.join(V3_GRANTS)}")
    if not is_known_client(sandbox.settings, form.get("client_id", ""), form.get("client_secret", "")):
        raise HubSpotError(400, BAD_CLIENT, "missing or unknown client id, or a client secret that does not belong to it")
    if grant == "authorization_code":
        if not form.get("redirect_uri"):
            raise HubSpotError(400, "BAD_REDIRECT_URI", "missing redirect_uri")
        granted = sandbox.oauth.exchange_code(form.get("code", ""))
    elif grant == "refresh_token":
        granted = sandbox.oauth.refresh(form.get("refresh_token", ""))
    else:
        granted = sandbox.oauth.for_the_app(form.get("scope", "").split())
    user = {} if grant == "client_credentials" else {"user_id": SANDBOX_USER_ID}
    return json_response({**granted, **user, "token_use": "access"})


def is_known_client(settings: SandboxSettings, client_id: str, client_secret: str) -> bool:
    """The configured OAuth app's credentials, compared in constant time; False when none is configured."""
    if settings.client_id is None or settings.client_secret is None:
        return False
    same_id = hmac.compare_digest(client_id.encode(), settings.client_id.encode())
    same_secret = hmac.compare_digest(client_secret.encode(), settings.client_secret.encode())
    return same_id and same_secret
