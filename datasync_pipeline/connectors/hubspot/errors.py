"""HubSpot error bodies turned into datasync's error categories.

HubSpot reports failures in a few shapes: a request-level body (`{category, message, errors, context}`),
a 207 multi-status body whose `errors[]` point at inputs through `context.objectWriteTraceId` or
`context.ids`, and validation messages that embed a JSON list of per-property problems. This module
reads all of them into `RecordError`s (one per failed input) or into the request-level exceptions the
client raises, so the sync health views can count failures by a category a user acts on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from datasync_pipeline.errors import DatasyncError, ErrorCategory, RecordError

_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)", re.IGNORECASE)
_EMBEDDED_JSON_LIST = re.compile(r"(\[\s*\{.*\}\s*\])", re.DOTALL)

_CATEGORY_BY_CODE = {
    "INVALID_EMAIL": ErrorCategory.INVALID_EMAIL,
    "PROPERTY_DOESNT_EXIST": ErrorCategory.UNKNOWN_PROPERTY,
    "INVALID_OPTION": ErrorCategory.INVALID_PROPERTY_VALUE,
    "INVALID_INTEGER": ErrorCategory.INVALID_PROPERTY_VALUE,
    "INVALID_DATE": ErrorCategory.INVALID_PROPERTY_VALUE,
    "INVALID_LONG": ErrorCategory.INVALID_PROPERTY_VALUE,
    "INVALID_DOUBLE": ErrorCategory.INVALID_PROPERTY_VALUE,
    "READ_ONLY_VALUE": ErrorCategory.INVALID_PROPERTY_VALUE,
}


class DuplicateRecordError(RecordError):
    """The record already exists in HubSpot; `existing_id` is the HubSpot id the engine can link to."""

    def __init__(self, message: str, existing_id: str | None) -> None:
        super().__init__(ErrorCategory.DUPLICATE_ON_OTHER_SIDE, message)
        self.existing_id = existing_id


class AuthenticationError(DatasyncError):
    """HubSpot refused the token (401): invalid, expired or revoked. Nothing else can succeed."""

    category = ErrorCategory.AUTHENTICATION


class MissingScopesError(DatasyncError):
    """The token lacks scopes an endpoint needs (403 MISSING_SCOPES); names them so the user can add them."""

    category = ErrorCategory.MISSING_PERMISSION

    def __init__(self, message: str, required_scopes: list[str]) -> None:
        super().__init__(message)
        self.required_scopes = required_scopes


class HubSpotRequestError(DatasyncError):
    """A request failed as a whole; `record_error` is what each of its inputs failed with.

    `status` is the HTTP status (None for timeouts and connection errors) and `body` the parsed error body.
    """

    def __init__(self, record_error: RecordError, *, status: int | None, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(record_error.message)
        self.record_error = record_error
        self.category = record_error.category
        self.status = status
        self.body = dict(body or {})


class TransientRequestError(HubSpotRequestError):
    """A failure worth retrying (429, 423, 5xx, timeout, connection); `wait_seconds` is the server's hint."""

    def __init__(
        self,
        record_error: RecordError,
        *,
        status: int | None,
        body: Mapping[str, Any] | None = None,
        wait_seconds: float | None = None,
    ) -> None:
        super().__init__(record_error, status=status, body=body)
        self.wait_seconds = wait_seconds


class RejectedRequestError(HubSpotRequestError):
    """HubSpot rejected the request (4xx): retrying the same request cannot help.

    `is_record_level` tells whether the rejection is about the data of some input (validation, conflict,
    not found), in which case splitting the batch isolates the bad inputs, rather than about the request.
    """

    @property
    def is_record_level(self) -> bool:
        return self.status in (400, 404, 409) and self.category not in (
            ErrorCategory.RATE_LIMITED,
            ErrorCategory.MISSING_PERMISSION,
        )

    @property
    def can_be_bisected(self) -> bool:
        """A 400 or 409 that names no input is narrowed down by splitting the batch; a 404 naming no
        input is more likely a wrong path or object type, which splitting would only repeat."""
        return self.is_record_level and self.status in (400, 409)


def record_error_from(error: Mapping[str, Any], *, status: int | None = None) -> RecordError:
    """The category and a readable message for one HubSpot error object (a whole body or one of `errors[]`)."""
    hubspot_category = str(error.get("category") or "")
    message = str(error.get("message") or (f"HubSpot answered HTTP {status}" if status else "HubSpot reported an error"))
    if hubspot_category == "CONFLICT" or status == 409:
        match = _EXISTING_ID.search(message)
        return DuplicateRecordError(message, match.group(1) if match else None)
    if hubspot_category == "OBJECT_NOT_FOUND" or status == 404:
        return RecordError(ErrorCategory.NOT_FOUND, message)
    if status == 403 or hubspot_category in ("MISSING_SCOPES", "FORBIDDEN"):
        return RecordError(ErrorCategory.MISSING_PERMISSION, message)
    if status == 401:
        return RecordError(ErrorCategory.AUTHENTICATION, message)
    if status == 429 or hubspot_category == "RATE_LIMITS" or error.get("errorType") == "RATE_LIMIT":
        return RecordError(ErrorCategory.RATE_LIMITED, message)
    if status is not None and status >= 500:
        return RecordError(ErrorCategory.SERVER_ERROR, message)
    problems = _property_problems(error)
    for code in _codes(error, problems):
        if code in _CATEGORY_BY_CODE:
            return RecordError(_CATEGORY_BY_CODE[code], _problem_message(problems) or message)
    if hubspot_category == "VALIDATION_ERROR" or status == 400:
        return RecordError(ErrorCategory.INVALID_PROPERTY_VALUE, _problem_message(problems) or message)
    return RecordError(ErrorCategory.UNKNOWN, message)


def refs_of_error(error: Mapping[str, Any], *, refs: Iterable[str], ref_by_id: Mapping[str, str]) -> list[str]:
    """The inputs one error of a multi-status body is about, by trace id (the ref) or by record id."""
    known_refs = set(refs)
    context = error.get("context") or {}
    found = [ref for ref in _as_list(context.get("objectWriteTraceId")) if ref in known_refs]
    found += [ref_by_id[i] for i in _as_list(context.get("ids")) if i in ref_by_id]
    return list(dict.fromkeys(found))


def required_scopes(body: Mapping[str, Any]) -> list[str]:
    """The scopes a 403 MISSING_SCOPES body says are needed."""
    scopes: list[str] = []
    for error in body.get("errors") or []:
        context = error.get("context") or {}
        for key in ("requiredGranularScopes", "requiredScopes"):
            scopes += _as_list(context.get(key))
    context = body.get("context") or {}
    for key in ("requiredGranularScopes", "requiredScopes"):
        scopes += _as_list(context.get(key))
    return list(dict.fromkeys(scopes))


def is_missing_scopes(body: Mapping[str, Any]) -> bool:
    return body.get("category") == "MISSING_SCOPES" or body.get("subCategory") == "MISSING_SCOPES" or bool(
        required_scopes(body)
    )


def _property_problems(error: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-property problems embedded as JSON in a validation message, e.g. `Property values were not valid: [...]`."""
    match = _EMBEDDED_JSON_LIST.search(str(error.get("message") or ""))
    if not match:
        return []
    try:
        parsed = json.loads(match.group(1))
    except ValueError:
        return []
    return [item for item in parsed if isinstance(item, dict)]


def _codes(error: Mapping[str, Any], problems: list[dict[str, Any]]) -> list[str]:
    codes = [str(problem.get("error")) for problem in problems if problem.get("error")]
    codes += [str(detail.get("code")) for detail in error.get("errors") or [] if isinstance(detail, dict) and detail.get("code")]
    for key in ("code", "subCategory"):
        if isinstance(error.get(key), str):
            codes.append(error[key])
    return codes


def _problem_message(problems: list[dict[str, Any]]) -> str:
    """`email: Email address x is invalid; ...` from the embedded per-property problems."""
    parts = []
    for problem in problems:
        text = str(problem.get("message") or problem.get("error"))
        parts.append(f"{problem['name']}: {text}" if problem.get("name") else text)
    return "; ".join(parts)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(item) for item in value]
    return [str(value)]
