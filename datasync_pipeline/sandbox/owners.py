"""``/crm/v3/owners``: the users records can be assigned to, and the check on ``hubspot_owner_id``.

HubSpot's owners API is read-only (owners are the portal's users and are managed in its settings): list
with ``limit`` (at most 500), ``after``, ``email`` and ``archived``, and read one by id (or by
``idProperty=userId``). An owner is ``{id, email, firstName, lastName, userId, userIdIncludingInactive,
createdAt, updatedAt, archived, teams}``. A write of ``hubspot_owner_id`` naming no active owner is refused
with ``INVALID_OWNER_ID`` (HubSpot validates the property against the portal's owners). The sandbox starts
with two owners; tests and the demo add more through ``Sandbox.add_owner`` or ``POST /_sandbox/owners``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.errors import json_response, not_found, validation_error
from datasync_pipeline.sandbox.http_input import query_bool, query_int
from datasync_pipeline.sandbox.timestamps import now_milliseconds, to_iso

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox

KIND = "owners"
MAX_LIMIT = 500
FIRST_OWNER_ID = 75_000_001
FIRST_USER_ID = 9_000_001
DEFAULT_OWNERS = (
    ("olivia.owner@sandbox.example", "Olivia", "Owner"),
    ("sam.seller@sandbox.example", "Sam", "Seller"),
)


class Owners:
    """The portal's owners, kept in the store so they survive restarts."""

    def __init__(self, record_store: store.Store) -> None:
        self._store = record_store
        self._lock = threading.Lock()
        with self._store.reading() as connection:
            empty = not store.load_reference(connection, KIND)
        if empty:
            for email, first_name, last_name in DEFAULT_OWNERS:
                self.add(email, first_name, last_name)

    def all(self) -> list[dict[str, Any]]:
        with self._store.reading() as connection:
            return list(store.load_reference(connection, KIND).values())

    def add(self, email: str, first_name: str = "", last_name: str = "", *, archived: bool = False) -> dict[str, Any]:
        with self._lock:
            count = len(self.all())
            stamp = to_iso(now_milliseconds())
            owner = {
                "id": str(FIRST_OWNER_ID + count), "email": email, "type": "PERSON",
                "firstName": first_name, "lastName": last_name,
                "userId": FIRST_USER_ID + count, "userIdIncludingInactive": FIRST_USER_ID + count,
                "createdAt": stamp, "updatedAt": stamp, "archived": archived, "teams": [],
            }
            with self._store.transaction() as connection:
                store.put_reference(connection, KIND, owner["id"], owner)
        return owner

    def active_ids(self) -> set[str]:
        return {owner["id"] for owner in self.all() if not owner["archived"]}


def list_owners(sandbox: Sandbox, request: Request) -> Response:
    limit = query_int(request, "limit", 100)
    if limit < 1 or limit > MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}.")
    after = query_int(request, "after", 0)
    email = request.args.get("email")
    archived = query_bool(request, "archived")
    matching = [
        owner for owner in sandbox.owners.all()
        if owner["archived"] == archived and (email is None or owner["email"].lower() == email.strip().lower())
    ]
    page = matching[after : after + limit]
    body: dict[str, Any] = {"results": page}
    if after + limit < len(matching):
        next_after = str(after + limit)
        body["paging"] = {"next": {"after": next_after, "link": f"{request.base_url}?after={next_after}&limit={limit}"}}
    return json_response(body)


def get_owner(sandbox: Sandbox, request: Request, owner_id: str) -> Response:
    id_property = request.args.get("idProperty", "id")
    if id_property not in {"id", "userId"}:
        raise validation_error(f"idProperty must be id or userId, not {id_property!r}.")
    archived = query_bool(request, "archived")
    for owner in sandbox.owners.all():
        if str(owner[id_property]) == owner_id and owner["archived"] == archived:
            return json_response(owner)
    raise not_found(f"No owner with {id_property} {owner_id} exists.", context={"id": [owner_id]})
