"""Turn database exceptions into datasync errors: categorised, located, and free of secrets.

A failed row becomes a ``RecordError`` whose category says what the user should fix (a required
column left empty, a value already taken, a value the column cannot hold) and whose message names
the table, the column when the database says which, and the caller's reference for the row. Only
the first line of the driver's message is kept: later lines (Postgres' DETAIL, SQLAlchemy's
``[SQL: ...]`` and parameters) may carry row values. Connection failures name the URL with the
password masked and drop the driver exception chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc

from datasync_pipeline.errors import DatasyncError, ErrorCategory, RecordError

# SQLSTATE classes and codes (Postgres, also reported by other drivers that expose ``pgcode``/``sqlstate``).
_SQLSTATE_CATEGORIES = {
    "23502": ErrorCategory.MISSING_REQUIRED_FIELD,  # not_null_violation
    "23505": ErrorCategory.DUPLICATE_ON_OTHER_SIDE,  # unique_violation
    "23503": ErrorCategory.ASSOCIATION_FAILED,  # foreign_key_violation
    "23514": ErrorCategory.INVALID_PROPERTY_VALUE,  # check_violation
}

# Message patterns for drivers without SQLSTATE (SQLite, MySQL), checked in order.
_MESSAGE_CATEGORIES = [
    (re.compile(r"NOT NULL|cannot be null|not-null", re.IGNORECASE), ErrorCategory.MISSING_REQUIRED_FIELD),
    (re.compile(r"UNIQUE|Duplicate entry|duplicate key", re.IGNORECASE), ErrorCategory.DUPLICATE_ON_OTHER_SIDE),
    (re.compile(r"FOREIGN KEY", re.IGNORECASE), ErrorCategory.ASSOCIATION_FAILED),
    (re.compile(r"CHECK constraint", re.IGNORECASE), ErrorCategory.INVALID_PROPERTY_VALUE),
]

_CATEGORY_WORDS = {
    ErrorCategory.MISSING_REQUIRED_FIELD: "a required value is missing",
    ErrorCategory.DUPLICATE_ON_OTHER_SIDE: "a value that must be unique is already used by another row",
    ErrorCategory.ASSOCIATION_FAILED: "it refers to a row that does not exist",
    ErrorCategory.INVALID_PROPERTY_VALUE: "a value does not fit its column",
    ErrorCategory.DATABASE_ERROR: "the database refused it",
}

_COLUMN_PATTERNS = [
    re.compile(r'column "(?P<column>[^"]+)"'),  # Postgres not-null
    re.compile(r"Key \((?P<column>[^)]+)\)="),  # Postgres unique detail
    re.compile(r"Column '(?P<column>[^']+)'"),  # MySQL
]


def masked_url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def translate_connection_errors(engine: sa.Engine, doing: str) -> Iterator[None]:
    """Raise a ``DatasyncError`` naming the masked URL when the database cannot be reached."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        if not _is_connection_problem(exc):
            raise
        raise DatasyncError(
            f"cannot reach the app database at {masked_url(engine)} while {doing}: {_first_line(exc)}"
        ) from None


def is_connection_problem(exc: BaseException) -> bool:
    """True when ``exc`` means the database is unreachable (no row is to blame)."""
    return isinstance(exc, sa_exc.DBAPIError) and _is_connection_problem(exc)


def _is_connection_problem(exc: sa_exc.DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    text = _first_line(exc).lower()
    return any(
        marker in text
        for marker in ("could not connect", "connection refused", "connection to server", "unable to open database")
    )


def record_error(
    exc: BaseException, *, table: str, reference: str, known_columns: Iterable[str]
) -> RecordError:
    """The ``RecordError`` for one row that the database refused."""
    category = _category(exc)
    column = _column(exc, list(known_columns))
    where = f" (column {column!r})" if column else ""
    words = _CATEGORY_WORDS.get(category, "the database refused it")
    message = (
        f"table {table!r}: record {reference!r} was not written{where}: {words}. "
        f"Database said: {_first_line(exc)}"
    )
    return RecordError(category, message)


def _category(exc: BaseException) -> ErrorCategory:
    if not isinstance(exc, sa_exc.DBAPIError):
        # Raised before reaching the database: a Python value the column type cannot bind.
        return ErrorCategory.INVALID_PROPERTY_VALUE if isinstance(exc, sa_exc.StatementError) else ErrorCategory.UNKNOWN
    sqlstate = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
    if sqlstate in _SQLSTATE_CATEGORIES:
        return _SQLSTATE_CATEGORIES[sqlstate]
    if sqlstate and sqlstate.startswith("22"):  # data exception: too long, bad format, out of range
        return ErrorCategory.INVALID_PROPERTY_VALUE
    if isinstance(exc, sa_exc.IntegrityError):
        text = _first_line(exc)
        for pattern, category in _MESSAGE_CATEGORIES:
            if pattern.search(text):
                return category
        return ErrorCategory.DATABASE_ERROR
    if isinstance(exc, sa_exc.DataError):
        return ErrorCategory.INVALID_PROPERTY_VALUE
    return ErrorCategory.DATABASE_ERROR


def _column(exc: BaseException, known_columns: list[str]) -> str | None:
    orig = getattr(exc, "orig", None)
    diag = getattr(orig, "diag", None)
    if diag is not None and getattr(diag, "column_name", None):
        return diag.column_name
    texts = [str(orig or exc)]
    if diag is not None and getattr(diag, "message_detail", None):
        texts.append(diag.message_detail)
    for text in texts:
        for pattern in _COLUMN_PATTERNS:
            match = pattern.search(text)
            if match and match.group("column") in known_columns:
                return match.group("column")
    # SQLite names "table.column" at the end of the first line; match against the real column names
    # so names with dots or spaces are found too.
    first_line = _first_line(exc)
    candidates = [name for name in known_columns if first_line.endswith(f".{name}")]
    return max(candidates, key=len) if candidates else None


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
