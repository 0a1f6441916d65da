"""The ``/_sandbox/`` control API: seed records and owners, inject faults, hand out OAuth codes, move the clock, set
the search indexing lag and read request counts over HTTP.

It lets a sandbox served by another process be driven the way tests drive an in-process one. Its own
credential: the ``X-Sandbox-Control-Token`` header with the sandbox's ``control_token``, never the CRM
bearer token nor an OAuth access token. Never rate limited, faulted or counted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox.errors import json_response, validation_error
from datasync_pipeline.sandbox.faults import Fault
from datasync_pipeline.sandbox.http_input import parse_record_id, read_body, read_json_object, resolve_object_type
from datasync_pipeline.sandbox.request_shapes import SEARCH_INDEX_CONTROL
from datasync_pipeline.sandbox.timestamps import parse_to_milliseconds, to_iso

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox


def seed(sandbox: Sandbox, request: Request) -> Response:
    """``{objectType, records: [{property: value}], updatedAt?}`` -> ``{ids}``, bypassing validation."""
    body = read_json_object(request)
    kind = resolve_object_type(str(body.get("objectType", "")))
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise validation_error("'records' must be a list of property objects.")
    updated_at = None
    if body.get("updatedAt") is not None:
        milliseconds = parse_to_milliseconds(body["updatedAt"])
        if milliseconds is None:
            raise validation_error(f"updatedAt {body['updatedAt']!r} is not a date.")
        updated_at = datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
    ids = sandbox.seed(kind.name, records, updated_at=updated_at)
    return json_response({"objectType": kind.name, "ids": ids}, status=201)


def add_fault(sandbox: Sandbox, request: Request) -> Response:
    try:
        fault = Fault.from_json(read_json_object(request))
    except (TypeError, ValueError) as problem:
        raise validation_error(f"Invalid fault: {problem}") from problem
    sandbox.faults.add(fault)
    return json_response({"fault": fault.to_json(), "pending": [item.to_json() for item in sandbox.faults.pending]}, status=201)


def clear_faults(sandbox: Sandbox, request: Request) -> Response:
    sandbox.faults.clear()
    return Response(status=204)


def add_owner(sandbox: Sandbox, request: Request) -> Response:
    """``{email, firstName?, lastName?, archived?}`` -> the owner as ``/crm/v3/owners`` lists it.

    HubSpot's owners are the portal's users, added in its settings, never through the API; a served sandbox's
    users seed them here, as tests do in-process with ``Sandbox.add_owner``.
    """
    body = read_json_object(request)
    email = body.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise validation_error("'email' must be the owner's email address.")
    names = {key: body.get(key, "") for key in ("firstName", "lastName")}
    if not all(isinstance(value, str) for value in names.values()):
        raise validation_error("'firstName' and 'lastName' must be strings.")
    archived = body.get("archived", False)
    if not isinstance(archived, bool):
        raise validation_error("'archived' must be true or false.")
    if any(owner["email"].lower() == email.lower() for owner in sandbox.owners.all()):
        raise validation_error(f"An owner with email {email} already exists.")
    owner = sandbox.owners.add(email, names["firstName"], names["lastName"], archived=archived)
    return json_response(owner, status=201)


def authorize(sandbox: Sandbox, request: Request) -> Response:
    """``{scopes?}`` -> ``{code}``: what HubSpot's consent page redirects with, to exchange at ``/oauth/v1/token``."""
    body = read_json_object(request) if request.get_data() else {}
    scopes = body.get("scopes")
    if scopes is not None and (not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes)):
        raise validation_error("'scopes' must be a list of scope names.")
    code = sandbox.oauth.authorize(scopes) if scopes is not None else sandbox.oauth.authorize()
    return json_response({"code": code}, status=201)


def advance_clock(sandbox: Sandbox, request: Request) -> Response:
    """``{advanceSeconds}``: move the sandbox clock forward (token expiry), instead of sleeping in tests."""
    seconds = read_json_object(request).get("advanceSeconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise validation_error("'advanceSeconds' must be a non-negative number.")
    sandbox.clock.advance(float(seconds))
    return json_response({"advancedSeconds": seconds, "now": to_iso(sandbox.clock.milliseconds())})


def search_index_state(sandbox: Sandbox, request: Request) -> Response:
    """How search lags writes now: ``{delayMs, jitterMs, seed, held, pending}`` (``search_index``)."""
    with sandbox.store.reading() as connection:
        return json_response(sandbox.search_index.describe(connection))


def configure_search_index(sandbox: Sandbox, request: Request) -> Response:
    """``{delayMs?, jitterMs?, seed?, hold?: [ids], release?: [ids]}``: change the indexing lag at runtime.

    ``delayMs`` delays every later write's visibility to search; ``jitterMs`` adds a seeded random extra delay of up
    to that much per write (writes surface out of order); ``hold`` keeps the named records' writes out of search
    until they are named in ``release``.
    """
    body = read_body(request, SEARCH_INDEX_CONTROL)
    rules = {name: int(body[key]) for key, name in (("delayMs", "delay_ms"), ("jitterMs", "jitter_ms"), ("seed", "seed"))
             if body.get(key) is not None}
    if any(value < 0 for name, value in rules.items() if name != "seed"):
        raise validation_error("delayMs and jitterMs must not be negative.")
    ids = {}
    for key in ("hold", "release"):
        parsed = [parse_record_id(value) for value in body.get(key) or []]
        if any(record_id is None for record_id in parsed):
            raise validation_error(f"'{key}' must list record ids.")
        ids[key] = parsed
    sandbox.search_index.configure(**rules)
    with sandbox.store.transaction() as connection:
        sandbox.search_index.hold(connection, ids["hold"])
        sandbox.search_index.release(connection, ids["release"])
        return json_response(sandbox.search_index.describe(connection))


def stats(sandbox: Sandbox, request: Request) -> Response:
    return json_response({
        "requestCounts": sandbox.request_counts_snapshot(),
        "pendingFaults": [fault.to_json() for fault in sandbox.faults.pending],
        "tier": sandbox.settings.tier,
    })
