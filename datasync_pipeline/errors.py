"""The catalogue of error categories every failed record is classified into.

A category names what went wrong in words a RevOps user acts on; the connectors turn HubSpot error
bodies and database errors into one of these, and the sync health views count failures by them.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCategory(StrEnum):
    INVALID_EMAIL = "invalid_email"
    INVALID_PROPERTY_VALUE = "invalid_property_value"
    UNMAPPED_VALUE = "unmapped_value"  # a value with no counterpart on the other side (value map, owner, pipeline, stage)
    UNKNOWN_PROPERTY = "unknown_property"
    MISSING_REQUIRED_FIELD = "missing_required_field"
    DUPLICATE_ON_OTHER_SIDE = "duplicate_on_other_side"
    DELETED_IN_HUBSPOT = "deleted_in_hubspot"
    DELETED_IN_APP = "deleted_in_app"
    LINK_CONTRADICTS_IDENTITY = "link_contradicts_identity"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited_after_retries"
    MISSING_PERMISSION = "missing_permission"
    AUTHENTICATION = "authentication_failed"
    ASSOCIATION_FAILED = "association_failed"
    SERVER_ERROR = "server_error_after_retries"
    DATABASE_ERROR = "database_error"
    UNKNOWN = "unknown"


class DatasyncError(Exception):
    """Base of the errors datasync raises on purpose; the message is meant for the user."""


class RecordError(DatasyncError):
    """One record could not be written; the batch it was in goes on."""

    def __init__(self, category: ErrorCategory, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
