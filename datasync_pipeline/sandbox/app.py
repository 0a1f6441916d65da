"""The WSGI application: routing, authentication, latency, faults and rate limits around the handlers.

Every CRM path exists under both HubSpot prefixes (``/crm/v3/...`` and the date-versioned
``/crm/objects/2026-03/...``). The order of checks follows what a client sees from HubSpot: an unknown
route is a 404, a bad token a 401 before anything is counted, then injected faults, then the rate
limit, then the endpoint itself.
"""

from __future__ import annotations

import hmac
import logging
import re
import socket
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox import (
    association_labels,
    associations,
    batch,
    control,
    journal_endpoints,
    merge,
    oauth,
    oauth_tokens,
    objects,
    owners,
    pipeline_endpoints,
    property_endpoints,
    search,
)
from datasync_pipeline.sandbox.errors import HubSpotError, error_body, error_response, json_response
from datasync_pipeline.sandbox.faults import Fault
from datasync_pipeline.sandbox.object_types import find_object_type
from datasync_pipeline.sandbox.rate_limit import rate_limit_body

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox

logger = logging.getLogger(__name__)

OBJECT_PREFIXES = ("/crm/v3/objects", "/crm/objects/2026-03")
ASSOCIATION_RECORD_PREFIXES = ("/crm/v4/objects", "/crm/objects/2026-03")
ASSOCIATION_BATCH_PREFIXES = ("/crm/v4/associations", "/crm/associations/2026-03")
PROPERTY_PREFIXES = ("/crm/v3/properties", "/crm/properties/2026-03")
PIPELINE_PREFIXES = ("/crm/v3/pipelines", "/crm/pipelines/2026-03")
CONTROL_PREFIX = "/_sandbox/"
CONTROL_HEADER = "X-Sandbox-Control-Token"
OAUTH_TOKEN_PATH = "/oauth/v3/token"
JOURNAL_PREFIX = "/webhooks-journal/"
OAUTH_V1_TOKEN_PATH = "/oauth/v1/token"

Handler = Callable[..., Response]


def _rules() -> Iterable[Rule]:
    for prefix in OBJECT_PREFIXES:
        yield Rule(f"{prefix}/<objectType>", methods=["GET"], endpoint=objects.list_objects)
        yield Rule(f"{prefix}/<objectType>", methods=["POST"], endpoint=objects.create_object)
        yield Rule(f"{prefix}/<objectType>/<objectId>", methods=["GET"], endpoint=objects.get_object)
        yield Rule(f"{prefix}/<objectType>/<objectId>", methods=["PATCH"], endpoint=objects.update_object)
        yield Rule(f"{prefix}/<objectType>/<objectId>", methods=["DELETE"], endpoint=objects.archive_object)
        yield Rule(f"{prefix}/<objectType>/search", methods=["POST"], endpoint=search.search_objects)
        yield Rule(f"{prefix}/<objectType>/gdpr-delete", methods=["POST"], endpoint=objects.gdpr_delete)
        yield Rule(f"{prefix}/<objectType>/merge", methods=["POST"], endpoint=merge.merge_objects)
        for action in ("read", "create", "update", "upsert", "archive"):
            yield Rule(f"{prefix}/<objectType>/batch/{action}", methods=["POST"], endpoint=getattr(batch, f"batch_{action}"))
    for prefix in ASSOCIATION_RECORD_PREFIXES:
        yield Rule(f"{prefix}/<objectType>/<objectId>/associations/<toObjectType>", methods=["GET"],
                   endpoint=associations.list_associations)
        yield Rule(f"{prefix}/<objectType>/<objectId>/associations/default/<toObjectType>/<toObjectId>",
                   methods=["PUT"], endpoint=associations.put_default_association)
        yield Rule(f"{prefix}/<objectType>/<objectId>/associations/<toObjectType>/<toObjectId>",
                   methods=["DELETE"], endpoint=associations.delete_association)
        yield Rule(f"{prefix}/<objectType>/<objectId>/associations/<toObjectType>/<toObjectId>",
                   methods=["PUT"], endpoint=associations.put_labeled_association)
    for prefix in ASSOCIATION_BATCH_PREFIXES:
        base = f"{prefix}/<fromObjectType>/<toObjectType>/batch"
        yield Rule(f"{base}/read", methods=["POST"], endpoint=associations.batch_read)
        yield Rule(f"{base}/create", methods=["POST"], endpoint=associations.batch_create)
        yield Rule(f"{base}/associate/default", methods=["POST"], endpoint=associations.batch_associate_default)
        yield Rule(f"{base}/archive", methods=["POST"], endpoint=associations.batch_archive)
        labels = f"{prefix}/<fromObjectType>/<toObjectType>/labels"
        yield Rule(labels, methods=["GET"], endpoint=association_labels.list_labels)
        yield Rule(labels, methods=["POST"], endpoint=association_labels.create_label)
        yield Rule(labels, methods=["PUT"], endpoint=association_labels.update_label)
        yield Rule(f"{labels}/<associationTypeId>", methods=["DELETE"], endpoint=association_labels.delete_label)
    for prefix in PROPERTY_PREFIXES:
        yield Rule(f"{prefix}/<objectType>", methods=["GET"], endpoint=property_endpoints.list_properties)
        yield Rule(f"{prefix}/<objectType>", methods=["POST"], endpoint=property_endpoints.create_property)
        yield Rule(f"{prefix}/<objectType>/groups", methods=["GET"], endpoint=property_endpoints.list_groups)
        yield Rule(f"{prefix}/<objectType>/groups", methods=["POST"], endpoint=property_endpoints.create_group)
        yield Rule(f"{prefix}/<objectType>/groups/<groupName>", methods=["GET"], endpoint=property_endpoints.get_group)
        yield Rule(f"{prefix}/<objectType>/<propertyName>", methods=["GET"], endpoint=property_endpoints.get_property)
        yield Rule(f"{prefix}/<objectType>/<propertyName>", methods=["PATCH"], endpoint=property_endpoints.update_property)
        yield Rule(f"{prefix}/<objectType>/<propertyName>", methods=["DELETE"], endpoint=property_endpoints.archive_property)
    for prefix in PIPELINE_PREFIXES:
        base = f"{prefix}/<objectType>"
        stage = f"{base}/<pipelineId>/stages"
        for path, method, endpoint in (
            (base, "GET", pipeline_endpoints.list_pipelines), (base, "POST", pipeline_endpoints.create_pipeline),
            (f"{base}/<pipelineId>", "GET", pipeline_endpoints.get_pipeline),
            (f"{base}/<pipelineId>", "PUT", pipeline_endpoints.replace_pipeline),
            (f"{base}/<pipelineId>", "PATCH", pipeline_endpoints.update_pipeline),
            (f"{base}/<pipelineId>", "DELETE", pipeline_endpoints.archive_pipeline),
            (stage, "GET", pipeline_endpoints.list_stages), (stage, "POST", pipeline_endpoints.create_stage),
            (f"{stage}/<stageId>", "GET", pipeline_endpoints.get_stage),
            (f"{stage}/<stageId>", "PUT", pipeline_endpoints.replace_stage),
            (f"{stage}/<stageId>", "PATCH", pipeline_endpoints.update_stage),
            (f"{stage}/<stageId>", "DELETE", pipeline_endpoints.archive_stage),
        ):
            yield Rule(path, methods=[method], endpoint=endpoint)
    yield Rule("/crm/v3/owners", methods=["GET"], endpoint=owners.list_owners)
    yield Rule("/crm/v3/owners/<ownerId>", methods=["GET"], endpoint=owners.get_owner)
    yield Rule(OAUTH_TOKEN_PATH, methods=["POST"], endpoint=oauth.token_v3)
    yield Rule("/_sandbox/seed", methods=["POST"], endpoint=control.seed)
    yield Rule("/_sandbox/owners", methods=["POST"], endpoint=control.add_owner)
    yield Rule("/_sandbox/faults", methods=["POST"], endpoint=control.add_fault)
    yield Rule("/_sandbox/faults", methods=["DELETE"], endpoint=control.clear_faults)
    yield Rule("/_sandbox/stats", methods=["GET"], endpoint=control.stats)
    yield Rule("/_sandbox/oauth/authorize", methods=["POST"], endpoint=control.authorize)
    yield Rule("/_sandbox/clock", methods=["POST"], endpoint=control.advance_clock)
    yield Rule("/_sandbox/search-index", methods=["GET"], endpoint=control.search_index_state)
    yield Rule("/_sandbox/search-index", methods=["POST"], endpoint=control.configure_search_index)
    for prefix in journal_endpoints.JOURNAL_PREFIXES:
        yield Rule(f"{prefix}/earliest", methods=["GET"], endpoint=journal_endpoints.earliest)
        yield Rule(f"{prefix}/latest", methods=["GET"], endpoint=journal_endpoints.latest)
        yield Rule(f"{prefix}/offset/<offset>/next", methods=["GET"], endpoint=journal_endpoints.next_entry)
        yield Rule(f"{prefix}/batch/earliest/<count>", methods=["GET"], endpoint=journal_endpoints.batch_earliest)
        yield Rule(f"{prefix}/batch/latest/<count>", methods=["GET"], endpoint=journal_endpoints.batch_latest)
        yield Rule(f"{prefix}/batch/read", methods=["POST"], endpoint=journal_endpoints.batch_read)
    subscriptions = journal_endpoints.SUBSCRIPTIONS_PATH
    yield Rule(subscriptions, methods=["POST"], endpoint=journal_endpoints.create_subscription)
    yield Rule(subscriptions, methods=["GET"], endpoint=journal_endpoints.list_subscriptions)
    yield Rule(f"{subscriptions}/portals/<portalId>", methods=["DELETE"], endpoint=journal_endpoints.delete_portal_subscriptions)
    yield Rule(f"{journal_endpoints.FILES_PREFIX}/<offset>", methods=["GET"], endpoint=journal_endpoints.entry_file)
    yield Rule(OAUTH_V1_TOKEN_PATH, methods=["POST"], endpoint=oauth_tokens.token_endpoint)
    yield Rule("/oauth/v1/access-tokens/<token>", methods=["GET"], endpoint=oauth_tokens.introspect)


_ROUTE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


def path_template(rule: Rule) -> str:
    """``/crm/v3/objects/<objectType>/search`` -> ``/crm/v3/objects/{objectType}/search``."""
    return _ROUTE_VARIABLE.sub(r"{\1}", rule.rule)


def _python_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """Route variables keep HubSpot's camelCase in templates; handlers take snake_case arguments."""
    return {_CAMEL_HUMP.sub("_", name).lower(): value for name, value in arguments.items()}


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _matches(given: str | None, expected: str) -> bool:
    """A credential check in constant time, so response times do not leak how much of a guess was right."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class SandboxApplication:
    """The WSGI callable serving one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.url_map = Map(list(_rules()), strict_slashes=False, merge_slashes=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        settings = self.sandbox.settings
        if settings.latency_ms > 0:
            time.sleep(settings.latency_ms / 1000)
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            rule, arguments = adapter.match(return_rule=True)
        except NotFound:
            body = error_body("OBJECT_NOT_FOUND", f"No route for {request.method} {request.path}")
            return json_response(body, status=404)
        except MethodNotAllowed as problem:
            allowed = ", ".join(problem.valid_methods or [])
            body = error_body("VALIDATION_ERROR", f"{request.method} is not supported on {request.path}; use {allowed}.")
            return json_response(body, status=405)

        handler: Handler = rule.endpoint
        if rule.rule.startswith("/oauth/"):
            # Refreshing a token is how a client gets one: it authenticates with its client secret instead.
            return self._run(handler, request, arguments, {})
        if rule.rule.startswith(CONTROL_PREFIX):
            # The control routes have their own credential: the CRM token (which OAuth hands out) never opens them.
            if not _matches(request.headers.get(CONTROL_HEADER), settings.control_token):
                return self._control_refused()
            return self._run(handler, request, arguments, {})
        if rule.rule.startswith(journal_endpoints.FILES_PREFIX):
            # A pre-signed journal file link: its signature is the credential, sent without an Authorization header.
            return self._run(handler, request, arguments, {})
        token = _bearer_token(request)
        if rule.rule.startswith(JOURNAL_PREFIX) and _matches(token, settings.token):
            return self._journal_needs_app_token()
        if not _matches(token, settings.token):
            refused = self._oauth_refusal(token, request.method, path_template(rule), arguments)
            if refused is not None:
                return refused

        self.sandbox.count_request(f"{request.method} {path_template(rule)}")
        fault = self.sandbox.faults.take(request.method, request.path)
        if fault is not None:
            faulted = self._apply_fault(fault, request)
            if faulted is not None:
                return faulted
        decision = self.sandbox.rate_limiter.check(token, search=rule.endpoint is search.search_objects)
        if not decision.allowed:
            return json_response(decision.refusal, status=429, headers=decision.headers)
        return self._run(handler, request, arguments, decision.headers)

    def _run(self, handler: Handler, request: Request, arguments: dict[str, Any], headers: dict[str, str]) -> Response:
        try:
            response = handler(self.sandbox, request, **_python_arguments(arguments))
        except HubSpotError as error:
            response = error_response(error)
        except Exception:
            logger.exception("Sandbox handler failed on %s %s", request.method, request.path)
            response = json_response(
                error_body("INTERNAL_ERROR", "An internal error occurred in the sandbox."), status=500
            )
        response.headers.update(headers)
        return response

    def _oauth_refusal(self, token: str | None, method: str, template: str, arguments: dict[str, Any]) -> Response | None:
        """None when an OAuth access token may make this request; otherwise HubSpot's 401 or 403."""
        access = self.sandbox.oauth.find(token) if token else None
        if access is None:
            return self._unauthenticated(token)
        if self.sandbox.oauth.is_expired(access):
            message = "The OAuth token used to make this call expired " f"{int(self.sandbox.clock.now() - access.expires_at)} second(s) ago."
            return json_response(error_body("EXPIRED_AUTHENTICATION", message), status=401)
        named = arguments.get("objectType") or arguments.get("fromObjectType")
        kind = find_object_type(named) if named else None
        scope = oauth_tokens.required_scope(method, template, kind.name if kind else None)
        if scope is not None and scope not in access.scopes:
            body = error_body(
                "MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call.",
                errors=[{"message": f"One or more of the following scopes are required: [{scope}]",
                         "context": {"requiredGranularScopes": [scope]}}],
            )
            return json_response(body, status=403)
        return None

    @staticmethod
    def _unauthenticated(token: str | None) -> Response:
        if token is None:
            message = (
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
                "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
            )
        else:
            message = "The access token provided is invalid or does not belong to this portal."
        return json_response(error_body("INVALID_AUTHENTICATION", message), status=401)

    @staticmethod
    def _journal_needs_app_token() -> Response:
        """The webhooks journal answers an app's client-credentials token only ("Webhooks journal and management
        APIs (2026-03)": "The webhooks journal API uses a client credentials token"), never a private app's."""
        message = ("The webhooks journal API needs a client credentials token of the app "
                   "(POST /oauth/v3/token with grant_type=client_credentials and the developer.webhooks_journal scopes).")
        return json_response(error_body("INVALID_AUTHENTICATION", message), status=401)

    @staticmethod
    def _control_refused() -> Response:
        message = (
            f"The /_sandbox/ control routes need the {CONTROL_HEADER} header with the sandbox's control token "
            "(printed by `datasync sandbox serve`); the CRM access token does not open them."
        )
        return json_response(error_body("INVALID_AUTHENTICATION", message), status=401)

    def _apply_fault(self, fault: Fault, request: Request) -> Response | None:
        """Answer as the fault says, or return None to let the request through (a slow but normal answer)."""
        if fault.delay_seconds > 0:
            time.sleep(fault.delay_seconds)
        if fault.status == "timeout":
            if not fault.drop:
                return None
            connection = request.environ.get("werkzeug.socket")
            if isinstance(connection, socket.socket):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return json_response(error_body("TIMEOUT", "The request timed out."), status=504)
        if fault.status == 423 and fault.retry_after is not None:
            body = error_body("LOCKED", "The resource is locked by another request in progress.")
            return json_response(body, status=423, headers={"Retry-After": f"{fault.retry_after:g}"})
        if fault.status == 429:
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return json_response(rate_limit_body(fault.policy_name), status=429, headers=headers)
        messages = {
            # HubSpot answers 423 Locked to writes that meet a record or batch still being written by another
            # request (HUBSPOT_API.md: "423 Locked under heavy writes: wait >= 2 s"). The body's category and
            # wording are the sandbox's own: no published sample of that body was found.
            423: ("LOCKED", "The resource is locked by another request in progress. Retry after at least 2 seconds."),
            500: ("INTERNAL_ERROR", "An internal error occurred."),
            502: ("BAD_GATEWAY", "Bad gateway: the upstream service did not answer properly."),
            503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Try again later."),
            504: ("GATEWAY_TIMEOUT", "The request timed out at the gateway."),
        }
        category, message = messages[int(fault.status)]
        return json_response(error_body(category, message), status=int(fault.status))
