"""Validating extracted records with pandera: bad rows become failed records, the rest go on.

One schema per sync, built from its mappings: the ``record_id`` is present and unique, number
fields hold numbers, date fields hold dates, booleans hold booleans, required fields hold a value
(for records about to be created on the other side, HubSpot and most apps refuse them otherwise).
A missing value is never invalid, and NaN (float, numpy, ``Decimal``), NaT and pd.NA are missing
values, like None: a numeric NaN is "no value" (nothing is written from it), not a number to send.
An infinite number is invalid (neither HubSpot nor most apps hold one), and so is the text "NaN".
Dates take any year from 1 to 9999 (``0001-01-01`` and ``9999-12-31`` are dates), including epoch
milliseconds before 1970.
Validation is lazy: every failing row is collected, each is reported with the column and the
value's problem, and no row stops the others.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline.objects.catalogue import ResolvedMapping, ValueType

FAILED_COLUMNS = ["side", "record_id", "category", "detail"]
TRUE_WORDS = {"true", "false", "1", "0", "yes", "no"}


def _is_number(values: pd.Series) -> pd.Series:
    present = values.notna()
    numbers = pd.to_numeric(values.where(present), errors="coerce")
    return ~present | np.isfinite(numbers.to_numpy(dtype=float, na_value=np.nan))


def _is_date(values: pd.Series) -> pd.Series:
    present = values.notna()
    as_text = values.where(present).astype(object)
    # Epoch milliseconds (HubSpot; negative before 1970) or ISO dates and timestamps (apps).
    epoch = as_text.astype("string").str.strip().str.fullmatch(r"-?\d{10,15}").fillna(False).astype(bool)
    parsed = pd.to_datetime(as_text.where(~epoch), errors="coerce", utc=True, format="mixed")
    valid = (~present | epoch | parsed.notna()).to_numpy(dtype=bool)
    # What pandas cannot hold (years before 1677 or after 2262) is parsed as a Python date.
    unsure = np.flatnonzero(~valid)
    valid[unsure] = [_is_python_date(value) for value in as_text.to_numpy()[unsure]]
    return pd.Series(valid, index=values.index)


def _is_python_date(value: object) -> bool:
    if isinstance(value, (date, datetime)):
        return True
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _is_bool(values: pd.Series) -> pd.Series:
    present = values.notna()
    return ~present | values.astype("string").str.strip().str.lower().isin(TRUE_WORDS).fillna(False).astype(bool)


VALUE_CHECKS = {
    ValueType.NUMBER: pa.Check(_is_number, element_wise=False, name="is a number", error="not a number"),
    ValueType.DATE: pa.Check(_is_date, element_wise=False, name="is a date", error="not a date"),
    ValueType.DATETIME: pa.Check(_is_date, element_wise=False, name="is a date", error="not a date or timestamp"),
    ValueType.BOOL: pa.Check(_is_bool, element_wise=False, name="is a boolean", error="not true or false"),
}


def record_schema(mappings: list[ResolvedMapping], *, name: str, identity_fields: frozenset[str] = frozenset()) -> pa.DataFrameSchema:
    """The schema of an engine frame of this sync: record ids, then one column per mapped field."""
    columns = {"record_id": pa.Column(str, nullable=False, unique=True, coerce=True)}
    for mapping in mappings:
        checks = [VALUE_CHECKS[mapping.value_type]] if mapping.value_type in VALUE_CHECKS else []
        # Identity fields (a contact's email) are judged by the matching rules, not here.
        nullable = not mapping.required or mapping.hubspot in identity_fields
        columns[mapping.hubspot] = pa.Column(object, checks=checks, nullable=nullable, required=False)
    return pa.DataFrameSchema(columns, name=name, strict=False)


def split_invalid(frame: pd.DataFrame, schema: pa.DataFrameSchema, *, side: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The valid rows, and one failed row per invalid record naming each column's problem."""
    try:
        schema.validate(frame, lazy=True)
        return frame, pd.DataFrame(columns=FAILED_COLUMNS)
    except SchemaErrors as errors:
        cases = errors.failure_cases
    cases = cases[cases["index"].notna()]
    if cases.empty:
        # A schema-wide problem (a column missing): no row is to blame; the caller must fail loudly.
        raise
    problems: dict[object, list[tuple[ErrorCategory, str]]] = {}
    for index, column, check, value in cases[["index", "column", "check", "failure_case"]].itertuples(index=False):
        category, text = _describe(column, check, value)
        problems.setdefault(index, []).append((category, text))
    bad_index = list(problems)
    failed = pd.DataFrame({
        "side": side,
        "record_id": frame.loc[bad_index, "record_id"].astype(str).values,
        "category": [str(problems[i][0][0]) for i in bad_index],
        "detail": ["; ".join(text for _, text in problems[i]) for i in bad_index],
    })
    return frame.drop(index=bad_index), failed


def _describe(column: str, check: str, value: object) -> tuple[ErrorCategory, str]:
    if check == "not_nullable":
        return ErrorCategory.MISSING_REQUIRED_FIELD, f"{column} is required and has no value"
    if check == "field_uniqueness":
        return ErrorCategory.INVALID_PROPERTY_VALUE, f"{column} {value!r} appears twice"
    return ErrorCategory.INVALID_PROPERTY_VALUE, f"{column} {value!r} is {check.replace('is ', 'not ', 1) if check.startswith('is ') else check}"
