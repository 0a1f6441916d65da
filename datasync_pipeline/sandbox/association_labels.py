"""Association labels: the portal's own (USER_DEFINED) association types, and the ``/labels`` API.

Modelled on HubSpot's associations v4 guide ("Create and manage association labels"):
- ``GET /crm/v4/associations/{from}/{to}/labels`` lists every type of the pair, HubSpot's own (the unlabeled
  one with ``label: null``, "Primary" where it exists) and the portal's labels, as ``{category, typeId, label}``;
- ``POST`` ``{label, name, inverseLabel?}`` creates a label: one USER_DEFINED type id per direction (a paired
  label's reverse direction carries ``inverseLabel``, an unpaired one the same label) and answers both;
- ``PUT`` ``{associationTypeId, label, inverseLabel?}`` renames (204); ``DELETE .../labels/{typeId}`` removes
  the label and its reverse (204);
- a link of an unknown USER_DEFINED or INTEGRATOR_DEFINED type id is refused as a 400, like an unknown
  HubSpot-defined one.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.association_links import Link
from datasync_pipeline.sandbox.association_types import HUBSPOT_DEFINED, pair_for
from datasync_pipeline.sandbox.errors import HubSpotError, json_response, not_found, validation_error
from datasync_pipeline.sandbox.http_input import read_body, resolve_object_type
from datasync_pipeline.sandbox.request_shapes import LABEL_CREATE, LABEL_UPDATE

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox

KIND = "association_labels"
USER_DEFINED = "USER_DEFINED"
FIRST_LABEL_TYPE_ID = 1000
_LABEL_NAME = re.compile(r"^[a-z0-9_]+$")


class AssociationLabels:
    """The portal's labels, one entry per direction: ``{typeId, fromType, toType, label, name, reverseTypeId}``."""

    def __init__(self, record_store: store.Store) -> None:
        self._store = record_store
        self._lock = threading.Lock()

    def all(self) -> list[dict[str, Any]]:
        with self._store.reading() as connection:
            return list(store.load_reference(connection, KIND).values())

    def find(self, from_type: str, to_type: str, type_id: Any) -> dict[str, Any] | None:
        for label in self.all():
            if label["typeId"] == type_id and label["fromType"] == from_type and label["toType"] == to_type:
                return label
        return None

    def is_known(self, from_type: str, to_type: str, category: str, type_id: Any) -> bool:
        """Whether links of this category and type id may join these two object types."""
        if not isinstance(type_id, int) or isinstance(type_id, bool):
            return False
        if category == HUBSPOT_DEFINED:
            pair = pair_for(from_type, to_type)
            return pair is not None and type_id in {pair.unlabeled, pair.primary}
        return self.find(from_type, to_type, type_id) is not None

    def create(self, from_type: str, to_type: str, label: str, name: str, inverse_label: str | None) -> list[dict[str, Any]]:
        if not label or not name or not _LABEL_NAME.match(name):
            raise validation_error("A label needs a label and a name of lower-case letters, digits and underscores.")
        with self._lock:
            existing = self.all()
            if any(item["name"] == name and {item["fromType"], item["toType"]} == {from_type, to_type} for item in existing):
                raise HubSpotError(409, "CONFLICT", f"An association label named '{name}' already exists.")
            forward_id = max([FIRST_LABEL_TYPE_ID - 1, *(item["typeId"] for item in existing)]) + 1
            reverse_id = forward_id + 1
            forward = {"typeId": forward_id, "fromType": from_type, "toType": to_type, "label": label, "name": name,
                       "reverseTypeId": reverse_id}
            reverse = {"typeId": reverse_id, "fromType": to_type, "toType": from_type, "label": inverse_label or label,
                       "name": name, "reverseTypeId": forward_id}
            with self._store.transaction() as connection:
                for item in (forward, reverse):
                    store.put_reference(connection, KIND, str(item["typeId"]), item)
        return [forward, reverse] if inverse_label else [forward]

    def rename(self, from_type: str, to_type: str, type_id: Any, label: str, inverse_label: str | None) -> None:
        with self._lock:
            forward = self._existing(from_type, to_type, type_id)
            reverse = self.find(to_type, from_type, forward["reverseTypeId"])
            with self._store.transaction() as connection:
                store.put_reference(connection, KIND, str(type_id), {**forward, "label": label})
                if reverse is not None:
                    store.put_reference(connection, KIND, str(reverse["typeId"]),
                                        {**reverse, "label": inverse_label or reverse["label"]})

    def delete(self, from_type: str, to_type: str, type_id: Any) -> None:
        with self._lock:
            forward = self._existing(from_type, to_type, type_id)
            with self._store.transaction() as connection:
                store.delete_reference(connection, KIND, str(forward["typeId"]))
                store.delete_reference(connection, KIND, str(forward["reverseTypeId"]))

    def _existing(self, from_type: str, to_type: str, type_id: Any) -> dict[str, Any]:
        found = self.find(from_type, to_type, type_id)
        if found is None:
            raise not_found(f"No association label {type_id} exists from {from_type} to {to_type}.")
        return found


def labeled_link(
    labels: AssociationLabels, from_type: str, from_id: int, to_type: str, to_id: int, category: str, type_id: int
) -> Link:
    """A link of any known type, carrying the label of each direction for the portal's own types."""
    if category == HUBSPOT_DEFINED:
        return Link(from_type, from_id, to_type, to_id, category, type_id)
    forward = labels.find(from_type, to_type, type_id)
    assert forward is not None, "check is_known first"
    reverse = labels.find(to_type, from_type, forward["reverseTypeId"])
    return Link(from_type, from_id, to_type, to_id, category, type_id, forward["label"],
                reverse_type_id=forward["reverseTypeId"], reverse_label=reverse["label"] if reverse else forward["label"])


def _spec(label: dict[str, Any]) -> dict[str, Any]:
    return {"category": USER_DEFINED, "typeId": label["typeId"], "label": label["label"]}


def list_labels(sandbox: Sandbox, request: Request, from_object_type: str, to_object_type: str) -> Response:
    from_type, to_type = resolve_object_type(from_object_type).name, resolve_object_type(to_object_type).name
    results: list[dict[str, Any]] = []
    pair = pair_for(from_type, to_type)
    if pair is not None:
        results.append({"category": HUBSPOT_DEFINED, "typeId": pair.unlabeled, "label": None})
        if pair.primary is not None:
            results.append({"category": HUBSPOT_DEFINED, "typeId": pair.primary, "label": "Primary"})
    results.extend(_spec(label) for label in sandbox.labels.all()
                   if label["fromType"] == from_type and label["toType"] == to_type)
    return json_response({"results": results})


def create_label(sandbox: Sandbox, request: Request, from_object_type: str, to_object_type: str) -> Response:
    from_type, to_type = resolve_object_type(from_object_type).name, resolve_object_type(to_object_type).name
    body = read_body(request, LABEL_CREATE)
    created = sandbox.labels.create(from_type, to_type, str(body.get("label") or ""), str(body.get("name") or ""),
                                    body.get("inverseLabel"))
    return json_response({"results": [_spec(label) for label in created]})


def update_label(sandbox: Sandbox, request: Request, from_object_type: str, to_object_type: str) -> Response:
    from_type, to_type = resolve_object_type(from_object_type).name, resolve_object_type(to_object_type).name
    body = read_body(request, LABEL_UPDATE)
    if body.get("associationTypeId") is None or not body.get("label"):
        raise validation_error("Updating a label needs its associationTypeId and the new label.")
    sandbox.labels.rename(from_type, to_type, int(body["associationTypeId"]), str(body["label"]), body.get("inverseLabel"))
    return Response(status=204)


def delete_label(sandbox: Sandbox, request: Request, from_object_type: str, to_object_type: str, association_type_id: str) -> Response:
    from_type, to_type = resolve_object_type(from_object_type).name, resolve_object_type(to_object_type).name
    if not association_type_id.isdigit():
        raise validation_error(f"Association type id {association_type_id!r} is not a number.")
    sandbox.labels.delete(from_type, to_type, int(association_type_id))
    return Response(status=204)
