"""HubSpot error bodies (as the live API sends them) mapped to datasync's error categories."""

from __future__ import annotations

import pytest

from datasync_pipeline.connectors.hubspot.errors import (
    DuplicateRecordError,
    is_missing_scopes,
    record_error_from,
    refs_of_error,
    required_scopes,
)
from datasync_pipeline.errors import ErrorCategory

INVALID_EMAIL = {
    "status": "error",
    "category": "VALIDATION_ERROR",
    "message": 'Property values were not valid: [{"isValid":false,"message":"Email address x is invalid","error":"INVALID_EMAIL","name":"email"}]',
}


def _validation(code: str) -> dict:
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": f'Property values were not valid: [{{"isValid":false,"message":"bad","error":"{code}","name":"p"}}]',
    }


@pytest.mark.parametrize(
    ("body", "status", "category"),
    [
        (INVALID_EMAIL, 400, ErrorCategory.INVALID_EMAIL),
        (_validation("INVALID_OPTION"), 400, ErrorCategory.INVALID_PROPERTY_VALUE),
        (_validation("INVALID_INTEGER"), 400, ErrorCategory.INVALID_PROPERTY_VALUE),
        (_validation("PROPERTY_DOESNT_EXIST"), 400, ErrorCategory.UNKNOWN_PROPERTY),
        ({"category": "VALIDATION_ERROR", "message": "Duplicate IDs found in batch input"}, 400, ErrorCategory.INVALID_PROPERTY_VALUE),
        ({"category": "OBJECT_NOT_FOUND", "message": "Object not found"}, 404, ErrorCategory.NOT_FOUND),
        ({"category": "OBJECT_NOT_FOUND", "message": "Could not get some CONTACT objects"}, None, ErrorCategory.NOT_FOUND),
        ({"category": "MISSING_SCOPES", "message": "nope"}, 403, ErrorCategory.MISSING_PERMISSION),
        ({"message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT"}, 429, ErrorCategory.RATE_LIMITED),
        ({"message": "internal"}, 502, ErrorCategory.SERVER_ERROR),
        ({"message": "?"}, 418, ErrorCategory.UNKNOWN),
    ],
)
def test_error_bodies_map_to_categories(body, status, category):
    assert record_error_from(body, status=status).category == category


def test_invalid_email_message_names_the_property():
    assert record_error_from(INVALID_EMAIL, status=400).message == "email: Email address x is invalid"


def test_conflict_keeps_the_existing_id():
    error = record_error_from(
        {"status": "error", "category": "CONFLICT", "message": "Contact already exists. Existing ID: 37765128953"}, status=409
    )
    assert isinstance(error, DuplicateRecordError)
    assert error.category == ErrorCategory.DUPLICATE_ON_OTHER_SIDE
    assert error.existing_id == "37765128953"


def test_multi_status_errors_point_at_refs_by_trace_id_or_by_id():
    refs = ["a", "b", "c"]
    by_trace = {"category": "VALIDATION_ERROR", "context": {"objectWriteTraceId": ["b"]}}
    by_id = {"category": "OBJECT_NOT_FOUND", "context": {"ids": ["101", "999"]}}
    assert refs_of_error(by_trace, refs=refs, ref_by_id={}) == ["b"]
    assert refs_of_error(by_id, refs=refs, ref_by_id={"101": "a", "102": "c"}) == ["a"]
    assert refs_of_error({"category": "X"}, refs=refs, ref_by_id={}) == []


def test_missing_scopes_are_named():
    body = {
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call.",
        "category": "MISSING_SCOPES",
        "errors": [
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": ["crm.objects.contacts.write"]},
            }
        ],
    }
    assert is_missing_scopes(body)
    assert required_scopes(body) == ["crm.objects.contacts.write"]
