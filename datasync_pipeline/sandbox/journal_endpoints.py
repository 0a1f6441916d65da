"""The webhooks journal's HTTP endpoints (2026-03): entries, batches, the pre-signed entry files, subscriptions.

Paths, shapes and limits follow the pages named in ``journal``'s docstring: ``GET {journal}/earliest``,
``/latest``, ``/offset/{offset}/next``, ``/batch/earliest/{count}``, ``/batch/latest/{count}`` and
``POST {journal}/batch/read`` (at most 100 offsets; a malformed offset fails the whole request with a 400, an
unknown one is listed in ``errors`` with ``context.offset`` and category OBJECT_NOT_FOUND, and the answer is then a
207), for ``{journal}`` = ``/webhooks-journal/journal/2026-03`` and ``/webhooks-journal/journal-local/2026-03``;
``POST``/``GET /webhooks-journal/subscriptions/2026-03`` and ``DELETE .../subscriptions/2026-03/portals/{portalId}``.
``GET /webhooks-journal/files/{offset}`` is where the sandbox's pre-signed urls point (HubSpot's point at storage).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox.errors import json_response, not_found, validation_error
from datasync_pipeline.sandbox.http_input import read_body
from datasync_pipeline.sandbox.oauth import SANDBOX_HUB_ID
from datasync_pipeline.sandbox.request_shapes import JOURNAL_BATCH_READ, JOURNAL_SUBSCRIPTION
from datasync_pipeline.sandbox.timestamps import to_iso

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox

JOURNAL_PREFIXES = ("/webhooks-journal/journal/2026-03", "/webhooks-journal/journal-local/2026-03")
SUBSCRIPTIONS_PATH = "/webhooks-journal/subscriptions/2026-03"
FILES_PREFIX = "/webhooks-journal/files"
MAX_BATCH = 100


def _other_portal(request: Request) -> bool:
    """``installPortalId`` naming a portal other than the sandbox's: that install has no entries here."""
    portal = request.args.get("installPortalId")
    return portal is not None and portal != str(SANDBOX_HUB_ID)


def _count(count: str) -> int:
    if not count.isdigit() or not 1 <= int(count) <= MAX_BATCH:
        raise validation_error(f"count must be a whole number from 1 to {MAX_BATCH}, not {count!r}.")
    return int(count)


def _batch(results: list[dict[str, Any]], errors: list[dict[str, Any]], started: int, sandbox: Sandbox) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": to_iso(started),
                            "completedAt": to_iso(sandbox.clock.milliseconds())}
    if errors:
        body["numErrors"], body["errors"] = len(errors), errors
    return body


def _one(sandbox: Sandbox, request: Request, rows: list[Any]) -> Response:
    if not rows or _other_portal(request):
        raise not_found("The journal holds no entries for this app.")
    return json_response(sandbox.journal.answer(rows[0], request.host_url))


def earliest(sandbox: Sandbox, request: Request) -> Response:
    return _one(sandbox, request, sandbox.journal.earliest())


def latest(sandbox: Sandbox, request: Request) -> Response:
    return _one(sandbox, request, sandbox.journal.latest())


def next_entry(sandbox: Sandbox, request: Request, offset: str) -> Response:
    """The entry after ``offset``; 204 when none has been written since (caught up), 404 for an expired offset."""
    row = sandbox.journal.after(offset)
    if row is None or _other_portal(request):
        return Response(status=204)
    return json_response(sandbox.journal.answer(row, request.host_url))


def batch_earliest(sandbox: Sandbox, request: Request, count: str) -> Response:
    started = sandbox.clock.milliseconds()
    rows = [] if _other_portal(request) else sandbox.journal.earliest(_count(count))
    return json_response(_batch([sandbox.journal.answer(row, request.host_url) for row in rows], [], started, sandbox))


def batch_latest(sandbox: Sandbox, request: Request, count: str) -> Response:
    started = sandbox.clock.milliseconds()
    rows = [] if _other_portal(request) else sandbox.journal.latest(_count(count))
    return json_response(_batch([sandbox.journal.answer(row, request.host_url) for row in rows], [], started, sandbox))


def batch_read(sandbox: Sandbox, request: Request) -> Response:
    started = sandbox.clock.milliseconds()
    offsets = [str(offset) for offset in read_body(request, JOURNAL_BATCH_READ).get("inputs") or []]
    if len(offsets) > MAX_BATCH:
        raise validation_error(f"Batch input limit exceeded: received {len(offsets)} offsets, the limit is {MAX_BATCH}.")
    for offset in offsets:
        try:
            uuid.UUID(offset)
        except ValueError as problem:
            raise validation_error(f"{offset!r} is not a journal offset (a UUID).") from problem
    found = {} if _other_portal(request) else sandbox.journal.find(offsets)
    results = [sandbox.journal.answer(found[offset], request.host_url) for offset in offsets if offset in found]
    errors = [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": f"No journal entry {offset} for this app.",
               "context": {"offset": [offset]}} for offset in offsets if offset not in found]
    return json_response(_batch(results, errors, started, sandbox), status=207 if errors else 200)


def entry_file(sandbox: Sandbox, request: Request, offset: str) -> Response:
    """What a pre-signed url downloads: the entry's events (no Authorization header: the signature is the credential)."""
    body = sandbox.journal.file(offset, request.args.get("expires", ""), request.args.get("signature", ""))
    return json_response(body)


def create_subscription(sandbox: Sandbox, request: Request) -> Response:
    return json_response(sandbox.journal.subscribe(read_body(request, JOURNAL_SUBSCRIPTION)))


def list_subscriptions(sandbox: Sandbox, request: Request) -> Response:
    return json_response({"results": sandbox.journal.subscriptions})


def delete_portal_subscriptions(sandbox: Sandbox, request: Request, portal_id: str) -> Response:
    if not portal_id.isdigit():
        raise validation_error(f"portalId must be a number, not {portal_id!r}.")
    sandbox.journal.unsubscribe_portal(int(portal_id))
    return Response(status=204)
