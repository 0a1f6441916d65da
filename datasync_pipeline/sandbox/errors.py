"""HubSpot-shaped error bodies, and the exception handlers raise to produce one.

Every error the sandbox answers has ``status: "error"``, a ``message``, a fresh ``correlationId`` and a
``category``, like HubSpot's; clients parse these, so the shapes follow HUBSPOT_API.md closely.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from werkzeug.wrappers import Response


class HubSpotError(Exception):
    """An error answer: raised anywhere inside a handler, rendered by the app."""

    def __init__(self, status_code: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.category = category
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return error_body(self.category, self.message, **self.extra)


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    body.update({key: value for key, value in extra.items() if value is not None})
    return body


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def error_response(error: HubSpotError, headers: dict[str, str] | None = None) -> Response:
    return json_response(error.body(), status=error.status_code, headers=headers)


def validation_error(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message, **extra)


def property_values_error(problems: list[dict[str, Any]]) -> HubSpotError:
    """HubSpot's 400 for invalid property values: the problems are JSON inside the message.

    Each problem is ``{"isValid": false, "message", "error", "name"}`` in that order, exactly as
    HubSpot writes them, because clients pick the error code out of the message text.
    """
    message = "Property values were not valid: " + json.dumps(problems, separators=(",", ":"))
    errors = [
        {"message": problem["message"], "code": problem["error"], "context": {"propertyName": [problem["name"]]}}
        for problem in problems
    ]
    return validation_error(message, errors=errors)


def not_found(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(404, "OBJECT_NOT_FOUND", message, **extra)
